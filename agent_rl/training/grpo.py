"""``train_grpo``: trl's ``GRPOTrainer``, wired (not subclassed) for tool-call validity.

Two sources of episodes (``GRPOSettings.source``):

- ``"recorded"``: one prompt per step of the expert episodes of the training tasks and of
  recorded trajectories — the exact messages the model saw, with the sandbox state at that step
  in a column. trl samples ``num_generations`` completions per prompt with the current weights;
  the rewards (:mod:`~agent_rl.training.rewards`) score each completion's raw text with the
  strict ``Scorer`` against the rebuilt sandbox.
- ``"live"``: whole multi-step episodes run by the current policy in the sandbox through trl's
  ``rollout_func`` (:mod:`~agent_rl.training.rollout`): every turn scored by our scorer on its
  raw text, observation tokens masked out of the loss.

On-policy by default: ``num_iterations=1`` and one generation per optimizer step, so the policy
lag (reported in ``metrics.jsonl``, TensorBoard and the result) is 0. This module is not an
evaluator.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent_rl.errors import ConfigError
from agent_rl.training.compute import MatmulFlops, budget_of, clock
from agent_rl.training.config import GRPOSettings, data_seed, policy_lag
from agent_rl.training.data import (
    StepExample,
    grpo_dataset,
    live_dataset,
    run_tasks,
    settings_steps,
)
from agent_rl.training.rewards import DEFAULT_WEIGHTS, LIVE_REWARDS, RECORDED_REWARDS
from agent_rl.training.runs import (
    MetricsLog,
    TrainResult,
    finish_run,
    load_policy,
    lora_config,
    resolve_resume,
)
from agent_rl.training.sft import _settings
from agent_rl.training.speedups import compact_scoring, share_prompt_prefix

if TYPE_CHECKING:
    from agent_rl.tasks import Task

__all__ = ["train_grpo"]

logger = logging.getLogger(__name__)


def _raw_text_tokenizer(tokenizer: Any) -> Any:
    """trl parses completions with a tokenizer's response template when one is set, turning a
    malformed call into plain text; our rewards must see the raw text, so drop it."""
    for attr in ("response_template", "response_schema"):
        if getattr(tokenizer, attr, None) is not None:
            setattr(tokenizer, attr, None)
    return tokenizer


def train_grpo(
    model: str | Path | tuple[Any, Any],
    settings: GRPOSettings | None = None,
    *,
    tasks: Sequence[Task] | None = None,
    steps: Sequence[StepExample] | None = None,
    reward_funcs: Sequence[Callable[..., list[float | None]]] | None = None,
    callbacks: Sequence[Any] = (),
    **overrides: Any,
) -> TrainResult:
    """GRPO on ``model`` (anything :func:`agent_rl.checkpoints.load_model` takes, or
    ``(model, tokenizer)``), usually an SFT checkpoint; an adapter folder is merged into its
    base first, and ``use_peft`` trains a new adapter on top.

    Prompts: ``steps`` if given, else the expert steps of ``tasks`` (default: the
    ``settings.task_split`` tasks) plus ``settings.trajectories``; with ``source="live"`` the
    tasks' episodes. ``reward_funcs`` default to the source's rewards, weighted by
    ``settings.reward_weights`` (default :data:`~agent_rl.training.rewards.DEFAULT_WEIGHTS`).
    ``overrides`` are ``GRPOSettings`` fields, used when ``settings`` is not given.
    """
    import os

    from trl import GRPOTrainer

    args = _settings(GRPOSettings, settings, overrides)
    output_dir = Path(args.output_dir)
    policy, tokenizer = load_policy(model)
    tokenizer = _raw_text_tokenizer(tokenizer)

    rollout = None
    if args.source == "live":
        from agent_rl.training.rollout import LiveRollout

        if tasks is None:
            tasks = run_tasks(args.task_split, args.families, data_seed(args), args.tasks)
        dataset = live_dataset(tasks, args.formats)
        rollout = LiveRollout(tasks, args)
        funcs = list(reward_funcs or LIVE_REWARDS)
    else:
        if steps is None:
            steps = settings_steps(args, tasks)
        dataset = grpo_dataset(
            steps, max_prompts=args.max_prompts, seed=args.seed, tools=args.prompt_tools
        )
        funcs = list(reward_funcs or RECORDED_REWARDS)
    if args.reward_weights is None:
        default = DEFAULT_WEIGHTS[args.source]
        if len(default) != len(funcs):
            raise ConfigError(
                f"{len(funcs)} custom reward functions need reward_weights: set one weight each."
            )
        args.reward_weights = list(default)

    lag = policy_lag(args)
    metrics = MetricsLog(output_dir, extra={"policy_lag": lag})
    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")  # rollout_func is documented here
    trainer = GRPOTrainer(
        model=policy,
        reward_funcs=funcs,
        args=args,
        train_dataset=dataset,
        processing_class=tokenizer,
        callbacks=list(callbacks),
        peft_config=lora_config(args),
        rollout_func=rollout,
    )
    if args.share_prompt_prefix:
        for net in (trainer.model, getattr(trainer, "ref_model", None)):
            if net is not None and not share_prompt_prefix(net):
                logger.info("share_prompt_prefix: %s takes no cache; left as it is", type(net))
    # generation, the loss's forward and backward, a separate KL reference model's forward
    flops = MatmulFlops(trainer.model, getattr(trainer, "ref_model", None))
    trainer.add_callback(flops)
    budget = budget_of(args, flops)
    if budget is not None:
        trainer.add_callback(budget)
    # First, so the lag is in the logs every reporter (TensorBoard ...) sees.
    trainer.callback_handler.callbacks.insert(0, metrics)
    resume = resolve_resume(args.resume_from_checkpoint, output_dir)
    flops.resume(resume)
    logger.info(
        "GRPO (%s) on %d prompts, %d generations each, policy lag %d -> %s",
        args.source, len(dataset), args.num_generations, lag, output_dir,
    )  # fmt: skip
    started = (clock("wall"), clock("cpu"))
    with compact_scoring() if args.compact_scoring else nullcontext():
        trainer.train(resume_from_checkpoint=resume)
    return finish_run(trainer, output_dir, started, lag, metrics, flops)
