"""``agent-rl train``: GRPO on tool-call validity — trl's GRPOTrainer, on-policy.

    agent-rl train --model runs/sft/final --output_dir runs/grpo --max_steps 300
    agent-rl train --model runs/sft/final --source live --max_steps 50
    agent-rl train --config grpo.yaml --resume_from_checkpoint latest
    agent-rl train --model runs/sft-lora/final --use_peft      # a new adapter on an SFT adapter

``--source recorded`` (default): one prompt per step of the train tasks' expert episodes (plus
``--trajectories``), the sandbox state travelling with it; ``--source live``: whole episodes
played by the current policy. Every flag but ``--model`` is a field of ``GRPOSettings`` (trl's
``GRPOConfig`` plus the data fields of ``agent-rl sft``), as a flag or a YAML key. Logs:
``<output_dir>/metrics.jsonl`` and TensorBoard in ``<output_dir>/runs``. The work is
done by ``agent_rl.training.train_grpo``.
"""

from __future__ import annotations

import argparse

from agent_rl.commands.sft import common_flags, model_path, settings_argv

__all__ = ["add_parser", "run"]


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "train",
        help="GRPO on tool-call validity (trl GRPOTrainer)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    common_flags(p)


def run(args: argparse.Namespace) -> int:
    from agent_rl.training import train_grpo
    from agent_rl.training.config import GRPOSettings, parse_settings

    (settings,) = parse_settings(GRPOSettings, settings_argv(args))
    result = train_grpo(model_path(args), settings)
    print(
        f"GRPO done: {result.global_step} steps in {result.train_seconds:.1f}s "
        f"({result.train_flops:.4g} FLOPs), policy lag "
        f"{result.policy_lag} -> {result.checkpoint} (logs: {result.metrics_file}, "
        f"tensorboard: {result.tensorboard_dir})"
    )
    return 0
