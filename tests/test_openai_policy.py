"""OpenAIPolicy against httpx.MockTransport handlers and a real HTTP server on 127.0.0.1.

Covers the endpoint faults of issue 4: success, 5xx then success, 429 with Retry-After, a
server slower than the timeout, a trickling body, non-JSON, a dropped connection, every retry
failing — each bounded in time and ending in text or a clear ``EndpointError``.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from agent_rl.errors import ConfigError, EndpointError
from agent_rl.formats import render_call, render_raw_call
from agent_rl.policies import Completion, OpenAIPolicy, Policy
from agent_rl.policies.openai import chat_completions_url
from agent_rl.verdicts import ToolCall

MESSAGES = [{"role": "system", "content": "sys"}, {"role": "user", "content": "fix add()"}]


def completion(content: str | None = "hello", tool_calls: list | None = None) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if tool_calls is not None:
        message["tool_calls"] = tool_calls
    return {
        "id": "c1",
        "object": "chat.completion",
        "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10},
    }


def native_call(name: str, arguments: str) -> dict[str, Any]:
    return {"id": "t1", "type": "function", "function": {"name": name, "arguments": arguments}}


class Script:
    """A MockTransport handler that answers with the next scripted response (or raises it)."""

    def __init__(self, *responses: httpx.Response | Exception) -> None:
        self.responses = list(responses)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        item = self.responses.pop(0) if len(self.responses) > 1 else self.responses[0]
        if isinstance(item, Exception):
            raise item
        return item


Handler = Callable[[httpx.Request], httpx.Response]


def make(handler: Handler, **kw: Any) -> tuple[OpenAIPolicy, list[float]]:
    """A policy on a MockTransport whose backoff sleeps are recorded, not slept."""
    sleeps: list[float] = []
    kw.setdefault("backoff", 0.5)
    transport = httpx.MockTransport(handler)
    url = "http://llm.test/v1"
    policy = OpenAIPolicy(url, "tiny", transport=transport, sleep=sleeps.append, **kw)
    return policy, sleeps


def ok(body: Any = None, status: int = 200, **kw: Any) -> httpx.Response:
    return httpx.Response(status, json=completion() if body is None else body, **kw)


# --- MockTransport ---------------------------------------------------------------------------


def test_success_sends_an_openai_request_and_returns_the_raw_content(monkeypatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    raw = 'Action: {"name": "read_file", "arguments": {"path": "a.py",}}  '
    script = Script(ok(completion(raw)))
    policy, sleeps = make(script, temperature=0.7, max_tokens=64)
    assert isinstance(policy, Policy)
    assert policy.generate([MESSAGES]) == [raw]
    request = script.requests[0]
    assert request.url == "http://llm.test/v1/chat/completions"
    assert request.headers["authorization"] == "Bearer sk-test"
    body = json.loads(request.content)
    assert body == {"model": "tiny", "messages": MESSAGES, "temperature": 0.7, "max_tokens": 64}
    assert policy.complete([MESSAGES]) == [Completion(raw, 7, 3)]  # the server's usage
    assert sleeps == []


def test_batch_keeps_order_and_reports_failures_per_conversation() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        task = json.loads(request.content)["messages"][-1]["content"]
        if task == "boom":
            return httpx.Response(400, text="bad request")
        return ok(completion(f"re:{task}"))

    policy, _ = make(handler, concurrency=3)
    batch = [[{"role": "user", "content": t}] for t in ("a", "boom", "c", "d")]
    results = policy.complete(batch)
    assert [r.text for r in results[0::2]] == ["re:a", "re:c"] and results[3].text == "re:d"
    assert isinstance(results[1], EndpointError) and "HTTP 400" in str(results[1])
    with pytest.raises(EndpointError, match="HTTP 400"):
        policy.generate(batch)


def test_500_then_success_retries_with_exponential_backoff() -> None:
    script = Script(httpx.Response(500), httpx.Response(502, text="bad gateway"), ok())
    policy, sleeps = make(script, backoff=0.25)
    assert policy.generate([MESSAGES]) == ["hello"]
    assert len(script.requests) == 3
    assert sleeps == [0.25, 0.5]


@pytest.mark.parametrize(
    ("retry_after", "expected"),
    [("2", 2.0), ("0", 0.0), ("0.5", 0.5), ("999", 10.0), ("Wed, 21 Oct 2015 07:28:00 GMT", 0.5)],
)
def test_429_honours_a_small_retry_after(retry_after: str, expected: float) -> None:
    script = Script(httpx.Response(429, headers={"Retry-After": retry_after}), ok())
    policy, sleeps = make(script, max_backoff=10.0)
    assert policy.generate([MESSAGES]) == ["hello"]
    assert sleeps == [expected]


@pytest.mark.parametrize(
    ("fault", "match"),
    [
        (httpx.ReadTimeout("slow"), "no complete answer within timeout=60s"),
        (httpx.ConnectError("refused"), "connection failed \\(ConnectError: refused\\)"),
        (httpx.RemoteProtocolError("peer closed"), "RemoteProtocolError"),
        (httpx.Response(503, text="overloaded"), "HTTP 503: overloaded"),
    ],
)
def test_all_retries_failing_raise_a_clear_endpoint_error(fault, match: str) -> None:
    script = Script(fault)
    policy, sleeps = make(script, max_retries=3, backoff=1.0, max_backoff=3.0)
    with pytest.raises(EndpointError, match=match) as info:
        policy.generate([MESSAGES])
    assert "failed after 4 attempt(s)" in str(info.value)
    assert "Check that the server is up" in str(info.value)
    assert len(script.requests) == 4
    assert sleeps == [1.0, 2.0, 3.0]  # doubled, capped at max_backoff


@pytest.mark.parametrize(
    ("response", "match"),
    [
        (httpx.Response(200, text="<html>oops</html>"), "non-JSON body .*<html>oops</html>"),
        (httpx.Response(200, content=b"\xff\xfe{"), "non-JSON body"),
        (httpx.Response(200, json=[1, 2]), "not a chat completion"),
        (httpx.Response(200, json={"choices": []}), "without choices\\[0\\].message"),
        (httpx.Response(200, json={"choices": [{"message": "x"}]}), "without choices"),
        (httpx.Response(401, text="no key"), "HTTP 401: no key — check the API key"),
        (httpx.Response(404, text="nope"), "check the base URL and the model name 'tiny'"),
    ],
)
def test_bad_answers_fail_at_once_with_a_clear_error(response, match: str) -> None:
    script = Script(response)
    policy, sleeps = make(script)
    with pytest.raises(EndpointError, match=match):
        policy.generate([MESSAGES])
    assert len(script.requests) == 1 and sleeps == []


def test_a_huge_body_is_refused(monkeypatch) -> None:
    monkeypatch.setattr("agent_rl.policies.openai.MAX_BODY_BYTES", 1000)
    policy, _ = make(Script(ok(completion("x" * 5000))))
    with pytest.raises(EndpointError, match="sent more than"):
        policy.generate([MESSAGES])


@pytest.mark.parametrize("fmt", ["json", "react", "hermes"])
def test_native_tool_calls_render_in_the_format_from_raw_arguments(fmt: str) -> None:
    good = native_call("read_file", '{"path": "a.py"}')
    policy, _ = make(Script(ok(completion(None, [good]))), format=fmt)
    canonical = render_call(ToolCall("read_file", {"path": "a.py"}), fmt)
    assert policy.generate([MESSAGES]) == [canonical]

    malformed = '{"path": "a.py",, "x": NaN'
    policy, _ = make(Script(ok(completion("", [native_call("read_file", malformed)]))), format=fmt)
    text = policy.generate([MESSAGES])[0]
    assert malformed in text
    assert text == render_raw_call("read_file", malformed, fmt)


def test_native_tool_calls_keep_content_as_thought_and_every_call() -> None:
    calls = [native_call("read_file", '{"path": "a.py"}'), native_call("list_dir", "{}")]
    policy, _ = make(Script(ok(completion("Let me look.", calls))), format="react")
    text = policy.generate([MESSAGES])[0]
    first = render_call(ToolCall("read_file", {"path": "a.py"}), "react", thought="Let me look.")
    assert text == first + "\n" + render_call(ToolCall("list_dir", {}), "react")


def test_tools_mode_sends_native_tool_schemas() -> None:
    tool = {"type": "function", "function": {"name": "finish", "parameters": {"type": "object"}}}
    script = Script(ok())
    policy, _ = make(script, tools_mode=True, tools=[tool])
    policy.generate([MESSAGES])
    body = json.loads(script.requests[0].content)
    assert body["tools"] == [tool] and body["tool_choice"] == "auto"
    with pytest.raises(ConfigError, match="tools_mode=True is not supported without tools"):
        OpenAIPolicy("http://x/v1", "m", tools_mode=True)


@pytest.mark.parametrize(
    ("base", "url"),
    [
        ("http://localhost:8000", "http://localhost:8000/v1/chat/completions"),
        ("http://localhost:8000/", "http://localhost:8000/v1/chat/completions"),
        ("http://localhost:8000/v1", "http://localhost:8000/v1/chat/completions"),
        (
            "https://api.example.com/openai/v1/",
            "https://api.example.com/openai/v1/chat/completions",
        ),
        ("http://h/v1/chat/completions", "http://h/v1/chat/completions"),
        ("http://h:11434/api/v2beta", "http://h:11434/api/v2beta/chat/completions"),
    ],
)
def test_base_url_forms(base: str, url: str) -> None:
    assert chat_completions_url(base) == url


@pytest.mark.parametrize("base", ["", "not a url", "ftp://host/v1", "localhost:8000", "http://"])
def test_bad_base_url_is_one_clear_line(base: str) -> None:
    with pytest.raises(ConfigError, match=r"e\.g\. --base-url http://localhost:8000/v1") as info:
        OpenAIPolicy(base, "m")
    assert "\n" not in str(info.value)


# --- a real server on 127.0.0.1 --------------------------------------------------------------


class Server:
    """A tiny threaded HTTP server answering POSTs from a list of actions, in order."""

    def __init__(self, actions: list[tuple[str, Any]]) -> None:
        self.actions, self.hits, self.lock = list(actions), 0, threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length", 0)))
                with outer.lock:
                    outer.hits += 1
                    kind, arg = outer.actions.pop(0) if len(outer.actions) > 1 else outer.actions[0]
                if kind == "drop":
                    self.close_connection = True
                    return
                if kind == "sleep":
                    time.sleep(arg)
                    kind, arg = "ok", "late"
                if kind == "trickle":
                    self.send_response(200)
                    self.send_header("Content-Length", "1000")
                    self.end_headers()
                    for _ in range(int(arg / 0.05)):
                        self.wfile.write(b" ")
                        self.wfile.flush()
                        time.sleep(0.05)
                    return
                headers: dict[str, str] = {}
                if kind == "ok":
                    status, body = 200, json.dumps(completion(arg)).encode()
                elif kind == "status":
                    status, body = arg, b'{"error": "server error"}'
                elif kind == "429":
                    status, body, headers = 429, b"slow down", {"Retry-After": str(arg)}
                else:  # non-JSON
                    status, body = 200, b"<html>proxy error page</html>"
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        class Quiet(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # the client hung up on a slow answer: expected here

        self.httpd = Quiet(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)


@pytest.fixture
def serve() -> Iterator[Callable[..., Server]]:
    servers: list[Server] = []

    def start(*actions: tuple[str, Any]) -> Server:
        server = Server(list(actions))
        server.thread.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.httpd.shutdown()
        server.httpd.server_close()


def real(server: Server, **kw: Any) -> OpenAIPolicy:
    kw.setdefault("timeout", 2.0)
    kw.setdefault("backoff", 0.01)
    return OpenAIPolicy(server.url, "tiny", api_key="", **kw)


def test_real_server_success_and_500_then_success(serve) -> None:
    server = serve(("status", 500), ("ok", "Action: {}"))
    with real(server) as policy:
        assert policy.generate([MESSAGES, MESSAGES]) == ["Action: {}", "Action: {}"]
    assert server.hits == 3


def test_real_server_429_with_retry_after_is_waited_for(serve) -> None:
    server = serve(("429", 1), ("ok", "after the wait"))
    start = time.monotonic()
    with real(server) as policy:
        assert policy.generate([MESSAGES]) == ["after the wait"]
    assert 0.9 <= time.monotonic() - start < 5
    assert server.hits == 2


@pytest.mark.parametrize(
    ("action", "match"),
    [
        (("sleep", 3.0), "no complete answer within timeout=0.4s"),
        (("trickle", 3.0), "no complete answer within timeout=0.4s"),
        (("drop", None), "connection failed"),
        (("status", 503), "HTTP 503"),
    ],
)
def test_real_server_faults_end_in_a_bounded_endpoint_error(serve, action, match: str) -> None:
    server = serve(action)
    start = time.monotonic()
    policy = real(server, timeout=0.4, max_retries=2)
    with policy, pytest.raises(EndpointError, match=match):
        policy.generate([MESSAGES])
    assert time.monotonic() - start < 3.0  # 3 attempts x 0.4 s + backoff: never a hang
    assert server.hits == 3


def test_real_server_non_json_is_a_clear_error_without_retries(serve) -> None:
    server = serve(("html", None))
    with real(server) as policy, pytest.raises(EndpointError, match="non-JSON body"):
        policy.generate([MESSAGES])
    assert server.hits == 1


def test_nothing_listening_is_a_clear_error(serve) -> None:
    server = serve(("ok", "x"))
    server.httpd.shutdown()
    server.httpd.server_close()
    with real(server, max_retries=1) as policy, pytest.raises(EndpointError, match="ConnectError"):
        policy.generate([MESSAGES])


# --- in the agent loop -----------------------------------------------------------------------


def test_endpoint_failure_in_the_agent_loop_is_an_error_outcome_not_a_hang() -> None:
    from agent_rl.agent import ReActAgent
    from agent_rl.tasks import load_tasks

    tasks = load_tasks("test")[:2]
    call = 'Action: {"name": "list_dir", "arguments": {}}'
    script = Script(ok(completion(call)), httpx.Response(500, text="boom"))
    policy, sleeps = make(script, max_retries=2, concurrency=1)
    first, second = ReActAgent(policy, max_steps=5).run_many(tasks)
    # the first request succeeded, everything after it failed after 3 attempts
    assert len(first.steps) == 2 and first.steps[0].verdict.valid
    for traj in (first, second):
        assert traj.outcome.status == "error" and traj.outcome.success is False
        assert "failed after 3 attempt(s); last: HTTP 500: boom" in traj.outcome.error
        assert traj.steps[-1].verdict is None and traj.steps[-1].error == traj.outcome.error
    assert len(script.requests) == 1 + 3 + 3 and sleeps == [0.5, 1.0] * 2


def test_a_slow_real_server_in_the_agent_loop_is_bounded(serve) -> None:
    from agent_rl.agent import ReActAgent
    from agent_rl.tasks import load_tasks

    server = serve(("sleep", 5.0))
    start = time.monotonic()
    with real(server, timeout=0.3, max_retries=1) as policy:
        trajs = ReActAgent(policy, max_steps=12).run_many(load_tasks("test")[:3])
    assert time.monotonic() - start < 4.0
    assert [t.outcome.status for t in trajs] == ["error"] * 3
    assert all("no complete answer within timeout=0.3s" in t.outcome.error for t in trajs)
