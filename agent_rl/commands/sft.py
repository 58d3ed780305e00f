"""``agent-rl sft``: the SFT baseline — trl's SFTTrainer on the expert steps of the train tasks.

    agent-rl sft --model runs/tiny --output_dir runs/sft --max_steps 300
    agent-rl sft --config sft.yaml                      # any SFTConfig field, trl's YAML
    agent-rl sft --model runs/sft/final --max_seconds 120 --output_dir runs/sft-matched
    agent-rl sft --model smollm2-135m --use_peft --merge      # LoRA on a real model (offline)

Without ``--model`` the offline tiny model is built first (``runs/tiny-model``). Flags not
listed here: ``--set field=value`` (repeatable) or the YAML file. The work is done by
``agent_rl.training.train_sft``.
"""

from __future__ import annotations

import argparse

__all__ = ["add_parser", "common_flags", "model_path", "run", "trl_argv"]

TINY_DIR = "runs/tiny-model"


def common_flags(p: argparse.ArgumentParser) -> None:
    """Flags shared by ``sft`` and ``train``; each is the trl config field of the same name."""
    p.add_argument(
        "--model",
        help=f"model folder, adapter folder, named model (smollm2-135m) or hub name "
        f"(default: build {TINY_DIR})",
    )
    p.add_argument("--config", help="YAML file of settings (trl's TrlParser format)")
    p.add_argument("--output_dir", help="where checkpoints, final/, metrics.jsonl and runs/ go")
    p.add_argument("--max_steps", type=int)
    p.add_argument("--max_seconds", type=float, help="stop after this wall-clock budget")
    p.add_argument("--learning_rate", type=float)
    p.add_argument("--per_device_train_batch_size", type=int)
    p.add_argument("--formats", nargs="+", choices=("json", "react", "hermes"))
    p.add_argument("--trajectories", nargs="+", help="trajectory store files (JSONL) to add")
    p.add_argument("--resume_from_checkpoint", help="a checkpoint-N folder, or 'latest'")
    p.add_argument("--seed", type=int)
    p.add_argument(
        "--use_peft", action="store_true", default=None, help="train a LoRA adapter (peft)"
    )
    p.add_argument(
        "--merge",
        dest="lora_merge",
        action="store_true",
        default=None,
        help="with --use_peft: also save the merged model (<output_dir>/final-merged)",
    )
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="any other trl config field, e.g. --set lr_scheduler_type=constant",
    )


def trl_argv(args: argparse.Namespace, names: tuple[str, ...]) -> list[str]:
    """The command line for ``TrlParser``: ``--config``, the given flags, then ``--set`` ones."""
    from agent_rl.errors import ConfigError

    argv = ["--config", args.config] if args.config else []
    for name in names:
        value = getattr(args, name, None)
        if value is None:
            continue
        argv += [f"--{name}", *(map(str, value) if isinstance(value, list) else [str(value)])]
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set {item!r}: expected FIELD=VALUE, e.g. --set beta=0.01")
        argv += [f"--{key.strip().lstrip('-')}", value]
    return argv


_FLAGS = ("output_dir", "max_steps", "max_seconds", "learning_rate",
          "per_device_train_batch_size", "formats", "trajectories",
          "resume_from_checkpoint", "seed", "use_peft", "lora_merge")  # fmt: skip


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

    (settings,) = parse_settings(SFTSettings, trl_argv(args, _FLAGS))
    result = train_sft(model_path(args), settings)
    print(
        f"SFT done: {result.global_step} steps in {result.train_seconds:.1f}s -> "
        f"{result.checkpoint} (logs: {result.metrics_file}, tensorboard: {result.tensorboard_dir})"
    )
    return 0
