"""``agent-rl serve`` and ``agent-rl proxy`` driven by real clients (the ``openai`` SDK, LangChain's
``ChatOpenAI``) running multi-step tool-calling agents over real servers on 127.0.0.1; the
recorded steps are checked against what each client saw."""

from __future__ import annotations

import gzip
import json
import math
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import Response, StreamingResponse

from agent_rl import ScriptedPolicy, ToolCall, ToolSpec, TrajectoryStore, load_tasks, make_sandbox
from agent_rl.errors import PolicyError
from agent_rl.formats import render_call
from agent_rl.runtime import (
    BackgroundServer,
    ServedPolicy,
    conversations,
    create_proxy_app,
    create_serve_app,
)

openai = pytest.importorskip("openai")

TASK = load_tasks("train")[0]
TOOLS = [t.to_openai() for t in make_sandbox(TASK).tools]
RETRY = "That was not a valid tool call. Write it again."
MODEL = "scripted-expert"


def corrupt(text: str) -> str:
    """A real malformed call: a trailing comma in the arguments object."""
    return text.replace("}}", "},}", 1)


def expert_script() -> list[str]:
    """The task's expert calls in hermes, the second one first written malformed."""
    calls = [render_call(c, "hermes") for c in TASK.expert]
    return [calls[0], corrupt(calls[1]), *calls[1:]]


def script_policy(outputs: list[str]) -> ScriptedPolicy:
    """The model: the k-th output for a conversation with k assistant turns."""

    def answer(messages: list[dict[str, Any]]) -> str:
        turn = sum(m["role"] == "assistant" for m in messages)
        return outputs[min(turn, len(outputs) - 1)]

    return ScriptedPolicy(answer, name=MODEL)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[BackgroundServer, Path]]:
    store = tmp_path / "served.jsonl"
    app = create_serve_app(ServedPolicy(script_policy(expert_script())), store=store)
    with BackgroundServer(app) as server:
        yield server, store


@pytest.fixture
def proxied(
    served: tuple[BackgroundServer, Path], tmp_path: Path
) -> Iterator[tuple[BackgroundServer, Path]]:
    store = tmp_path / "proxied.jsonl"
    with BackgroundServer(create_proxy_app(served[0].base_url, store=store)) as server:
        yield server, store


@contextmanager
def client(base_url: str) -> Iterator[Any]:
    with openai.OpenAI(base_url=base_url, api_key="test", max_retries=0, timeout=30) as api:
        yield api


def as_message(message: Any) -> dict[str, Any]:
    """The assistant message as the client sends it back."""
    out: dict[str, Any] = {"role": "assistant", "content": message.content}
    if message.tool_calls:
        out["tool_calls"] = [
            {
                "id": c.id,
                "type": "function",
                "function": {"name": c.function.name, "arguments": c.function.arguments},
            }
            for c in message.tool_calls
        ]
    return out


def run_openai_agent(base_url: str, stream: bool) -> tuple[list[dict[str, Any]], list[Any]]:
    """A coding agent: the openai SDK, the sandbox executing each returned tool call.
    Returns the requests' messages and the messages the client got, in order."""
    with client(base_url) as api:
        return _run_openai_agent(api, stream)


def _run_openai_agent(api: Any, stream: bool) -> tuple[list[dict[str, Any]], list[Any]]:
    sandbox = make_sandbox(TASK)
    messages: list[dict[str, Any]] = [{"role": "user", "content": TASK.prompt}]
    sent, got = [], []
    for _ in range(len(TASK.expert) + 3):  # bounded
        sent.append([dict(m) for m in messages])
        if stream:
            with api.chat.completions.stream(model=MODEL, messages=messages, tools=TOOLS) as s:
                message = s.get_final_completion().choices[0].message
        else:
            completion = api.chat.completions.create(model=MODEL, messages=messages, tools=TOOLS)
            message = completion.choices[0].message
        got.append(message)
        messages.append(as_message(message))
        if not message.tool_calls:
            messages.append({"role": "user", "content": RETRY})
            continue
        for call in message.tool_calls:
            obs = sandbox.step(ToolCall(call.function.name, json.loads(call.function.arguments)))
            messages.append({"role": "tool", "tool_call_id": call.id, "content": obs.content})
        if sandbox.done:
            break
    assert TASK.check(sandbox), "the expert's calls, executed by the client, solve the task"
    return sent, got


def check_recorded(store: Path, sent: list[Any], got: list[Any], script: list[str]) -> None:
    (traj,) = conversations(store)  # one conversation, one step per request
    assert [s.index for s in traj.steps] == list(range(len(got)))
    assert traj.tools == TOOLS and traj.task.prompt == TASK.prompt
    for k, (step, messages, message) in enumerate(zip(traj.steps, sent, got, strict=True)):
        assert step.messages == messages
        assert step.raw_output == script[k]
        assert step.verdict is not None and step.verdict.valid == bool(message.tool_calls)
        assert step.extra["response"] == json.loads(json.dumps(as_message(message)))
        assert step.latency_s is not None and step.latency_s >= 0
    bad = traj.steps[1]
    assert bad.verdict.stage == "parse" and bad.verdict.errors[0].type == "trailing_comma"
    assert got[1].content == script[1]  # the client saw exactly what the model wrote


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_serve_runs_an_openai_sdk_coding_agent_and_records_what_it_saw(served, stream) -> None:
    server, store = served
    sent, got = run_openai_agent(server.base_url, stream)
    script = expert_script()
    assert len(got) == len(script)
    for message, text in zip(got, script, strict=True):
        if message.tool_calls:  # arguments exactly as the model wrote them
            (call,) = message.tool_calls
            assert json.dumps(json.loads(call.function.arguments)) in text
            assert f'"arguments": {call.function.arguments}}}' in text
    check_recorded(store, sent, got, script)
    (line, *_) = TrajectoryStore(store).read()
    assert line.metadata.extra["weights_version"] == 0 and line.metadata.extra["runtime"] == "serve"


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_proxy_records_the_same_agent_and_changes_nothing(served, proxied, stream) -> None:
    proxy, proxy_store = proxied
    sent, got = run_openai_agent(proxy.base_url, stream)
    script = expert_script()
    check_recorded(proxy_store, sent, got, script)  # the proxy scored the raw output itself
    check_recorded(served[1], sent, got, script)  # and the upstream saw the same requests
    (line, *_) = TrajectoryStore(proxy_store).read()
    assert line.metadata.extra["upstream"] == served[0].base_url + "/chat/completions"


# --- LangChain's ChatOpenAI, dotted tool names ----------------------------------------------------


def gcd_script() -> list[str]:
    return [
        render_call(ToolCall("math.gcd", {"a": 12, "b": 18}), "hermes"),
        render_call(ToolCall("math.lcm", {"a": 4, "b": 6}), "hermes"),
        "gcd(12, 18) = 6 and lcm(4, 6) = 12.",
    ]


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("via_proxy", [False, True], ids=["serve", "proxy"])
def test_langchain_agent_with_dotted_tool_names(tmp_path, stream, via_proxy) -> None:
    pytest.importorskip("langchain_openai")
    from langchain.agents import create_agent
    from langchain_core.messages import AIMessage, ToolMessage
    from langchain_core.tools import tool
    from langchain_openai import ChatOpenAI

    @tool("math.gcd")
    def gcd(a: int, b: int) -> int:
        """Greatest common divisor."""
        return math.gcd(a, b)

    @tool("math.lcm")
    def lcm(a: int, b: int) -> int:
        """Least common multiple."""
        return math.lcm(a, b)

    script = gcd_script()
    serve_store, proxy_store = tmp_path / "s.jsonl", tmp_path / "p.jsonl"
    app = create_serve_app(ServedPolicy(script_policy(script)), store=serve_store)
    with (
        BackgroundServer(app) as up,
        BackgroundServer(create_proxy_app(up.base_url, store=proxy_store)) as proxy,
    ):
        base = proxy.base_url if via_proxy else up.base_url
        model = ChatOpenAI(
            model=MODEL, base_url=base, api_key="test", max_retries=0, streaming=stream, timeout=30
        )
        agent = create_agent(model, tools=[gcd, lcm])
        result = agent.invoke({"messages": [("user", "gcd(12, 18) and lcm(4, 6)?")]})
    ai = [m for m in result["messages"] if isinstance(m, AIMessage)]
    tools = [m.content for m in result["messages"] if isinstance(m, ToolMessage)]
    assert [c["name"] for m in ai for c in m.tool_calls] == ["math.gcd", "math.lcm"]
    assert tools == ["6", "12"] and ai[-1].content == script[2]
    for store in [serve_store, proxy_store] if via_proxy else [serve_store]:
        (traj,) = conversations(store)
        assert [s.raw_output for s in traj.steps] == script
        assert all(s.valid for s in traj.steps)
        names = [t["function"]["name"] for t in traj.tools]
        assert names == ["math.gcd", "math.lcm"]
        assert [list(ToolSpec.from_openai(t).name_issues()) for t in traj.tools] == [["openai"]] * 2
        for step, message in zip(traj.steps, ai, strict=True):
            calls = step.extra["response"].get("tool_calls") or []
            assert [c["id"] for c in calls] == [c["id"] for c in message.tool_calls]


# --- bad requests, failures, concurrency ---------------------------------------------------------

GOOD = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}
BAD_SCHEMA = {"type": "object", "properties": {"a": {"type": "strin"}}}


@pytest.mark.parametrize(
    ("body", "status", "param"),
    [
        (b"{not json", 400, None),
        (b"[1, 2]", 400, None),
        (b'{"model": "m", "messages": [{"role": "user", "content": NaN}]}', 400, None),
        ({"model": MODEL}, 400, "messages"),
        ({"model": MODEL, "messages": []}, 400, "messages"),
        ({"model": MODEL, "messages": [{"role": "robot", "content": "x"}]}, 400, "messages.0.role"),
        ({"model": MODEL, "messages": "hi"}, 400, "messages"),
        ({**GOOD, "model": "gpt-5"}, 404, "model"),
        ({**GOOD, "model": 3}, 400, "model"),
        ({**GOOD, "tools": [{"function": {"name": "f", "parameters": BAD_SCHEMA}}]}, 400, "tools"),
        ({**GOOD, "tools": [{"type": "function", "function": {"name": "a b"}}]}, 400, "tools"),
        ({**GOOD, "tools": [{"type": "function", "function": {"name": "f"}}] * 2}, 400, "tools"),
        ({**GOOD, "tools": "f"}, 400, "tools"),
        ({**GOOD, "temperature": 5}, 400, "temperature"),
        ({**GOOD, "n": 0}, 400, "n"),
        ({**GOOD, "n": "2"}, 400, "n"),
        ({**GOOD, "max_tokens": 0}, 400, "max_tokens"),
        ({**GOOD, "stream": "yes"}, 400, "stream"),
        ({**GOOD, "tool_choice": "always"}, 400, "tool_choice"),
        (
            {**GOOD, "messages": [{"role": "assistant", "tool_calls": [{"function": {}}]}]},
            400,
            "messages.0.tool_calls.0.function.name",
        ),
        (
            {**GOOD, "messages": [{"role": "assistant", "tool_calls": "f"}]},
            400,
            "messages.0.tool_calls",
        ),
        (b"{" + b" " * (33 << 20) + b"}", 413, None),
        (
            {**GOOD, "tool_choice": {"type": "function", "function": {"name": "nope"}}},
            400,
            "tool_choice",
        ),
    ],
)
def test_bad_requests_get_openai_error_bodies_and_the_server_lives(
    served, body: Any, status: int, param: str | None
) -> None:
    server, store = served
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    with httpx.Client(timeout=10) as http:
        r = http.post(f"{server.base_url}/chat/completions", content=content)
        assert r.status_code == status, r.text
        error = r.json()["error"]
        assert error["message"] and error["type"] == "invalid_request_error"
        assert r.headers["content-type"] == "application/json"
        assert error["param"] == param
        assert http.get(f"{server.base_url}/models").status_code == 200
        ok = http.post(f"{server.base_url}/chat/completions", json=GOOD)
        assert ok.status_code == 200
    assert len(list(TrajectoryStore(store).read())) == 1  # only the good request was recorded


@pytest.mark.parametrize(
    ("method", "path", "status"), [("GET", "/chat/completions", 405), ("POST", "/nope", 404)]
)
def test_unknown_routes_get_openai_error_bodies(served, method, path, status) -> None:
    r = httpx.request(method, served[0].base_url + path, timeout=10)
    assert r.status_code == status and r.json()["error"]["message"]


def test_a_failing_policy_is_a_500_error_body_and_a_recorded_step(tmp_path) -> None:
    store = tmp_path / "s.jsonl"
    policy = ScriptedPolicy([["only one"]], name=MODEL)  # a second conversation has no script
    with ExitStack() as stack:
        server = stack.enter_context(
            BackgroundServer(create_serve_app(ServedPolicy(policy), store=store))
        )
        api = stack.enter_context(client(server.base_url))
        assert api.chat.completions.create(**GOOD).choices[0].message.content == "only one"
        with pytest.raises(openai.InternalServerError, match="all 1 scripts are in use"):
            api.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "2"}])
        assert api.models.list().data[0].id == MODEL
    ok, failed = TrajectoryStore(store).read()
    assert ok.steps[0].valid and ok.outcome.status == "finished"
    assert failed.outcome.status == "error" and "scripts are in use" in failed.steps[0].error
    assert failed.steps[0].verdict is None


def test_generation_runs_off_the_event_loop(tmp_path) -> None:
    release, entered = threading.Event(), threading.Event()

    def slow(messages: list[dict[str, Any]]) -> str:
        entered.set()
        if not release.wait(20):
            raise PolicyError("never released")
        return "done"

    app = create_serve_app(ServedPolicy(ScriptedPolicy(slow, name=MODEL)))
    with BackgroundServer(app) as server:
        result: list[Any] = []
        worker = threading.Thread(
            target=lambda: result.append(
                httpx.post(f"{server.base_url}/chat/completions", json=GOOD, timeout=30)
            )
        )
        worker.start()
        try:
            assert entered.wait(10)
            models = httpx.get(f"{server.base_url}/models", timeout=5)  # answered meanwhile
            assert models.status_code == 200 and not result
        finally:
            release.set()
            worker.join(30)
    assert result[0].json()["choices"][0]["message"]["content"] == "done"


def test_conversations_are_told_apart_and_named_by_header(served) -> None:
    server, store = served
    first = [{"role": "user", "content": TASK.prompt}]
    with client(server.base_url) as api:
        a = api.chat.completions.create(model=MODEL, messages=first, tools=TOOLS)
        b = api.chat.completions.create(model=MODEL, messages=first, tools=TOOLS)  # same opening
        for reply in (a, b):  # each continues its own conversation
            msg = reply.choices[0].message
            result = {"role": "tool", "tool_call_id": msg.tool_calls[0].id, "content": "ok"}
            again = [*first, as_message(msg), result]
            api.chat.completions.create(model=MODEL, tools=TOOLS, messages=again)
        api.chat.completions.create(**GOOD, extra_headers={"X-Conversation-Id": "mine"})
    trajs = conversations(store)
    assert [len(t.steps) for t in trajs] == [2, 2, 1] and trajs[2].id == "mine"
    for traj, reply in zip(trajs, (a, b), strict=False):
        first_call = traj.steps[0].extra["response"]["tool_calls"][0]["id"]
        assert first_call == reply.choices[0].message.tool_calls[0].id


# --- proxy: upstream faults pass through, bytes unchanged ----------------------------------------


def test_proxy_passes_upstream_errors_through_and_records_them(served, proxied) -> None:
    direct = httpx.post(
        f"{served[0].base_url}/chat/completions", json={**GOOD, "model": "gpt-5"}, timeout=10
    )
    via = httpx.post(
        f"{proxied[0].base_url}/chat/completions", json={**GOOD, "model": "gpt-5"}, timeout=10
    )
    assert (
        (via.status_code, via.content) == (direct.status_code, direct.content) == (404, via.content)
    )
    (line,) = TrajectoryStore(proxied[1]).read()
    assert line.outcome.status == "error" and line.steps[0].error.startswith("HTTP 404")
    assert line.metadata.extra["status"] == 404


def test_proxy_answers_502_when_the_upstream_is_down_and_records_it(tmp_path) -> None:
    with BackgroundServer(create_serve_app(ServedPolicy(script_policy(["x"])))) as gone:
        dead = gone.base_url
    store = tmp_path / "p.jsonl"
    with BackgroundServer(create_proxy_app(dead, store=store)) as proxy:
        r = httpx.post(f"{proxy.base_url}/chat/completions", json=GOOD, timeout=10)
        assert r.status_code == 502 and r.json()["error"]["code"] == "upstream_unreachable"
    (line,) = TrajectoryStore(store).read()
    assert "cannot be reached" in line.steps[0].error and line.metadata.extra["status"] == 502


def test_proxy_answers_504_on_an_upstream_timeout_and_records_it(tmp_path) -> None:
    release = threading.Event()
    slow = ScriptedPolicy(lambda m: "late" if release.wait(20) else "never", name=MODEL)
    store = tmp_path / "p.jsonl"
    with (
        BackgroundServer(create_serve_app(ServedPolicy(slow))) as up,
        BackgroundServer(create_proxy_app(up.base_url, store=store, timeout=0.5)) as proxy,
    ):
        try:
            r = httpx.post(f"{proxy.base_url}/chat/completions", json=GOOD, timeout=10)
        finally:
            release.set()
    assert r.status_code == 504 and r.json()["error"]["code"] == "upstream_timeout"
    (line,) = TrajectoryStore(store).read()
    assert "did not answer within 0.5s" in line.steps[0].error


def fixed_upstream(routes: dict[str, Callable[[], Any]]) -> Any:
    """A hosted-API stand-in that answers fixed bytes (gzip, odd SSE chunking, raw arguments),
    and echoes the request it got on ``/v1/models``."""
    app = FastAPI()

    @app.get("/v1/models")
    async def echo(request: Request) -> Any:
        return {"headers": request.headers.items(), "query": request.url.query}

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> Any:
        body = await request.json()
        return routes["stream" if body.get("stream") else "json"]()

    return app


def test_proxy_relays_upstream_bytes_unchanged_and_scores_raw_arguments(tmp_path) -> None:
    raw_args = '{"a": 12,}'  # malformed, as a provider may send it: kept verbatim
    message = {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": "math.gcd", "arguments": raw_args},
            }
        ],
    }
    body = json.dumps(
        {
            "id": "x",
            "object": "chat.completion",
            "created": 1,
            "model": "m",
            "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls"}],
            "usage": {"prompt_tokens": 7, "completion_tokens": 5},
        }
    ).encode()
    pieces = [
        b'data: {"id":"x","object":"chat.completion.chunk","choices":[{"index":0,"delta":',
        b'{"role":"assistant","content":null,"tool_calls":[{"index":0,"id":"call_1","type":'
        b'"function","function":{"name":"math.gcd","arguments":""}}]},"finish_reason":null}]}'
        b'\n\ndata: {"id":"x","object":"chat.completion.chunk","choices":[{"index":0,"delta":'
        b'{"tool_calls":[{"index":0,"function":{"arguments":"{\\"a\\": 12,"}}]},"finish_rea',
        b'son":null}]}\n\n: keep-alive\n\ndata: {"id":"x","object":"chat.completion.chunk",'
        b'"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"}"}}]},'
        b'"finish_reason":"tool_calls"}]}\n\n',
        b"data: [DONE]\n\n",
    ]

    async def stream() -> Any:
        for piece in pieces:
            yield piece

    routes = {
        "json": lambda: Response(
            gzip.compress(body),
            media_type="application/json",
            headers={"content-encoding": "gzip", "x-upstream": "1"},
        ),
        "stream": lambda: StreamingResponse(stream(), media_type="text/event-stream"),
    }
    gcd = {
        "type": "function",
        "function": {
            "name": "math.gcd",
            "parameters": {
                "type": "object",
                "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
            },
        },
    }
    request = {**GOOD, "tools": [gcd]}
    store = tmp_path / "p.jsonl"
    with (
        BackgroundServer(fixed_upstream(routes)) as up,
        BackgroundServer(create_proxy_app(up.base_url, store=store)) as proxy,
        httpx.Client(timeout=10) as http,
    ):
        plain = http.post(
            f"{proxy.base_url}/chat/completions", json=request, headers={"accept-encoding": "gzip"}
        )
        with http.stream(
            "POST", f"{proxy.base_url}/chat/completions", json={**request, "stream": True}
        ) as s:
            streamed = b"".join(s.iter_raw())
    assert plain.status_code == 200, plain.content
    assert plain.headers["content-encoding"] == "gzip" and plain.headers["x-upstream"] == "1"
    assert plain.content == body  # decoded by httpx: the same JSON bytes the upstream sent
    assert streamed == b"".join(pieces)
    for line in TrajectoryStore(store).read():
        (step,) = line.steps
        assert f'"arguments": {raw_args}' in step.raw_output
        assert step.verdict.stage == "parse" and step.verdict.errors[0].type == "trailing_comma"
        assert step.extra["response"]["tool_calls"][0]["function"]["arguments"] == raw_args
    assert [s.prompt_tokens for t in TrajectoryStore(store).read() for s in t.steps] == [7, None]


def test_proxy_forwards_the_clients_headers_and_query_and_adds_none(tmp_path) -> None:
    sent = {"user-agent": "my-agent/1.0", "authorization": "Bearer sk-test", "x-trace": "7"}
    with (
        BackgroundServer(fixed_upstream({})) as up,
        BackgroundServer(create_proxy_app(up.base_url, store=tmp_path / "p.jsonl")) as proxy,
    ):
        direct = httpx.get(f"{up.base_url}/models?api-version=2", headers=sent, timeout=10)
        via = httpx.get(f"{proxy.base_url}/models?api-version=2", headers=sent, timeout=10)
    assert via.json()["query"] == direct.json()["query"] == "api-version=2"
    got = [(k, v) for k, v in via.json()["headers"] if k not in ("host", "connection")]
    expected = [(k, v) for k, v in direct.json()["headers"] if k not in ("host", "connection")]
    assert got == expected and ("authorization", "Bearer sk-test") in got
