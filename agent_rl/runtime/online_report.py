"""What a served model did over time: validity of its recorded calls per time window and per
weights version, read back from the store, and the PNG of both.

:func:`served_calls` reads one :class:`ServedCall` per recorded choice (request id, time,
weights version, the server's verdict); :func:`summarize` counts them in fixed time windows and
per version with 95% Wilson intervals; :func:`plot_served` draws validity against wall time
(the weights version on a second axis, outages shaded) beside validity against version.
"Valid" is the server's verdict: strict JSON, a well-formed call, a known tool and arguments
valid against the request's schema (served traffic has no sandbox state). This module reads and
draws; it does not serve or train.
"""

from __future__ import annotations

import math
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent_rl.evaluation.plot import save_figure
from agent_rl.evaluation.stats import Rate
from agent_rl.trajectories import TrajectoryStore

__all__ = [
    "ServedCall",
    "lag_stats",
    "plot_served",
    "served_calls",
    "summarize",
    "version_bins",
]


@dataclass(frozen=True)
class ServedCall:
    """One recorded choice: ``valid`` is ``None`` for a request that failed (no output);
    ``tool`` the tool a well-formed call named."""

    request_id: str
    at: float
    version: int | None
    valid: bool | None
    kind: str | None = None
    tool: str | None = None


def served_calls(store: str | os.PathLike[str]) -> list[ServedCall]:
    """Every recorded choice of ``store`` in file order (a line torn by a kill is skipped)."""
    calls = []
    for traj in TrajectoryStore(store).read(on_error="skip"):
        for step in traj.steps:
            version = step.extra.get("weights_version")
            verdict = step.verdict
            calls.append(
                ServedCall(
                    request_id=str(step.extra.get("request_id", "")),
                    at=float(step.started_at or 0.0),
                    version=version if isinstance(version, int) else None,
                    valid=None if verdict is None else verdict.valid,
                    kind=None if verdict is None or verdict.valid else verdict.kind,
                    tool=verdict.call.name if verdict is not None and verdict.call else None,
                )
            )
    return calls


def _rate(calls: Sequence[ServedCall]) -> dict[str, Any]:
    scored = [c for c in calls if c.valid is not None]
    rate = Rate(sum(1 for c in scored if c.valid), len(scored))
    lo, hi = rate.ci95
    tools = Counter(c.tool for c in scored if c.valid and c.tool)
    return {
        "calls": rate.n,
        "valid": rate.k,
        "rate": round(rate.rate, 4),
        "ci95": [round(lo, 4), round(hi, 4)],
        "failed": len(calls) - len(scored),
        "valid_tools": dict(tools.most_common(3)),  # what the valid calls call: a collapse shows
    }


def summarize(calls: Sequence[ServedCall], *, start: float, window_s: float) -> dict[str, Any]:
    """Validity overall, per ``window_s``-second window from ``start`` (unix time) and per
    weights version; times in the result are seconds from ``start``."""
    if window_s <= 0:
        raise ValueError(f"window_s={window_s} must be > 0")
    last = max((c.at for c in calls), default=start)
    windows = []
    for i in range(max(1, math.ceil((last - start) / window_s + 1e-9))):
        lo, hi = start + i * window_s, start + (i + 1) * window_s
        inside = [c for c in calls if lo <= c.at < hi or (i == 0 and c.at < lo)]
        versions = sorted({c.version for c in inside if c.version is not None})
        windows.append(
            {"start_s": i * window_s, "end_s": (i + 1) * window_s, "versions": versions}
            | _rate(inside)
        )
    per_version = []
    for v in sorted({c.version for c in calls if c.version is not None}):
        mine = [c for c in calls if c.version == v]
        per_version.append(
            {
                "version": v,
                "first_s": round(min(c.at for c in mine) - start, 2),
                "last_s": round(max(c.at for c in mine) - start, 2),
            }
            | _rate(mine)
        )
    kinds = Counter(c.kind for c in calls if c.valid is False and c.kind)
    return {
        "overall": _rate(calls),
        "window_s": window_s,
        "windows": windows,
        "versions": per_version,
        "top_errors": dict(kinds.most_common(6)),
    }


def version_bins(summary: dict[str, Any], max_bins: int = 12) -> list[dict[str, Any]]:
    """The per-version rates merged into at most ``max_bins`` runs of consecutive versions
    (many versions of a few calls each say little one by one)."""
    rows = [v for v in summary["versions"] if v["calls"] + v["failed"]]
    size = max(1, math.ceil(len(rows) / max_bins))
    bins = []
    for i in range(0, len(rows), size):
        part = rows[i : i + size]
        rate = Rate(sum(v["valid"] for v in part), sum(v["calls"] for v in part))
        tools: Counter[str] = Counter()
        for v in part:
            tools.update(v.get("valid_tools", {}))
        lo, hi = rate.ci95
        bins.append(
            {
                "first": part[0]["version"],
                "last": part[-1]["version"],
                "calls": rate.n,
                "valid": rate.k,
                "rate": round(rate.rate, 4),
                "ci95": [round(lo, 4), round(hi, 4)],
                "valid_tools": dict(tools.most_common(3)),
            }
        )
    return bins


def lag_stats(updates: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The policy lag of every sample the updates learned from (rows of ``updates.jsonl``)."""
    lags = [int(lag) for u in updates for lag in u.get("lags", [])]
    return {
        "samples": len(lags),
        "mean": round(sum(lags) / len(lags), 3) if lags else None,
        "max": max(lags, default=None),
        "histogram": {str(k): v for k, v in sorted(Counter(lags).items())},
    }


def plot_served(
    summary: dict[str, Any],
    path: str | os.PathLike[str],
    *,
    versions_at: Sequence[tuple[float, int]] = (),
    outages: Sequence[tuple[float, float]] = (),
    title: str = "Served validity while learning online",
) -> Path:
    """Write the PNG: left, validity per time window (95% band) against minutes, the weights
    version on the right axis (``versions_at``: ``(seconds, version)`` points) and ``outages``
    (``(from_s, to_s)``) shaded; right, validity per weights version (:func:`version_bins`)."""
    from matplotlib.figure import Figure  # Figure + Agg canvas: no pyplot global state
    from matplotlib.ticker import MaxNLocator

    fig = Figure(figsize=(11.0, 4.2), dpi=120)
    left, right = fig.subplots(1, 2, gridspec_kw={"width_ratios": [3, 2]})
    windows = summary["windows"]
    xs = [(w["start_s"] + w["end_s"]) / 120 for w in windows]

    def pct(w: dict[str, Any], value: float) -> float:  # a gap where a window has no calls
        return 100 * value if w["calls"] else math.nan

    left.plot(xs, [pct(w, w["rate"]) for w in windows], "o-", color="tab:blue", label="valid calls")
    left.fill_between(
        xs,
        [pct(w, w["ci95"][0]) for w in windows],
        [pct(w, w["ci95"][1]) for w in windows],
        color="tab:blue",
        alpha=0.2,
        linewidth=0,
    )
    for i, (a, b) in enumerate(outages):
        left.axvspan(a / 60, b / 60, color="tab:red", alpha=0.15, label=None if i else "outage")
    left.set_xlabel("wall time, minutes")
    left.set_ylabel(f"valid served calls, % per {summary['window_s']:g} s (95% CI)")
    left.set_ylim(0, 100)
    left.grid(True, alpha=0.3)
    if versions_at:
        twin = left.twinx()
        points = sorted(versions_at)
        twin.step(
            [t / 60 for t, _ in points],
            [v for _, v in points],
            where="post",
            color="tab:green",
            label="weights version",
        )
        twin.set_ylabel("weights version", color="tab:green")
        twin.set_ylim(bottom=0, top=max(1, max(v for _, v in points)) * 1.05)
        twin.yaxis.set_major_locator(MaxNLocator(integer=True))
        handles, labels = left.get_legend_handles_labels()
        more, names = twin.get_legend_handles_labels()
        left.legend(handles + more, labels + names, loc="lower right", fontsize="small")
    else:
        left.legend(loc="lower right", fontsize="small")
    left.set_title(title)

    bins = [b for b in version_bins(summary) if b["calls"]]
    vx = [(b["first"] + b["last"]) / 2 for b in bins]
    right.plot(vx, [100 * b["rate"] for b in bins], "o-", color="tab:green")
    right.fill_between(
        vx,
        [100 * b["ci95"][0] for b in bins],
        [100 * b["ci95"][1] for b in bins],
        color="tab:green",
        alpha=0.2,
        linewidth=0,
    )
    for b, x in zip(bins, vx, strict=True):
        right.annotate(
            f"n={b['calls']}",
            (x, 100 * b["rate"]),
            textcoords="offset points",
            xytext=(0, 6),
            ha="center",
            fontsize="x-small",
        )
    right.xaxis.set_major_locator(MaxNLocator(integer=True))
    grouped = any(b["first"] != b["last"] for b in bins)
    right.set_xlabel(
        "weights version" + (" (runs of versions, at their middle)" if grouped else "")
    )
    right.set_ylabel("valid served calls, % (95% CI)")
    right.set_ylim(0, 100)
    right.grid(True, alpha=0.3)
    right.set_title("per weights version")
    fig.tight_layout()

    return save_figure(fig, path)
