"""What SFT and GRPO runs share: loading the policy, resuming, callbacks, the run result.

- :class:`TrainResult` — where the final checkpoint and the logs went, the step reached, the
  seconds and counted FLOPs of training (what the compute-matched SFT baseline is given).
- :class:`MetricsLog` — every logged metric dict as a line of ``<output_dir>/metrics.jsonl``
  (TensorBoard logs go to ``<output_dir>/runs/``).
- :func:`resolve_resume` — ``resume_from_checkpoint``: a path, ``"latest"`` or ``None``.
- :func:`lora_config` — the peft ``LoraConfig`` of a run's LoRA settings (``None``: full
  fine-tuning), passed to the trainers as ``peft_config``.

Not a trainer: ``sft.py`` and ``grpo.py`` wire trl's trainers with these (and with the
budget and FLOPs counter of ``compute.py``).
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from agent_rl.errors import TrainingError
from agent_rl.training.compute import MatmulFlops, clock

__all__ = [
    "MetricsLog",
    "TrainResult",
    "finish_run",
    "last_complete_checkpoint",
    "load_policy",
    "lora_config",
    "resolve_resume",
]

logger = logging.getLogger(__name__)

FINAL = "final"
MERGED = "final-merged"


@dataclass(frozen=True)
class TrainResult:
    """The outcome of a training run.

    ``checkpoint`` is the final model folder (``<output_dir>/final``, loadable by path; a LoRA
    adapter folder with ``use_peft``, and ``merged`` the merged model with ``lora_merge``);
    ``train_seconds`` the wall-clock time of the training loop itself (generation, scoring and
    updates; not model loading or dataset building), ``train_cpu_seconds`` its process CPU
    time, ``train_flops`` the FLOPs of its linear layers, forward and backward, generation
    included (:class:`~agent_rl.training.compute.MatmulFlops`: the whole run's, across
    resumes and processes; not moved by speed or load); ``metrics`` the last logged values;
    ``num_processes`` the data-parallel processes (``accelerate launch --num_processes N``;
    every one returns this result, the main one writes it).
    """

    checkpoint: Path
    output_dir: Path
    global_step: int
    train_seconds: float
    train_cpu_seconds: float
    train_flops: float = 0.0
    policy_lag: int | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    merged: Path | None = None
    num_processes: int = 1

    @property
    def metrics_file(self) -> Path:
        return self.output_dir / "metrics.jsonl"

    @property
    def tensorboard_dir(self) -> Path:
        return self.output_dir / "runs"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["checkpoint"], data["output_dir"] = str(self.checkpoint), str(self.output_dir)
        data["merged"] = None if self.merged is None else str(self.merged)
        return data


class MetricsLog(TrainerCallback):
    """Appends every log (with ``step``, ``elapsed_s`` and process ``cpu_s``) to
    ``<output_dir>/metrics.jsonl``;
    ``extra`` (e.g. the policy lag) is added to every line and to the logs TensorBoard sees
    when this callback runs first."""

    def __init__(self, output_dir: str | Path, extra: dict[str, float] | None = None) -> None:
        self.path = Path(output_dir) / "metrics.jsonl"
        self.extra = dict(extra or {})
        self.started = (time.perf_counter(), time.process_time())
        self.last: dict[str, float] = {}

    def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kwargs: Any) -> None:
        if logs is None:
            return
        logs.update(self.extra)
        if not state.is_world_process_zero:
            return
        row = {
            "step": state.global_step,
            "elapsed_s": round(time.perf_counter() - self.started[0], 3),
            "cpu_s": round(time.process_time() - self.started[1], 3),
        }
        row.update({k: v for k, v in logs.items() if isinstance(v, (int, float))})
        self.last.update(
            {k: v for k, v in row.items() if not (isinstance(v, float) and math.isnan(v))}
        )
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(row, allow_nan=True) + "\n")

    @staticmethod
    def read(output_dir: str | Path) -> list[dict[str, Any]]:
        """The rows of ``<output_dir>/metrics.jsonl`` (none if absent; a line cut off by a
        killed run is skipped)."""
        path = Path(output_dir) / "metrics.jsonl"
        if not path.is_file():
            return []
        rows = []
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        return rows


def last_complete_checkpoint(output_dir: str | Path) -> Path | None:
    """The highest ``checkpoint-N`` in ``output_dir`` that was saved completely.

    transformers writes ``trainer_state.json`` last, after the weights, optimizer, scheduler
    and RNG states, so a folder without it is a save cut short by a crash: it is skipped."""
    folder = Path(output_dir)
    if not folder.is_dir():
        return None
    found = []
    for path in folder.glob("checkpoint-*"):
        suffix = path.name.removeprefix("checkpoint-")
        if not (path.is_dir() and suffix.isdigit()):
            continue
        if (path / "trainer_state.json").is_file():
            found.append((int(suffix), path))
        else:
            logger.warning("skipping %s: its save was cut short (no trainer_state.json)", path)
    return max(found)[1] if found else None


def resolve_resume(value: str | bool | None, output_dir: str | Path) -> str | None:
    """``None``/``False``: start fresh; ``"latest"``/``True``: the last complete
    ``checkpoint-N`` in ``output_dir`` (fresh start, logged, when there is none); a path: that
    checkpoint."""
    if value in (None, False, "", "false", "False", "no"):
        return None
    if value in (True, "latest", "last", "true", "True"):
        last = last_complete_checkpoint(output_dir)
        if last is None:
            logger.info("no checkpoint in %s yet: starting from scratch", output_dir)
            return None
        logger.info("resuming from %s", last)
        return str(last)
    path = Path(str(value))
    if not (path / "trainer_state.json").is_file():
        raise TrainingError(
            f"cannot resume from {str(path)!r}: it is not a complete checkpoint folder (no "
            "trainer_state.json). Pass a checkpoint-N folder of this run, or 'latest'."
        )
    return str(path)


def load_policy(model: Any) -> tuple[Any, Any]:
    """``(model, tokenizer)`` from a folder or hub name (clear errors), or from a
    ``(model, tokenizer)`` pair already in memory."""
    if isinstance(model, tuple):
        return model
    from agent_rl.policies.hf import load_model

    loaded, tokenizer = load_model(model, device="cpu")
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return loaded, tokenizer


def lora_config(settings: Any) -> Any:
    """peft's ``LoraConfig`` from the settings' LoRA fields, or ``None`` without ``use_peft``."""
    if not settings.use_peft:
        return None
    try:
        from peft import LoraConfig
    except ImportError as exc:
        raise TrainingError("use_peft=True needs peft: pip install peft") from exc
    targets = list(settings.lora_target_modules)
    return LoraConfig(
        task_type="CAUSAL_LM",
        r=settings.lora_r,
        lora_alpha=settings.lora_alpha,
        lora_dropout=settings.lora_dropout,
        target_modules=targets[0] if targets == ["all-linear"] else targets,
        bias="none",
    )


def finish_run(trainer: Any, output_dir: Path, started: tuple[float, float], lag: int | None,
               metrics: MetricsLog, flops: MatmulFlops) -> TrainResult:  # fmt: skip
    """Save the final model (or LoRA adapter) and tokenizer to ``<output_dir>/final``, with
    ``lora_merge`` the merged model to ``<output_dir>/final-merged``, and describe the run."""
    final = output_dir / FINAL
    flops.detach()
    spent = flops.total
    if trainer.args.world_size > 1:  # every process counted its own share
        import torch

        mine = torch.tensor([spent], dtype=torch.float64, device=trainer.accelerator.device)
        spent = float(trainer.accelerator.gather(mine).sum())
    trainer.save_model(str(final))
    merged = None
    main = trainer.is_world_process_zero()
    if main and getattr(trainer.args, "lora_merge", False):  # last: merging unloads the adapter
        merged = output_dir / MERGED
        trainer.model.merge_and_unload().save_pretrained(merged)
        trainer.processing_class.save_pretrained(merged)
    result = TrainResult(
        checkpoint=final,
        output_dir=output_dir,
        global_step=int(trainer.state.global_step),
        train_seconds=round(clock("wall") - started[0], 3),
        train_cpu_seconds=round(clock("cpu") - started[1], 3),
        train_flops=spent,
        policy_lag=lag,
        metrics=metrics.last,
        merged=merged,
        num_processes=int(trainer.args.world_size),
    )
    if main:
        (output_dir / "train_result.json").write_text(json.dumps(result.to_dict(), indent=2))
    return result
