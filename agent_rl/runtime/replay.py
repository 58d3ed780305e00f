"""Sandbox state for served traffic: find the task a served conversation is an episode of, and
replay the conversation in that task's sandbox up to a step.

A server sees messages, not a workspace. When it is given the tasks its clients run
(``agent-rl online --tasks FILE``), a conversation whose first user message is a task's prompt
is replayed: each assistant message is scored against the task's sandbox tools and stepped
exactly as the agent loop steps it (:func:`agent_rl.agent.advance`), and every observation the
replay produces must be the one the client sent back — otherwise the conversation is not that
task's episode (another workspace, another agent) and it gets no state (``None``). What a replay
gives a learner: the sandbox state before the step (so rewards can check validity in the
episode's state, as offline training does) and, while the episode follows the expert, the
expert's call at this step (so a reward can keep the policy on the call the step needs rather
than on a call that is valid anywhere). An episode follows the expert while each valid call is
either the expert's next one or a detour that changes no file (a second ``read_file``, a
``run_tests``): the workspace is then still the expert's, so the expert's next call is still the
step it needs — which is what lets a learner score the steps of an agent stuck in a loop of
reads, and not only the first steps of every episode.

Not here: serving, recording or training (``runtime.online`` uses this).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from agent_rl.agent import advance
from agent_rl.formats import Format
from agent_rl.policies.openai import message_text
from agent_rl.prompts import observation_message
from agent_rl.runtime.capture import content_text
from agent_rl.scorer import scorer_for
from agent_rl.tasks import Task, make_sandbox
from agent_rl.verdicts import ToolCall

__all__ = ["Replayed", "TaskReplayer"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Replayed:
    """A served step placed in its task's episode."""

    task: Task
    state: dict[str, Any]
    """The sandbox snapshot before the step (``CodingSandbox.snapshot()``)."""
    expert_call: ToolCall | None
    """The expert's call at this step while the episode follows the expert (each valid call so
    far was the expert's next one or changed no file), else ``None``."""
    valid_calls: int
    """Valid calls replayed before the step."""

    @property
    def state_json(self) -> str:
        return json.dumps(self.state, ensure_ascii=False)


class TaskReplayer:
    """Replays served conversations of ``tasks`` in their sandboxes."""

    def __init__(self, tasks: Sequence[Task]) -> None:
        self._by_prompt: dict[str, list[Task]] = {}
        for task in tasks:
            self._by_prompt.setdefault(task.prompt, []).append(task)

    def __len__(self) -> int:
        return sum(len(v) for v in self._by_prompt.values())

    def candidates(self, messages: Sequence[dict[str, Any]]) -> list[Task]:
        """The tasks whose prompt is the conversation's first user message."""
        user = next((m for m in messages if isinstance(m, dict) and m.get("role") == "user"), None)
        return list(self._by_prompt.get(content_text(user.get("content")), ())) if user else []

    def replay(self, messages: Sequence[dict[str, Any]], fmt: Format) -> Replayed | None:
        """The state before the step whose prompt is ``messages`` (the request's messages, the
        assistant's in the served format ``fmt``), or ``None`` when no task's episode produces
        exactly these observations."""
        for task in self.candidates(messages):
            replayed = self._replay(task, messages, fmt)
            if replayed is not None:
                return replayed
        return None

    def _replay(
        self, task: Task, messages: Sequence[dict[str, Any]], fmt: Format
    ) -> Replayed | None:
        sandbox = make_sandbox(task)
        scorer = scorer_for(sandbox.tools, fmt)
        if not all(isinstance(m, dict) for m in messages):
            return None  # not messages a client sent; never an exception in the learner
        start = next(i for i, m in enumerate(messages) if m.get("role") == "user") + 1
        turns = list(messages[start:])
        if len(turns) % 2:  # an assistant message without its observation: not a request
            return None
        expert = list(task.expert)
        on_path, valid, done = True, 0, 0  # done: expert calls made so far
        for said, heard in zip(turns[::2], turns[1::2], strict=True):
            if said.get("role") != "assistant" or sandbox.done:
                return None
            verdict = scorer.score(message_text(said, fmt), sandbox, expect_call=True)
            files = sandbox.snapshot()["files"]  # a copy
            observation, _ = advance(sandbox, verdict)
            if observation is None:
                return None  # a final answer ends an episode: nothing follows it
            sent = observation_message(observation.content, fmt)["content"]
            if content_text(heard.get("content")) not in (
                sent,
                observation.content,
            ):  # user or tool
                log.debug("task %s: the replay's observation differs from the client's", task.id)
                return None
            if verdict.valid and verdict.call is not None:
                valid += 1
                if on_path and done < len(expert) and _same(verdict.call, expert[done]):
                    done += 1
                elif sandbox.snapshot()["files"] != files:
                    on_path = False  # the workspace is no longer the expert's
        if sandbox.done:
            return None
        next_expert = expert[done] if on_path and done < len(expert) else None
        return Replayed(task, sandbox.snapshot(), next_expert, valid)


def _same(a: ToolCall, b: ToolCall) -> bool:
    return a.name == b.name and a.arguments == b.arguments
