"""``agent-rl proxy``: forward OpenAI-compatible traffic to an upstream unchanged, and record it.

:func:`create_proxy_app` forwards ``GET /v1/models`` and ``POST /v1/chat/completions`` to the
upstream (vLLM, a hosted API, ``agent-rl serve``): the request body and headers go as the client
sent them (less hop-by-hop headers), and the client gets the upstream's status, headers and
bytes unchanged — a stream is relayed chunk by chunk as it arrives. Beside it, each call's
raw output is rebuilt (a stream is read back with ``StreamAccumulator``), native tool calls are
rendered with their provider argument strings verbatim (``policies.openai.message_text``, the
same function ``OpenAIPolicy`` uses), scored against the request's ``tools`` and recorded.
Upstream error answers pass through as given and are recorded as failed steps; an upstream that
cannot be reached or times out gets a 502 / 504 OpenAI error body, recorded too.

The recording never changes what the client gets: a request body the proxy cannot read is still
forwarded, and a recording failure is counted in ``Capture.errors``. This module does not
generate (``runtime.serve``).
"""

from __future__ import annotations

import json
import time
import uuid
import zlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import Response, StreamingResponse

from agent_rl.errors import ToolSpecError
from agent_rl.formats import Format
from agent_rl.policies.openai import chat_completions_url, message_text
from agent_rl.runtime.capture import Capture, Recorded, now, scorer_for
from agent_rl.runtime.wire import ApiError, StreamAccumulator, add_error_handlers

__all__ = ["create_proxy_app"]

# Hop-by-hop headers (RFC 9110 7.6.1) and those the HTTP client sets itself.
_REQUEST_SKIP = {
    "host",
    "content-length",
    "connection",
    "keep-alive",
    "transfer-encoding",
    "te",
    "upgrade",
    "proxy-authorization",
    "proxy-connection",
    "trailer",
}
_RESPONSE_SKIP = {
    "connection",
    "keep-alive",
    "transfer-encoding",
    "te",
    "upgrade",
    "trailer",
    "proxy-connection",
}


def _decode_body(data: bytes, encoding: str) -> bytes | None:
    """The body as JSON text, undoing gzip / deflate (``None``: another encoding)."""
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return data
    for wbits in {"gzip": (47,), "deflate": (15, -15)}.get(encoding, ()):
        try:
            return zlib.decompressobj(wbits).decompress(data)
        except zlib.error:
            continue
    return None


def create_proxy_app(
    upstream: str,
    *,
    store: Any = None,
    format: Format = "hermes",
    timeout: float = 600.0,
    transport: httpx.AsyncBaseTransport | None = None,
) -> FastAPI:
    """The FastAPI app forwarding to ``upstream`` (its API root, e.g. ``http://host:8000/v1``)."""
    chat_url = chat_completions_url(upstream)
    models_url = chat_url.removesuffix("/chat/completions") + "/models"
    capture = Capture(store, runtime="proxy", fmt=format)
    clients: list[httpx.AsyncClient] = []

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        limits = httpx.Limits(max_connections=256, max_keepalive_connections=64)
        clients.append(
            httpx.AsyncClient(transport=transport, timeout=httpx.Timeout(timeout), limits=limits)
        )
        try:
            yield
        finally:
            await clients.pop().aclose()
            capture.close()

    app = FastAPI(title="agent-rl proxy", docs_url=None, redoc_url=None, lifespan=lifespan)
    app.state.capture, app.state.relays_headers = capture, True
    add_error_handlers(app)

    async def send(request: Request, url: str, body: bytes) -> httpx.Response:
        headers = [(k, v) for k, v in request.headers.items() if k.lower() not in _REQUEST_SKIP]
        if request.url.query:  # e.g. Azure's ?api-version=
            url += ("&" if "?" in url else "?") + request.url.query
        outgoing = clients[0].build_request(request.method, url, headers=headers, content=body)
        for default in ("accept", "accept-encoding", "user-agent"):  # httpx's, not the client's
            if default not in request.headers:
                del outgoing.headers[default]
        try:
            return await clients[0].send(outgoing, stream=True)
        except httpx.TimeoutException:
            raise ApiError(
                504,
                f"the upstream {url} did not answer within {timeout:g}s",
                type="upstream_error",
                code="upstream_timeout",
            ) from None
        except httpx.TransportError as e:
            raise ApiError(
                502,
                f"the upstream {url} cannot be reached ({type(e).__name__}: {e})",
                type="upstream_error",
                code="upstream_unreachable",
            ) from None

    def headers_of(response: httpx.Response) -> dict[str, str]:
        return {k: v for k, v in response.headers.items() if k.lower() not in _RESPONSE_SKIP}

    @app.get("/v1/models")
    async def models(request: Request) -> Response:
        response = await send(request, models_url, b"")
        try:
            body = b"".join([chunk async for chunk in response.aiter_raw()])
        finally:
            await response.aclose()
        return Response(body, status_code=response.status_code, headers=headers_of(response))

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> Response:
        started, t0 = now()
        body = await request.body()
        try:
            sent = json.loads(body)
            sent = sent if isinstance(sent, dict) else {}
        except ValueError:
            sent = {}
        messages = sent.get("messages") if isinstance(sent.get("messages"), list) else []
        conversation = capture.index.find(messages, request.headers.get("x-conversation-id"))
        rid = f"proxy-{uuid.uuid4().hex}"
        base = {
            "conversation": conversation,
            "model": str(sent.get("model", "")),
            "messages": messages,
            "tools": sent.get("tools"),
            "started_at": started,
        }

        def record(choices: list[Recorded], usage: Any, error: str = "", **extra: Any) -> None:
            usage = usage if isinstance(usage, dict) else {}
            prompt = (
                usage.get("prompt_tokens") if isinstance(usage.get("prompt_tokens"), int) else None
            )
            if len(choices) == 1 and isinstance(usage.get("completion_tokens"), int):
                choices[0].completion_tokens = usage["completion_tokens"]
            capture.record(
                **base,
                choices=choices,
                latency_s=time.perf_counter() - t0,
                prompt_tokens=prompt,
                error=error,
                extra={"request_id": rid, "upstream": chat_url, **extra},
            )

        def score(answers: list[tuple[dict[str, Any], str | None]]) -> list[Recorded]:
            try:
                scorer = scorer_for(sent.get("tools"), format)
                problem = ""
            except ToolSpecError as e:
                scorer, problem = None, f"not scored: {e}"
            out = []
            for message, finish in answers:
                try:
                    raw = message_text(message, format)
                    verdict = scorer.score(raw) if scorer is not None else None
                    extra = {"not_scored": problem} if problem else {}
                except Exception as e:  # a message shape no renderer knows: kept, not scored
                    raw, verdict, extra = "", None, {"not_scored": f"{type(e).__name__}: {e}"}
                out.append(Recorded(raw, verdict, message, finish, extra=extra))
            capture.index.register(conversation, messages, [m for m, _ in answers])
            return out

        try:
            response = await send(request, chat_url, body)
        except ApiError as e:
            record([], None, error=e.message, status=e.status)
            raise
        status, headers = response.status_code, headers_of(response)
        if response.headers.get("content-type", "").startswith("text/event-stream"):
            return StreamingResponse(
                relay(response, record, score), status_code=status, headers=headers
            )
        try:
            raw = b"".join([chunk async for chunk in response.aiter_raw()])
        finally:
            await response.aclose()
        decoded = _decode_body(raw, response.headers.get("content-encoding", ""))
        try:
            data = json.loads(decoded) if decoded is not None else None
        except ValueError:
            data = None
        if not 200 <= status < 300 or not isinstance(data, dict):
            snippet = (decoded or b"")[:500].decode("utf-8", errors="replace") if raw else ""
            record([], None, error=f"HTTP {status}: {snippet}", status=status)
        else:
            answers = [
                (c["message"], c.get("finish_reason"))
                for c in data.get("choices") or []
                if isinstance(c, dict) and isinstance(c.get("message"), dict)
            ]
            record(score(answers), data.get("usage"), status=status)
        return Response(raw, status_code=status, headers=headers)

    return app


async def relay(response: httpx.Response, record: Any, score: Any) -> AsyncIterator[bytes]:
    """Yield the upstream's stream byte for byte; record it once it is complete (before its
    last event is passed on, so the client's next request finds the conversation)."""
    reader = StreamAccumulator()
    decode = response.headers.get("content-encoding", "identity").strip().lower() == "identity"
    recorded = False
    try:
        async for chunk in response.aiter_raw():
            if decode and reader.feed(chunk) and not recorded:
                recorded = True
                record(score(reader.messages()), reader.usage, status=response.status_code)
            yield chunk
    finally:
        await response.aclose()
        if not recorded:
            answers = reader.messages()
            if reader.done or (answers and all(f for _, f in answers)):
                record(score(answers), reader.usage, status=response.status_code)
            else:
                why = "not recorded: compressed stream" if not decode else "stream ended early"
                record(
                    [],
                    reader.usage,
                    error=f"{why} ({len(answers)} partial choices)",
                    status=response.status_code,
                )
