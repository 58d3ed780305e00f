"""Rates with 95% Wilson intervals, and the tallies evaluation builds from scorer verdicts.

This module is arithmetic over verdicts: it imports no model, runs no policy, and never scores
anything itself (the scorer does). A call counts as

- *parse-valid* (well-formed) when it got past the ``envelope`` and ``parse`` stages: the
  format's envelope was found, its JSON is strict (no duplicate key) and the call object has
  exactly ``name`` and ``arguments`` — everything but the tool and its arguments is right,
- *arguments-valid* when it got past ``parse``, ``envelope``, ``tool`` and ``arguments``,
- *valid* (fully, "state-valid") when the scorer's verdict is valid in the episode's state,
- *expert-tool valid* when it is valid *and* calls the tool the expert called in that state:
  a policy that answers every state with a call that is valid anywhere (``run_tests``) is
  fully valid but not expert-tool valid, so this rate shows such a detour.

A final answer is a valid non-call and counts as valid at every stage.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from agent_rl.verdicts import CallVerdict, EpisodeVerdict

__all__ = [
    "CallTally",
    "EpisodeTally",
    "Rate",
    "intervals_overlap",
    "wilson_interval",
]

Z95 = 1.959963984540054  # two-sided 95% normal quantile
_PARSE_FAILED = frozenset({"parse", "envelope"})
_ARGS_FAILED = frozenset({"parse", "envelope", "tool", "arguments"})


def wilson_interval(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval for ``successes`` out of ``n`` (95% by default).

    Unlike the normal approximation it stays inside [0, 1] and is honest at 0% and 100%
    (10,000 valid out of 10,000 gives about [0.99962, 1.0], not [1.0, 1.0]). ``n == 0`` gives the
    uninformative (0.0, 1.0).
    """
    if n < 0 or successes < 0 or successes > n:
        raise ValueError(f"need 0 <= successes <= n, got successes={successes}, n={n}")
    if n == 0:
        return (0.0, 1.0)
    p = successes / n
    z2 = z * z
    denom = 1.0 + z2 / n
    center = (p + z2 / (2 * n)) / denom
    half = z / denom * math.sqrt(p * (1.0 - p) / n + z2 / (4 * n * n))
    # the exact bounds at p=0 and p=1 are 0 and 1; floating error must not move them
    lo = 0.0 if successes == 0 else max(0.0, center - half)
    hi = 1.0 if successes == n else min(1.0, center + half)
    return (lo, hi)


def intervals_overlap(a: tuple[float, float], b: tuple[float, float]) -> bool:
    """Whether two closed intervals share a point."""
    return a[0] <= b[1] and b[0] <= a[1]


@dataclass(frozen=True, slots=True)
class Rate:
    """``k`` successes out of ``n`` with its 95% Wilson interval."""

    k: int
    n: int

    def __post_init__(self) -> None:
        if not 0 <= self.k <= self.n:
            raise ValueError(f"need 0 <= k <= n, got k={self.k}, n={self.n}")

    @property
    def rate(self) -> float:
        """The observed proportion (0.0 when there is no observation)."""
        return self.k / self.n if self.n else 0.0

    @property
    def ci95(self) -> tuple[float, float]:
        return wilson_interval(self.k, self.n)

    def above(self, other: Rate) -> bool:
        """True when this rate is higher and the two 95% intervals do not overlap."""
        return self.rate > other.rate and not intervals_overlap(self.ci95, other.ci95)

    def to_dict(self) -> dict[str, Any]:
        lo, hi = self.ci95
        return {"rate": self.rate, "ci95": [lo, hi], "k": self.k, "n": self.n}


@dataclass(slots=True)
class CallTally:
    """Counts over scored calls: validity at each stage and the first error's kind, overall
    and per group (``by_tag``: e.g. the task tags ``escaping``, ``long``, ``multi_file``).

    Add verdicts one at a time (``add``) or in bulk (``of``); merge tallies with ``+``.
    """

    n: int = 0
    parse_valid: int = 0
    args_valid: int = 0
    valid: int = 0
    expert_tool_valid: int = 0
    final_answers: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    by_tag: dict[str, CallTally] = field(default_factory=dict)

    @classmethod
    def of(cls, verdicts: Iterable[CallVerdict]) -> CallTally:
        tally = cls()
        for verdict in verdicts:
            tally.add(verdict)
        return tally

    def add(
        self, verdict: CallVerdict, tags: Iterable[str] = (), expert_tool: str | None = None
    ) -> None:
        """Count one verdict; ``expert_tool``: the tool the expert called in its state."""
        for tag in tags:
            self.by_tag.setdefault(tag, CallTally()).add(verdict, expert_tool=expert_tool)
        self.n += 1
        if verdict.valid:
            self.parse_valid += 1
            self.args_valid += 1
            self.valid += 1
            call = verdict.call
            self.expert_tool_valid += call is not None and call.name == expert_tool
            self.final_answers += verdict.final_answer is not None and verdict.call is None
            return
        stage = verdict.stage
        self.parse_valid += stage not in _PARSE_FAILED
        self.args_valid += stage not in _ARGS_FAILED
        self.errors[verdict.kind or f"{stage or 'unknown'}_error"] += 1

    def __add__(self, other: CallTally) -> CallTally:
        return CallTally(
            n=self.n + other.n,
            parse_valid=self.parse_valid + other.parse_valid,
            args_valid=self.args_valid + other.args_valid,
            valid=self.valid + other.valid,
            expert_tool_valid=self.expert_tool_valid + other.expert_tool_valid,
            final_answers=self.final_answers + other.final_answers,
            errors=self.errors + other.errors,
            by_tag={
                tag: self.by_tag.get(tag, CallTally()) + other.by_tag.get(tag, CallTally())
                for tag in sorted(set(self.by_tag) | set(other.by_tag))
            },
        )

    @property
    def call_valid(self) -> Rate:
        return Rate(self.valid, self.n)

    @property
    def expert_tool_valid_rate(self) -> Rate:
        return Rate(self.expert_tool_valid, self.n)

    @property
    def parse_valid_rate(self) -> Rate:
        return Rate(self.parse_valid, self.n)

    @property
    def args_valid_rate(self) -> Rate:
        return Rate(self.args_valid, self.n)

    def error_rates(self) -> dict[str, Rate]:
        """Share of all calls failing with each kind, most frequent first."""
        return {kind: Rate(c, self.n) for kind, c in self.errors.most_common()}

    def to_dict(self) -> dict[str, Any]:
        return {
            "n_calls": self.n,
            "call_valid": self.call_valid.to_dict(),
            "parse_valid": self.parse_valid_rate.to_dict(),
            "args_valid": self.args_valid_rate.to_dict(),
            "expert_tool_valid": self.expert_tool_valid_rate.to_dict(),
            "final_answers": self.final_answers,
            "errors_by_kind": dict(self.errors.most_common()),
            "error_rates": {k: r.to_dict() for k, r in self.error_rates().items()},
            "by_tag": {tag: t.to_dict() for tag, t in sorted(self.by_tag.items())},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CallTally:
        return cls(
            n=int(data["n_calls"]),
            parse_valid=int(data["parse_valid"]["k"]),
            args_valid=int(data["args_valid"]["k"]),
            valid=int(data["call_valid"]["k"]),
            expert_tool_valid=int(data.get("expert_tool_valid", {}).get("k", 0)),
            final_answers=int(data.get("final_answers", 0)),
            errors=Counter({str(k): int(v) for k, v in data["errors_by_kind"].items()}),
            by_tag={str(k): cls.from_dict(v) for k, v in data.get("by_tag", {}).items()},
        )


@dataclass(slots=True)
class EpisodeTally:
    """Counts over live episodes: all-valid episodes, overall and among long ones.

    ``min_steps`` is the length from which an episode counts as long (10 by default: the
    compounding case 0.99 ** 10 ≈ 0.90 the product is about). Success is the task's own check.
    """

    min_steps: int = 10
    n: int = 0
    all_valid: int = 0
    n_long: int = 0
    long_all_valid: int = 0
    succeeded: int = 0
    steps: int = 0

    def add(
        self, verdict: EpisodeVerdict, success: bool = False, all_valid: bool | None = None
    ) -> None:
        """Count one episode; ``all_valid=False`` overrides the verdicts (a step that failed
        outright, e.g. the policy raised, has no verdict but still spoils the episode)."""
        length = len(verdict.steps)
        ok = verdict.all_valid if all_valid is None else all_valid and verdict.all_valid
        self.n += 1
        self.all_valid += ok
        self.succeeded += bool(success)
        self.steps += length
        if length >= self.min_steps:
            self.n_long += 1
            self.long_all_valid += ok

    def __add__(self, other: EpisodeTally) -> EpisodeTally:
        if other.min_steps != self.min_steps:
            raise ValueError("cannot add episode tallies with different min_steps")
        return EpisodeTally(
            min_steps=self.min_steps,
            n=self.n + other.n,
            all_valid=self.all_valid + other.all_valid,
            n_long=self.n_long + other.n_long,
            long_all_valid=self.long_all_valid + other.long_all_valid,
            succeeded=self.succeeded + other.succeeded,
            steps=self.steps + other.steps,
        )

    @property
    def episode_valid(self) -> Rate:
        return Rate(self.all_valid, self.n)

    @property
    def long_episode_valid(self) -> Rate:
        return Rate(self.long_all_valid, self.n_long)

    @property
    def success(self) -> Rate:
        return Rate(self.succeeded, self.n)

    def to_dict(self) -> dict[str, Any]:
        return {
            "n_episodes": self.n,
            "min_steps": self.min_steps,
            "mean_steps": self.steps / self.n if self.n else 0.0,
            "episode_valid": self.episode_valid.to_dict(),
            "long_episode_valid": self.long_episode_valid.to_dict(),
            "success": self.success.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EpisodeTally:
        n = int(data["n_episodes"])
        return cls(
            min_steps=int(data["min_steps"]),
            n=n,
            all_valid=int(data["episode_valid"]["k"]),
            n_long=int(data["long_episode_valid"]["n"]),
            long_all_valid=int(data["long_episode_valid"]["k"]),
            succeeded=int(data["success"]["k"]),
            steps=round(float(data["mean_steps"]) * n),
        )
