"""The coding task suite: tasks over small virtual workspaces, each with an expert and a check.

- :mod:`._model` — ``Task`` (frozen pydantic, JSON round-trips) and ``make_sandbox``.
- :mod:`.catalog` — ``load_tasks(split)``: the templates' tasks, train and held-out test.
- :mod:`._build` — builders for expert calls and check source, shared by the templates.
- ``_fix``, ``_rename``, ``_config``, ``_text``, ``_feature`` — the templates.
"""

from __future__ import annotations

from agent_rl.tasks._model import Split, Task, make_sandbox
from agent_rl.tasks.catalog import load_tasks

__all__ = ["Split", "Task", "load_tasks", "make_sandbox"]
