"""What a training run spends, and the budget that ends it.

- :class:`MatmulFlops` — counts the floating-point operations of every linear layer a model
  runs, forward and backward, as it runs: generation, the loss's forward and its backward,
  recomputed activations, LoRA branches and padded positions included, because the machine
  computes them. Attention's score and weighting products (softmax(QKᵀ)V) are not linear
  layers and are left out for every run alike (at the tiny model's width and a few hundred
  tokens of context, of the order of a tenth of its work). A count from tensor shapes alone,
  not speed or load: a seeded run counts the same every time on the same hardware, whatever
  else the machine is doing — what the compute-matched baseline needs to be reproducible
  (other hardware may sample other completions, of other lengths, and count those). trl's
  fused LM head projects onto the vocabulary with ``torch.mm`` on the head's weight, not
  through the layer: its FLOPs are counted from the positions it projects (all of them, or
  the labelled ones under :func:`~agent_rl.training.speedups.compact_scoring`), its backward
  recomputing the projection before the two gradients.
- :class:`StopAtBudget` — a ``TrainerCallback`` that ends training once a budget of wall
  seconds, process CPU seconds or counted FLOPs is spent, optionally laying a warmup + cosine
  learning-rate schedule over the budget; :func:`budget_of` — the one a run's settings ask for.

Not a profiler: it times nothing and measures no memory.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from agent_rl.training.speedups import scores_compactly

__all__ = ["BUDGET_CLOCKS", "MatmulFlops", "StopAtBudget", "budget_of", "clock"]

BUDGET_CLOCKS = ("wall", "cpu", "flops")
"""What a budget counts: elapsed seconds, this process's CPU seconds, or counted FLOPs."""

_FLOPS_FILE = "flops.json"


def clock(kind: str = "wall") -> float:
    """Seconds on the ``wall`` clock or of this process's ``cpu`` time (all threads)."""
    return time.perf_counter() if kind == "wall" else time.process_time()


class MatmulFlops(TrainerCallback):
    """The FLOPs of every ``torch.nn.Linear`` in ``models`` (the policy; GRPO's separate
    reference model too, when it has one) since they were attached.

    A forward pass of a linear layer over ``r`` rows costs ``2·r·in·out``; when its output
    needs a gradient, the backward costs as much again for the input's gradient (when the
    input needs one) and for the weight's (when the weight is trained) — counted at the
    forward, since every training forward here is followed by its backward. A tied output
    embedding is a linear layer and counts; an embedding lookup does not.

    As a callback it saves the count with each checkpoint (``flops.json``) so that a resumed
    run (:meth:`resume`) reports the whole run's FLOPs, not its last part's.
    """

    def __init__(self, *models: Any) -> None:
        import torch

        self.total = 0.0
        models = tuple(m for m in models if m is not None)
        self._handles = [
            m.register_forward_hook(self._count)
            for model in models
            for m in model.modules()
            if isinstance(m, torch.nn.Linear)
        ]
        for model in models:  # the module trl gives the fused head: a PEFT model's base
            base = model.get_base_model() if hasattr(model, "get_base_model") else model
            self._handles.append(
                base.register_forward_pre_hook(self._count_fused_head, with_kwargs=True)
            )

    def _count(self, module: Any, inputs: tuple[Any, ...], output: Any) -> None:
        x = inputs[0] if inputs else None
        if x is None or not hasattr(x, "shape") or not x.shape:
            return
        forward = 2.0 * (x.numel() // x.shape[-1]) * module.in_features * module.out_features
        backward = 0
        if getattr(output, "requires_grad", False):
            backward = int(bool(x.requires_grad)) + int(bool(module.weight.requires_grad))
        self.total += forward * (1 + backward)

    def _count_fused_head(self, model: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        import torch

        head = model.get_output_embeddings() if kwargs.get("fused_lm_head") else None
        labels = kwargs.get("shift_labels")
        if labels is None and kwargs.get("labels") is not None:
            labels = kwargs["labels"][:, 1:]
        if head is None or labels is None:
            return
        weight = head.weight
        rows = int((labels != -100).sum()) if scores_compactly(weight.device) else labels.numel()
        forward = 2.0 * rows * weight.shape[0] * weight.shape[1]
        backward = 0
        if torch.is_grad_enabled():
            hidden_grad = any(p.requires_grad for p in model.parameters() if p is not weight)
            if hidden_grad or weight.requires_grad:  # the tile recomputed, then its gradients
                backward = 1 + int(hidden_grad) + int(weight.requires_grad)
        self.total += forward * (1 + backward)

    def detach(self) -> None:
        """Stop counting (remove the hooks)."""
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def resume(self, checkpoint: str | Path | None) -> None:
        """Continue the count saved with ``checkpoint`` (none saved: from 0)."""
        path = Path(checkpoint) / _FLOPS_FILE if checkpoint else None
        if path is not None and path.is_file():
            self.total = float(json.loads(path.read_text())["flops"]) + self.total

    def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
        if state.is_world_process_zero and folder.is_dir():
            (folder / _FLOPS_FILE).write_text(json.dumps({"flops": self.total}))


class StopAtBudget(TrainerCallback):
    """Stop training (after the current optimizer step) once ``limit`` is spent on ``clock``
    — ``wall`` or ``cpu`` seconds since training began, or ``flops`` counted by ``meter`` —
    saving a checkpoint then if the run saves by steps.

    With ``cosine_peak`` the learning rate follows a warmup + cosine schedule laid over the
    *budget* instead of over ``max_steps``: ``warmup`` (a fraction) of the budget to reach
    ``cosine_peak``, then cosine decay to 0 exactly when the budget ends, however many steps
    that is (the run's scheduler must be ``constant``; this sets its base rate each step, so
    logged learning rates are the real ones). A budgeted baseline planned in steps would end
    its budget mid-schedule, at a high learning rate, or never leave its warmup.
    """

    def __init__(
        self,
        limit: float,
        clock: str = "wall",
        *,
        meter: MatmulFlops | None = None,
        cosine_peak: float | None = None,
        warmup: float = 0.0,
    ) -> None:
        if clock not in BUDGET_CLOCKS:
            raise ValueError(f"clock={clock!r}: use one of {', '.join(BUDGET_CLOCKS)}")
        if clock == "flops" and meter is None:
            raise ValueError("a FLOPs budget needs the run's MatmulFlops meter")
        self.limit = limit
        self.clock = clock
        self.meter = meter
        self.cosine_peak, self.warmup = cosine_peak, warmup
        self.started: float | None = None
        self.stopped_at_step: int | None = None

    def spent(self) -> float:
        """What is spent of the budget so far (0 before training began)."""
        if self.clock == "flops":
            return self.meter.total if self.meter is not None else 0.0
        return 0.0 if self.started is None else clock(self.clock) - self.started

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.clock != "flops":
            self.started = clock(self.clock)

    def lr_at(self, fraction: float) -> float:
        """The scheduled learning rate ``fraction`` of the way through the budget."""
        peak = self.cosine_peak or 0.0
        f = min(max(fraction, 0.0), 1.0)
        if f < self.warmup:
            return peak * f / self.warmup
        return peak * 0.5 * (1.0 + math.cos(math.pi * (f - self.warmup) / (1.0 - self.warmup)))

    def on_step_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.cosine_peak is None:
            return
        lr = self.lr_at(self.spent() / self.limit)
        optimizer, scheduler = kwargs.get("optimizer"), kwargs.get("lr_scheduler")
        for group in getattr(optimizer, "param_groups", ()):
            group["lr"] = lr
        if scheduler is not None and hasattr(scheduler, "base_lrs"):
            scheduler.base_lrs = [lr] * len(scheduler.base_lrs)

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
        if self.spent() >= self.limit:
            control.should_training_stop = True
            control.should_save = args.save_strategy != "no"
            self.stopped_at_step = state.global_step
        return control


def budget_of(
    args: Any, meter: MatmulFlops, *, cosine_peak: float | None = None, warmup: float = 0.0
) -> StopAtBudget | None:
    """The budget a run's settings ask for: ``max_flops`` counted by ``meter``, else
    ``max_seconds`` on ``budget_clock``, else none."""
    if args.max_flops is not None:
        limit, on = args.max_flops, "flops"
    elif args.max_seconds is not None:
        limit, on = args.max_seconds, args.budget_clock
    else:
        return None
    return StopAtBudget(limit, on, meter=meter, cosine_peak=cosine_peak, warmup=warmup)
