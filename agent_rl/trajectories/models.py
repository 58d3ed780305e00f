"""Recorded agent episodes: the ``Step`` and ``Trajectory`` models.

A ``Trajectory`` is one episode: the task, the tools the model was offered, and one ``Step`` per
model output (the exact prompt messages, the raw text *before any repair*, the call that was
applied, its observation and the scorer's ``CallVerdict``). ``model_dump_json()`` is its stored
line; ``agent_rl.trajectories.store`` writes and reads the file (format and crash guarantees).

Stored form (schema version 2, declared in ``agent_rl.trajectories.fields``): typed JSON for
fixed shapes (messages, call, observation, verdict, outcome, optional numbers), JSON text for
free-form values (call arguments, tool parameters, snapshots, ``extra``), so a line reads
naturally with ``jq`` and ``datasets.load_dataset("json", data_files=path,
features=TrajectoryStore.features())`` loads any file. Version 1 records (every nested value as
JSON text) still validate and come back in the current form.

Rebuilding the sandbox state at a step: a step's ``state_before`` (a ``CodingSandbox.snapshot()``)
is authoritative when recorded; the agent records it on step 0 (cheap: one snapshot per episode),
and ``Trajectory.state_at(k)`` restores the latest snapshot at or before step ``k`` and replays
the applied calls (``Step.call``) of the steps in between. The sandbox is deterministic, so the
replay gives the exact state; ``verify=True`` checks each replayed observation against the
recorded one.

This module is data only: no file I/O (``agent_rl.trajectories.store``), no scoring
(``agent_rl.scorer``), no agents (``agent_rl.agent``), no torch.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeInt,
    field_validator,
    model_validator,
)

from agent_rl.errors import StoreError
from agent_rl.formats import Format
from agent_rl.trajectories.fields import (
    CallField,
    JsonDict,
    MessageList,
    ObservationField,
    OptBool,
    OptFloat,
    OptInt,
    OptJsonDict,
    Text,
    ToolList,
    VerdictField,
    loads_text,
)
from agent_rl.verdicts import CallState, CallVerdict, EpisodeVerdict

__all__ = [
    "SCHEMA_VERSION",
    "Outcome",
    "Step",
    "TaskRef",
    "Trajectory",
    "TrajectoryMeta",
]

SCHEMA_VERSION = 2
Status = Literal["finished", "final_answer", "max_steps", "error"]
"""How an episode ended (``Outcome.status``)."""
Source = Literal["agent", "langchain", "recorder", "other"]


# --- models -------------------------------------------------------------------------------------


class Step(BaseModel):
    """One model output in an episode and what came of it."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    index: NonNegativeInt
    """Position in the episode, from 0."""
    messages: MessageList = Field(default_factory=list)
    """The exact prompt the model saw, as OpenAI chat messages (``role`` and ``content`` always
    present; ``None`` and empty keys left out)."""
    raw_output: str = ""
    """The model's text before any parsing or repair (for a provider tool call: the call JSON
    ``{"name": ..., "arguments": <the provider's raw arguments string>}``)."""
    call: CallField = None
    """The call that was applied to the environment (``None`` when nothing was applied)."""
    observation: ObservationField = None
    """What the environment (or the framework) returned for the call."""
    verdict: VerdictField = None
    """The scorer's verdict on ``raw_output`` (``None`` when the model call itself failed)."""
    started_at: float = Field(default_factory=time.time)
    """Unix time the model call started."""
    latency_s: OptFloat = None
    prompt_tokens: OptInt = None
    completion_tokens: OptInt = None
    error: Text = ""
    """A policy or tool exception at this step (``""``: none)."""
    state_before: OptJsonDict = None
    """``CodingSandbox.snapshot()`` before this step, if recorded (see ``Trajectory.state_at``)."""
    extra: JsonDict = Field(default_factory=dict)
    """Framework details (tool call id, run ids, assistant text, tool input ...)."""

    @property
    def valid(self) -> bool | None:
        return None if self.verdict is None else self.verdict.valid


class TaskRef(BaseModel):
    """What the episode was asked to do: a task id from the suite and/or a free-text prompt."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Text = ""
    """Task id in the suite (``""``: a free-text task)."""
    prompt: Text = ""

    @model_validator(mode="before")
    @classmethod
    def _coerce(cls, v: Any) -> Any:
        if isinstance(v, str):
            return {"prompt": v}
        if not isinstance(v, dict) and hasattr(v, "prompt"):  # a Task or anything task-like
            return {"id": getattr(v, "id", ""), "prompt": v.prompt}
        return v


class Outcome(BaseModel):
    """How the episode ended. ``success`` is the task check's result when one was run."""

    model_config = ConfigDict(extra="forbid")

    status: Status = "finished"
    success: OptBool = None
    final_answer: Text = ""
    error: Text = ""


def _now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


class TrajectoryMeta(BaseModel):
    """Who produced the episode. Unknown keys given at construction land in ``extra``."""

    model_config = ConfigDict(extra="forbid")

    source: Source = "other"
    model: Text = ""
    created_at: str = Field(default_factory=_now_iso)
    extra: JsonDict = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _collect_extra(cls, v: Any) -> Any:
        if not isinstance(v, dict):
            return v
        known = {k: v[k] for k in ("source", "model", "created_at", "extra") if k in v}
        rest = {k: x for k, x in v.items() if k not in known}
        if rest:
            known["extra"] = {**loads_text(known.get("extra") or {}), **rest}
        return known


class Trajectory(BaseModel):
    """One recorded episode. ``model_dump_json()`` is its stored line."""

    model_config = ConfigDict(extra="forbid")

    schema_version: int = SCHEMA_VERSION
    id: str = Field(default_factory=lambda: uuid.uuid4().hex)
    task: TaskRef = Field(default_factory=TaskRef)
    tools: ToolList = Field(default_factory=list)
    """Tool specs offered to the model, as OpenAI function-tool dicts (``ToolSpec`` accepted)."""
    format: Format = "json"
    steps: list[Step] = Field(default_factory=list)
    outcome: Outcome = Field(default_factory=Outcome)
    metadata: TrajectoryMeta = Field(default_factory=TrajectoryMeta)

    @field_validator("schema_version")
    @classmethod
    def _known_version(cls, v: int) -> int:
        """Older versions read into the current form (and are written back in it)."""
        if v > SCHEMA_VERSION or v < 1:
            raise ValueError(
                f"schema_version {v} is not supported by this agent-rl (it reads "
                f"1..{SCHEMA_VERSION}); upgrade agent-rl to read this file"
            )
        return SCHEMA_VERSION

    # --- summaries ---

    @property
    def verdicts(self) -> list[CallVerdict]:
        """The verdicts of the scored steps, in order."""
        return [s.verdict for s in self.steps if s.verdict is not None]

    def episode_verdict(self) -> EpisodeVerdict:
        return EpisodeVerdict.of(self.verdicts)

    @property
    def valid_rate(self) -> float:
        """Share of scored steps that are valid (1.0 for an episode with none)."""
        return self.episode_verdict().valid_rate

    @property
    def all_valid(self) -> bool:
        """Every scored step valid and no step failed outright."""
        return all(s.verdict is not None and s.verdict.valid for s in self.steps)

    @property
    def error_counts(self) -> dict[str, int]:
        return self.episode_verdict().error_counts

    def summary(self) -> dict[str, Any]:
        """A flat dict for tables and logs."""
        return {
            "id": self.id,
            "task": self.task.id or self.task.prompt[:60],
            "steps": len(self.steps),
            "valid_rate": self.valid_rate,
            "all_valid": self.all_valid,
            "status": self.outcome.status,
            "success": self.outcome.success,
            "errors": self.error_counts,
        }

    # --- state replay ---

    def state_at(
        self,
        index: int,
        restore: Callable[[dict[str, Any]], CallState] | None = None,
        *,
        verify: bool = False,
    ) -> CallState:
        """The environment state right before step ``index`` (``index == len(steps)``: after the
        last step). Restores the latest ``state_before`` at or before ``index`` with ``restore``
        (default ``CodingSandbox.restore``) and replays the applied calls since then.

        Raises ``StoreError`` if no snapshot was recorded at or before ``index``, or, with
        ``verify``, if a replayed observation differs from the recorded one.
        """
        if not 0 <= index <= len(self.steps):
            raise IndexError(f"step {index} is out of range for {len(self.steps)} steps")
        base = next(
            (
                j
                for j in range(min(index, len(self.steps) - 1), -1, -1)
                if self.steps[j].state_before is not None
            ),
            None,
        )
        if base is None:
            raise StoreError(
                f"trajectory {self.id} has no state snapshot at or before step {index}; "
                "record state_before on step 0 (the agent and Recorder do so by default)"
            )
        if restore is None:
            from agent_rl.sandbox import CodingSandbox

            restore = CodingSandbox.restore
        state = restore(dict(self.steps[base].state_before or {}))
        for step in self.steps[base:index]:
            if step.call is None:
                continue
            obs = state.step(step.call)
            rec = step.observation
            if verify and rec is not None and (obs.content, obs.ok) != (rec.content, rec.ok):
                raise StoreError(
                    f"trajectory {self.id}: replaying step {step.index} gave a different "
                    f"observation than recorded ({obs.content[:80]!r} vs {rec.content[:80]!r}); "
                    "the environment is not deterministic or the snapshot is stale"
                )
        return state
