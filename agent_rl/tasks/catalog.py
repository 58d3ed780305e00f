"""The task catalog: every template's tasks, in a fixed order, split into train and test.

Test tasks use different files, names and contents from train tasks (same kinds of work), so
held-out evaluation measures generalisation, not recall. Building is deterministic and cached.
"""

from __future__ import annotations

from functools import lru_cache

from agent_rl.errors import ConfigError
from agent_rl.tasks._config import json_tasks, yaml_tasks
from agent_rl.tasks._feature import feature_tasks
from agent_rl.tasks._fix import fix_tasks, logging_tasks
from agent_rl.tasks._model import Task
from agent_rl.tasks._rename import rename_tasks, version_tasks
from agent_rl.tasks._text import escape_tasks, new_test_tasks, readme_tasks

__all__ = ["TEMPLATES", "load_tasks"]

TEMPLATES = (
    fix_tasks,
    rename_tasks,
    json_tasks,
    yaml_tasks,
    escape_tasks,
    readme_tasks,
    new_test_tasks,
    logging_tasks,
    version_tasks,
    feature_tasks,
)


@lru_cache(maxsize=1)
def _all() -> tuple[Task, ...]:
    tasks = tuple(t for template in TEMPLATES for t in template())
    ids = [t.id for t in tasks]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise AssertionError(f"duplicate task ids in the catalog: {dupes}")
    return tasks


def load_tasks(split: str | None = None) -> list[Task]:
    """The catalog's tasks: all of them, or those of ``split`` ("train" or "test")."""
    if split not in (None, "train", "test"):
        raise ConfigError(
            f"split {split!r} is not supported because the catalog has only 'train' and 'test' "
            "tasks. Set split='train', split='test' or split=None (all)."
        )
    return [t for t in _all() if split is None or t.split == split]
