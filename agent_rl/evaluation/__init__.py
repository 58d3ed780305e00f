"""Held-out evaluation of tool-call validity: rates with Wilson intervals, runs, reports, plots.

- ``stats``: ``wilson_interval``, ``Rate``, ``CallTally`` / ``EpisodeTally`` over scorer verdicts.
- ``report``: ``EvalReport`` (several models side by side, ``report.json``, the text table).
- ``plot``: ``plot_validity`` (validity vs GRPO step, SFT levels as lines; PNG via Agg).
- ``states``: ``held_out_states`` (prompts + sandbox snapshots of every TEST expert step).
- ``runner``: ``evaluate`` (one model, every decoding mode: held-out calls + live episodes),
  generating with an ``HFPolicy`` and the ``PrefixDecoder`` of ``agent_rl.policies.decoding``;
  ``quick_config``, the ``--quick`` preset sized by the model's parameter count.

It scores nothing itself (the scorer does) and trains nothing (``agent_rl.training`` does).
"""

from __future__ import annotations

from agent_rl.evaluation.plot import plot_validity
from agent_rl.evaluation.report import CurvePoint, EvalReport, ModelEval, ModeResult
from agent_rl.evaluation.runner import (
    EvalConfig,
    evaluate,
    evaluate_calls,
    evaluate_episodes,
    quick_config,
)
from agent_rl.evaluation.states import HeldOutState, assert_disjoint, held_out_states
from agent_rl.evaluation.stats import (
    CallTally,
    EpisodeTally,
    Rate,
    intervals_overlap,
    wilson_interval,
)

__all__ = [
    "CallTally",
    "CurvePoint",
    "EpisodeTally",
    "EvalConfig",
    "EvalReport",
    "HeldOutState",
    "ModeResult",
    "ModelEval",
    "Rate",
    "assert_disjoint",
    "evaluate",
    "evaluate_calls",
    "evaluate_episodes",
    "held_out_states",
    "intervals_overlap",
    "plot_validity",
    "quick_config",
    "wilson_interval",
]
