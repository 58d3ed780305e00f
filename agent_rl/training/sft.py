"""``train_sft``: the SFT baseline — trl's ``SFTTrainer`` on expert (and recorded valid) steps.

Each example is one episode as the agent saw it (every step's exact prompt is a prefix of it),
loss on the assistant turns only — the valid outputs. The same function makes both baselines:

- the SFT start point GRPO begins from: ``train_sft(tiny_model, output_dir=..., max_steps=...)``;
- the compute-matched SFT: the same checkpoint trained further on GRPO's compute,
  ``train_sft(sft_ckpt, max_flops=grpo.train_flops, ...)`` (or its seconds:
  ``max_seconds=grpo.train_cpu_seconds, budget_clock="cpu"``) — its cosine schedule is laid
  over that budget, so it decays to 0 exactly when the budget ends.

Not a GRPO trainer and not an evaluator.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent_rl.errors import ConfigError
from agent_rl.training.compute import MatmulFlops, StopAtBudget, budget_of, clock
from agent_rl.training.config import SFTSettings
from agent_rl.training.data import StepExample, settings_steps, sft_dataset
from agent_rl.training.runs import (
    MetricsLog,
    TrainResult,
    finish_run,
    load_policy,
    lora_config,
    resolve_resume,
)
from agent_rl.training.speedups import compact_scoring

if TYPE_CHECKING:
    from agent_rl.tasks import Task

__all__ = ["train_sft"]

logger = logging.getLogger(__name__)


def _settings(cls: type, settings: Any, overrides: dict[str, Any]) -> Any:
    if settings is None:
        return cls(**overrides)
    if overrides:
        raise ConfigError(
            f"passing both settings and keyword overrides ({', '.join(sorted(overrides))}) is "
            "not supported because trl configs derive fields at creation. Put them in settings."
        )
    if not isinstance(settings, cls):
        raise ConfigError(f"settings must be a {cls.__name__}, not {type(settings).__name__}.")
    return settings


def _budget(args: SFTSettings, meter: MatmulFlops) -> StopAtBudget | None:
    """The seconds or FLOPs budget, if any; a cosine schedule is laid over the budget rather
    than ``max_steps`` (which then only caps the run), so the budget ends where the schedule
    does."""
    if str(getattr(args.lr_scheduler_type, "value", args.lr_scheduler_type)) != "cosine":
        return budget_of(args, meter)
    warmup = args.warmup_steps if args.warmup_steps < 1 else 0.0
    budget = budget_of(args, meter, cosine_peak=args.learning_rate, warmup=warmup)
    if budget is not None:
        args.lr_scheduler_type = "constant"  # the callback sets the rate each step
    return budget


def train_sft(
    model: str | Path | tuple[Any, Any],
    settings: SFTSettings | None = None,
    *,
    tasks: Sequence[Task] | None = None,
    steps: Sequence[StepExample] | None = None,
    callbacks: Sequence[Any] = (),
    **overrides: Any,
) -> TrainResult:
    """Supervised fine-tuning of ``model`` (anything :func:`agent_rl.checkpoints.load_model`
    takes — a folder, an adapter folder, a named model, a hub name — or ``(model, tokenizer)``);
    with ``use_peft`` a LoRA adapter is trained and saved instead of the full weights.

    Data: ``steps`` if given, else the expert steps of ``tasks`` (default: the
    ``settings.task_split`` tasks) in ``settings.formats`` plus the valid steps of
    ``settings.trajectories``. ``overrides`` are ``SFTSettings`` fields, used when ``settings``
    is not given. Returns where the final checkpoint (``<output_dir>/final``) and logs went.
    """
    from trl import SFTTrainer

    args = _settings(SFTSettings, settings, overrides)
    output_dir = Path(args.output_dir)
    policy, tokenizer = load_policy(model)
    if steps is None:
        steps = settings_steps(args, tasks)
    dataset = sft_dataset(steps)
    metrics = MetricsLog(output_dir)
    trainer = SFTTrainer(
        model=policy,
        args=args,
        train_dataset=dataset,
        processing_class=tokenizer,
        callbacks=[metrics, *callbacks],
        peft_config=lora_config(args),
    )
    flops = MatmulFlops(trainer.model)  # after peft wrapped it: its LoRA layers count too
    trainer.add_callback(flops)
    budget = _budget(args, flops)
    if budget is not None:
        trainer.add_callback(budget)
    resume = resolve_resume(args.resume_from_checkpoint, output_dir)
    flops.resume(resume)
    logger.info("SFT on %d examples -> %s", len(dataset), output_dir)
    started = (clock("wall"), clock("cpu"))
    with compact_scoring() if args.compact_scoring else nullcontext():
        trainer.train(resume_from_checkpoint=resume)
    return finish_run(trainer, output_dir, started, None, metrics, flops)
