"""The exact prompts the agent sends: system prompt, task, and the history of calls and results.

One conversation per episode step, in OpenAI chat form::

    system     SYSTEM_INTRO, the tool schemas (one JSON object a line inside <tools>), and
               format_instructions(fmt)
    user       the task prompt
    assistant  the model's raw output of step 1, exactly as written (malformed ones included)
    user       its observation: "Observation: ..." (react, json) or
               "<tool_response>\n...\n</tool_response>" (hermes, as Qwen's chat template writes
               a tool message)
    ...        one assistant/user pair per earlier step

Deterministic: the same inputs give byte-identical messages, so the trainer's datasets
(:func:`messages_for`) and the live agent see the same prompts. Observations are plain text:
``user`` messages, not ``tool`` ones, so every chat template and OpenAI-compatible server takes
them without a ``tool_call_id``. This module builds text only; it calls no model and no tool.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from agent_rl.formats import format_instructions
from agent_rl.verdicts import CallVerdict, ErrorEntry, Messages, Observation

if TYPE_CHECKING:
    from agent_rl.formats import Format
    from agent_rl.tasks import Task
    from agent_rl.tool_spec import ToolSpec

__all__ = [
    "SYSTEM_INTRO",
    "build_messages",
    "error_observation",
    "messages_for",
    "observation_message",
    "prompt_key",
    "system_prompt",
    "tools_json",
]

# One earlier step: (the raw output, the observation text the model got back), or any object
# with ``raw_output`` and ``observation`` (a recorded ``Step``).
Turn = Any

SYSTEM_INTRO = (
    "You are a coding agent working in a sandboxed workspace of text files. Solve the task "
    "with the tools below: one tool call per reply; the result of each call comes back to you "
    "in the next message. When the task is done, call the finish tool."
)


def tools_json(tools: Sequence[ToolSpec]) -> str:
    """The tool schemas, one JSON object per line, in the given order."""
    return "\n".join(
        json.dumps(
            {"name": t.name, "description": t.description, "parameters": t.parameters},
            ensure_ascii=False,
        )
        for t in tools
    )


def system_prompt(tools: Sequence[ToolSpec], fmt: Format = "react") -> str:
    """The system message: what the agent is, its tools, and the exact output format."""
    return (
        f"{SYSTEM_INTRO}\n\n# Tools\n\n<tools>\n{tools_json(tools)}\n</tools>\n\n"
        f"# Output format\n\n{format_instructions(fmt)}"
    )


def observation_message(observation: str, fmt: Format = "react") -> dict[str, str]:
    """The user message that carries a tool's result (or an error) back to the model."""
    if fmt == "hermes":
        return {"role": "user", "content": f"<tool_response>\n{observation}\n</tool_response>"}
    return {"role": "user", "content": f"Observation: {observation}"}


def _where(entry: ErrorEntry) -> str:
    loc = entry.loc
    if len(loc) == 2 and loc[0] in ("char", "line"):
        return f" at {loc[0]} {loc[1]}"
    return f" at {'.'.join(str(p) for p in loc)}" if loc else ""


def error_observation(verdict: CallVerdict) -> str:
    """What the model is told when its output was not a valid call it could run.

    Names every error (kind, where, why) and asks for one corrected call; state-stage errors
    (a missing file, text not found ...) read as the tool's failure, since the call was
    well-formed.
    """
    lines = [f"Error [{e.type}]{_where(e)}: {e.msg}" for e in verdict.errors] or [
        "Error [invalid]: the output is not a valid tool call"
    ]
    if verdict.stage == "state" and verdict.call is not None:
        head = f"The call to {verdict.call.name} cannot run in the current workspace."
        tail = "Fix the call (check paths and text with read_file or list_dir) and try again."
    else:
        head = f"Your reply is not a valid tool call ({verdict.stage} stage)."
        tail = "Reply again with exactly one tool call in the required format."
    return "\n".join([head, *lines, tail])


def _turn(item: Turn) -> tuple[str, str]:
    if isinstance(item, tuple):
        raw, observation = item
    else:
        raw, observation = item.raw_output, item.observation
    if isinstance(observation, Observation):
        observation = observation.content
    elif isinstance(observation, dict):
        observation = observation.get("content", "")
    return str(raw), "" if observation is None else str(observation)


def build_messages(
    task_prompt: str,
    history: Sequence[Turn],
    tools: Sequence[ToolSpec],
    fmt: Format = "react",
) -> Messages:
    """The conversation the model sees before its next output.

    ``history`` holds the earlier steps, oldest first: ``(raw_output, observation_text)`` pairs
    or recorded steps (``.raw_output``, ``.observation``).
    """
    messages: Messages = [
        {"role": "system", "content": system_prompt(tools, fmt)},
        {"role": "user", "content": task_prompt},
    ]
    for item in history:
        raw, observation = _turn(item)
        messages.append({"role": "assistant", "content": raw})
        messages.append(observation_message(observation, fmt))
    return messages


def messages_for(
    task: Task,
    steps: Sequence[Turn] = (),
    fmt: Format = "react",
    tools: Sequence[ToolSpec] | None = None,
) -> Messages:
    """``build_messages`` for a task (the trainer's entry point): ``tools`` default to the
    task's sandbox tools."""
    if tools is None:
        from agent_rl.tasks import make_sandbox

        tools = make_sandbox(task).tools
    return build_messages(task.prompt, steps, tools, fmt)


def prompt_key(messages: Sequence[dict[str, Any]]) -> tuple[tuple[str, str], ...]:
    """A hashable identity of a conversation (role and content of each message): how a
    rollout finds the task of a prompt, and how evaluation checks no test prompt was trained on."""
    return tuple((str(m.get("role")), str(m.get("content"))) for m in messages)
