"""``agent-rl sft``: the SFT baseline — trl's SFTTrainer on the expert steps of the train tasks.

    agent-rl sft --model runs/tiny --output_dir runs/sft --max_steps 300
    agent-rl sft --families 300 --task_split none       # a fixed set of 300 generated episodes
    agent-rl sft --tasks my_tasks.jsonl --formats hermes
    agent-rl sft --config sft.yaml                      # any SFTConfig field, trl's YAML
    agent-rl sft --model runs/sft/final --max_seconds 120 --output_dir runs/sft-matched
    agent-rl sft --model runs/sft/final --max_flops 4.8e12   # a GRPO run's train_flops
    agent-rl sft --model smollm2-135m --use_peft --merge      # LoRA on a real model (offline)

Without ``--model`` the offline tiny model is built first (``runs/tiny-model``). Every other
flag is a field of ``SFTSettings`` — trl's ``SFTConfig`` plus agent-rl's data fields
(``--formats``, ``--task_split``, ``--families``, ``--tasks``, ``--trajectories``,
``--data_seed``, ``--max_seconds``, ``--budget_clock``, ``--max_flops``) — as a flag or a
YAML key. The work is done by ``agent_rl.training.train_sft``.
"""

from __future__ import annotations

import argparse

__all__ = ["add_parser", "common_flags", "model_path", "run", "settings_argv"]

TINY_DIR = "runs/tiny-model"


def common_flags(p: argparse.ArgumentParser) -> None:
    """The one flag ``sft`` and ``train`` declare themselves; every other flag (and
    ``--config file.yaml``) is a field of the run's settings, parsed by trl's ``TrlParser``."""
    p.add_argument(
        "--model",
        help="model folder, adapter folder, named model (smollm2-135m) or hub name "
        f"(default: build {TINY_DIR})",
    )
    p.add_argument(
        "--merge",
        action="store_true",
        help="with --use_peft: also save the merged model (<output_dir>/final-merged); the "
        "same as --lora_merge true",
    )
    p.set_defaults(settings_argv=True)


def settings_argv(args: argparse.Namespace) -> list[str]:
    """The settings' flags as ``TrlParser`` reads them: everything but ``--model``."""
    return [*args.extra, *(["--lora_merge", "true"] if args.merge else [])]


def model_path(args: argparse.Namespace) -> str:
    """``--model``, or the tiny model (built once into ``runs/tiny-model``)."""
    from pathlib import Path

    if args.model:
        return args.model
    if not (Path(TINY_DIR) / "config.json").is_file():
        from agent_rl.models import build_tiny_model

        print(f"building the offline tiny model in {TINY_DIR} ...")
        build_tiny_model(TINY_DIR)
    return TINY_DIR


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "sft",
        help="SFT baseline on expert steps (trl SFTTrainer)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    common_flags(p)


def run(args: argparse.Namespace) -> int:
    from agent_rl.training import train_sft
    from agent_rl.training.config import SFTSettings, parse_settings

    (settings,) = parse_settings(SFTSettings, settings_argv(args))
    result = train_sft(model_path(args), settings)
    print(
        f"SFT done: {result.global_step} steps in {result.train_seconds:.1f}s "
        f"({result.train_flops:.4g} FLOPs) -> "
        f"{result.checkpoint} (logs: {result.metrics_file}, tensorboard: {result.tensorboard_dir})"
    )
    return 0
