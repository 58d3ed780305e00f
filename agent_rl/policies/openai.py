"""``OpenAIPolicy``: any OpenAI-compatible ``/v1/chat/completions`` endpoint as a policy.

vLLM, llama.cpp's server, Ollama, TGI and hosted APIs all speak this protocol. Requests go
over a sync ``httpx.Client`` (pass ``transport=httpx.MockTransport(handler)`` in tests); a batch
is sent as concurrent requests. Faults are bounded: every request has an overall deadline of
``timeout`` seconds; 429, 5xx, timeouts and dropped connections are retried with exponential
backoff (a small ``Retry-After`` is honoured); then ``EndpointError`` says what failed and what
to check. A 2xx body that is not JSON, or not a chat completion, is an ``EndpointError`` at once.

The recorded text is ``choices[0].message.content``; when the server returns native
``tool_calls`` they are rendered in the chosen format from their *raw* ``arguments`` strings,
so malformed JSON from the model stays malformed for the scorer. This module does not parse,
repair or score anything.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from agent_rl.errors import ConfigError, EndpointError
from agent_rl.formats import render_raw_call
from agent_rl.policies.base import Completion
from agent_rl.verdicts import Messages

__all__ = ["OpenAIPolicy", "chat_completions_url", "message_text"]

MAX_BODY_BYTES = 16 * 1024 * 1024


def chat_completions_url(base_url: str) -> str:
    """``http://host:8000`` or ``http://host:8000/v1`` -> ``.../v1/chat/completions``."""
    hint = "pass the server's API root, e.g. --base-url http://localhost:8000/v1"
    try:
        url = httpx.URL(str(base_url).strip())
    except Exception as exc:
        raise ConfigError(f"base URL {base_url!r} is not a valid URL ({exc}): {hint}") from exc
    if url.scheme not in ("http", "https") or not url.host:
        raise ConfigError(f"base URL {base_url!r} is not an http(s) URL with a host: {hint}")
    path = url.path.rstrip("/")
    if not path.endswith("/chat/completions"):
        path += "/chat/completions" if re.search(r"/v\d+[a-z]*$", path) else "/v1/chat/completions"
    return str(url.copy_with(path=path, query=url.query or None))


def _count(value: Any) -> int | None:
    return value if type(value) is int and value >= 0 else None


def message_text(message: dict[str, Any], fmt: str) -> str:
    """The raw text of an assistant message in ``fmt``: its ``content``, or its native
    ``tool_calls`` rendered with their *raw* ``arguments`` strings (the content before them as
    the first call's thought). One call per output is the scorer's rule, so several calls
    render as several calls and are scored ``multiple_calls``."""
    content = message.get("content") or ""
    if isinstance(content, list):  # content parts
        content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
    calls = message.get("tool_calls") or []
    if not calls:
        return str(content)
    rendered = []
    for i, call in enumerate(calls):
        function = call.get("function", {}) if isinstance(call, dict) else {}
        thought = str(content) if i == 0 and str(content).strip() else None
        rendered.append(
            render_raw_call(function.get("name", ""), function.get("arguments", ""), fmt, thought)
        )
    return "\n".join(rendered)


def _snippet(body: bytes, limit: int = 200) -> str:
    text = body[:limit].decode("utf-8", errors="replace")
    return " ".join(text.split()) + ("…" if len(body) > limit else "")


def _retry_after(headers: httpx.Headers) -> float | None:
    try:
        value = float(headers.get("retry-after", ""))
    except ValueError:
        return None
    return value if value >= 0 else None


class OpenAIPolicy:
    """Chat completions from an OpenAI-compatible server.

    ``api_key`` defaults to ``$OPENAI_API_KEY`` (none is sent when unset). ``backoff`` is the
    first retry delay, doubled each retry and capped at ``max_backoff`` (which also caps how
    long a ``Retry-After`` is honoured). ``tools_mode=True`` also sends ``tools`` as native
    function schemas; the returned ``tool_calls`` are rendered into ``format``.
    ``on_response(body)`` is called with every chat completion a server answered (parsed JSON,
    from the batch's worker threads), e.g. to count or log the request ids it got back.
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str | None = None,
        *,
        timeout: float = 60.0,
        max_retries: int = 3,
        backoff: float = 0.5,
        max_backoff: float = 10.0,
        transport: httpx.BaseTransport | None = None,
        temperature: float = 0.0,
        max_tokens: int = 512,
        tools_mode: bool = False,
        tools: Sequence[Any] = (),
        format: str = "react",
        concurrency: int = 4,
        extra_body: dict[str, Any] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        name: str | None = None,
        on_response: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        if timeout <= 0 or max_retries < 0 or backoff < 0 or concurrency < 1:
            raise ConfigError(
                "OpenAIPolicy: timeout must be > 0, max_retries and backoff >= 0, concurrency >= 1"
            )
        if tools_mode and not tools:
            raise ConfigError(
                "tools_mode=True is not supported without tools because the server needs their "
                "schemas. Pass tools=sandbox.tools as well."
            )
        self.url = chat_completions_url(base_url)
        self.base_url, self.model, self.format = base_url, model, format
        self.timeout, self.max_retries = float(timeout), int(max_retries)
        self.backoff, self.max_backoff = float(backoff), float(max_backoff)
        self.temperature, self.max_tokens = temperature, max_tokens
        self.tools_mode, self.concurrency = tools_mode, concurrency
        self.tools = [t if isinstance(t, dict) else t.to_openai() for t in tools]
        self.extra_body = dict(extra_body or {})
        self.name = name or f"openai:{model}"
        self._sleep = sleep
        self.on_response = on_response
        key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY")
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self._client = httpx.Client(
            transport=transport, timeout=httpx.Timeout(self.timeout), headers=headers
        )
        self._lock = threading.Lock()

    # -- public -------------------------------------------------------------------------------
    def generate(self, batch: list[Messages]) -> list[str]:
        results = self.complete(batch)
        for result in results:
            if isinstance(result, Exception):
                raise result
        return [r.text for r in results]  # type: ignore[union-attr]

    def complete(self, batch: list[Messages]) -> list[Completion | Exception]:
        """One completion (text and the server's token counts) or the exception that ended
        that request, per conversation, in order."""

        def one(i: int) -> Completion | Exception:
            try:
                data = self._request(self._payload(batch[i]))
                usage = data.get("usage")
                counts = usage if isinstance(usage, dict) else {}
                return Completion(
                    self._text(data),
                    _count(counts.get("prompt_tokens")),
                    _count(counts.get("completion_tokens")),
                )
            except Exception as exc:  # recorded per episode by the agent, never lost
                return exc

        if len(batch) <= 1 or self.concurrency == 1:
            return [one(i) for i in range(len(batch))]
        with ThreadPoolExecutor(min(self.concurrency, len(batch))) as pool:
            return list(pool.map(one, range(len(batch))))

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> OpenAIPolicy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- one request --------------------------------------------------------------------------
    def _payload(self, messages: Messages) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
        }
        if self.tools_mode:
            payload.update(tools=self.tools, tool_choice="auto")
        payload.update(self.extra_body)
        return payload

    def _request(self, payload: dict[str, Any]) -> dict[str, Any]:
        attempts = self.max_retries + 1
        reason = ""
        for attempt in range(attempts):
            wait: float | None = None
            try:
                status, headers, body = self._post(payload)
            except httpx.TimeoutException:
                reason = f"no complete answer within timeout={self.timeout:g}s"
            except httpx.TransportError as exc:
                reason = f"connection failed ({type(exc).__name__}: {exc or 'no detail'})"
            else:
                if 200 <= status < 300:
                    data = self._json(status, headers, body)
                    if self.on_response is not None:
                        self.on_response(data)
                    return data
                if status != 429 and status < 500:
                    raise EndpointError(self._client_error(status, body))
                reason = f"HTTP {status}: {_snippet(body)}"
                wait = _retry_after(headers) if status in (429, 503) else None
            if attempt + 1 < attempts:
                delay = min(self.max_backoff, self.backoff * 2**attempt)
                self._sleep(min(wait, self.max_backoff) if wait is not None else delay)
        raise EndpointError(
            f"{self.url} failed after {attempts} attempt(s); last: {reason}. Check that the "
            "server is up and serving this model, or raise timeout / max_retries."
        )

    def _post(self, payload: dict[str, Any]) -> tuple[int, httpx.Headers, bytes]:
        deadline = time.monotonic() + self.timeout
        with self._client.stream("POST", self.url, json=payload) as response:
            chunks, size = [], 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > MAX_BODY_BYTES:
                    raise EndpointError(
                        f"{self.url} sent more than {MAX_BODY_BYTES >> 20} MiB: lower max_tokens"
                    )
                if time.monotonic() > deadline:
                    raise httpx.ReadTimeout("response slower than the overall timeout")
                chunks.append(chunk)
            return response.status_code, response.headers, b"".join(chunks)

    def _client_error(self, status: int, body: bytes) -> str:
        hint = {
            401: "check the API key (api_key= or $OPENAI_API_KEY)",
            403: "check the API key and its permissions",
            404: f"check the base URL and the model name {self.model!r}",
        }.get(status, "the server rejected the request; check the model name and settings")
        return f"{self.url} answered HTTP {status}: {_snippet(body)} — {hint}"

    def _json(self, status: int, headers: httpx.Headers, body: bytes) -> dict[str, Any]:
        try:
            data = json.loads(body)
        except ValueError:
            kind = headers.get("content-type", "no content-type")
            raise EndpointError(
                f"{self.url} answered HTTP {status} with a non-JSON body ({kind}): "
                f"{_snippet(body)!r} — is the base URL the API root (e.g. http://host:8000/v1)?"
            ) from None
        if not isinstance(data, dict):
            raise EndpointError(f"{self.url} answered with JSON that is not a chat completion")
        return data

    def _text(self, data: dict[str, Any]) -> str:
        try:
            message = data["choices"][0]["message"]
            if not isinstance(message, dict):
                raise TypeError(type(message).__name__)
        except (KeyError, IndexError, TypeError):
            raise EndpointError(
                f"{self.url} answered without choices[0].message: "
                f"{_snippet(json.dumps(data).encode())!r}"
            ) from None
        return message_text(message, self.format)
