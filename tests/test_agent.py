"""The ReAct agent loop with real components: the task suite, the sandbox, the strict scorer,
scripted policies (expert and malformed outputs) and a real tiny transformers model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agent_rl.agent import ReActAgent
from agent_rl.errors import ConfigError, PolicyError
from agent_rl.formats import format_instructions, render_call, render_final
from agent_rl.policies import Completion, HFPolicy, ScriptedPolicy, TextPolicy
from agent_rl.prompts import build_messages, messages_for, system_prompt
from agent_rl.sandbox import CodingSandbox
from agent_rl.tasks import Task, load_tasks
from agent_rl.trajectories import Trajectory, TrajectoryStore
from agent_rl.verdicts import ToolCall

FORMATS = ("react", "json", "hermes")


@pytest.fixture(scope="module")
def tasks() -> list[Task]:
    return load_tasks("train")[:4]


@pytest.mark.parametrize("fmt", FORMATS)
def test_expert_replay_solves_every_task_with_valid_calls(tasks: list[Task], fmt: str) -> None:
    agent = ReActAgent(ScriptedPolicy.expert(tasks, fmt), format=fmt, max_steps=40)
    trajs = agent.run_many(tasks)
    for task, traj in zip(tasks, trajs, strict=True):
        assert traj.task.id == task.id and traj.format == fmt
        assert [s.raw_output for s in traj.steps] == [render_call(c, fmt) for c in task.expert]
        assert [s.call for s in traj.steps] == task.expert
        assert traj.all_valid and traj.outcome.status == "finished" and traj.outcome.success
        assert traj.steps[0].state_before == CodingSandbox(task.files).snapshot()
        assert all(s.state_before is None for s in traj.steps[1:])
        assert traj.metadata.source == "agent" and traj.metadata.model == f"expert:{fmt}"
        assert {t["function"]["name"] for t in traj.tools} >= {"read_file", "finish"}


@pytest.mark.parametrize("fmt", FORMATS)
def test_each_step_sees_exactly_the_prompt_built_from_the_history(tasks, fmt: str) -> None:
    task = tasks[0]
    traj = ReActAgent(ScriptedPolicy.expert(task, fmt), format=fmt).run(task)
    system = traj.steps[0].messages[0]
    assert system == {"role": "system", "content": system_prompt(CodingSandbox({}).tools, fmt)}
    assert format_instructions(fmt) in system["content"]
    for k, step in enumerate(traj.steps):
        assert step.messages == messages_for(task, traj.steps[:k], fmt)
        assert step.messages == build_messages(task.prompt, traj.steps[:k], traj_tools(traj), fmt)
    last = traj.steps[-1].messages
    assert last[-2] == {"role": "assistant", "content": traj.steps[-2].raw_output}
    observation = traj.steps[-2].observation.content
    wrapped = f"<tool_response>\n{observation}\n</tool_response>"
    assert last[-1]["content"] == (wrapped if fmt == "hermes" else f"Observation: {observation}")


def traj_tools(traj: Trajectory) -> list[Any]:
    from agent_rl.tool_spec import ToolSpec

    return [ToolSpec.from_openai(t) for t in traj.tools]


def test_invalid_outputs_become_error_observations_and_the_episode_goes_on(tasks) -> None:
    task = tasks[0]
    path = sorted(task.files)[0]
    outputs = [
        'Action: {"name": "read_file", "arguments": {"path": "' + path + '",}}',  # parse
        'Action: {"name": "read_fil", "arguments": {"path": "' + path + '"}}',  # tool
        'Action: {"name": "read_file", "arguments": {}}',  # arguments
        'Action: {"name": "read_file", "arguments": {"path": "no/such_file.py"}}',  # state
        'Action: ```json\n{"name": "read_file", "arguments": {"path": "x"}}\n```',  # envelope
        *[render_call(c, "react") for c in task.expert],
    ]
    traj = ReActAgent(ScriptedPolicy([outputs]), format="react", max_steps=30).run(task)
    expected = [
        ("parse", "trailing_comma"),
        ("tool", "unknown_tool"),
        ("arguments", "missing_argument"),
        ("state", "file_not_found"),
        ("envelope", "code_fence"),
    ]
    for step, (stage, kind) in zip(traj.steps, expected, strict=False):
        assert not step.verdict.valid
        assert (step.verdict.stage, step.verdict.kind) == (stage, kind)
        assert step.call is None  # nothing applied
        assert not step.observation.ok and f"Error [{kind}]" in step.observation.content
    assert "Reply again with exactly one tool call" in traj.steps[0].observation.content
    assert "cannot run in the current workspace" in traj.steps[3].observation.content
    assert traj.steps[5].messages[-1]["content"].startswith("Observation: Your reply is not")
    assert all(s.verdict.valid for s in traj.steps[5:])
    assert traj.outcome.status == "finished" and traj.outcome.success
    assert traj.valid_rate == pytest.approx(len(task.expert) / len(outputs))
    assert traj.error_counts == {kind: 1 for _, kind in expected}


def test_plain_text_where_a_call_is_due_is_no_call_and_the_episode_goes_on(tasks) -> None:
    task = tasks[0]
    quit_then_work = [render_final("all done", "react")] + [
        render_call(c, "react") for c in task.expert
    ]
    traj = ReActAgent(ScriptedPolicy([quit_then_work])).run(task)
    first = traj.steps[0]
    assert not first.verdict.valid and first.verdict.kind == "no_call"
    assert first.verdict.stage == "envelope" and first.call is None
    assert "no_call" in first.observation.content and not first.observation.ok
    assert traj.outcome.status == "finished" and traj.outcome.success
    assert not traj.all_valid and len(traj.steps) == len(task.expert) + 1


def test_final_answer_and_max_steps_end_the_episode(tasks) -> None:
    task = tasks[0]
    policy = ScriptedPolicy([[render_final("all done", "react")]])
    answer = ReActAgent(policy, expect_call=False).run(task)
    assert answer.outcome.status == "final_answer"
    assert answer.outcome.final_answer == "all done" and answer.outcome.success is False
    assert len(answer.steps) == 1 and answer.steps[0].verdict.final_answer == "all done"

    looping = ScriptedPolicy([[render_call(ToolCall("list_dir", {}), "react")] * 10])
    traj = ReActAgent(looping, max_steps=3).run(task)
    assert traj.outcome.status == "max_steps" and len(traj.steps) == 3 and traj.all_valid
    assert traj.outcome.success is False


def test_a_policy_failure_ends_only_its_episode_and_is_recorded(tasks) -> None:
    a, b = tasks[0], tasks[1]
    short = [render_call(c, "json") for c in b.expert[:1]]  # runs out at step 2
    policy = ScriptedPolicy([[render_call(c, "json") for c in a.expert], short])
    ta, tb = ReActAgent(policy, format="json", max_steps=30).run_many([a, b])
    assert ta.outcome.status == "finished" and ta.outcome.success
    assert tb.outcome.status == "error" and "has 1 outputs but step 2" in tb.outcome.error
    assert len(tb.steps) == 2 and tb.steps[-1].verdict is None
    assert tb.steps[-1].error == tb.outcome.error and tb.steps[-1].messages
    assert not tb.all_valid


def test_a_raising_policy_never_loses_the_trajectory(tasks) -> None:
    class Broken(TextPolicy):
        name = "broken"

        def generate(self, batch: list) -> list[str]:
            raise RuntimeError("CUDA out of memory")

    trajs = ReActAgent(Broken()).run_many(tasks[:2])
    for traj in trajs:
        assert traj.outcome.status == "error"
        assert traj.outcome.error == "RuntimeError: CUDA out of memory"
        assert len(traj.steps) == 1 and traj.steps[0].state_before is not None


@pytest.mark.parametrize(
    ("outputs", "match"),
    [(["a"], "returned 1 outputs for 2 conversations"), ([None, None], "returned NoneType")],
)
def test_a_policy_returning_the_wrong_shape_is_an_error_outcome(tasks, outputs, match) -> None:
    class Wrong(TextPolicy):
        name = "wrong"

        def generate(self, batch: list) -> list[Any]:
            return list(outputs)

    for traj in ReActAgent(Wrong()).run_many(tasks[:2]):
        assert traj.outcome.status == "error" and match in traj.outcome.error


def test_an_object_without_complete_is_not_a_policy() -> None:
    class GenerateOnly:
        name = "old"

        def generate(self, batch: list) -> list[str]:
            return ["x"] * len(batch)

    with pytest.raises(ConfigError, match="TextPolicy"):
        ReActAgent(GenerateOnly())  # type: ignore[arg-type]


def test_the_usage_a_completion_carries_is_recorded(tasks) -> None:
    class Counted(ScriptedPolicy):
        def completions(self, batch: list) -> list[Completion]:
            return [Completion(t, 11, len(t)) for t in self.generate(batch)]

    expert = [render_call(c, "react") for c in tasks[0].expert]
    traj = ReActAgent(Counted([expert]), max_steps=40).run(tasks[0])
    assert [(s.prompt_tokens, s.completion_tokens) for s in traj.steps] == [
        (11, len(t)) for t in expert
    ]
    plain = ReActAgent(ScriptedPolicy([expert]), max_steps=40).run(tasks[0])
    assert {(s.prompt_tokens, s.completion_tokens) for s in plain.steps} == {(None, None)}


def test_run_many_batches_all_live_episodes_and_matches_single_runs(tasks) -> None:
    sizes: list[int] = []

    class Counting(ScriptedPolicy):
        def generate(self, batch: list) -> list[str]:
            sizes.append(len(batch))
            return super().generate(batch)

    trajs = ReActAgent(Counting.expert(tasks, "react"), max_steps=40).run_many(tasks)
    lengths = sorted(len(t.expert) for t in tasks)
    assert sizes == [sum(n > k for n in lengths) for k in range(lengths[-1])]
    for task, traj in zip(tasks, trajs, strict=True):
        alone = ReActAgent(ScriptedPolicy.expert(task, "react"), max_steps=40).run(task)
        strip = {"started_at", "latency_s"}
        assert [s.model_dump(exclude=strip) for s in traj.steps] == [
            s.model_dump(exclude=strip) for s in alone.steps
        ]


def test_callbacks_and_a_bare_sandbox(tasks) -> None:
    task = tasks[0]
    seen: list[tuple[str, int]] = []
    ended: list[str] = []
    agent = ReActAgent(ScriptedPolicy.expert(task, "react"), max_steps=40)
    traj = agent.run_many(
        [CodingSandbox(task.files)],
        prompts=[task.prompt],
        on_step=lambda t, s: seen.append((t.id, s.index)),
        on_episode=lambda t: ended.append(t.id),
    )[0]
    assert seen == [(traj.id, k) for k in range(len(task.expert))] and ended == [traj.id]
    assert traj.task.id == "" and traj.task.prompt == task.prompt
    assert traj.outcome.status == "finished" and traj.outcome.success is None
    with pytest.raises(ConfigError, match="needs prompt"):
        agent.run(CodingSandbox(task.files))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"format": "xml"}, "format 'xml' is not supported"), ({"max_steps": 0}, "at least 1")],
)
def test_bad_agent_settings_are_clear_errors(kwargs, match) -> None:
    with pytest.raises(ConfigError, match=match):
        ReActAgent(ScriptedPolicy([["x"]]), **kwargs)


def test_trajectories_round_trip_through_the_store(tasks, tmp_path: Path) -> None:
    outputs = ['Action: {"name": "list_dir", "arguments": {"path": "."}, }', "Final Answer: ok"]
    trajs = ReActAgent(ScriptedPolicy([outputs]), max_steps=5).run_many(tasks[:1])
    store = TrajectoryStore(tmp_path / "t.jsonl")
    store.extend(trajs)
    (back,) = list(store.read())
    assert back.model_dump() == trajs[0].model_dump()
    assert back.steps[0].verdict == trajs[0].steps[0].verdict
    assert back.state_at(1).snapshot() == CodingSandbox(tasks[0].files).snapshot()


# --- a real tiny model -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory, tasks: list[Task]) -> Path:
    from agent_rl.models import build_tiny_model

    corpus = [render_call(c, "react") for t in tasks for c in t.expert] * 4
    return build_tiny_model(
        tmp_path_factory.mktemp("tiny"),
        corpus,
        vocab_size=400,
        hidden_size=32,
        layers=1,
        heads=2,
        max_positions=8192,
    )


def test_hf_policy_runs_batched_episodes_end_to_end(tiny_model: Path, tasks) -> None:
    policy = HFPolicy(str(tiny_model), max_new_tokens=16, do_sample=True, seed=3, batch_size=2)
    trajs = ReActAgent(policy, format="react", max_steps=2).run_many(tasks[:3])
    for traj in trajs:
        assert traj.outcome.status in ("max_steps", "final_answer", "finished")
        assert traj.metadata.model == str(tiny_model)
        for step in traj.steps:
            assert step.verdict is not None and step.completion_tokens is not None
            assert 1 <= step.completion_tokens <= 16
            assert step.prompt_tokens == len(policy.prompt_ids(step.messages))


def test_hf_policy_failure_is_recorded_not_raised(tiny_model: Path, tasks) -> None:
    policy = HFPolicy(str(tiny_model), max_new_tokens=8192)  # any prompt + 8192 > 8192 positions
    traj = ReActAgent(policy).run(tasks[0])
    assert traj.outcome.status == "error" and "exceeds the context" in traj.outcome.error
    with pytest.raises(PolicyError):
        policy.generate([traj.steps[0].messages])
