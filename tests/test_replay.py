"""Served conversations replayed in their task's sandbox: the state before a step, the expert's
call while the episode follows the expert (detours that change no file included), and ``None``
for anything the replay cannot reproduce (another task, another workspace, a tampered
observation)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from agent_rl import ToolCall
from agent_rl.formats import render_call
from agent_rl.prompts import build_messages, observation_message
from agent_rl.runtime.replay import TaskReplayer
from agent_rl.tasks import Task, generate_tasks, make_sandbox

TASKS = generate_tasks(
    "train", 3, seed=5, families=["edit_line", "explore_and_read", "write_exact"]
)


def _episode(task: Task, calls: list[ToolCall | str], fmt: str = "react") -> list[dict[str, Any]]:
    """The messages a client sends for its next step after ``calls`` (raw text: an output
    that is not a valid call), each with the observation the sandbox really gave."""
    from agent_rl.agent import advance
    from agent_rl.scorer import scorer_for

    sandbox = make_sandbox(task)
    scorer = scorer_for(sandbox.tools, fmt)  # type: ignore[arg-type]
    history = []
    for call in calls:
        raw = render_call(call, fmt) if isinstance(call, ToolCall) else call  # type: ignore[arg-type]
        observation, _ = advance(sandbox, scorer.score(raw, sandbox, expect_call=True))
        assert observation is not None
        history.append((raw, observation.content))
    return build_messages(task.prompt, history, sandbox.tools, fmt)  # type: ignore[arg-type]


def _expert_state(task: Task, k: int) -> dict[str, Any]:
    sandbox = make_sandbox(task)
    for call in task.expert[:k]:
        sandbox.step(call)
    return sandbox.snapshot()


@pytest.mark.parametrize("task", TASKS, ids=lambda t: t.id)
def test_every_expert_step_replays_to_its_state_and_names_the_next_expert_call(task: Task) -> None:
    replayer = TaskReplayer(TASKS)
    for k in range(len(task.expert)):
        got = replayer.replay(_episode(task, task.expert[:k]), "react")
        assert got is not None and got.task.id == task.id
        assert got.state == _expert_state(task, k)
        assert json.loads(got.state_json) == got.state
        assert got.expert_call == task.expert[k] and got.valid_calls == k


def test_invalid_outputs_and_reads_keep_the_episode_on_the_expert_path_a_write_leaves_it() -> None:
    task = TASKS[0]
    replayer = TaskReplayer(TASKS)
    broken = render_call(task.expert[1], "react")[:-3]  # the call cut short: changes nothing
    got = replayer.replay(_episode(task, [task.expert[0], broken]), "react")
    assert got is not None and got.expert_call == task.expert[1] and got.valid_calls == 1
    reads = [task.expert[0], ToolCall(name="run_tests", arguments={}), task.expert[0]]
    got = replayer.replay(_episode(task, reads), "react")  # detours that change no file
    assert got is not None and got.expert_call == task.expert[1] and got.valid_calls == 3
    assert got.state == _expert_state(task, 1)
    then = replayer.replay(_episode(task, [*reads, task.expert[1]]), "react")
    assert then is not None and then.expert_call == task.expert[2]  # back on the expert's steps
    write = ToolCall(name="write_file", arguments={"path": "scratch.txt", "content": "x"})
    got = replayer.replay(_episode(task, [task.expert[0], write]), "react")
    assert got is not None and got.expert_call is None  # off the path: the state only
    assert got.state["files"]["scratch.txt"] == "x" and got.valid_calls == 2


def test_what_the_replay_cannot_reproduce_gets_no_state() -> None:
    task, other = TASKS[0], TASKS[1]
    replayer = TaskReplayer([task])
    assert replayer.replay(_episode(other, other.expert[:1]), "react") is None  # not its task
    messages = _episode(task, task.expert[:2])
    tampered = [*messages[:-1], observation_message("something else happened")]
    assert replayer.replay(tampered, "react") is None  # another workspace
    assert replayer.replay(messages[:-1], "react") is None  # no observation after the call
    assert replayer.replay(_episode(task, task.expert[:2], "hermes"), "react") is None
    assert replayer.replay(_episode(task, task.expert[:2], "hermes"), "hermes") is not None
    finished = _episode(task, task.expert)  # after finish nothing more is asked
    assert replayer.replay(finished, "react") is None
    assert TaskReplayer([]).replay(messages, "react") is None and len(replayer) == 1
    assert replayer.replay([*messages[:2], "not a message", *messages[2:]], "react") is None  # type: ignore[list-item]
    assert replayer.replay([*messages[:3], {"role": "user", "content": None}], "react") is None


def test_native_tool_calls_and_tool_messages_replay_too() -> None:
    task = TASKS[1]
    messages = _episode(task, task.expert[:2])
    native: list[dict[str, Any]] = messages[:2]
    for i, call in enumerate(task.expert[:2]):
        native.append(
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": f"call_{i}",
                        "type": "function",
                        "function": {"name": call.name, "arguments": json.dumps(call.arguments)},
                    }
                ],
            }
        )
        text = messages[3 + 2 * i]["content"].removeprefix("Observation: ")
        native.append({"role": "tool", "tool_call_id": f"call_{i}", "content": text})
    got = TaskReplayer(TASKS).replay(native, "react")
    assert got is not None and got.expert_call == task.expert[2]
    assert got.state == _expert_state(task, 2)
