"""Plain data shared by every module: a parsed tool call, error entries, verdicts, and the
``Messages`` type of a chat conversation.

This module holds data only, no logic beyond summaries. Verdicts are frozen, slotted
dataclasses rather than pydantic models because the scorer builds one per model output on the
reward hot path; pydantic models that hold them (trajectories) validate them as dataclasses.
Error entries borrow the shape of pydantic's ``ValidationError.errors()``: a machine ``type``,
a ``loc`` path and a human ``msg``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

__all__ = [
    "STAGES",
    "CallState",
    "CallVerdict",
    "EpisodeVerdict",
    "ErrorEntry",
    "Messages",
    "Observation",
    "Stage",
    "ToolCall",
]

Messages = list[dict[str, Any]]
"""A conversation as OpenAI chat messages (``{"role": ..., "content": ...}`` dicts)."""

Stage = Literal["parse", "envelope", "tool", "arguments", "state"]
STAGES: tuple[Stage, ...] = ("parse", "envelope", "tool", "arguments", "state")


@dataclass(frozen=True, slots=True)
class ErrorEntry:
    """One reason a call is invalid: ``type`` is a stable machine kind (``trailing_comma``,
    ``missing_argument``, ``file_not_found`` ...), ``loc`` where it is, ``msg`` for humans."""

    type: str
    msg: str
    loc: tuple[str | int, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "loc": list(self.loc), "msg": self.msg}


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A call as the model wrote it: a tool name and its JSON arguments."""

    name: str
    arguments: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "arguments": self.arguments}


@dataclass(frozen=True, slots=True)
class Observation:
    """What a tool call returned to the agent. ``ok=False`` carries the state error that the
    model sees as its observation (the episode goes on); ``done`` ends the episode."""

    content: str
    ok: bool = True
    error: ErrorEntry | None = None
    done: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "content": self.content,
            "ok": self.ok,
            "error": None if self.error is None else self.error.to_dict(),
            "done": self.done,
        }


@runtime_checkable
class CallState(Protocol):
    """An episode state the scorer can check calls against (``CodingSandbox`` is one).

    ``check`` says whether a call is valid *now* without changing anything; ``step`` applies it.
    """

    def check(self, call: ToolCall) -> list[ErrorEntry]: ...

    def step(self, call: ToolCall) -> Observation: ...


@dataclass(frozen=True, slots=True)
class CallVerdict:
    """The scorer's verdict on one raw model output.

    ``stage`` is the first stage that failed (``None`` when valid). A final answer is a valid
    non-call: ``valid=True``, ``call=None``, ``final_answer`` set.
    """

    valid: bool
    stage: Stage | None = None
    call: ToolCall | None = None
    errors: tuple[ErrorEntry, ...] = ()
    final_answer: str | None = None

    @property
    def is_call(self) -> bool:
        return self.call is not None

    @property
    def kind(self) -> str | None:
        """The first error's type, or ``None`` for a valid output."""
        return self.errors[0].type if self.errors else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "valid": self.valid,
            "stage": self.stage,
            "call": None if self.call is None else self.call.to_dict(),
            "errors": [e.to_dict() for e in self.errors],
            "final_answer": self.final_answer,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CallVerdict:
        call = data.get("call")
        return cls(
            valid=bool(data["valid"]),
            stage=data.get("stage"),
            call=None if call is None else ToolCall(call["name"], dict(call["arguments"])),
            errors=tuple(
                ErrorEntry(e["type"], e["msg"], tuple(e.get("loc", ()))) for e in data["errors"]
            ),
            final_answer=data.get("final_answer"),
        )


@dataclass(frozen=True, slots=True)
class EpisodeVerdict:
    """Verdicts of every step of one episode, state carried from step to step."""

    steps: tuple[CallVerdict, ...]

    @property
    def all_valid(self) -> bool:
        return all(v.valid for v in self.steps)

    @property
    def first_invalid_step(self) -> int | None:
        return next((i for i, v in enumerate(self.steps) if not v.valid), None)

    @property
    def valid_rate(self) -> float:
        return sum(v.valid for v in self.steps) / len(self.steps) if self.steps else 1.0

    @property
    def error_counts(self) -> dict[str, int]:
        """Invalid steps per error kind (the first error of each invalid step)."""
        return dict(Counter(v.kind for v in self.steps if not v.valid and v.kind))

    @classmethod
    def of(cls, verdicts: Sequence[CallVerdict]) -> EpisodeVerdict:
        return cls(tuple(verdicts))
