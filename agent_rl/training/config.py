"""Training settings: trl's ``SFTConfig`` / ``GRPOConfig`` with our data fields and CPU defaults.

``SFTSettings`` and ``GRPOSettings`` *are* trl configs (subclasses that add fields, never
change trl's), so every trl/transformers option works as a keyword, a CLI flag or a YAML key,
and the trainers take them as ``args`` unchanged. What they add:

- where the episodes come from (``formats``, ``trajectories``, ``source``, ``max_prompts``);
- a compute budget (``max_seconds`` on the wall or CPU clock, or ``max_flops`` counted at the
  model's linear layers), for the compute-matched SFT baseline;
- LoRA through peft (:class:`LoraSettings`: ``use_peft``, rank, alpha, dropout, target modules,
  ``lora_merge``; trl's ``ModelConfig`` names), off by default: full fine-tuning;
- defaults that work on a 2-core CPU with the tiny model: no bf16, no gradient checkpointing,
  seeded, TensorBoard logs, a progress bar — and, for GRPO, the on-policy schedule
  (``num_iterations=1``, one generation per optimizer step: policy lag 0).

:func:`parse_settings` reads them the trl way (``TrlParser``: ``--config file.yaml`` plus CLI
flags that override it). This module only describes runs; it trains nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from typing import Any, TypeVar

from trl import GRPOConfig, SFTConfig

from agent_rl.errors import ConfigError
from agent_rl.formats import FORMATS as _FORMATS

__all__ = [
    "DataFields",
    "GRPOSettings",
    "LoraSettings",
    "SFTSettings",
    "data_seed",
    "parse_settings",
    "policy_lag",
]

_SOURCES = ("recorded", "live")


@dataclass
class DataFields:
    """Where a run's episodes come from, and its time budget: the fields SFT and GRPO share
    (declared once; both settings classes inherit them beside trl's own fields)."""

    formats: list[str] = field(
        default_factory=lambda: list(_FORMATS),
        metadata={"help": "Call formats to train on (json, react, hermes)."},
    )
    task_split: str = field(
        default="train",
        metadata={"help": "Hand-written task split whose expert episodes are used ('none': "
                  "none, e.g. with --families or --tasks)."},
    )  # fmt: skip
    families: int = field(
        default=0,
        metadata={"help": "Generated train-split family episodes added (a fixed expert set of "
                  "this size, seeded by data_seed; see agent_rl.tasks.families)."},
    )  # fmt: skip
    tasks: list[str] = field(
        default_factory=list,
        metadata={"help": "Task files (JSONL, one Task a line: agent-rl tasks generate) whose "
                  "expert episodes are added."},
    )  # fmt: skip
    trajectories: list[str] = field(
        default_factory=list,
        metadata={"help": "Trajectory store files (JSONL) whose (valid) steps are added."},
    )
    data_seed: int | None = field(
        default=None, metadata={"help": "Seed of the generated family episodes (default: seed)."}
    )
    max_seconds: float | None = field(
        default=None,
        metadata={"help": "Stop after this many seconds of training (the compute-matched "
                  "baseline); a cosine schedule is then laid over the budget."},
    )  # fmt: skip
    budget_clock: str = field(
        default="wall",
        metadata={"help": "Clock of max_seconds: 'wall' (elapsed) or 'cpu' (this process's CPU "
                  "time, fairer on a shared machine)."},
    )  # fmt: skip
    max_flops: float | None = field(
        default=None,
        metadata={"help": "Stop once the run's linear layers have spent this many FLOPs, "
                  "forward and backward, generation included (the compute-matched baseline, "
                  "independent of speed and load); a cosine schedule is then laid over it."},
    )  # fmt: skip
    compact_scoring: bool = field(
        default=True,
        metadata={"help": "Project only the positions with a label onto the vocabulary in trl's "
                  "fused LM head on CPU too (exact; agent_rl.training.speedups). False: every "
                  "position, trl's choice off Triton devices."},
    )  # fmt: skip


@dataclass
class LoraSettings:
    """LoRA adapters (peft) instead of full fine-tuning; a field of both settings classes.

    The adapter is saved with the run (``final/``: ``adapter_config.json`` names the base);
    every loader applies it to its base (:func:`agent_rl.checkpoints.load_model`).
    """

    use_peft: bool = field(default=False, metadata={"help": "Train a LoRA adapter (peft)."})
    lora_r: int = field(default=16, metadata={"help": "LoRA rank."})
    lora_alpha: int = field(default=32, metadata={"help": "LoRA alpha (scale = alpha / r)."})
    lora_dropout: float = field(default=0.05, metadata={"help": "LoRA dropout."})
    lora_target_modules: list[str] = field(
        default_factory=lambda: ["all-linear"],
        metadata={"help": "Modules that get adapters: names (q_proj v_proj ...) or all-linear."},
    )
    lora_merge: bool = field(
        default=False,
        metadata={
            "help": "Also save the base with the adapter merged in (<output_dir>/final-merged)."
        },
    )


def _no_cuda() -> bool:
    import torch

    return not torch.cuda.is_available()


# A plain default, not a default_factory: trl's TrlParser gives a bool field without a plain
# default the value False, and under `accelerate launch` a False use_cpu on a machine without
# CUDA leaves every process training alone instead of data-parallel (gloo).
_NO_CUDA = _no_cuda()


def _check_common(s: DataFields) -> None:
    bad = [f for f in s.formats if f not in _FORMATS]
    if bad or not s.formats:
        raise ConfigError(
            f"formats={list(s.formats)} is not supported because agent-rl knows only "
            f"{', '.join(_FORMATS)}. Set formats to a non-empty list of those."
        )
    if s.families < 0:
        raise ConfigError(f"families={s.families} must be >= 0.")
    if s.max_seconds is not None and s.max_seconds <= 0:
        raise ConfigError(f"max_seconds={s.max_seconds} must be positive (or unset for no limit).")
    if s.budget_clock not in ("wall", "cpu"):
        raise ConfigError(f"budget_clock={s.budget_clock!r} is not supported. Set 'wall' or 'cpu'.")
    if s.max_flops is not None and s.max_flops <= 0:
        raise ConfigError(f"max_flops={s.max_flops} must be positive (or unset for no limit).")
    if s.max_flops is not None and s.max_seconds is not None:
        raise ConfigError("max_seconds and max_flops are both set. Set one budget.")
    if s.lora_r < 1 or s.lora_alpha < 1 or not 0 <= s.lora_dropout < 1:
        raise ConfigError("lora_r and lora_alpha must be >= 1 and lora_dropout in [0, 1).")
    if s.use_peft and not s.lora_target_modules:
        raise ConfigError("lora_target_modules is empty. Set module names or all-linear.")
    if s.lora_merge and not s.use_peft:
        raise ConfigError(
            "lora_merge=True is not supported because without use_peft the run saves a full "
            "model already. Set use_peft=True, or drop lora_merge."
        )


@dataclass
class SFTSettings(SFTConfig, DataFields, LoraSettings):
    """trl's ``SFTConfig`` for the SFT baseline on expert episodes (and recorded valid steps).

    Every example is one episode as the agent saw it, loss on the assistant turns only
    (trl's ``assistant_only_loss`` with its Qwen2.5 training template).
    """

    # CPU-friendly defaults for the tiny model (trl's defaults target a GPU and a big model).
    output_dir: str | None = "runs/sft"
    learning_rate: float = 3e-3
    lr_scheduler_type: str = "cosine"
    warmup_steps: float = 0.05
    max_steps: int = 300
    per_device_train_batch_size: int = 16
    max_length: int | None = 4096
    assistant_only_loss: bool = True
    use_cpu: bool = _NO_CUDA
    bf16: bool | None = False
    gradient_checkpointing: bool = False
    logging_steps: float = 10
    save_strategy: str = "no"
    report_to: None | str | list[str] = field(default_factory=lambda: ["tensorboard"])  # noqa: RUF036
    dataloader_num_workers: int = 0
    dataset_num_proc: int | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        _check_common(self)
        super().__post_init__()


@dataclass
class GRPOSettings(GRPOConfig, DataFields, LoraSettings):
    """trl's ``GRPOConfig`` for GRPO on tool-call validity.

    ``source="recorded"``: one prompt per step of the expert episodes of the training tasks
    (plus recorded trajectories), the sandbox state at that step travelling with it.
    ``source="live"``: whole episodes run by the current policy inside training.
    Rewards (see :mod:`agent_rl.training.rewards`) are weighted by ``reward_weights`` in the
    order of :data:`~agent_rl.training.rewards.RECORDED_REWARDS` /
    :data:`~agent_rl.training.rewards.LIVE_REWARDS`; the default optimises the schema-valid call
    of the expert's tool and, on top, that call valid in the episode's state
    (``expert_tool_arguments`` + ``valid_expert_tool``), or the all-valid episode
    (``episode_all_valid``), and logs the others.
    """

    source: str = field(
        default="recorded",
        metadata={"help": "'recorded': step prompts from expert/recorded episodes; 'live': "
                  "whole episodes run by the current policy in the sandbox."},
    )  # fmt: skip
    max_prompts: int | None = field(
        default=None, metadata={"help": "Keep at most this many prompts (seeded sample)."}
    )
    prompt_tools: list[str] = field(
        default_factory=list,
        metadata={"help": "Keep only steps whose reference call uses one of these tools "
                  "(hard prompts, e.g. edit_file write_file); empty: every step."},
    )  # fmt: skip
    max_episode_steps: int = field(
        default=12, metadata={"help": "Live episodes: most model turns per episode."}
    )
    max_turn_tokens: int = field(
        default=192, metadata={"help": "Live episodes: most new tokens per model turn."}
    )
    share_prompt_prefix: bool = field(
        default=True,
        metadata={"help": "Compute a prompt shared by a group's completions once in the loss's "
                  "forward and backward (exact; agent_rl.training.speedups). False: trl's own "
                  "forward, one prompt a completion."},
    )  # fmt: skip
    # CPU-friendly, on-policy defaults for the tiny model (what was measured: BENCHMARKS.md).
    output_dir: str | None = "runs/grpo"
    learning_rate: float = 1e-4
    lr_scheduler_type: str = "constant"
    max_steps: int = 300
    num_generations: int | None = 16
    per_device_train_batch_size: int = 16
    gradient_accumulation_steps: int = 1
    num_iterations: int = 1
    max_completion_length: int | None = 256
    temperature: float = 1.0
    beta: float = 0.0
    use_cpu: bool = _NO_CUDA
    bf16: bool | None = False
    gradient_checkpointing: bool = False
    logging_steps: float = 10
    save_strategy: str = "steps"
    save_steps: float = 50
    save_total_limit: int | None = 2
    report_to: None | str | list[str] = field(default_factory=lambda: ["tensorboard"])  # noqa: RUF036
    dataloader_num_workers: int = 0
    seed: int = 0

    def __post_init__(self) -> None:
        _check_common(self)
        if self.source not in _SOURCES:
            raise ConfigError(
                f"source={self.source!r} is not supported because episodes come from recorded "
                "steps or live rollouts. Set source to 'recorded' or 'live'."
            )
        if self.max_episode_steps < 1 or self.max_turn_tokens < 1:
            raise ConfigError("max_episode_steps and max_turn_tokens must be at least 1.")
        super().__post_init__()


def data_seed(settings: SFTSettings | GRPOSettings) -> int:
    """The seed of the run's generated family episodes: ``data_seed``, else ``seed``."""
    return settings.seed if settings.data_seed is None else settings.data_seed


def policy_lag(settings: GRPOConfig) -> int:
    """Most optimizer steps between the weights that generated a batch and the update that
    uses it, from trl's schedule: generation every ``steps_per_generation * num_iterations``
    micro-steps, an update every ``gradient_accumulation_steps``. 0 means fully on-policy."""
    per_generation = settings.steps_per_generation * settings.num_iterations
    return max(0, -(-per_generation // settings.gradient_accumulation_steps) - 1)


Settings = TypeVar("Settings", SFTSettings, GRPOSettings)


def parse_settings(
    cls: type[Settings], argv: Sequence[str] | None = None, extra: Sequence[type] = ()
) -> tuple[Any, ...]:
    """Parse ``cls`` (and ``extra`` dataclasses, first) from CLI flags and ``--config x.yaml``.

    A YAML key or flag that no dataclass has is a ``ConfigError`` naming it.
    """
    import yaml
    from trl import TrlParser

    parser = TrlParser([*extra, cls])
    try:
        return tuple(parser.parse_args_and_config(list(argv or [])))
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        at = f" at line {where.line + 1}, column {where.column + 1}" if where else ""
        problem = getattr(exc, "problem", None) or "not valid YAML"
        raise ConfigError(
            f"the --config file is not valid YAML{at}: {problem}. Fix the file "
            "(one `field: value` per line)."
        ) from exc
    except (ValueError, FileNotFoundError) as exc:
        raise ConfigError(f"{exc}".splitlines()[0] + _closest(exc, cls, extra)) from exc


def _closest(exc: Exception, cls: type, extra: Sequence[type]) -> str:
    import difflib
    import re

    names = [f.name for t in (*extra, cls) for f in fields(t)]
    hints = []
    for bad in re.findall(r"--([A-Za-z0-9_\-]+)", str(exc)):
        match = difflib.get_close_matches(bad.replace("-", "_"), names, n=1)
        if match:
            hints.append(f"{bad} -> {match[0]}")
    return f" (did you mean: {', '.join(hints)})" if hints else ""
