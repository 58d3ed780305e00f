"""The OpenAI chat-completions wire format: requests, responses, SSE chunks and error bodies.

What ``serve`` and ``proxy`` both speak: :func:`parse_chat_request` checks a request body and
raises :class:`ApiError` (an OpenAI-style error body with a 4xx status) for anything malformed;
:func:`completion_body` and :func:`completion_chunks` build a response or its SSE stream the way
OpenAI sends them (role chunk, content or tool-call deltas, finish chunk, optional usage chunk,
``data: [DONE]``); :class:`StreamAccumulator` reads such a stream back into whole messages (the
proxy records what an upstream streamed).

Not here: generation (``runtime.serve``), forwarding (``runtime.proxy``), scoring or storage
(``runtime.capture``).
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from agent_rl.strict_json import StrictJsonError, loads_strict

__all__ = [
    "ApiError",
    "ChatRequest",
    "Choice",
    "StreamAccumulator",
    "add_error_handlers",
    "completion_body",
    "completion_chunks",
    "parse_chat_request",
    "read_body",
    "sse",
    "tool_call_id",
]

log = logging.getLogger(__name__)
MAX_N = 16
MAX_BODY_BYTES = 32 << 20
STREAM_PIECE = 24  # characters per content / arguments delta when a finished text is streamed


class ApiError(Exception):
    """A request the server refuses, with the OpenAI error body it answers."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.type, self.param, self.code = (
            status,
            message,
            type,
            param,
            code,
        )

    def body(self) -> dict[str, Any]:
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }


class _Function(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)
    name: str
    arguments: str | dict[str, Any] = ""


class _ToolCall(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)
    function: _Function


class _Message(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[dict[str, Any]] | None = None
    tool_calls: list[_ToolCall] | None = None


class _StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)
    include_usage: bool = False


class ChatRequest(BaseModel):
    """The fields of a chat-completions request that this server uses (others are ignored)."""

    model_config = ConfigDict(extra="allow", strict=True)
    model: str
    messages: list[_Message] = Field(min_length=1)
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, gt=0, le=1)
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    n: int = Field(1, ge=1, le=MAX_N)
    stream: bool = False
    stream_options: _StreamOptions | None = None
    seed: int | None = None

    @property
    def include_usage(self) -> bool:
        return bool(self.stream_options and self.stream_options.include_usage)


def add_error_handlers(app: FastAPI) -> None:
    """Answer every error the OpenAI way: ``ApiError`` with its status, routing errors (404, 405)
    with theirs, and anything unexpected as a 500 error body (logged), never a bare page."""

    @app.exception_handler(ApiError)
    async def _api(_: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        err = ApiError(exc.status_code, str(exc.detail), code=str(exc.status_code))
        return JSONResponse(err.body(), status_code=exc.status_code)

    @app.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception) -> JSONResponse:
        log.exception("agent-rl: %s %s failed", request.method, request.url.path)
        err = ApiError(500, f"internal error: {type(exc).__name__}: {exc}", type="server_error")
        return JSONResponse(err.body(), status_code=500)


async def read_body(request: Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """The request body, refused with a 413 past ``limit`` bytes (before it is all read)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise ApiError(413, f"the request body is over {limit} bytes", code="body_too_large")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(413, f"the request body is over {limit} bytes", code="body_too_large")
        chunks.append(chunk)
    return b"".join(chunks)


def parse_chat_request(body: bytes) -> tuple[ChatRequest, dict[str, Any]]:
    """``(checked request, the body as sent)``; raises ``ApiError`` (400) if it is malformed."""
    try:
        data = loads_strict(body)
    except StrictJsonError as e:
        raise ApiError(400, f"the request body is not valid JSON: {e}") from None
    if not isinstance(data, dict):
        raise ApiError(400, "the request body must be a JSON object")
    try:
        request = ChatRequest.model_validate(data)
    except ValidationError as e:
        err = e.errors(include_url=False)[0]
        param = ".".join(str(p) for p in err["loc"]) or None
        if param == "messages" and err["type"] == "too_short":
            raise ApiError(400, "'messages' must hold at least one message", param=param) from None
        raise ApiError(400, f"{param}: {err['msg']}", param=param) from None
    return request, data


def sse(data: dict[str, Any] | str) -> bytes:
    """One server-sent event: ``data: <json>`` and a blank line."""
    text = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
    return f"data: {text}\n\n".encode()


def tool_call_id() -> str:
    return f"call_{uuid.uuid4().hex[:24]}"


@dataclass
class Choice:
    """One generated answer as the client will see it."""

    message: dict[str, Any]
    finish_reason: str


def completion_body(
    rid: str,
    model: str,
    choices: list[Choice],
    usage: dict[str, int],
    fingerprint: str | None = None,
) -> dict[str, Any]:
    return {
        "id": rid,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "system_fingerprint": fingerprint,
        "choices": [
            {"index": i, "message": c.message, "logprobs": None, "finish_reason": c.finish_reason}
            for i, c in enumerate(choices)
        ],
        "usage": usage,
    }


def _pieces(text: str) -> Iterator[str]:
    for i in range(0, len(text), STREAM_PIECE):
        yield text[i : i + STREAM_PIECE]


def completion_chunks(
    rid: str,
    model: str,
    choices: list[Choice],
    usage: dict[str, int],
    *,
    include_usage: bool = False,
    fingerprint: str | None = None,
) -> Iterator[bytes]:
    """The SSE stream of a finished completion, chunked the way OpenAI streams one."""
    created = int(time.time())

    def chunk(index: int | None, delta: dict[str, Any], finish: str | None = None) -> bytes:
        body: dict[str, Any] = {
            "id": rid,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "system_fingerprint": fingerprint,
            "choices": []
            if index is None
            else [{"index": index, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }
        if include_usage:
            body["usage"] = usage if index is None else None
        return sse(body)

    for i, c in enumerate(choices):
        content = c.message.get("content")
        yield chunk(i, {"role": "assistant", "content": "" if content is not None else None})
        for piece in _pieces(content or ""):
            yield chunk(i, {"content": piece})
        for k, call in enumerate(c.message.get("tool_calls") or []):
            function = call["function"]
            head = {"name": function["name"], "arguments": ""}
            yield chunk(
                i,
                {
                    "tool_calls": [
                        {"index": k, "id": call["id"], "type": "function", "function": head}
                    ]
                },
            )
            for piece in _pieces(function["arguments"]):
                yield chunk(i, {"tool_calls": [{"index": k, "function": {"arguments": piece}}]})
        yield chunk(i, {}, c.finish_reason)
    if include_usage:
        yield chunk(None, {})
    yield sse("[DONE]")


@dataclass
class _Partial:
    content: str | None = None
    tool_calls: dict[int, dict[str, Any]] = field(default_factory=dict)
    finish_reason: str | None = None


class StreamAccumulator:
    """Reads an OpenAI SSE stream (bytes, fed in any pieces) back into whole messages.

    ``messages()`` gives one assistant message per choice index (tool-call argument strings
    concatenated exactly as streamed); ``usage`` the usage chunk if one came; ``done`` whether
    ``data: [DONE]`` arrived; ``errors`` events that were not JSON chunks.
    """

    def __init__(self) -> None:
        self._buffer = b""
        self._choices: dict[int, _Partial] = {}
        self.usage: dict[str, Any] | None = None
        self.done = False
        self.errors: list[str] = []
        self.error_body: dict[str, Any] | None = None

    def feed(self, data: bytes) -> bool:
        """Add bytes; returns ``True`` once ``data: [DONE]`` has been read."""
        self._buffer += data
        while True:
            cut = [
                i for i in (self._buffer.find(b"\n\n"), self._buffer.find(b"\r\n\r\n")) if i >= 0
            ]
            if not cut:
                break
            end = min(cut)
            event, self._buffer = self._buffer[:end], self._buffer[end:].lstrip(b"\r\n")
            self._event(event.decode("utf-8", errors="replace"))
        return self.done

    def _event(self, event: str) -> None:
        lines = [ln[5:].removeprefix(" ") for ln in event.splitlines() if ln.startswith("data:")]
        if not lines:
            return  # a comment or keep-alive
        payload = "\n".join(lines)
        if payload.strip() == "[DONE]":
            self.done = True
            return
        try:
            chunk = json.loads(payload)
        except ValueError:
            self.errors.append(payload[:200])
            return
        if not isinstance(chunk, dict):
            self.errors.append(payload[:200])
            return
        if "error" in chunk:
            self.error_body = chunk
        if isinstance(chunk.get("usage"), dict):
            self.usage = chunk["usage"]
        for choice in chunk.get("choices") or []:
            if isinstance(choice, dict):
                self._choice(choice)

    def _choice(self, choice: dict[str, Any]) -> None:
        part = self._choices.setdefault(int(choice.get("index", 0)), _Partial())
        delta = choice.get("delta") or {}
        if isinstance(delta.get("content"), str):
            part.content = (part.content or "") + delta["content"]
        for call in delta.get("tool_calls") or []:
            slot = part.tool_calls.setdefault(
                int(call.get("index", 0)), {"id": None, "type": "function", "function": {}}
            )
            if call.get("id"):
                slot["id"] = call["id"]
            function = call.get("function") or {}
            if function.get("name"):
                slot["function"]["name"] = slot["function"].get("name", "") + function["name"]
            if isinstance(function.get("arguments"), str):
                slot["function"]["arguments"] = (
                    slot["function"].get("arguments", "") + function["arguments"]
                )
        if choice.get("finish_reason"):
            part.finish_reason = choice["finish_reason"]

    def messages(self) -> list[tuple[dict[str, Any], str | None]]:
        """``(assistant message, finish_reason)`` per choice, in index order."""
        out = []
        for _, part in sorted(self._choices.items()):
            message: dict[str, Any] = {"role": "assistant", "content": part.content}
            if part.tool_calls:
                message["tool_calls"] = [c for _, c in sorted(part.tool_calls.items())]
            out.append((message, part.finish_reason))
        return out
