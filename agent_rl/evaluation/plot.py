"""The validity curve as a PNG: a validity rate vs GRPO step, SFT levels as horizontal lines.

Draws with matplotlib's non-interactive Agg backend (no display, safe in CI and threads); it
reads an ``EvalReport`` and computes nothing itself.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from agent_rl.errors import ConfigError
from agent_rl.evaluation.report import EvalReport
from agent_rl.evaluation.stats import CallTally, Rate

__all__ = ["plot_validity", "save_figure"]

# reference models drawn as horizontal levels, with their colours
_LEVELS = (("sft_start", "tab:gray", ":"), ("sft", "tab:orange", "--"), ("base", "k", "-."))


_WHAT = {
    "schema_valid": "schema-valid calls",
    "call_valid": "fully valid calls",
    "parse_valid": "parse-valid calls",
}


def _curve_rate(calls: CallTally, metric: str) -> Rate:
    return {
        "schema_valid": calls.args_valid_rate,
        "call_valid": calls.call_valid,
        "parse_valid": calls.parse_valid_rate,
    }[metric]


def plot_validity(
    report: EvalReport,
    path: str | os.PathLike[str],
    *,
    metric: str = "call_valid",
    title: str | None = None,
) -> Path:
    """Write the curve of ``report.curve`` (GRPO checkpoints) with 95% bands to ``path``.

    The curve starts at step 0 from the ``sft_start`` model (GRPO's starting point) and ends
    with the final ``grpo`` model at ``config["grpo_steps"]`` when no checkpoint is that late.
    Models named ``sft_start``, ``sft`` and ``base`` become horizontal lines with 95% bands.
    """
    if metric not in _WHAT:
        raise ConfigError(f"metric {metric!r} is not supported. Use one of {', '.join(_WHAT)}.")
    from matplotlib.figure import Figure  # Figure + Agg canvas: no pyplot global state

    points = sorted(report.curve, key=lambda p: p.step)
    steps = [p.step for p in points]
    rates = [_curve_rate(p.calls, metric) for p in points]
    if "sft_start" in report.models and (not steps or steps[0] > 0):
        steps.insert(0, 0)  # GRPO starts from the SFT checkpoint
        rates.insert(0, report.rate("sft_start", metric))
    grpo_steps = report.config.get("grpo_steps")
    if "grpo" in report.models and (not steps or (grpo_steps and grpo_steps > steps[-1])):
        steps.append(int(grpo_steps or (steps[-1] + 1 if steps else 1)))
        rates.append(report.rate("grpo", metric))

    fig = Figure(figsize=(7.0, 4.2), dpi=120)
    ax = fig.add_subplot()
    if steps:
        ax.plot(steps, [100 * r.rate for r in rates], "o-", color="tab:blue", label="GRPO")
        ax.fill_between(
            steps,
            [100 * r.ci95[0] for r in rates],
            [100 * r.ci95[1] for r in rates],
            color="tab:blue",
            alpha=0.2,
            linewidth=0,
        )
    x_max = max(steps) if steps else 1
    for name, colour, style in _LEVELS:
        if name not in report.models:
            continue
        rate = report.rate(name, metric)
        label = {"sft": "SFT (compute-matched)", "sft_start": "SFT start"}.get(name, name)
        ax.axhline(100 * rate.rate, color=colour, linestyle=style, label=f"{label}")
        ax.axhspan(100 * rate.ci95[0], 100 * rate.ci95[1], color=colour, alpha=0.08)
    ax.set_xlim(0, max(x_max, 1))
    ax.set_xlabel("GRPO step")
    what = _WHAT[metric]
    ax.set_ylabel(f"{what}, % (sampled {report.headline_mode}, 95% CI)")
    ax.set_title(title or f"Held-out {what}: GRPO vs SFT")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower right", fontsize="small")
    fig.tight_layout()

    return save_figure(fig, path)


def save_figure(fig: Any, path: str | os.PathLike[str]) -> Path:
    """Write ``fig`` as a PNG to ``path`` atomically (a temp file, then a rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.png")
    fig.savefig(tmp, format="png")
    os.replace(tmp, path)
    return path
