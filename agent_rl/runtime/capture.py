"""Recording served and proxied traffic: a scored trajectory line per request, grouped by
conversation.

How a conversation spanning several requests is stored: the store is append-only, one
``Trajectory`` a line, and a server cannot know when a conversation ends, so each request is
written at once as its own line (crash-safe: nothing waits in memory) holding one ``Step`` per
returned choice; ``metadata.extra["conversation_id"]`` and ``["turn"]`` tie the lines of one
conversation together and :func:`conversations` reads them back as one trajectory each.

Which conversation a request continues: every answer registers the digest of "the request's
messages + that assistant message" (canonical form: role, text content, tool calls as id, name
and parsed arguments — the JSON whitespace clients rewrite is left out); a later request whose
messages start with a registered prefix continues that conversation, else it starts a new one.
Tool-call ids are unique, so conversations with the same opening are told apart once a call is
made; two conversations identical in every word are not (the later one gets both) — name them
with the ``X-Conversation-Id`` header. The index is in memory and bounded (oldest forgotten
first), so a restarted server starts new conversations.

This module scores (``agent_rl.scorer``) and stores (``agent_rl.trajectories``); it does not
speak HTTP.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from agent_rl.errors import ToolSpecError
from agent_rl.formats import Format
from agent_rl.scorer import Scorer
from agent_rl.tool_spec import ToolSpec
from agent_rl.trajectories import Outcome, Step, TaskRef, Trajectory, TrajectoryStore
from agent_rl.verdicts import CallVerdict

__all__ = [
    "Capture",
    "ConversationIndex",
    "Recorded",
    "content_text",
    "conversations",
    "scorer_for",
]

log = logging.getLogger(__name__)
Messages = list[dict[str, Any]]


# --- conversations ------------------------------------------------------------------------------


def content_text(content: Any) -> str:
    """A message's ``content`` as text: a string, or the text of its content parts."""
    if isinstance(content, list):
        return "".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return "" if content is None else str(content)


def _arguments(raw: Any) -> Any:
    if isinstance(raw, str):
        try:
            return json.loads(raw)
        except ValueError:
            return raw
    return raw


def canonical(message: dict[str, Any]) -> list[Any]:
    """What identifies a message across clients that re-serialise it."""
    calls = []
    for c in message.get("tool_calls") or []:
        if isinstance(c, dict):
            function = c.get("function") or {}
            calls.append([c.get("id"), function.get("name"), _arguments(function.get("arguments"))])
    return [
        message.get("role"),
        content_text(message.get("content")),
        calls,
        message.get("tool_call_id"),
    ]


def _digests(messages: Sequence[dict[str, Any]]) -> list[str]:
    """Digest of every prefix: ``out[j]`` covers ``messages[: j + 1]``."""
    h = hashlib.sha256()
    out = []
    for m in messages:
        h.update(json.dumps(canonical(m), sort_keys=True, ensure_ascii=False).encode())
        h.update(b"\x1e")
        out.append(h.copy().hexdigest())
    return out


class ConversationIndex:
    """Maps "messages so far + an answer" to the conversation they belong to (bounded LRU)."""

    def __init__(self, max_entries: int = 100_000) -> None:
        self._seen: OrderedDict[str, str] = OrderedDict()
        self._max = max_entries
        self._lock = threading.Lock()

    def find(self, messages: Sequence[dict[str, Any]], explicit: str | None = None) -> str:
        """The conversation ``messages`` continue (a new id if none)."""
        if explicit:
            return explicit
        digests = _digests(messages)
        with self._lock:
            for j in range(len(messages) - 1, -1, -1):
                if messages[j].get("role") == "assistant" and digests[j] in self._seen:
                    self._seen.move_to_end(digests[j])
                    return self._seen[digests[j]]
        return uuid.uuid4().hex

    def register(
        self,
        conversation: str,
        messages: Sequence[dict[str, Any]],
        answers: Iterable[dict[str, Any]],
    ) -> None:
        """Remember that ``messages + [answer]`` continues ``conversation``, for each answer."""
        for answer in answers:
            key = _digests([*messages, answer])[-1]
            with self._lock:
                self._seen[key] = conversation
                self._seen.move_to_end(key)
                while len(self._seen) > self._max:
                    self._seen.popitem(last=False)


# --- scoring ------------------------------------------------------------------------------------

_SCORERS: OrderedDict[tuple[str, str], Scorer] = OrderedDict()
_SCORERS_LOCK = threading.Lock()


def scorer_for(tools: Sequence[dict[str, Any]] | None, fmt: Format) -> Scorer:
    """A scorer for a request's OpenAI ``tools`` (cached by their JSON); raises
    ``ToolSpecError`` naming the tool when one is not a function tool with a JSON Schema."""
    key = (json.dumps(tools or [], sort_keys=True), fmt)
    with _SCORERS_LOCK:
        if key in _SCORERS:
            _SCORERS.move_to_end(key)
            return _SCORERS[key]
    specs = []
    for i, tool in enumerate(tools or []):
        try:
            specs.append(ToolSpec.from_openai(tool))
        except ToolSpecError as e:
            raise ToolSpecError(f"tools[{i}]: {e}") from None
    scorer = Scorer(specs, format=fmt)
    with _SCORERS_LOCK:
        _SCORERS[key] = scorer
        while len(_SCORERS) > 256:
            _SCORERS.popitem(last=False)
    return scorer


# --- recording ----------------------------------------------------------------------------------


@dataclass
class Recorded:
    """One returned choice: the raw text, its verdict and what the client got."""

    raw_output: str
    verdict: CallVerdict | None
    response: dict[str, Any] | None = None
    finish_reason: str | None = None
    completion_tokens: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class Capture:
    """Writes one trajectory line per request to ``store`` (``None``: record nothing).

    Its own failures (a full disk, a value JSON cannot hold) are logged and counted in
    ``errors``, never raised into the request being served.
    """

    def __init__(
        self, store: str | os.PathLike[str] | TrajectoryStore | None, *, runtime: str, fmt: Format
    ) -> None:
        if store is None or isinstance(store, TrajectoryStore):
            self.store = store
        else:
            self.store = TrajectoryStore(store)
        self.runtime, self.format = runtime, fmt
        self.index = ConversationIndex()
        self.errors: list[str] = []

    def record(
        self,
        *,
        conversation: str,
        model: str,
        messages: Messages,
        tools: Any,
        choices: Sequence[Recorded],
        started_at: float,
        latency_s: float,
        prompt_tokens: int | None = None,
        error: str = "",
        extra: dict[str, Any] | None = None,
    ) -> Trajectory | None:
        turn = sum(1 for m in messages if isinstance(m, dict) and m.get("role") == "assistant")
        meta = {
            "runtime": self.runtime,
            "conversation_id": conversation,
            "turn": turn,
            **(extra or {}),
        }
        try:
            steps = [
                Step(
                    index=turn,
                    messages=messages,
                    raw_output=c.raw_output,
                    verdict=c.verdict,
                    started_at=started_at,
                    latency_s=latency_s,
                    prompt_tokens=prompt_tokens,
                    completion_tokens=c.completion_tokens,
                    error=error,
                    extra={
                        "choice": i,
                        "finish_reason": c.finish_reason,
                        "response": c.response,
                        **meta,
                        **c.extra,
                    },
                )
                for i, c in enumerate(choices)
            ]
            if not steps:  # a failed request is still a recorded step
                steps = [
                    Step(
                        index=turn,
                        messages=messages if isinstance(messages, list) else [],
                        started_at=started_at,
                        latency_s=latency_s,
                        error=error or "no answer",
                        extra=meta,
                    )
                ]
            first_user = next(
                (m for m in messages if isinstance(m, dict) and m.get("role") == "user"), {}
            )
            traj = Trajectory(
                task=TaskRef(prompt=content_text(first_user.get("content"))),
                tools=tools if isinstance(tools, list) else [],
                format=self.format,
                steps=steps,
                outcome=Outcome(status="error" if error else "finished", error=error),
                metadata={"source": "other", "model": model, **meta},
            )
            if self.store is not None:
                self.store.append(traj)
            return traj
        except Exception as e:  # never break the request; never drop silently
            self.errors.append(f"{type(e).__name__}: {e}")
            log.error("agent-rl %s: could not record a request: %s", self.runtime, e)
            return None

    def close(self) -> None:
        if self.store is not None:
            self.store.close()


def conversations(store: str | os.PathLike[str] | TrajectoryStore) -> list[Trajectory]:
    """The recorded request lines grouped into one trajectory per conversation, in order of
    first appearance; steps in turn order (request order within a turn)."""
    store = store if isinstance(store, TrajectoryStore) else TrajectoryStore(store)
    groups: dict[str, list[Trajectory]] = {}
    for traj in store.read():
        key = str(traj.metadata.extra.get("conversation_id") or traj.id)
        groups.setdefault(key, []).append(traj)
    merged = []
    for key, lines in groups.items():
        lines.sort(key=lambda t: int(t.metadata.extra.get("turn", 0)))
        first, last = lines[0], lines[-1]
        steps = [s for t in lines for s in t.steps]
        merged.append(
            Trajectory(
                id=key,
                task=first.task,
                tools=last.tools,
                format=first.format,
                steps=steps,
                outcome=last.outcome,
                metadata=first.metadata,
            )
        )
    return merged


def now() -> tuple[float, float]:
    """``(unix time, monotonic time)`` at the start of a request."""
    return time.time(), time.perf_counter()
