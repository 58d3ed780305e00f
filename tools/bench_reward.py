"""Benchmark: what our rewards cost inside a GRPO step, and our step vs trl's with a no-op reward.

    python tools/bench_reward.py --quick        # ~2-4 min on 2 cores
    python tools/bench_reward.py                # more steps, four alternating rounds

Both runs use the same offline tiny model (random weights: every completion runs to the full
``--completion-length``, so both runs generate exactly the same number of tokens), the same
prompts (expert steps of the train tasks, state column included), the same ``GRPOSettings``
(batch, generations, completion length, seed):

- **ours**: ``agent_rl.training.train_grpo`` with the default strict-scorer rewards
  (``parse_valid``, ``arguments_valid``, ``state_valid``; each timed);
- **trl no-op**: trl's ``GRPOTrainer`` itself with one reward that returns 0.0 for everything.

Runs alternate (ours first, then trl first, ...) since load on a shared machine drifts. Prints
the reward share of our step time (target <= 2%) and the ratio of step times, median and
fastest, first step of each run excluded (target <= 1.05x). An untrained model's completions
fail early (no ``Action:`` line); pass ``--model`` a trained checkpoint for mostly valid calls
that go through the full check, state included (both runs are seeded alike, so they still
sample the same completions).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any


def _args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--quick", action="store_true", help="small sizes (CI smoke)")
    p.add_argument("--model", help="a saved model folder (default: build the tiny model)")
    p.add_argument("--steps", type=int, help="optimizer steps per run (default 8, quick 4)")
    p.add_argument(
        "--rounds", type=int, help="interleaved rounds of both runs (default 2, quick 1)"
    )
    p.add_argument("--generations", type=int, default=8, help="completions per prompt (= batch)")
    p.add_argument("--completion-length", type=int, default=64)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    return p.parse_args()


class Timed:
    """A reward function that adds up the seconds spent in it (keeps trl's ``__name__``)."""

    def __init__(self, func: Any) -> None:
        self.func, self.__name__, self.seconds, self.calls = func, func.__name__, 0.0, 0

    def __call__(self, completions: list[Any], **kwargs: Any) -> list[float | None]:
        start = time.perf_counter()
        try:
            return self.func(completions, **kwargs)
        finally:
            self.seconds += time.perf_counter() - start
            self.calls += 1


def noop(completions: list[Any], **kwargs: Any) -> list[float]:
    """The no-op reward of the baseline run."""
    return [0.0] * len(completions)


def _step_timer(rewards: list[Timed]) -> Any:
    from transformers import TrainerCallback

    class StepTimer(TrainerCallback):
        """Wall seconds of each optimizer step (generation, rewards, loss and update) and of
        the rewards within it."""

        def __init__(self) -> None:
            self.steps: list[float] = []
            self.rewards: list[float] = []
            self._start = self._in_rewards = 0.0

        def on_step_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            self._in_rewards = sum(t.seconds for t in rewards)
            self._start = time.perf_counter()

        def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            self.steps.append(time.perf_counter() - self._start)
            self.rewards.append(sum(t.seconds for t in rewards) - self._in_rewards)

    return StepTimer()


def _settings(out: Path, args: argparse.Namespace, steps: int) -> Any:
    from agent_rl.training import GRPOSettings

    return GRPOSettings(
        output_dir=str(out),
        max_steps=steps,
        num_generations=args.generations,
        per_device_train_batch_size=args.generations,
        max_completion_length=args.completion_length,
        formats=["react"],
        save_strategy="no",
        report_to=[],
        logging_steps=steps,
        disable_tqdm=True,
        seed=0,
    )


def main() -> None:
    args = _args()
    import torch
    from trl import GRPOTrainer

    from agent_rl.models import build_tiny_model
    from agent_rl.training import train_grpo
    from agent_rl.training.data import grpo_dataset, training_steps
    from agent_rl.training.rewards import RECORDED_REWARDS
    from agent_rl.training.runs import load_policy

    if args.threads:
        torch.set_num_threads(args.threads)
    steps = args.steps or (4 if args.quick else 6)
    rounds = args.rounds or (2 if args.quick else 4)
    examples = training_steps(["react"])
    ours_steps: list[float] = []
    base_steps: list[float] = []
    reward_s = ours_s = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        model = args.model or str(build_tiny_model(root / "model"))

        def ours(r: int) -> None:
            nonlocal reward_s, ours_s
            timed = [Timed(f) for f in RECORDED_REWARDS]
            timer = _step_timer(timed)
            with contextlib.redirect_stdout(io.StringIO()):  # trl prints every log dict
                train_grpo(model, _settings(root / f"ours{r}", args, steps), steps=examples,
                           reward_funcs=timed, callbacks=[timer])  # fmt: skip
            ours_steps.extend(timer.steps[1:])
            reward_s += sum(timer.rewards[1:])
            ours_s += sum(timer.steps[1:])
            print(f"round {r}: ours      steps {_fmt(timer.steps)}")

        def baseline(r: int) -> None:
            timer = _step_timer([])
            settings = _settings(root / f"trl{r}", args, steps)
            policy, tokenizer = load_policy(model)
            dataset = grpo_dataset(examples, max_prompts=settings.max_prompts, seed=settings.seed)
            trainer = GRPOTrainer(model=policy, reward_funcs=[noop], args=settings,
                                  train_dataset=dataset, processing_class=tokenizer,
                                  callbacks=[timer])  # fmt: skip
            with contextlib.redirect_stdout(io.StringIO()):
                trainer.train()
            base_steps.extend(timer.steps[1:])
            print(f"round {r}: trl no-op steps {_fmt(timer.steps)}")

        for r in range(rounds):  # alternate who goes first: load on a shared box drifts
            for run in (ours, baseline) if r % 2 == 0 else (baseline, ours):
                run(r)

    print(
        f"GRPO step ({args.generations} completions x {args.completion_length} tokens, "
        f"{len(ours_steps)} timed steps per side, first step of each run excluded):"
    )
    for label, pick in (("median", statistics.median), ("fastest", min)):
        a, b = pick(ours_steps), pick(base_steps)
        print(f"  {label:7s} step: ours {a:.2f}s, trl no-op {b:.2f}s -> ratio {a / b:.3f}x")
    print("  (target: ratio <= 1.05x)")
    print(
        f"  reward share of our step time: {100 * reward_s / ours_s:.3f}%  (target <= 2%), "
        f"{1000 * reward_s / len(ours_steps):.1f} ms/step in rewards"
    )


def _fmt(steps: list[float]) -> str:
    return " ".join(f"{s:.2f}" for s in steps) + " s"


if __name__ == "__main__":
    main()
