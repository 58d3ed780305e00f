"""Procedural task families: every instance is valid and solved by its expert in the real
sandbox, deterministic by seed, held out by seed and by vocabulary, JSONL round-trips, and the
families together exercise every tool and its argument variants."""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

import agent_rl
from agent_rl import ConfigError, Scorer, Task, ToolCall
from agent_rl.cli import main
from agent_rl.formats import render_call
from agent_rl.prompts import build_messages
from agent_rl.sandbox import TOOL_NAMES
from agent_rl.tasks import (
    FAMILIES,
    generate_tasks,
    load_task_file,
    load_tasks,
    make_sandbox,
    save_task_file,
)
from agent_rl.tasks._pools import POOLS, SYNTHETIC_WORDS, Gen, synthetic_words
from agent_rl.tasks.families import validate_task

SYNTHETIC = set(POOLS["train"].words[-SYNTHETIC_WORDS:])
PER_FAMILY = 50
SAMPLES = {
    split: generate_tasks(split, PER_FAMILY * len(FAMILIES), seed=7)
    for split in ("train", "val", "test")
}


def _family(task: Task) -> str:
    return task.id.split("/")[1]


def _texts(task: Task) -> list[str]:
    """Every piece of text of a task: prompt, paths, contents, expert arguments, checks."""
    out = [task.prompt, task.checks, *task.files, *task.files.values()]
    for call in task.expert:
        out += [str(v) for v in call.arguments.values()]
    return out


def _tokens(task: Task) -> set[str]:
    return {t for text in _texts(task) for t in re.findall(r"[^\W\d_]+", text.lower())}


@pytest.mark.parametrize("split", ["train", "val", "test"])
@pytest.mark.parametrize("family", list(FAMILIES))
def test_every_instance_is_valid_at_every_step_and_solved(family: str, split: str) -> None:
    tasks = [t for t in SAMPLES[split] if _family(t) == family]
    assert len(tasks) == PER_FAMILY
    for task in tasks:
        assert task.split == split and task.id.startswith(f"fam/{family}/{split}/7-")
        box = make_sandbox(task)
        assert not task.report(box).ok, f"{task.id} is solved before any step"
        tools = {t.name: t for t in box.tools}
        for i, call in enumerate(task.expert):
            assert tools[call.name].validate_arguments(call.arguments) == [], (task.id, i)
            obs = box.step(call)
            assert obs.ok, (task.id, i, call, obs.content)
            assert obs.done == (i == len(task.expert) - 1)
        assert task.check(box), (task.id, task.explain(box))
        assert 3 <= len(task.expert) <= 12, (task.id, len(task.expert))


@pytest.mark.parametrize("family", list(FAMILIES))
def test_expert_text_scores_valid_in_every_format(family: str) -> None:
    task = next(t for t in SAMPLES["test"] if _family(t) == family)
    for fmt in ("json", "react", "hermes"):
        box = make_sandbox(task)
        verdict = Scorer(box.tools, format=fmt).score_episode(
            [render_call(c, fmt) for c in task.expert], state_factory=lambda box=box: box
        )
        assert verdict.all_valid, (fmt, verdict.first_invalid_step, verdict.error_counts)
        assert task.check(box)


def test_a_wrong_final_state_fails_the_check() -> None:
    for task in SAMPLES["train"][: 2 * len(FAMILIES)]:
        box = make_sandbox(task)
        for call in task.expert[:-1]:
            if call.name not in ("write_file", "edit_file"):
                box.step(call)
        box.step(task.expert[-1])
        assert box.done and not task.check(box), task.id


def test_deterministic_across_processes_and_hash_seeds() -> None:
    code = (
        "import hashlib; from agent_rl.tasks import generate_tasks; "
        "print(hashlib.sha256(''.join(t.model_dump_json() for t in "
        "generate_tasks('test', 22, seed=5)).encode()).hexdigest())"
    )
    digests = set()
    for hash_seed in ("1", "2"):
        root = str(Path(__file__).resolve().parents[1])  # this checkout, not an installed copy
        path = os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))
        env = {**os.environ, "PYTHONHASHSEED": hash_seed, "PYTHONPATH": path}
        out = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        )
        digests.add(out.stdout.strip())
    here = "".join(t.model_dump_json() for t in generate_tasks("test", 22, seed=5))
    assert digests == {hashlib.sha256(here.encode()).hexdigest()}


def test_deterministic_by_seed_and_different_across_seeds() -> None:
    again = generate_tasks("train", 3 * len(FAMILIES), seed=7)
    assert again == SAMPLES["train"][: 3 * len(FAMILIES)]
    other = generate_tasks("train", 3 * len(FAMILIES), seed=8)
    assert not {t.prompt for t in other} & {t.prompt for t in again}
    assert [_family(t) for t in other] == [_family(t) for t in again]  # round-robin order


@pytest.mark.parametrize(("a", "b"), [("train", "test"), ("train", "val"), ("val", "test")])
def test_splits_use_disjoint_seed_streams_and_ids(a: str, b: str) -> None:
    one, two = SAMPLES[a], SAMPLES[b]
    assert not {t.id for t in one} & {t.id for t in two}
    assert not {t.prompt for t in one} & {t.prompt for t in two}
    assert not {(p, c) for t in one for p, c in t.files.items()} & {
        (p, c) for t in two for p, c in t.files.items()
    }
    assert {t.split for t in one} == {a} and {t.split for t in two} == {b}


def test_pools_are_disjoint_and_each_split_uses_only_its_own() -> None:
    train, val, test = POOLS["train"], POOLS["val"], POOLS["test"]
    for x, y in ((train, test), (train, val), (val, test)):
        assert not set(x.words) & set(y.words)
        assert not set(x.unicode) & set(y.unicode)
    assert len(test.words) >= 40 and len(val.words) >= 40
    assert len(train.words) >= 2 * len(test.words) - 2
    for split in ("train", "val", "test"):
        others = [POOLS[s] for s in ("train", "val", "test") if s != split]  # type: ignore[index]
        held = {w for o in others for w in o.words} | {  # words of the fragments ("°C" has
            w  # none: "c" is too short)
            for o in others
            for frag in o.unicode
            for w in re.findall(r"[^\W\d_]+", frag.lower())
            if len(w) > 1
        }
        used: Counter[str] = Counter()
        for task in SAMPLES[split]:
            tokens = _tokens(task)
            leaked = tokens & held
            assert not leaked, (task.id, sorted(leaked))
            text = "\n".join(_texts(task))
            assert not [f for o in others for f in o.unicode if f in text], task.id
            used.update(tokens & set(POOLS[split].words))
        real = [w for w in POOLS[split].words if w not in SYNTHETIC]  # synthetic: thousands
        assert sum(w in used for w in real) >= 0.9 * len(real), split  # the pool is drawn on
        if split == "train":  # made-up words are most of what is drawn, each rarely
            drawn = sum(n for w, n in used.items() if w in SYNTHETIC)
            assert drawn >= 0.8 * sum(used.values()) and max(used.values()) < 0.01 * drawn


def test_synthetic_words_are_made_up_deterministic_and_avoid_what_they_must() -> None:
    words = synthetic_words(400, seed=1)
    assert words == synthetic_words(400, seed=1) != synthetic_words(400, seed=2)
    assert len(set(words)) == 400 and all(re.fullmatch(r"[a-z]{4,10}", w) for w in words)
    assert not set(synthetic_words(400, seed=1, avoid=frozenset(words[:50]))) & set(words[:50])
    assert len(SYNTHETIC) == SYNTHETIC_WORDS and not SYNTHETIC & set(POOLS["test"].words)


def test_the_handwritten_suite_shares_no_prompt_and_no_pool_word() -> None:
    handwritten = load_tasks()
    assert not {t.prompt for t in handwritten} & {t.prompt for s in SAMPLES.values() for t in s}
    words = {w for pool in POOLS.values() for w in pool.words}
    assert not {w for t in handwritten for w in _tokens(t)} & words


def test_families_exercise_every_tool_and_argument_variant() -> None:
    seen: dict[str, set[frozenset[str]]] = {name: set() for name in TOOL_NAMES}
    per_family: dict[str, set[str]] = {f: set() for f in FAMILIES}
    for task in SAMPLES["train"]:
        for call in task.expert:
            seen[call.name].add(frozenset(call.arguments))
            per_family[_family(task)].add(call.name)
    assert all(seen.values()), seen
    assert frozenset({"path"}) in seen["read_file"]
    assert {
        frozenset({"path", "start_line", "end_line"}),
        frozenset({"path", "start_line"}),
        frozenset({"path", "end_line"}),
    } <= seen["read_file"]
    assert {frozenset(), frozenset({"path"})} <= seen["list_dir"]
    assert {frozenset({"query"}), frozenset({"query", "path", "max_results"})} <= seen["search"]
    assert {frozenset(), frozenset({"path"})} <= seen["run_tests"]
    assert all(len(tools) >= 3 for tools in per_family.values()), per_family


def test_contents_need_json_escaping() -> None:
    written = [
        v
        for t in SAMPLES["train"]
        for c in t.expert
        if c.name in ("write_file", "edit_file")
        for k, v in c.arguments.items()
        if k in ("content", "new")
    ]
    text = "\n".join(written)
    for needed in ('"', "\\", "\t", "\n", "C:\\", "\\d", '{"'):
        assert needed in text, needed
    assert any(ord(ch) > 127 for ch in text)
    needs = [json.dumps(v, ensure_ascii=False) != f'"{v}"' for v in written]
    assert sum(needs) >= 0.5 * len(written), (sum(needs), len(written))
    escaping = [t for t in SAMPLES["train"] if "escaping" in t.tags and _family(t) != "append_log"]
    assert len(escaping) >= 2 * PER_FAMILY
    for task in escaping:  # every written text there needs escaping, or is non-ASCII
        for call in task.expert:
            for key in ("content", "new"):
                if key in call.arguments:
                    value = call.arguments[key]
                    hard = json.dumps(value, ensure_ascii=False) != f'"{value}"'
                    assert hard or not value.isascii(), (task.id, value)


def test_episodes_stay_small_enough_for_a_4k_context() -> None:
    sizes = []
    for task in SAMPLES["train"]:
        box = make_sandbox(task)
        history = [(render_call(c, "react"), box.step(c).content) for c in task.expert[:-1]]
        messages = build_messages(task.prompt, history, box.tools, "react")
        sizes.append(sum(len(m["content"]) for m in messages[1:]))
    sizes.sort()
    assert sizes[len(sizes) // 2] < 1500, sizes[len(sizes) // 2]
    assert sizes[int(0.9 * len(sizes))] < 2500, sizes[int(0.9 * len(sizes))]
    assert sizes[-1] < 4000, sizes[-1]


def test_jsonl_round_trip_and_bad_files(tmp_path: Path) -> None:
    path = tmp_path / "tasks.jsonl"
    tasks = SAMPLES["test"][:20]
    assert save_task_file(tasks, path) == 20
    assert load_task_file(path) == tasks
    assert len(path.read_text(encoding="utf-8").splitlines()) == 20
    bad = tmp_path / "bad.jsonl"
    bad.write_text(tasks[0].model_dump_json() + "\n{not json\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"bad\.jsonl:2"):
        load_task_file(bad)
    with pytest.raises(ConfigError, match="cannot read"):
        load_task_file(tmp_path / "missing.jsonl")


def test_bad_arguments_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="'train', 'val' or 'test'"):
        generate_tasks("validation", 3)
    with pytest.raises(ConfigError, match="unknown families"):
        generate_tasks("train", 3, families=["nope"])
    with pytest.raises(ConfigError, match="n must be"):
        generate_tasks("train", -1)
    with pytest.raises(ConfigError, match="seed must be"):
        generate_tasks("train", 1, seed="0")  # type: ignore[arg-type]
    assert generate_tasks("train", 0) == []
    negative = generate_tasks("train", 2, seed=-3)
    assert [t.id for t in negative] == ["fam/write_exact/train/-3-0", "fam/edit_line/train/-3-1"]
    only = generate_tasks("test", 4, seed=1, families=["edit_line", "write_exact"])
    assert [_family(t) for t in only] == ["edit_line", "write_exact"] * 2


def test_cli_generates_a_file_that_loads_and_shows_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "fam.jsonl"
    rc = main(
        ["tasks", "generate", "--split", "test", "--n", "14", "--seed", "3", "--out", str(out)]
    )
    assert rc == 0 and f"wrote 14 test tasks to {out}" in capsys.readouterr().out
    assert load_task_file(out) == generate_tasks("test", 14, seed=3)
    assert main(["tasks", "show", str(out)]) == 0
    shown = capsys.readouterr().out
    assert "14 tasks" in shown and all(f in shown for f in FAMILIES)
    rc = main(["tasks", "generate", "--split", "train", "--n", "2", "--out", str(out),
               "--families", "bogus"])  # fmt: skip
    assert rc == 2 and "unknown families" in capsys.readouterr().err
    nested = tmp_path / "new" / "dir" / "fam.jsonl"
    rc = main(["tasks", "generate", "--split", "train", "--n", "3", "--out", str(nested),
               "--families", "find_and_fix"])  # fmt: skip
    assert rc == 0 and [t.id for t in load_task_file(nested)] == [
        f"fam/find_and_fix/train/0-{k}" for k in range(3)
    ]
    rc = main(["tasks", "generate", "--split", "val", "--n", "2", "--out", str(out)])
    assert rc == 0 and {t.split for t in load_task_file(out)} == {"val"}
    (tmp_path / "bad.jsonl").write_text('{"id": "x"}\n', encoding="utf-8")
    assert main(["tasks", "show", str(tmp_path / "bad.jsonl")]) == 2
    assert "bad.jsonl:1: not a valid task" in capsys.readouterr().err


def test_exported_from_the_package() -> None:
    assert agent_rl.generate_tasks is generate_tasks and agent_rl.FAMILIES is FAMILIES
    assert agent_rl.load_task_file is load_task_file
    assert agent_rl.save_task_file is save_task_file


def _corrupt(text: str) -> str:
    """``text`` with one character lost: the first quote, backslash or tab, else the last one
    before the final newline — the slips that break real tool calls."""
    at = min((i for i in (text.find(c) for c in '"\\\t') if i >= 0), default=-1)
    if at < 0:
        at = len(text.rstrip("\n")) - 1
    return text[:at] + text[at + 1 :]


@pytest.mark.parametrize("family", list(FAMILIES))
def test_one_lost_character_in_a_written_text_fails_the_task(family: str) -> None:
    tasks = [t for t in SAMPLES["train"] if _family(t) == family][:20]
    for task in tasks:
        for j, call in enumerate(task.expert):
            key = {"write_file": "content", "edit_file": "new"}.get(call.name)
            if key is None:
                continue
            bad = ToolCall(call.name, {**call.arguments, key: _corrupt(call.arguments[key])})
            box = make_sandbox(task)
            for i, step in enumerate(task.expert):
                box.step(bad if i == j else step)
            assert box.done and not task.check(box), (task.id, j, bad.arguments[key])


def test_generated_tasks_feed_the_trainer_and_the_held_out_evaluation() -> None:
    from agent_rl.evaluation.states import assert_disjoint, held_out_states
    from agent_rl.training.data import expert_steps

    train, test = SAMPLES["train"][:16], SAMPLES["test"][:16]
    steps = list(expert_steps(train, ["react", "hermes"]))
    assert len(steps) == 2 * sum(len(t.expert) for t in train)
    states = held_out_states("react", test)
    assert len(states) == sum(len(t.expert) for t in test)
    assert {s.task_id for s in states} == {t.id for t in test}
    assert_disjoint([s.messages for s in states], [s.messages for s in steps])
    with pytest.raises(ConfigError, match="not held out"):
        held_out_states("react", train)


@pytest.mark.parametrize("family", list(FAMILIES))
def test_first_draws_are_valid_so_redraws_stay_a_safety_net(family: str) -> None:
    """``build_task`` redraws an invalid instance; the generators themselves must not rely on it."""
    for split in ("train", "test"):
        for k in range(60):
            draft = FAMILIES[family](Gen(random.Random(f"{family}|{split}|99|{k}"), POOLS[split]))
            task = Task(
                id=f"draw/{k}",
                prompt=draft.prompt,
                files=draft.files,
                split=split,
                expert=draft.expert,
                checks=draft.checks,
                tests_must_pass=draft.tests_must_pass,
            )
            validate_task(task)
