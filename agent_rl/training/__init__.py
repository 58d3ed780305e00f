"""Training: the SFT baseline and GRPO on tool-call validity, both trl trainers wired to our data.

Data flows top to bottom::

    data      tasks (hand-written, generated families, task files) and recorded episodes
              -> SFT examples, GRPO step prompts (+ state column)
    rewards   the strict scorer's verdicts as trl reward functions
    rollout   live multi-step episodes through trl's rollout_func
    config    SFTSettings / GRPOSettings: trl configs with our fields and CPU defaults
    runs      shared callbacks (time budget, metrics.jsonl), resume, TrainResult
    copying   copy pretraining: the tiny model learns to copy from its context before SFT
    sft, grpo train_sft / train_grpo

Names load lazily: ``import agent_rl.training.rewards`` does not import trl.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "CopyConfig": "agent_rl.training.copying",
    "GRPOSettings": "agent_rl.training.config",
    "SFTSettings": "agent_rl.training.config",
    "TrainResult": "agent_rl.training.runs",
    "pretrain_copying": "agent_rl.training.copying",
    "train_grpo": "agent_rl.training.grpo",
    "train_sft": "agent_rl.training.sft",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'agent_rl.training' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
