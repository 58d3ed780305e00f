"""``agent-rl serve``: a policy behind an OpenAI-compatible ``/v1`` endpoint, requests recorded.

:func:`create_serve_app` builds the FastAPI app: ``GET /v1/models`` and ``POST
/v1/chat/completions`` (``tools``, ``tool_choice``, ``temperature``, ``top_p``, ``max_tokens``,
``n``, ``seed``, ``stream``). The model's raw text is scored against the request's tools in the
served ``format`` (``hermes``: the Qwen2.5 template's ``<tool_call>`` form); a valid call comes
back as ``tool_calls`` with its arguments exactly as the model wrote them, anything else as plain
``content`` — as vLLM does, so the client sees what the model wrote — and each request becomes a
recorded, scored trajectory line (``runtime.capture``). A streamed answer is generated whole and
then sent as OpenAI's chunks (content or tool-call deltas); tokens are not streamed as made.

:class:`ServedPolicy` runs generation in a worker thread under one lock (the event loop stays
free: ``/v1/models`` answers while a completion is being generated) and carries the weights
version that is recorded with every sample (``swap_weights`` bumps it).

Bad requests get OpenAI error bodies with 4xx codes; a policy failure is a 500 error body,
recorded too. This module does not train and does not forward (``runtime.proxy``).
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from jinja2 import TemplateError
from starlette.concurrency import run_in_threadpool

from agent_rl.errors import PolicyError, ToolSpecError
from agent_rl.formats import OPEN_TAG, Format, extract
from agent_rl.policies import HFPolicy, Policy
from agent_rl.runtime.capture import Capture, Recorded, now, scorer_for
from agent_rl.runtime.wire import (
    MAX_BODY_BYTES,
    ApiError,
    ChatRequest,
    Choice,
    add_error_handlers,
    completion_body,
    completion_chunks,
    parse_chat_request,
    read_body,
    tool_call_id,
)
from agent_rl.scorer import Scorer
from agent_rl.verdicts import CallVerdict

__all__ = ["Completion", "ServedPolicy", "create_serve_app", "raw_arguments"]

_WS = " \t\n\r"


@dataclass
class Completion:
    text: str
    completion_tokens: int | None
    finish_reason: str


class ServedPolicy:
    """A policy shared by concurrent requests: one generation at a time, in a worker thread.

    For an ``HFPolicy`` each request's ``max_tokens`` / ``temperature`` / ``top_p`` / ``seed``
    apply to that request alone and the tools go into the chat template — unless
    ``template_tools=False``: for clients whose own prompt lists the tools (a prompt-based ReAct
    agent, like ours), the request's tools are still scored against and recorded but left out
    of the template, so the model sees the prompt it was trained on. Any other ``Policy``
    (``ScriptedPolicy``, ``OpenAIPolicy``) is asked ``n`` times for the messages as they are.
    """

    def __init__(
        self,
        policy: Policy,
        *,
        name: str | None = None,
        max_tokens: int = 256,
        weights_version: int = 0,
        template_tools: bool = True,
    ) -> None:
        self.policy = policy
        self.template_tools = template_tools
        self.name = name or policy.name
        self.max_tokens = max_tokens
        self.weights_version = weights_version
        """Recorded with every sample; a resumed ``agent-rl online`` starts at its saved one."""
        self.lock = threading.Lock()
        """Held while generating and while swapping weights."""

    def complete(
        self,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]] | None,
        *,
        n: int = 1,
        max_tokens: int | None = None,
        temperature: float = 1.0,
        top_p: float = 1.0,
        seed: int | None = None,
    ) -> tuple[list[Completion], int | None, int]:
        """``(completions, prompt tokens, weights version)`` for one request."""
        limit = max_tokens or self.max_tokens
        with self.lock:
            version = self.weights_version
            policy = self.policy
            if isinstance(policy, HFPolicy):
                shown = tools if self.template_tools else None
                return (
                    *self._hf(policy, messages, shown, n, limit, temperature, top_p, seed),
                    version,
                )
            texts = policy.generate([messages] * n)
            usage = list(getattr(policy, "last_usage", []) or [])
        done = []
        for i, text in enumerate(texts):
            tokens = usage[i].get("completion_tokens") if i < len(usage) else None
            done.append(Completion(text, tokens, "stop"))
        prompt = usage[0].get("prompt_tokens") if usage else None
        return done, prompt, version

    def _hf(
        self,
        policy: HFPolicy,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]] | None,
        n: int,
        limit: int,
        temperature: float,
        top_p: float,
        seed: int | None,
    ) -> tuple[list[Completion], int | None]:
        saved = (
            policy.max_new_tokens,
            policy.temperature,
            policy.top_p,
            policy.do_sample,
            policy.seed,
        )
        policy.max_new_tokens, policy.temperature, policy.top_p = limit, temperature, top_p
        policy.do_sample = temperature > 0
        if seed is not None:
            policy.seed = seed
        try:
            texts = policy.generate([template_messages(messages)] * n, tools=tools)
        finally:
            (
                policy.max_new_tokens,
                policy.temperature,
                policy.top_p,
                policy.do_sample,
                policy.seed,
            ) = saved
        usage = policy.last_usage
        done = [
            Completion(t, u.get("completion_tokens"), _finish(u.get("completion_tokens"), limit))
            for t, u in zip(texts, usage, strict=True)
        ]
        return done, usage[0].get("prompt_tokens") if usage else None

    def swap_weights(self, state_dict: dict[str, Any], *, version: int | None = None) -> int:
        """Load new weights into the served model between requests; returns the new version
        (``version``, which must be newer than the served one, or the next one)."""
        with self.lock:
            model = getattr(self.policy, "model", None)
            if model is None:
                raise PolicyError(f"{self.name}: only a model policy can take new weights")
            if version is not None and version <= self.weights_version:
                raise PolicyError(
                    f"{self.name}: weights version {version} is not newer than the served "
                    f"v{self.weights_version}; versions only go up"
                )
            model.load_state_dict(state_dict)
            self.weights_version = self.weights_version + 1 if version is None else version
            return self.weights_version


def _finish(tokens: int | None, limit: int) -> str:
    return "length" if tokens is not None and tokens >= limit else "stop"


def template_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Messages as a chat template expects them: text content, tool-call arguments as objects
    (the wire sends them as JSON strings; a string that is not JSON is kept as it is)."""
    out = []
    for m in messages:
        m = dict(m)
        if isinstance(m.get("content"), list):
            m["content"] = "".join(
                str(p.get("text", "")) for p in m["content"] if isinstance(p, dict)
            )
        calls = []
        for call in m.get("tool_calls") or []:
            function = dict(call.get("function") or {})
            if isinstance(function.get("arguments"), str):
                with suppress(ValueError):
                    function["arguments"] = json.loads(function["arguments"])
            calls.append({**call, "function": function})
        if calls:
            m["tool_calls"] = calls
        out.append(m)
    return out


def raw_arguments(json_text: str) -> str:
    """The ``arguments`` value of a strictly valid call object, as written (a slice of it)."""
    decoder = json.JSONDecoder()

    def skip(i: int) -> int:
        while i < len(json_text) and json_text[i] in _WS:
            i += 1
        return i

    i = skip(0) + 1  # past "{"
    while True:
        i = skip(i)
        key, i = json.decoder.scanstring(json_text, i + 1)  # type: ignore[attr-defined]
        i = skip(skip(i) + 1)  # past ":"
        _, end = decoder.raw_decode(json_text, i)
        if key == "arguments":
            return json_text[i:end]
        i = skip(end) + 1  # past ","


def answer(text: str, verdict: CallVerdict, fmt: Format, calls_allowed: bool) -> Choice:
    """What the client gets for one raw text: a valid call as ``tool_calls``, else the text."""
    if not (calls_allowed and verdict.valid and verdict.call is not None):
        return Choice({"role": "assistant", "content": text}, "stop")
    ex = extract(text, fmt)
    assert ex.json_text is not None  # a valid call was extracted from this text
    if fmt == "hermes":
        before = text[: text.find(OPEN_TAG)]
    elif fmt == "react":
        before = text[: text.rfind("Action:", 0, ex.offset)].removeprefix("Thought:").strip()
    else:
        before = ""
    arguments = raw_arguments(ex.json_text)
    call = {
        "id": tool_call_id(),
        "type": "function",
        "function": {"name": verdict.call.name, "arguments": arguments},
    }
    return Choice(
        {"role": "assistant", "content": before or None, "tool_calls": [call]}, "tool_calls"
    )


def _tool_choice(request: ChatRequest) -> tuple[bool, str | None]:
    """``(calls allowed, the one tool a call must name)``; raises ``ApiError`` if malformed."""
    choice = request.tool_choice
    names = [((t.get("function") or {}).get("name")) for t in request.tools or []]
    if choice is None or choice in ("auto", "required"):
        return bool(names), None
    if choice == "none":
        return False, None
    if isinstance(choice, dict) and isinstance((choice.get("function") or {}).get("name"), str):
        name = choice["function"]["name"]
        if name not in names:
            raise ApiError(
                400, f"tool_choice names {name!r}, which is not in tools", param="tool_choice"
            )
        return True, name
    raise ApiError(
        400,
        "tool_choice must be 'none', 'auto', 'required' or "
        '{"type": "function", "function": {"name": ...}}',
        param="tool_choice",
    )


def create_serve_app(
    served: ServedPolicy,
    *,
    store: Any = None,
    format: Format = "hermes",
    max_body_bytes: int = MAX_BODY_BYTES,
) -> FastAPI:
    """The FastAPI app serving ``served``; ``store`` (a path or ``TrajectoryStore``) records."""
    capture = Capture(store, runtime="serve", fmt=format)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        capture.close()

    app = FastAPI(title="agent-rl serve", docs_url=None, redoc_url=None, lifespan=lifespan)
    app.state.capture, app.state.served = capture, served
    add_error_handlers(app)

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        return {
            "object": "list",
            "data": [{"id": served.name, "object": "model", "created": 0, "owned_by": "agent-rl"}],
        }

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> Response:
        started, t0 = now()
        req, body = parse_chat_request(await read_body(request, max_body_bytes))
        if req.model != served.name:
            raise ApiError(
                404,
                f"the model {req.model!r} does not exist; this server serves {served.name!r}",
                param="model",
                code="model_not_found",
            )
        calls_allowed, only = _tool_choice(req)
        try:
            scorer = scorer_for(req.tools, format)
            if only is not None:
                scorer = Scorer([s for s in scorer.tools if s.name == only], format=format)
        except ToolSpecError as e:
            raise ApiError(400, f"{e}", param="tools") from None
        messages, tools = body["messages"], body.get("tools")
        conversation = capture.index.find(messages, request.headers.get("x-conversation-id"))
        rid = f"chatcmpl-{uuid.uuid4().hex}"
        record = dict(
            conversation=conversation,
            model=served.name,
            messages=messages,
            tools=tools,
            started_at=started,
        )
        try:
            completions, prompt_tokens, version = await run_in_threadpool(
                served.complete,
                messages,
                tools if req.tool_choice != "none" else None,
                n=req.n,
                max_tokens=req.max_completion_tokens or req.max_tokens,
                temperature=1.0 if req.temperature is None else req.temperature,
                top_p=1.0 if req.top_p is None else req.top_p,
                seed=req.seed,
            )
        except (PolicyError, TemplateError) as e:
            capture.record(
                **record,
                choices=[],
                latency_s=time.perf_counter() - t0,
                error=str(e),
                extra={"request_id": rid, "weights_version": served.weights_version},
            )
            if "exceeds the context" in str(e):
                raise ApiError(
                    400, str(e), param="messages", code="context_length_exceeded"
                ) from None
            if isinstance(e, TemplateError):
                msg = f"the model's chat template cannot render these messages: {e}"
                raise ApiError(400, msg, param="messages") from None
            raise ApiError(500, str(e), type="server_error") from None
        choices, recorded = [], []
        for c in completions:
            verdict = scorer.score(c.text)
            choice = answer(c.text, verdict, format, calls_allowed)
            if choice.finish_reason == "stop":
                choice.finish_reason = c.finish_reason
            choices.append(choice)
            recorded.append(
                Recorded(c.text, verdict, choice.message, choice.finish_reason, c.completion_tokens)
            )
        capture.index.register(conversation, messages, [c.message for c in choices])
        capture.record(
            **record,
            choices=recorded,
            latency_s=time.perf_counter() - t0,
            prompt_tokens=prompt_tokens,
            extra={"request_id": rid, "weights_version": version, "tool_choice": req.tool_choice},
        )
        completion = sum(c.completion_tokens or 0 for c in completions)
        usage = {
            "prompt_tokens": prompt_tokens or 0,
            "completion_tokens": completion,
            "total_tokens": (prompt_tokens or 0) + completion,
        }
        fingerprint = f"agent-rl-w{version}"
        if req.stream:
            chunks: Iterator[bytes] = completion_chunks(
                rid,
                served.name,
                choices,
                usage,
                include_usage=req.include_usage,
                fingerprint=fingerprint,
            )
            return StreamingResponse(chunks, media_type="text/event-stream")
        return JSONResponse(completion_body(rid, served.name, choices, usage, fingerprint))

    return app
