"""Evaluation results as data: per model and decoding mode, ``report.json``, and the table.

This module holds results and renders them; it runs no model (``runner`` does) and draws no
plot (``plot`` does). ``report.json`` keeps, for each model, the headline figures of the
headline decoding mode (sampled at T=1.0) at the top level — ``schema_valid_rate`` /
``schema_valid_ci95`` (parse, envelope, tool and arguments right), ``call_valid_rate`` /
``call_valid_ci95`` (fully valid: also valid in the episode's state), ``parse_valid_rate``,
``episode_valid_rate``, ``n_calls``, ``errors_by_kind`` … — and every decoding mode in full
under ``decoding``, so a reader can check each figure against its counts. A ``handwritten``
block holds the same keys for the hand-written (out-of-distribution) suite.
``EvalReport.load(EvalReport.save(...))`` round-trips.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent_rl.errors import ConfigError
from agent_rl.evaluation.stats import CallTally, EpisodeTally, Rate

__all__ = [
    "DECODING_MODES",
    "HEADLINE_MODE",
    "SCHEMA_VERSION",
    "CurvePoint",
    "EvalReport",
    "ModeResult",
    "ModelEval",
    "mode_name",
]

SCHEMA_VERSION = 1
DECODING_MODES: tuple[float, ...] = (0.0, 0.7, 1.0)  # 0.0 = greedy
HEADLINE_MODE = "t1.0"


def mode_name(temperature: float) -> str:
    """``"greedy"`` for temperature 0, else ``"t0.7"`` style names."""
    if temperature < 0 or not math.isfinite(temperature):
        raise ConfigError(f"temperature {temperature!r} is not supported. Use 0 (greedy) or > 0.")
    if temperature == 0:
        return "greedy"
    text = f"{temperature:g}"
    return f"t{text}" if "." in text or "e" in text else f"t{text}.0"


@dataclass(slots=True)
class ModeResult:
    """One model under one decoding mode: held-out call states and live episodes."""

    temperature: float
    calls: CallTally = field(default_factory=CallTally)
    episodes: EpisodeTally = field(default_factory=EpisodeTally)
    seconds: float = 0.0

    @property
    def name(self) -> str:
        return mode_name(self.temperature)

    def to_dict(self) -> dict[str, Any]:
        return {
            "temperature": self.temperature,
            "seconds": round(self.seconds, 3),
            "calls": self.calls.to_dict(),
            "episodes": self.episodes.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModeResult:
        return cls(
            temperature=float(data["temperature"]),
            calls=CallTally.from_dict(data["calls"]),
            episodes=EpisodeTally.from_dict(data["episodes"]),
            seconds=float(data.get("seconds", 0.0)),
        )


@dataclass(slots=True)
class ModelEval:
    """Every decoding mode of one model, keyed by mode name (``greedy``, ``t0.7``, ``t1.0``)."""

    name: str
    modes: dict[str, ModeResult] = field(default_factory=dict)
    path: str | None = None
    train_seconds: float | None = None

    def add(self, result: ModeResult) -> None:
        self.modes[result.name] = result

    def headline(self, mode: str = HEADLINE_MODE) -> ModeResult:
        """The headline mode, else the most-sampled one there is."""
        if mode in self.modes:
            return self.modes[mode]
        if not self.modes:
            raise ConfigError(f"model {self.name!r} has no evaluation results yet")
        return max(self.modes.values(), key=lambda r: r.temperature)

    def to_dict(self, mode: str = HEADLINE_MODE) -> dict[str, Any]:
        head = self.headline(mode)
        calls, eps = head.calls, head.episodes
        flat: dict[str, Any] = {"decoding_headline": head.name}
        for key, rate in (
            ("call_valid", calls.call_valid),
            ("parse_valid", calls.parse_valid_rate),
            ("args_valid", calls.args_valid_rate),
            ("schema_valid", calls.args_valid_rate),
            ("expert_tool_valid", calls.expert_tool_valid_rate),
            ("episode_valid", eps.episode_valid),
            ("long_episode_valid", eps.long_episode_valid),
            ("success", eps.success),
        ):
            flat[f"{key}_rate"] = rate.rate
            flat[f"{key}_ci95"] = list(rate.ci95)
        flat.update(
            n_calls=calls.n,
            n_episodes=eps.n,
            n_long_episodes=eps.n_long,
            errors_by_kind=dict(calls.errors.most_common()),
            call_valid_by_tag={t: c.call_valid.to_dict() for t, c in sorted(calls.by_tag.items())},
            path=self.path,
            train_seconds=self.train_seconds,
            decoding={name: r.to_dict() for name, r in self.modes.items()},
        )
        return flat

    @classmethod
    def from_dict(cls, name: str, data: Mapping[str, Any]) -> ModelEval:
        model = cls(name=name, path=data.get("path"), train_seconds=data.get("train_seconds"))
        for mode in data.get("decoding", {}).values():
            model.add(ModeResult.from_dict(mode))
        return model


@dataclass(frozen=True, slots=True)
class CurvePoint:
    """Validity of an intermediate GRPO checkpoint (``step`` optimizer steps in)."""

    step: int
    calls: CallTally

    def to_dict(self) -> dict[str, Any]:
        rate = self.calls.call_valid
        return {
            "step": self.step,
            "call_valid_rate": rate.rate,
            "call_valid_ci95": list(rate.ci95),
            "parse_valid_rate": self.calls.parse_valid_rate.rate,
            "n_calls": self.calls.n,
            "calls": self.calls.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CurvePoint:
        return cls(step=int(data["step"]), calls=CallTally.from_dict(data["calls"]))


@dataclass(slots=True)
class EvalReport:
    """Several models side by side, the GRPO curve, and how they were trained."""

    models: dict[str, ModelEval] = field(default_factory=dict)
    curve: list[CurvePoint] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    policy_lag: float | None = None
    train_seconds: dict[str, float] = field(default_factory=dict)
    headline_mode: str = HEADLINE_MODE
    handwritten: dict[str, ModelEval] = field(default_factory=dict)
    """The same models on the hand-written suite (out of distribution), when evaluated."""

    def add(self, model: ModelEval, *, suite: str = "main") -> None:
        (self.models if suite == "main" else self.handwritten)[model.name] = model

    def rate(self, model: str, metric: str = "call_valid", *, suite: str = "main") -> Rate:
        """A headline rate of one model: ``call_valid`` (fully valid), ``schema_valid`` (=
        ``args_valid``), ``parse_valid`` or ``episode_valid``; ``suite="handwritten"`` reads
        the hand-written suite's results."""
        models = self.models if suite == "main" else self.handwritten
        head = models[model].headline(self.headline_mode)
        if metric == "episode_valid":
            return head.episodes.episode_valid
        rates = {
            "call_valid": head.calls.call_valid,
            "parse_valid": head.calls.parse_valid_rate,
            "args_valid": head.calls.args_valid_rate,
            "schema_valid": head.calls.args_valid_rate,
        }
        if metric not in rates:
            raise ConfigError(f"unknown metric {metric!r}; use one of {[*rates, 'episode_valid']}")
        return rates[metric]

    def beats(self, a: str, b: str, metric: str = "call_valid", *, suite: str = "main") -> bool:
        """Whether model ``a`` is above ``b`` with non-overlapping 95% intervals."""
        return self.rate(a, metric, suite=suite).above(self.rate(b, metric, suite=suite))

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "schema_version": SCHEMA_VERSION,
            "headline_mode": self.headline_mode,
            "models": list(self.models),
        }
        for name, model in self.models.items():
            out[name] = model.to_dict(self.headline_mode)
        if "grpo" in self.models and "sft" in self.models:
            out["grpo_beats_sft"] = {
                m: self.beats("grpo", "sft", m)
                for m in ("schema_valid", "call_valid", "parse_valid")
            }
        if self.handwritten:
            out["handwritten"] = {
                name: model.to_dict(self.headline_mode) for name, model in self.handwritten.items()
            }
        out.update(
            curve=[p.to_dict() for p in sorted(self.curve, key=lambda p: p.step)],
            config=self.config,
            policy_lag=self.policy_lag,
            train_seconds=self.train_seconds,
        )
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EvalReport:
        if data.get("schema_version") != SCHEMA_VERSION:
            raise ConfigError(
                f"report schema_version {data.get('schema_version')!r} is not supported because "
                f"this agent-rl writes version {SCHEMA_VERSION}. Re-run the evaluation."
            )
        report = cls(
            config=dict(data.get("config", {})),
            policy_lag=data.get("policy_lag"),
            train_seconds=dict(data.get("train_seconds", {})),
            headline_mode=data.get("headline_mode", HEADLINE_MODE),
            curve=[CurvePoint.from_dict(p) for p in data.get("curve", [])],
        )
        for name in data["models"]:
            report.add(ModelEval.from_dict(name, data[name]))
        for name, model in data.get("handwritten", {}).items():
            report.add(ModelEval.from_dict(name, model), suite="handwritten")
        return report

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write ``report.json`` atomically (a killed run never leaves half a file)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(self.to_dict(), indent=2, sort_keys=False) + "\n")
        os.replace(tmp, path)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> EvalReport:
        try:
            data = json.loads(Path(path).read_text())
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot read report {path}: {exc}. Re-run the evaluation.") from exc
        return cls.from_dict(data)

    def tag_table(self) -> str:
        """Headline call validity per task tag (rows) and model (columns)."""
        heads = {name: m.headline(self.headline_mode).calls for name, m in self.models.items()}
        tags = sorted({tag for calls in heads.values() for tag in calls.by_tag})
        if not tags:
            return ""
        width = max(len(t) for t in tags)
        lines = [f"call validity by task tag ({self.headline_mode})",
                 "tag".ljust(width) + "".join(f"  {n:>16}" for n in heads)]  # fmt: skip
        for tag in tags:
            cells = []
            for calls in heads.values():
                rate = calls.by_tag.get(tag, CallTally()).call_valid
                cells.append(f"{100 * rate.rate:6.1f}% of {rate.n:<6}" if rate.n else "-")
            lines.append(tag.ljust(width) + "".join(f"  {c:>16}" for c in cells))
        return "\n".join(lines)

    def table(self, modes: Sequence[str] | None = None, *, suite: str = "main") -> str:
        """The side-by-side table: one block per decoding mode, one row per model."""
        models = (self.models if suite == "main" else self.handwritten).values()
        names = list(modes) if modes is not None else _mode_order(models)
        blocks = [_mode_table(models, mode) for mode in names]
        return "\n\n".join(b for b in blocks if b)


def _pct(rate: Rate) -> str:
    if rate.n == 0:
        return "-"
    lo, hi = rate.ci95
    return f"{100 * rate.rate:6.2f}% [{100 * lo:5.1f}, {100 * hi:5.1f}]"


def _mode_order(models: Sequence[ModelEval] | Any) -> list[str]:
    temps: dict[str, float] = {}
    for model in models:
        for name, result in model.modes.items():
            temps[name] = result.temperature
    # headline (most sampled) first, greedy last
    return sorted(temps, key=lambda n: -temps[n])


_COLUMNS = (
    "model", "calls", "schema valid [95% CI]", "fully valid [95% CI]", "parse valid",
    "expert tool", "episodes", "episode all-valid [95% CI]", "success", "top error",
)  # fmt: skip


def _mode_table(models: Any, mode: str) -> str:
    rows = []
    for model in models:
        result = model.modes.get(mode)
        if result is None:
            continue
        calls, eps = result.calls, result.episodes
        top = calls.errors.most_common(1)
        rows.append(
            (
                model.name,
                str(calls.n),
                _pct(calls.args_valid_rate),
                _pct(calls.call_valid),
                _pct(calls.parse_valid_rate).split(" [")[0],
                _pct(calls.expert_tool_valid_rate).split(" [")[0],
                str(eps.n),
                _pct(eps.episode_valid),
                _pct(eps.success).split(" [")[0],
                f"{top[0][0]} ({top[0][1]})" if top else "-",
            )
        )
    if not rows:
        return ""
    widths = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(_COLUMNS)]
    line = "  ".join
    title = f"decoding: {mode}" + ("" if mode == "greedy" else " (sampled)")
    head = line(c.ljust(w) for c, w in zip(_COLUMNS, widths, strict=True))
    body = [line(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return "\n".join([title, head.rstrip(), "-" * len(head.rstrip()), *body])
