"""``TrajectoryCallback`` on a real LangChain agent (``langchain.agents.create_agent``) driven by
a fake chat model that answers like an OpenAI-compatible provider: raw tool-call arguments,
parsed by langchain-core exactly as ``langchain-openai`` does. Every step must land in the store
with the right verdict — in strict mode — and the host must survive the recorder's failures."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from langchain.agents import create_agent
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langchain_core.output_parsers.openai_tools import make_invalid_tool_call, parse_tool_call
from langchain_core.tools import tool
from langchain_core.utils.function_calling import convert_to_openai_tool

from agent_rl.errors import StoreError, ToolSpecError
from agent_rl.integrations.langchain import TrajectoryCallback
from agent_rl.trajectories import Trajectory, TrajectoryStore


class ProviderFakeModel(GenericFakeChatModel):
    """A fake chat model that supports ``bind_tools`` the way provider models do."""

    def bind_tools(self, tools: Any, **kwargs: Any) -> Any:
        return self.bind(tools=[convert_to_openai_tool(t) for t in tools], **kwargs)


def raw(call_id: str, name: str, arguments: str) -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def provider_message(*calls: dict[str, Any], content: str = "") -> AIMessage:
    """An AIMessage built as ``langchain-openai`` builds one from a provider response."""
    parsed, invalid = [], []
    for rc in calls:
        try:
            parsed.append(parse_tool_call(rc, return_id=True))
        except Exception as e:  # OutputParserException: malformed arguments
            invalid.append(make_invalid_tool_call(rc, str(e)))
    return AIMessage(
        content=content,
        additional_kwargs={"tool_calls": list(calls)} if calls else {},
        tool_calls=parsed,
        invalid_tool_calls=invalid,
        usage_metadata={"input_tokens": 11, "output_tokens": 7, "total_tokens": 18},
    )


@tool
def read_file(path: str) -> str:
    """Read a file of the workspace."""
    return f"contents of {path}"


@tool
def explode(times: int) -> str:
    """A tool that fails."""
    raise ValueError(f"exploded {times} times")


TOOLS = [read_file, explode]

# (messages the fake model returns in turn, expected (raw_output prefix, valid, stage, kind,
# observation prefix, observation ok) per recorded step)
SCRIPT = [
    provider_message(
        raw("c1", "read_file", '{"path": "a.py"}'),
        raw("c2", "read_file", '{"path": "b.py"'),  # truncated JSON: invalid_tool_calls
        content="Let me look.",
    ),
    provider_message(
        raw("c3", "delete_everything", "{}"),  # unknown tool
        raw("c4", "read_file", '{"path": 3}'),  # wrong argument type
        raw("c5", "read_file", '{"path": "a.py", "path": "b.py"}'),  # duplicate key
    ),
    provider_message(raw("c6", "read_file", '{"path": NaN}')),  # Python json would accept it
    AIMessage(content="The bug is on line 3."),
]
EXPECTED = [
    (
        '{"name": "read_file", "arguments": {"path": "a.py"}}',
        True,
        None,
        None,
        "contents of a.py",
        True,
    ),
    (
        '{"name": "read_file", "arguments": {"path": "b.py"}',
        False,
        "parse",
        "truncated",
        "Tool call",
        False,
    ),
    ('{"name": "delete_everything"', False, "tool", "unknown_tool", "Error", False),
    (
        '{"name": "read_file", "arguments": {"path": 3}}',
        False,
        "arguments",
        "wrong_type",
        "1 validation",
        False,
    ),
    (
        '{"name": "read_file", "arguments": {"path": "a.py", "path"',
        False,
        None,
        "duplicate_key",
        "contents of b.py",
        True,
    ),
    (
        '{"name": "read_file", "arguments": {"path": NaN}}',
        False,
        "parse",
        None,
        "1 validation",
        False,
    ),
    ("The bug is on line 3.", True, None, None, None, None),
]


def _agent(script: list[AIMessage]) -> Any:
    return create_agent(ProviderFakeModel(messages=iter(script)), tools=TOOLS)


def _check_steps(traj: Trajectory) -> None:
    assert len(traj.steps) == len(EXPECTED), [s.raw_output for s in traj.steps]
    for step, (prefix, valid, stage, kind, obs, ok) in zip(traj.steps, EXPECTED, strict=True):
        v = step.verdict
        assert v is not None and step.raw_output.startswith(prefix), step.raw_output
        assert v.valid is valid, (step.raw_output, v)
        if stage is not None:
            assert v.stage == stage, (step.raw_output, v)
        if kind is not None:
            assert v.kind == kind, (step.raw_output, v)
        if obs is None:
            assert step.observation is None
        else:
            assert step.observation is not None and step.observation.content.startswith(obs)
            assert step.observation.ok is ok
    first = traj.steps[0]
    assert first.messages[-1] == {"role": "user", "content": "fix the bug"}
    assert first.extra["content"] == "Let me look." and first.extra["tool_call_id"] == "c1"
    assert first.call is not None and first.call.arguments == {"path": "a.py"}
    assert (first.prompt_tokens, first.completion_tokens) == (11, 7)
    assert traj.steps[1].call is None  # LangChain could not parse it: nothing was executed
    assert traj.steps[3].error.startswith("ToolException") or "validation" in traj.steps[3].error
    assert [m["role"] for m in traj.steps[-1].messages][:2] == ["user", "assistant"]
    assert {t["function"]["name"] for t in traj.tools} == {"read_file", "explode"}
    assert traj.metadata.source == "langchain" and traj.task.prompt == "fix the bug"


def test_every_step_of_an_agent_run_lands_with_its_verdict(tmp_path: Path) -> None:
    store = TrajectoryStore(tmp_path / "t.jsonl")
    cb = TrajectoryCallback(store, strict=True)
    out = _agent(SCRIPT).invoke({"messages": [("user", "fix the bug")]}, {"callbacks": [cb]})
    assert out["messages"][-1].content == "The bug is on line 3."
    (traj,) = list(store)
    _check_steps(traj)
    assert traj.outcome.status == "final_answer" and traj.outcome.final_answer.startswith("The bug")
    assert cb.errors == [] and cb.open_runs == 0 and cb.written == 1


def test_an_async_run_records_the_same(tmp_path: Path) -> None:
    store = TrajectoryStore(tmp_path / "t.jsonl")
    cb = TrajectoryCallback(store, strict=True)
    agent = _agent(SCRIPT)
    asyncio.run(agent.ainvoke({"messages": [("user", "fix the bug")]}, {"callbacks": [cb]}))
    (traj,) = list(store)
    _check_steps(traj)
    assert cb.errors == []


def test_concurrent_async_runs_stay_apart(tmp_path: Path) -> None:
    store = TrajectoryStore(tmp_path / "t.jsonl")
    cb = TrajectoryCallback(store, tools=TOOLS, strict=True)

    async def main() -> None:
        runs = [
            _agent(
                [
                    provider_message(raw(f"r{i}", "read_file", f'{{"path": "{i}.py"}}')),
                    AIMessage(content=f"done {i}"),
                ]
            ).ainvoke({"messages": [("user", f"task {i}")]}, {"callbacks": [cb]})
            for i in range(4)
        ]
        await asyncio.gather(*runs)

    asyncio.run(main())
    trajs = {t.task.prompt: t for t in store}
    assert sorted(trajs) == [f"task {i}" for i in range(4)]
    for i in range(4):
        steps = trajs[f"task {i}"].steps
        assert [s.verdict.valid for s in steps if s.verdict] == [True, True]
        assert steps[0].observation.content == f"contents of {i}.py"


def test_a_tool_that_raises_still_writes_every_step(tmp_path: Path) -> None:
    store = TrajectoryStore(tmp_path / "t.jsonl")
    cb = TrajectoryCallback(store, strict=True)
    script = [
        provider_message(raw("c1", "read_file", '{"path": "a.py"}')),
        provider_message(raw("c2", "explode", '{"times": 2}')),
    ]
    with pytest.raises(ValueError, match="exploded 2 times"):  # the host's own error
        _agent(script).invoke({"messages": [("user", "go")]}, {"callbacks": [cb]})
    (traj,) = list(store)
    assert traj.outcome.status == "error" and "exploded 2 times" in traj.outcome.error
    assert [s.verdict.valid for s in traj.steps] == [True, True]
    boom = traj.steps[1]
    assert boom.observation.ok is False and boom.observation.error.type == "tool_error"
    assert boom.error == "ValueError: exploded 2 times"


def test_recursion_limit_is_max_steps(tmp_path: Path) -> None:
    from langgraph.errors import GraphRecursionError

    store = TrajectoryStore(tmp_path / "t.jsonl")
    cb = TrajectoryCallback(store, strict=True)
    loop = [provider_message(raw(f"c{i}", "read_file", '{"path": "a.py"}')) for i in range(20)]
    with pytest.raises(GraphRecursionError):
        _agent(loop).invoke(
            {"messages": [("user", "go")]}, {"callbacks": [cb], "recursion_limit": 5}
        )
    (traj,) = list(store)
    assert traj.outcome.status == "max_steps" and len(traj.steps) >= 2


def test_tools_given_to_the_constructor_are_used_for_scoring(tmp_path: Path) -> None:
    cb = TrajectoryCallback(None, tools=[read_file], strict=True)  # explode is not allowed here
    script = [provider_message(raw("c1", "explode", '{"times": 1}')), AIMessage(content="ok")]
    with pytest.raises(ValueError):
        _agent(script).invoke({"messages": [("user", "go")]}, {"callbacks": [cb]})
    (traj,) = cb.trajectories
    assert traj.steps[0].verdict.kind == "unknown_tool"
    assert [t["function"]["name"] for t in traj.tools] == ["read_file"]


def test_a_bare_model_call_is_its_own_trajectory(tmp_path: Path) -> None:
    cb = TrajectoryCallback(None, tools=TOOLS, strict=True)
    model = ProviderFakeModel(messages=iter([provider_message(raw("c1", "read_file", "{}"))]))
    model.invoke("hello", config={"callbacks": [cb]})
    (traj,) = cb.trajectories
    assert traj.steps[0].verdict.kind == "missing_argument"
    assert cb.open_runs == 0


# --- failures: the host always finishes, the recorder counts its own failures -----------------

GARBAGE = [
    AIMessage(content="", additional_kwargs={"tool_calls": ["not a call", {"function": None}]}),
    AIMessage(content="", additional_kwargs={"tool_calls": [raw("g", "read_file", "")]}),
    AIMessage(content=[{"type": "text", "text": 'Sure: {"name": "read_file", "arguments": {}}'}]),
    AIMessage(content=""),
]


@pytest.mark.parametrize(
    "message", GARBAGE, ids=["junk_calls", "empty_args", "call_in_text", "empty"]
)
def test_garbage_model_output_is_recorded_as_invalid(message: AIMessage) -> None:
    cb = TrajectoryCallback(None, tools=TOOLS, strict=True)
    _agent([message]).invoke({"messages": [("user", "go")]}, {"callbacks": [cb]})
    (traj,) = cb.trajectories
    assert traj.steps and all(s.verdict is not None and not s.verdict.valid for s in traj.steps)


class FailingWriter:
    def __call__(self, fd: int, data: bytes) -> int:
        raise OSError(28, "No space left on device")


@pytest.mark.parametrize("store_kind", ["directory", "disk_full"])
def test_a_failing_store_never_breaks_the_host(tmp_path: Path, store_kind: str) -> None:
    if store_kind == "directory":
        store = TrajectoryStore(tmp_path)
    else:
        store = TrajectoryStore(tmp_path / "t.jsonl", write=FailingWriter())
    cb = TrajectoryCallback(store)
    out = _agent(SCRIPT).invoke({"messages": [("user", "fix the bug")]}, {"callbacks": [cb]})
    assert out["messages"][-1].content == "The bug is on line 3."  # the host finished
    assert [e.event for e in cb.errors] == ["store"] and "could not append" in cb.errors[0].error
    (traj,) = cb.unsaved  # nothing lost: kept for a retry
    _check_steps(traj)
    good = TrajectoryStore(tmp_path / "retry.jsonl")
    cb.store = good
    assert cb.retry_unsaved() == 1 and cb.unsaved == []
    assert [t.id for t in good] == [traj.id]


def test_strict_mode_raises_the_recorders_own_failure(tmp_path: Path) -> None:
    cb = TrajectoryCallback(TrajectoryStore(tmp_path), strict=True)
    with pytest.raises(StoreError, match="could not append"):
        _agent(SCRIPT).invoke({"messages": [("user", "fix the bug")]}, {"callbacks": [cb]})
    assert len(cb.errors) == 1 and len(cb.unsaved) == 1


UNUSABLE_TOOL = {"type": "function", "function": {"name": "bad", "parameters": {"type": "array"}}}


def test_tools_that_cannot_be_scored_still_record_the_step() -> None:
    cb = TrajectoryCallback(None)
    model = ProviderFakeModel(messages=iter([provider_message(raw("c1", "bad", "[]"))]))
    model.bind(tools=[UNUSABLE_TOOL]).invoke("hi", config={"callbacks": [cb]})
    (traj,) = cb.trajectories
    assert traj.steps[0].verdict is None and traj.steps[0].raw_output.startswith('{"name": "bad"')
    assert [e.event for e in cb.errors] == ["score"]
    with pytest.raises(ToolSpecError):
        model = ProviderFakeModel(messages=iter([provider_message(raw("c1", "bad", "[]"))]))
        strict = TrajectoryCallback(None, strict=True)
        model.bind(tools=[UNUSABLE_TOOL]).invoke("hi", config={"callbacks": [strict]})


class FailingModel(ProviderFakeModel):
    """A provider that answers once, then fails (a 500 after retries)."""

    def _generate(self, *args: Any, **kwargs: Any) -> Any:
        if getattr(self, "_answered", False):
            raise ConnectionError("provider returned 500")
        object.__setattr__(self, "_answered", True)
        return super()._generate(*args, **kwargs)


def test_a_failing_model_call_is_a_step_with_its_error(tmp_path: Path) -> None:
    store = TrajectoryStore(tmp_path / "t.jsonl")
    cb = TrajectoryCallback(store, strict=True)
    model = FailingModel(messages=iter([provider_message(raw("c1", "read_file", '{"path": "a"}'))]))
    agent = create_agent(model, tools=TOOLS)
    with pytest.raises(ConnectionError):
        agent.invoke({"messages": [("user", "go")]}, {"callbacks": [cb]})
    (traj,) = list(store)
    assert [s.verdict is not None for s in traj.steps] == [True, False]
    assert traj.steps[1].error == "ConnectionError: provider returned 500"
    assert traj.steps[1].messages[-1]["role"] == "tool"
    assert traj.outcome.status == "error"


def test_flush_writes_runs_that_never_ended(tmp_path: Path) -> None:
    store = TrajectoryStore(tmp_path / "t.jsonl")
    cb = TrajectoryCallback(store, tools=TOOLS, strict=True)
    from uuid import uuid4

    root = uuid4()
    cb.on_chain_start({}, {"input": "half a run"}, run_id=root)
    assert cb.open_runs == 1 and cb.flush() == 1
    (traj,) = list(store)
    assert traj.outcome.status == "error" and traj.task.prompt == "half a run"


def _lines(path: Path) -> Iterator[dict[str, Any]]:
    with open(path) as f:
        for line in f:
            yield json.loads(line)


def test_stored_lines_keep_the_providers_raw_arguments(tmp_path: Path) -> None:
    store = TrajectoryStore(tmp_path / "t.jsonl")
    cb = TrajectoryCallback(store, strict=True)
    _agent(SCRIPT).invoke({"messages": [("user", "fix the bug")]}, {"callbacks": [cb]})
    (line,) = _lines(store.path)
    raws = [s["raw_output"] for s in line["steps"]]
    assert '{"name": "read_file", "arguments": {"path": "b.py"}' in raws  # not repaired
    assert os.path.getsize(store.path) > 0
