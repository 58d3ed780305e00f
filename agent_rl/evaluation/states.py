"""Held-out evaluation states: the exact prompt of every step of every TEST task's expert episode.

A state is what the model sees before its ``k``-th call in a test episode that went right so far
— the system prompt, the task, the expert's first ``k`` calls and their observations — plus the
sandbox snapshot at that step, so a sampled call is scored against the real workspace (the file
it edits exists, the text it replaces is there). Test tasks bring unseen files, longer episodes
and contents that need heavy escaping; training never sees them (``assert_disjoint`` checks).

This module builds prompts and snapshots; it runs no model and scores nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from agent_rl.errors import ConfigError
from agent_rl.prompts import prompt_key
from agent_rl.verdicts import Messages

if TYPE_CHECKING:
    from agent_rl.formats import Format
    from agent_rl.tasks import Task

__all__ = ["HeldOutState", "assert_disjoint", "held_out_states", "prompt_key"]


@dataclass(frozen=True, slots=True)
class HeldOutState:
    """The prompt before step ``step`` of task ``task_id``'s expert episode in format ``fmt``,
    and the sandbox snapshot at that step."""

    task_id: str
    step: int
    messages: Messages
    snapshot: dict[str, Any]
    fmt: Format
    tools: str
    """The tools offered, OpenAI form, as JSON text (what the reward functions read)."""
    expert_tool: str | None = None
    """The tool the expert called in this state (what an on-task call uses)."""
    tags: tuple[str, ...] = ()
    """The task's tags (``escaping``, ``long``, ``multi_file`` ...): validity is broken down
    by them."""


def held_out_states(
    formats: Format | Sequence[Format],
    tasks: Sequence[Task] | None = None,
    *,
    max_per_task: int | None = None,
) -> list[HeldOutState]:
    """One state per step of each test task's expert episode, per format (at most
    ``max_per_task`` steps of each episode).

    Built by the trainer's own :func:`~agent_rl.training.data.expert_steps`, so evaluation
    prompts have exactly the shape of training prompts — but from ``load_tasks("test")``
    (the default ``tasks``). A training task here is a ``ConfigError``: evaluation never scores
    the prompts the model was trained on.
    """
    from agent_rl.tasks import load_tasks
    from agent_rl.training.data import expert_steps, reference_tool

    fmts: list[Format] = [formats] if isinstance(formats, str) else list(formats)
    tasks = load_tasks("test") if tasks is None else list(tasks)
    trained = [t.id for t in tasks if t.split != "test"]
    if trained:
        raise ConfigError(
            f"tasks {trained[:3]} are not held out (split != 'test'). Evaluate on "
            "load_tasks('test') so no training prompt is scored."
        )
    tags = {t.id: tuple(t.tags) for t in tasks}
    return [
        HeldOutState(
            task_id=ex.task_id,
            step=ex.step,
            messages=ex.messages,
            snapshot=json.loads(ex.state),
            fmt=ex.fmt,  # type: ignore[arg-type]
            tools=ex.tools,
            expert_tool=reference_tool(ex),
            tags=tags[ex.task_id],
        )
        for ex in expert_steps(tasks, fmts)
        if max_per_task is None or ex.step < max_per_task
    ]


def assert_disjoint(eval_prompts: Iterable[Messages], train_prompts: Iterable[Messages]) -> None:
    """Raise ``ConfigError`` if any evaluation prompt is also a training prompt."""
    seen = {prompt_key(m) for m in train_prompts}
    shared = sum(prompt_key(m) in seen for m in eval_prompts)
    if shared:
        raise ConfigError(
            f"{shared} evaluation prompts also appear in the training data: evaluation must use "
            "held-out tasks only. Rebuild the training data from load_tasks('train')."
        )
