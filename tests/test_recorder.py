"""``Recorder``: a plain-Python episode recorded with the real scorer and sandbox, written on
exit (also when the block raises), its state rebuildable at every step and its verdicts equal to
a re-score of the stored raw outputs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agent_rl.errors import StoreError
from agent_rl.formats import render_call
from agent_rl.recorder import Recorder, as_tool_specs
from agent_rl.sandbox import CodingSandbox
from agent_rl.scorer import Scorer
from agent_rl.tasks import load_tasks, make_sandbox
from agent_rl.tool_spec import ToolSpec
from agent_rl.trajectories import TrajectoryStore
from agent_rl.verdicts import Observation, ToolCall

TASK = load_tasks("train")[0]


def _outputs() -> list[str]:
    """The task's expert, with a broken output and a stale path slipped in after step 1."""
    texts = [render_call(c, "json") for c in TASK.expert]
    broken = '{"name": "read_file", "arguments": {"path": "src/app.py"'  # truncated
    stale = render_call(ToolCall("read_file", {"path": "no/such/file.py"}), "json")
    return [texts[0], broken, stale, *texts[1:]]


def _run_episode(rec: Recorder, sandbox: CodingSandbox, outputs: list[str]) -> None:
    messages: list[dict[str, Any]] = [{"role": "user", "content": TASK.prompt}]
    for text in outputs:
        rec.record_step(messages=messages, raw_output=text, state=sandbox, latency_s=0.01)
        obs = sandbox.step(text)
        rec.observe(obs)
        messages = [
            *messages,
            {"role": "assistant", "content": text},
            {"role": "user", "content": obs.content},
        ]
        if obs.done:
            break


def test_an_episode_is_scored_written_and_replayable(tmp_path: Path) -> None:
    store = TrajectoryStore(tmp_path / "t.jsonl")
    sandbox = make_sandbox(TASK)
    snapshots = []
    outputs = _outputs()

    with Recorder(store, tools=sandbox.tools, format="json", task=TASK, model="expert") as rec:
        messages: list[dict[str, Any]] = [{"role": "user", "content": TASK.prompt}]
        for text in outputs:
            snapshots.append(sandbox.snapshot())
            rec.record_step(messages=messages, raw_output=text, state=sandbox)
            obs = sandbox.step(text)
            rec.observe(obs)
            messages = [*messages, {"role": "assistant", "content": text}]
    assert TASK.check(sandbox)
    (traj,) = list(store)
    assert traj.task.id == TASK.id and traj.metadata.source == "recorder"
    assert traj.metadata.model == "expert" and traj.outcome.status == "finished"
    kinds = [s.verdict.kind for s in traj.steps]
    assert kinds[:3] == [None, "truncated", "file_not_found"]
    assert all(k is None for k in kinds[3:])
    assert traj.steps[1].call is None and traj.steps[2].call is None  # nothing applied
    assert traj.steps[0].state_before is not None
    assert all(s.state_before is None for s in traj.steps[1:])  # snapshot="first"
    assert traj.steps[-1].observation.done
    for k in range(len(traj.steps) + 1):
        expected = snapshots[k] if k < len(snapshots) else sandbox.snapshot()
        assert traj.state_at(k, verify=True).snapshot() == expected
    # the stored raw outputs re-score to the stored verdicts (what `agent-rl score` does)
    first = traj.steps[0].state_before
    rescored = Scorer(sandbox.tools, "json").score_episode(
        [s.raw_output for s in traj.steps], lambda: CodingSandbox.restore(first)
    )
    assert list(rescored.steps) == [s.verdict for s in traj.steps]


@pytest.mark.parametrize(("mode", "expected"), [("every", 3), ("none", 0), ("first", 1)])
def test_snapshot_modes(mode: str, expected: int) -> None:
    sandbox = make_sandbox(TASK)
    rec = Recorder(None, tools=sandbox.tools, task=TASK, snapshot=mode)  # type: ignore[arg-type]
    _run_episode(rec, sandbox, _outputs()[:3])
    assert sum(s.state_before is not None for s in rec.finish().steps) == expected


def test_an_exception_writes_the_episode_and_is_re_raised(tmp_path: Path) -> None:
    store = TrajectoryStore(tmp_path / "t.jsonl")
    sandbox = make_sandbox(TASK)
    with pytest.raises(KeyError, match="policy died"), Recorder(store, tools=sandbox.tools) as rec:
        _run_episode(rec, sandbox, _outputs()[:2])
        raise KeyError("policy died")
    (traj,) = list(store)
    assert traj.outcome.status == "error" and "KeyError" in traj.outcome.error
    assert len(traj.steps) == 2


def test_a_failing_store_never_masks_the_episodes_own_error(tmp_path: Path) -> None:
    sandbox = make_sandbox(TASK)
    with pytest.raises(KeyError) as e, Recorder(TrajectoryStore(tmp_path), tools=sandbox.tools):
        raise KeyError("policy died")
    assert any("could not write the trajectory" in n for n in e.value.__notes__)


def test_a_failed_write_can_be_retried(tmp_path: Path) -> None:
    sandbox = make_sandbox(TASK)
    rec = Recorder(TrajectoryStore(tmp_path), tools=sandbox.tools)
    _run_episode(rec, sandbox, _outputs()[:1])
    with pytest.raises(StoreError, match="could not append"):
        rec.finish()
    rec.store = TrajectoryStore(tmp_path / "ok.jsonl")
    traj = rec.finish()
    assert [t.id for t in TrajectoryStore(tmp_path / "ok.jsonl")] == [traj.id]
    with pytest.raises(RuntimeError, match="has finished"):
        rec.record_step(messages=[], raw_output="late")


def test_final_answer_and_observation_strings() -> None:
    rec = Recorder(None, tools=CodingSandbox({}).tools)
    rec.record_step(
        messages=[], raw_output='{"name": "list_dir", "arguments": {}}', observation="a.py"
    )
    rec.record_step(messages=[], raw_output="All done.")
    traj = rec.finish(success=True)
    assert traj.steps[0].observation == Observation("a.py")
    assert traj.outcome.status == "final_answer" and traj.outcome.final_answer == "All done."
    assert traj.outcome.success is True and traj.all_valid


def add(a: int, b: int = 0) -> int:
    """Add two numbers."""
    return a + b


def test_tools_in_any_form() -> None:
    from langchain_core.tools import tool

    spec = ToolSpec.from_function(add)
    specs = as_tool_specs([spec, spec.to_openai(), add, tool(add)])
    assert [s.name for s in specs] == ["add"] * 4
    assert all(s.parameters == spec.parameters for s in specs)
    with pytest.raises(TypeError, match="cannot use 3 as a tool"):
        as_tool_specs([3])
    with pytest.raises(ValueError, match="snapshot='sometimes' is not supported"):
        Recorder(None, snapshot="sometimes")  # type: ignore[arg-type]
