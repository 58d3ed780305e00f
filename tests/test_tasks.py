"""The task suite: every expert solves its task through the real sandbox and scorer, step by
step; wrong solutions fail; train and test splits hold different workspaces."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from pydantic import ValidationError

from agent_rl import CodingSandbox, ConfigError, Scorer, Task, ToolCall, load_tasks
from agent_rl.formats import render_call
from agent_rl.tasks import make_sandbox

TASKS = load_tasks()
IDS = [t.id for t in TASKS]
MUTATING = ("write_file", "edit_file")


def test_catalog_size_and_splits() -> None:
    splits = Counter(t.split for t in TASKS)
    assert len(TASKS) >= 40 and splits["train"] >= 30 and splits["test"] >= 10, splits
    assert len(set(IDS)) == len(IDS)
    for split in ("train", "test"):
        assert {t.split for t in load_tasks(split)} == {split}
    assert sorted(t.id for s in ("train", "test") for t in load_tasks(s)) == sorted(IDS)
    assert load_tasks() == TASKS and load_tasks() is not TASKS


def test_every_kind_of_work_is_in_both_splits() -> None:
    kinds = {t.id.split("/")[0] for t in TASKS}
    for split in ("train", "test"):
        assert {t.id.split("/")[0] for t in load_tasks(split)} == kinds, split
    long = [t for t in TASKS if len(t.expert) >= 8]
    assert len(long) >= 10 and {t.split for t in long} == {"train", "test"}
    assert sum("escaping" in t.tags for t in TASKS) >= 6


def test_held_out_tasks_have_different_files_and_contents() -> None:
    train = load_tasks("train")
    seen_files = {(p, c) for t in train for p, c in t.files.items()}
    seen_prompts = {t.prompt for t in train}
    for t in load_tasks("test"):
        assert t.prompt not in seen_prompts, t.id
        shared = [p for p, c in t.files.items() if (p, c) in seen_files]
        assert shared == [], (t.id, shared)


def test_unknown_split_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="split='train'"):
        load_tasks("validation")


@pytest.mark.parametrize("task", TASKS, ids=IDS)
def test_the_expert_is_valid_at_every_step_and_solves_the_task(task: Task) -> None:
    box = make_sandbox(task)
    assert not task.check(box), "the task is solved before any step"
    tools = {t.name: t for t in box.tools}
    for i, call in enumerate(task.expert):
        assert tools[call.name].validate_arguments(call.arguments) == [], (i, call)
        assert box.check(call) == [], (i, call)
        obs = box.step(call)
        assert obs.ok, (i, call, obs.content)
        assert obs.done == (i == len(task.expert) - 1)
    assert task.check(box), task.explain(box)


@pytest.mark.parametrize("task", TASKS, ids=IDS)
def test_expert_text_scores_valid_in_every_format(task: Task) -> None:
    for fmt in ("json", "react", "hermes"):
        box = make_sandbox(task)
        scorer = Scorer(box.tools, format=fmt)
        texts = [render_call(c, fmt) for c in task.expert]
        verdict = scorer.score_episode(texts, state_factory=lambda box=box: box)
        assert verdict.all_valid, (fmt, verdict.first_invalid_step, verdict.error_counts)
        assert [v.call for v in verdict.steps] == task.expert
        assert task.check(box), (fmt, task.explain(box))


@pytest.mark.parametrize("task", TASKS, ids=IDS)
def test_wrong_solutions_fail_the_check(task: Task) -> None:
    edits = [i for i, c in enumerate(task.expert) if c.name in MUTATING]
    assert edits, "an expert that changes nothing"
    # 1. the last change left out
    box = make_sandbox(task)
    for i, call in enumerate(task.expert):
        if i != edits[-1]:
            box.step(call)
    assert not task.check(box), "passes without its last change"
    # 2. every change made, but never finished
    box = make_sandbox(task)
    for call in task.expert[:-1]:
        box.step(call)
    assert not task.check(box), "passes without finish"
    # 3. finish straight away
    box = make_sandbox(task)
    box.step(task.expert[-1])
    assert not task.check(box)


ESCAPING = [t for t in TASKS if "escaping" in t.tags]


@pytest.mark.parametrize("task", ESCAPING, ids=[t.id for t in ESCAPING])
def test_one_lost_escape_fails_an_escaping_task(task: Task) -> None:
    (write,) = [c for c in task.expert if c.name == "write_file"]
    content = write.arguments["content"]
    for old, new in [("\\", ""), ('"', "'"), ("\t", "    "), ("\n", "\\n")]:
        if old not in content:
            continue
        box = make_sandbox(task)
        box.step(
            ToolCall("write_file", {**write.arguments, "content": content.replace(old, new, 1)})
        )
        box.step(task.expert[-1])
        assert not task.check(box), (old, new)


def test_a_task_round_trips_through_json() -> None:
    for task in TASKS:
        data = json.loads(task.model_dump_json())
        assert Task.model_validate(data) == task
        assert data["expert"][-1]["name"] == "finish"


def test_make_sandbox_gives_independent_workspaces() -> None:
    task = TASKS[0]
    original = dict(task.files)
    a, b = make_sandbox(task), make_sandbox(task)
    assert isinstance(a, CodingSandbox) and dict(a.files) == original
    for call in task.expert:
        assert a.step(call).ok
    assert dict(a.files) != original and a.done
    assert dict(b.files) == task.files == original and not b.done


def test_explain_says_why_a_state_fails() -> None:
    task = next(t for t in TASKS if t.id == "fix-test/pricing")
    text = task.explain(make_sandbox(task))
    assert text.startswith("not finished (call finish)\n")
    assert "FAILED checks::test_fixed" in text and "FAILED tests/test_pricing.py" in text


BASE = {
    "id": "x/y",
    "prompt": "do it",
    "files": {"a.txt": "a"},
    "split": "train",
    "expert": [ToolCall("finish", {"summary": "s"})],
    "checks": "def test_a():\n    assert 'b' in read('a.txt')\n",
}


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"expert": [ToolCall("list_dir", {})]}, "end with a finish"),
        ({"expert": []}, "end with a finish"),
        ({"checks": "x = 1\n"}, "collect no tests"),
        ({"checks": "def test_a():\n    assert eval('1')\n"}, "unsupported assertion"),
        ({"checks": "def test_a(:\n"}, "collect no tests"),
        ({"split": "validation"}, "split"),
        ({"id": "Bad Id"}, "id"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_a_malformed_task_is_refused(change: dict[str, object], match: str) -> None:
    with pytest.raises(ValidationError, match=match):
        Task(**{**BASE, **change})


def test_task_is_frozen() -> None:
    task = Task(**BASE)
    with pytest.raises(ValidationError):
        task.prompt = "other"  # type: ignore[misc]
