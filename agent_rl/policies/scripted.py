"""``ScriptedPolicy``: replays given outputs: for tests, expert data and demos without a model.

Scripts are per episode. A conversation with no assistant turn yet starts the next unused
script; a conversation that continues one (same opening messages, the script's outputs so far
as its assistant turns) gets that script's next output. So the agent can batch any number of
episodes, in any order, and each gets its own script back exactly. Outputs are replayed
verbatim, malformed ones included: nothing here parses them.

This is not a model and not a stub of one: it has no knowledge of tools or formats beyond
``ScriptedPolicy.expert``, which renders a task's expert calls with ``agent_rl.formats``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from agent_rl.errors import PolicyError
from agent_rl.policies.base import TextPolicy
from agent_rl.verdicts import Messages

if TYPE_CHECKING:
    from agent_rl.tasks import Task

__all__ = ["ScriptedPolicy"]


@dataclass
class _Episode:
    script: int
    prefix: str
    emitted: list[str] = field(default_factory=list)


def _split(messages: Messages) -> tuple[str, tuple[str, ...]]:
    """(the opening messages as a key, the assistant contents in order)."""
    first = next((i for i, m in enumerate(messages) if m.get("role") == "assistant"), None)
    head = messages if first is None else messages[:first]
    prefix = json.dumps(head, sort_keys=True, ensure_ascii=False, default=str)
    assistants = tuple(
        str(m.get("content") or "") for m in messages if m.get("role") == "assistant"
    )
    return prefix, assistants


class ScriptedPolicy(TextPolicy):
    """Replays scripted outputs.

    ``outputs`` is one of: a list of per-episode lists of texts; a flat list of texts (one
    episode); or a callable ``messages -> text`` asked once per conversation.
    """

    def __init__(
        self,
        outputs: Sequence[Sequence[str]] | Sequence[str] | Callable[[Messages], str],
        *,
        name: str = "scripted",
    ) -> None:
        self.name = name
        self._fn: Callable[[Messages], str] | None = None
        self._scripts: list[tuple[str, ...]] = []
        if callable(outputs):
            self._fn = outputs
        elif isinstance(outputs, str | bytes):
            raise TypeError("ScriptedPolicy(outputs): pass a list of texts, not a single string")
        elif all(isinstance(o, str) for o in outputs):
            self._scripts = [tuple(outputs)]  # type: ignore[arg-type]
        else:
            for i, script in enumerate(outputs):
                if isinstance(script, str) or not all(isinstance(t, str) for t in script):
                    raise TypeError(f"ScriptedPolicy(outputs): script {i} must be a list of texts")
                self._scripts.append(tuple(script))
        self._episodes: list[_Episode] = []

    @classmethod
    def expert(cls, task: Task | Sequence[Task], format: str = "react") -> ScriptedPolicy:
        """Replay each task's expert solution, rendered exactly as ``render_call`` writes it."""
        from agent_rl.formats import render_call

        tasks = [task] if not isinstance(task, Sequence) else list(task)
        scripts = [[render_call(call, format) for call in t.expert] for t in tasks]  # type: ignore[arg-type]
        return cls(scripts, name=f"expert:{format}")

    @property
    def scripts(self) -> list[tuple[str, ...]]:
        return list(self._scripts)

    def reset(self) -> None:
        """Forget every episode: the next new conversation starts script 0 again."""
        self._episodes.clear()

    def generate(self, batch: list[Messages]) -> list[str]:
        if self._fn is not None:
            return [str(self._fn(messages)) for messages in batch]
        saved = [_Episode(e.script, e.prefix, list(e.emitted)) for e in self._episodes]
        try:
            return [self._next(messages, set()) for messages in batch]
        except PolicyError:
            self._episodes = saved  # all or nothing: a failed batch consumes no output
            raise

    def _next(self, messages: Messages, taken: set[int]) -> str:
        episode = self._episode_for(messages, taken)
        taken.add(id(episode))
        script = self._scripts[episode.script]
        step = len(episode.emitted)
        if step >= len(script):
            raise PolicyError(
                f"ScriptedPolicy: script {episode.script} has {len(script)} outputs but step "
                f"{step + 1} was asked for; add outputs or lower max_steps"
            )
        episode.emitted.append(script[step])
        return script[step]

    def _episode_for(self, messages: Messages, taken: set[int]) -> _Episode:
        prefix, assistants = _split(messages)
        if not assistants:
            if len(self._episodes) >= len(self._scripts):
                raise PolicyError(
                    f"ScriptedPolicy: all {len(self._scripts)} scripts are in use; pass one "
                    "script per episode (or call reset() between runs)"
                )
            episode = _Episode(len(self._episodes), prefix)
            self._episodes.append(episode)
            return episode
        candidates = [e for e in self._episodes if id(e) not in taken and e.prefix == prefix]
        for exact in (True, False):
            for e in candidates:
                if (tuple(e.emitted) == assistants) if exact else len(e.emitted) == len(assistants):
                    return e
        raise PolicyError(
            "ScriptedPolicy: this conversation does not continue any scripted episode "
            f"({len(assistants)} assistant turns, {len(candidates)} episodes with that opening)"
        )
