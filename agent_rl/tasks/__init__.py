"""The coding task suite: tasks over small virtual workspaces, each with an expert and a check.

- :mod:`._model` — ``Task`` (frozen pydantic, JSON round-trips) and ``make_sandbox``.
- :mod:`.catalog` — ``load_tasks(split)``: the templates' tasks, train and held-out test.
- :mod:`._build` — builders for expert calls and check source, shared by the templates.
- ``_fix``, ``_rename``, ``_config``, ``_text``, ``_feature`` — the templates.
- :mod:`.families` — procedural families: ``generate_tasks(split, n, seed)`` draws fresh,
  validated instances (``_fam_text``, ``_fam_code``; names from ``_pools``, split by vocabulary);
  ``save_task_file`` / ``load_task_file`` keep them as JSON Lines.
"""

from __future__ import annotations

from agent_rl.tasks._model import Split, Task, make_sandbox
from agent_rl.tasks.catalog import load_tasks
from agent_rl.tasks.families import FAMILIES, generate_tasks, load_task_file, save_task_file

__all__ = [
    "FAMILIES",
    "Split",
    "Task",
    "generate_tasks",
    "load_task_file",
    "load_tasks",
    "make_sandbox",
    "save_task_file",
]
