"""Reading LangChain objects for ``TrajectoryCallback``: prompts, raw model outputs, tool results.

Pure functions over langchain-core messages, tolerant of anything a provider or a fake model may
put there (they never raise on odd shapes: an odd shape is data, scored or recorded as is).
Not here: run bookkeeping and scoring (``agent_rl.integrations.langchain``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    ToolMessage,
    convert_to_openai_messages,
)

from agent_rl.verdicts import Observation, ToolCall

__all__ = [
    "RawCall",
    "content_text",
    "jsonable",
    "observation_of",
    "prompt_messages",
    "raw_calls",
    "task_text",
    "token_counts",
    "tool_answers",
]


def jsonable(value: Any) -> Any:
    """``value`` as plain JSON data: NaN and Infinity become the strings ``"NaN"``,
    ``"Infinity"``; objects JSON cannot hold become their ``repr``."""
    try:
        return json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError, RecursionError):
        return _sanitize(value, 0)


def _sanitize(value: Any, depth: int) -> Any:
    if depth > 200:
        return repr(value)[:1000]
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return (
            value
            if math.isfinite(value)
            else repr(value).replace("inf", "Infinity").replace("nan", "NaN")
        )
    if isinstance(value, Mapping):
        return {str(k): _sanitize(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_sanitize(v, depth + 1) for v in value]
    return repr(value)


def prompt_messages(messages: Sequence[Any]) -> list[dict[str, Any]]:
    """The prompt as OpenAI chat dicts (what the provider is sent)."""
    try:
        return jsonable(convert_to_openai_messages(list(messages)))
    except Exception:  # an unknown message type: keep what LangChain itself would log
        return [jsonable(getattr(m, "model_dump", lambda m=m: repr(m))()) for m in messages]


def content_text(content: Any) -> str:
    """The text of a message's content (a string, or the text blocks of a list)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for block in content:
            if isinstance(block, str):
                parts.append(block)
            elif isinstance(block, Mapping) and block.get("type") == "text":
                parts.append(str(block.get("text", "")))
        return "".join(parts)
    return "" if content is None else repr(content)


@dataclass(frozen=True)
class RawCall:
    """One tool call as the provider returned it. ``arguments`` is the raw JSON text when the
    provider gave text (``raw=True``), else LangChain's parsed dict serialised once."""

    id: str | None
    name: Any
    arguments: str | None
    raw: bool


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=repr)


def raw_calls(message: Any) -> list[RawCall]:
    """The tool calls of an AI message, raw first: ``additional_kwargs["tool_calls"]``
    (OpenAI-style, arguments exactly as sent), else ``tool_calls`` + ``invalid_tool_calls``."""
    if message is None:
        return []
    kwargs = getattr(message, "additional_kwargs", None) or {}
    provider = kwargs.get("tool_calls") if isinstance(kwargs, Mapping) else None
    if isinstance(provider, list) and provider:
        return list(_provider_calls(provider))
    calls = []
    for tc in getattr(message, "tool_calls", None) or ():
        if isinstance(tc, Mapping):
            calls.append(RawCall(tc.get("id"), tc.get("name"), _dumps(tc.get("args", {})), False))
    for tc in getattr(message, "invalid_tool_calls", None) or ():
        if isinstance(tc, Mapping):
            args = tc.get("args")
            calls.append(
                RawCall(tc.get("id"), tc.get("name"), args if isinstance(args, str) else None, True)
            )
    return calls


def _provider_calls(provider: list[Any]) -> Iterator[RawCall]:
    for rc in provider:
        fn = rc.get("function") if isinstance(rc, Mapping) else None
        if not isinstance(fn, Mapping):
            yield RawCall(None, None, None if rc is None else _dumps(rc), True)
            continue
        args = fn.get("arguments")
        yield RawCall(
            rc.get("id"), fn.get("name"), args if isinstance(args, str) else _dumps(args), True
        )


def parsed_call(message: Any, call_id: str | None) -> ToolCall | None:
    """The call LangChain parsed (and the host will execute) for ``call_id``."""
    for tc in getattr(message, "tool_calls", None) or ():
        if isinstance(tc, Mapping) and tc.get("id") == call_id and isinstance(tc.get("name"), str):
            args = tc.get("args")
            return ToolCall(tc["name"], jsonable(args) if isinstance(args, Mapping) else {})
    return None


def observation_of(output: Any) -> Observation:
    """A tool's result (a ``ToolMessage``, a ``Command``, a string ...) as an observation."""
    if isinstance(output, BaseMessage):
        return Observation(
            content_text(output.content), ok=getattr(output, "status", "") != "error"
        )
    if isinstance(output, str):
        return Observation(output)
    try:
        return Observation(str(output))
    except Exception:
        return Observation(f"<unprintable {type(output).__name__}>")


def tool_answers(messages: Sequence[Any]) -> list[tuple[str, Observation]]:
    """The tool messages that answer the prompt's last AI message: ``(tool_call_id, obs)``."""
    answers = []
    for m in reversed(messages):
        if isinstance(m, ToolMessage):
            answers.append((m.tool_call_id, observation_of(m)))
        elif isinstance(m, AIMessage):
            break
    return answers[::-1]


def task_text(inputs: Any) -> str:
    """The task of an agent run from its root inputs: the last human message, an ``input``
    string, or the inputs as text."""
    if isinstance(inputs, str):
        return inputs
    if isinstance(inputs, Mapping):
        msgs = inputs.get("messages")
        if isinstance(msgs, Sequence) and not isinstance(msgs, str):
            for m in reversed(msgs):
                text = _human_text(m)
                if text is not None:
                    return text
        for key in ("input", "question", "query", "task"):
            if isinstance(inputs.get(key), str):
                return inputs[key]
    text = jsonable(inputs)
    return text if isinstance(text, str) else json.dumps(text, ensure_ascii=False)[:10_000]


def _human_text(m: Any) -> str | None:
    if isinstance(m, BaseMessage):
        return content_text(m.content) if m.type == "human" else None
    if isinstance(m, tuple) and len(m) == 2 and m[0] in ("user", "human"):
        return content_text(m[1])
    if isinstance(m, Mapping) and m.get("role") in ("user", "human"):
        return content_text(m.get("content"))
    if isinstance(m, str):
        return m
    return None


def token_counts(message: Any, llm_output: Any) -> tuple[int | None, int | None]:
    """Prompt and completion tokens when the provider reported them."""
    usage = getattr(message, "usage_metadata", None)
    if isinstance(usage, Mapping):
        return _int(usage.get("input_tokens")), _int(usage.get("output_tokens"))
    usage = llm_output.get("token_usage") if isinstance(llm_output, Mapping) else None
    if isinstance(usage, Mapping):
        return _int(usage.get("prompt_tokens")), _int(usage.get("completion_tokens"))
    return None, None


def _int(v: Any) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) and v >= 0 else None
