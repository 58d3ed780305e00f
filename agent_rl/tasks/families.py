"""Procedural task families: unlimited fresh, valid episodes, held out by seed and vocabulary.

``generate_tasks("train", 1000, seed=0)`` builds 1,000 tasks, the families in turn
(round-robin). Instance ``k`` of a call draws from ``random.Random("<family>|<split>|<seed>|<k>")``
and from the split's word pool (:mod:`agent_rl.tasks._pools`), so train and test instances
come from disjoint seed streams *and* disjoint names and text fragments. Every instance is
validated before it is returned: its expert is valid at every step in the real sandbox, the
task is not solved at the start and is solved at the end. ``save_task_file`` /
``load_task_file`` keep tasks as JSON Lines (one ``Task.model_dump_json()`` per line).

Families (steps of the expert): ``write_exact`` (3-4), ``edit_line`` (3-4), ``append_log`` (4),
``explore_and_read`` (5-6), ``find_and_fix`` (5-6), ``config_update`` (4-5),
``multi_file_rename`` (8-12), ``add_test`` (5), ``insert_section`` (4), ``yaml_service``
(4-5), ``version_bump`` (7). This module builds tasks; it trains and evaluates nothing.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from pydantic import ValidationError

from agent_rl.errors import ConfigError
from agent_rl.tasks._fam_code import add_test, config_update, find_and_fix, multi_file_rename
from agent_rl.tasks._fam_docs import insert_section, version_bump, yaml_service
from agent_rl.tasks._fam_text import append_log, edit_line, explore_and_read, write_exact
from agent_rl.tasks._model import Split, Task, make_sandbox
from agent_rl.tasks._pools import POOLS, Draft, Gen

__all__ = [
    "FAMILIES",
    "Family",
    "build_task",
    "generate_tasks",
    "load_task_file",
    "save_task_file",
    "validate_task",
]

Family = Callable[[Gen], Draft]

FAMILIES: dict[str, Family] = {
    "write_exact": write_exact,
    "edit_line": edit_line,
    "append_log": append_log,
    "explore_and_read": explore_and_read,
    "find_and_fix": find_and_fix,
    "config_update": config_update,
    "multi_file_rename": multi_file_rename,
    "add_test": add_test,
    "insert_section": insert_section,
    "yaml_service": yaml_service,
    "version_bump": version_bump,
}
_ATTEMPTS = 8  # redraws of one instance whose draw happened to be invalid (rare)


def validate_task(task: Task) -> None:
    """Raise ``ValueError`` unless ``task``'s expert is valid at every step in the sandbox,
    the task is not solved at the start, and it is solved once the expert has run."""
    box = make_sandbox(task)
    start = task.report(box)
    if start.ok:
        raise ValueError(f"task {task.id}: solved before any step")
    last = len(task.expert) - 1
    for i, call in enumerate(task.expert):
        obs = box.step(call)
        if not obs.ok or obs.done != (i == last):
            raise ValueError(f"task {task.id}: expert step {i} ({call.name}): {obs.content}")
    if not task.check(box):
        raise ValueError(f"task {task.id}: the expert does not solve it:\n{task.explain(box)}")


def _check_split(split: str) -> Split:
    if split in ("train", "val", "test"):
        return split  # type: ignore[return-value]
    raise ConfigError(f"split {split!r} is not supported; use 'train', 'val' or 'test'")


def build_task(family: str, split: str, seed: int, k: int) -> Task:
    """Instance ``k`` of ``family`` for ``split`` and ``seed``, validated (deterministic)."""
    split = _check_split(split)
    make = FAMILIES.get(family)
    if make is None:
        raise ConfigError(f"unknown family {family!r}; the families are {', '.join(FAMILIES)}")
    problem = ""
    for attempt in range(_ATTEMPTS):
        tail = f"|{attempt}" if attempt else ""
        gen = Gen(random.Random(f"{family}|{split}|{seed}|{k}{tail}"), POOLS[split])
        draft = make(gen)
        try:
            task = Task(
                id=f"fam/{family}/{split}/{seed}-{k}",
                prompt=draft.prompt,
                files=draft.files,
                split=split,
                tags=("family", family, *draft.tags),
                expert=draft.expert,
                checks=draft.checks,
                tests_must_pass=draft.tests_must_pass,
            )
            validate_task(task)
        except (ValueError, ValidationError) as exc:
            problem = str(exc)
            continue
        return task
    raise AssertionError(f"family {family} drew no valid instance in {_ATTEMPTS} tries: {problem}")


def generate_tasks(
    split: str, n: int, seed: int = 0, families: Sequence[str] | None = None
) -> list[Task]:
    """``n`` validated tasks of ``split``, the ``families`` (default: all) in turn."""
    split = _check_split(split)
    names = list(FAMILIES) if families is None else list(families)
    unknown = [f for f in names if f not in FAMILIES]
    if unknown or not names:
        raise ConfigError(
            f"unknown families {unknown}; choose among {', '.join(FAMILIES)}"
            if unknown
            else "families is empty; leave it out for all families"
        )
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ConfigError(f"n must be an integer >= 0, not {n!r}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ConfigError(f"seed must be an integer, not {seed!r}")
    return [build_task(names[k % len(names)], split, seed, k) for k in range(n)]


def save_task_file(tasks: Iterable[Task], path: str | Path) -> int:
    """Write ``tasks`` as JSON Lines to ``path``; return how many were written."""
    n = 0
    with Path(path).open("w", encoding="utf-8") as f:
        for task in tasks:
            f.write(task.model_dump_json() + "\n")
            n += 1
    return n


def load_task_file(path: str | Path) -> list[Task]:
    """The tasks of a JSON Lines file written by ``save_task_file`` (blank lines skipped).

    Raises ``ConfigError`` naming the file and line of anything that is not a valid task.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the task file {p}: {exc}") from exc
    tasks = []
    for i, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            tasks.append(Task.model_validate_json(line))
        except ValidationError as exc:
            first = exc.errors()[0]
            raise ConfigError(
                f"{p}:{i}: not a valid task ({first['msg']} at "
                f"{'.'.join(str(x) for x in first['loc']) or 'the top level'})"
            ) from exc
    return tasks
