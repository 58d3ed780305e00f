"""A coding agent on the task suite with a scripted policy: instant, no model.

    python demos/coding_agent_scripted.py                       # expert replay, all formats valid
    python demos/coding_agent_scripted.py --corrupt 0.3         # with realistic malformed calls

The scripted policy replays each task's expert solution in the chosen output format. With
``--corrupt P`` each expert call is, with probability P, preceded by a broken version of it (a
missing brace, a trailing comma, a misspelt tool, a wrong argument type, a file that does not
exist): the strict scorer catches each one, the agent shows the model an error observation and
the episode goes on — a bad rollout is data. Prints one line per step and a validity table, and
writes the trajectories (``agent-rl score FILE`` re-scores them).
"""

from __future__ import annotations

import argparse
import random
import time
from dataclasses import dataclass, fields
from pathlib import Path

from agent_rl.agent import ReActAgent
from agent_rl.commands.score import score_trajectories
from agent_rl.formats import render_call
from agent_rl.policies import ScriptedPolicy
from agent_rl.tasks import load_tasks
from agent_rl.trajectories import Step, Trajectory, TrajectoryStore
from agent_rl.verdicts import ToolCall


@dataclass
class Args:
    format: str = "react"
    """output format the policy writes: react, json or hermes"""
    split: str = "test"
    """task split: train, test or all"""
    tasks: int = 0
    """run only the first N tasks (0: all of the split)"""
    corrupt: float = 0.0
    """probability that an expert call is preceded by a malformed attempt"""
    seed: int = 0
    """seed of the corruptions"""
    out: str = "runs/demo_scripted.jsonl"
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


def corrupt(call: ToolCall, fmt: str, rng: random.Random) -> str:
    """One realistic malformed version of ``call`` as a model would write it."""
    text = render_call(call, fmt)
    kind = rng.choice(["truncated", "trailing_comma", "misspelt_tool", "wrong_type", "stale_path"])
    if kind == "truncated":
        return text[: text.rindex("}")]  # the last closing brace is missing
    if kind == "trailing_comma":
        i = text.rindex("}", 0, text.rindex("}"))
        return text[:i] + ", " + text[i:] if call.arguments else text.replace("{}", "{,}")
    if kind == "misspelt_tool":
        return render_call(ToolCall(call.name + "s", call.arguments), fmt)
    if kind == "wrong_type" and call.arguments:
        key = sorted(call.arguments)[0]
        return render_call(ToolCall(call.name, {**call.arguments, key: [call.arguments[key]]}), fmt)
    return render_call(ToolCall("read_file", {"path": "src/no_such_module.py"}), fmt)


def print_step(traj: Trajectory, step: Step) -> None:
    verdict = step.verdict
    if verdict is None:
        what = f"POLICY ERROR  {step.error[:70]}"
    elif verdict.valid:
        what = f"valid         {verdict.call.name if verdict.call else 'final answer'}"
    else:
        what = f"INVALID       {verdict.stage}/{verdict.kind}"
    print(f"{traj.task.id[:34]:34} step {step.index:2}  {what}")


def main() -> None:
    args = parse_args()
    tasks = load_tasks(None if args.split == "all" else args.split)
    tasks = tasks[: args.tasks] if args.tasks else tasks
    rng = random.Random(args.seed)
    scripts = []
    for task in tasks:
        script = []
        for call in task.expert:
            if rng.random() < args.corrupt:
                script.append(corrupt(call, args.format, rng))
            script.append(render_call(call, args.format))
        scripts.append(script)
    policy = ScriptedPolicy(scripts, name=f"scripted-expert(corrupt={args.corrupt})")
    agent = ReActAgent(policy, format=args.format, max_steps=max(map(len, scripts)))

    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    store = TrajectoryStore(args.out)
    start = time.perf_counter()
    trajs = agent.run_many(tasks, on_step=print_step, on_episode=store.append)
    store.close()

    print(f"\n{len(trajs)} episodes in {time.perf_counter() - start:.2f}s, format {args.format}\n")
    print(score_trajectories(trajs).table())
    print(f"\nwrote {len(trajs)} trajectories to {args.out}; re-score: agent-rl score {args.out}")


if __name__ == "__main__":
    main()
