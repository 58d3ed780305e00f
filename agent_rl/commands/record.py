"""``agent-rl record``: run the ReAct agent with a policy over the task suite, write trajectories.

    agent-rl record --policy scripted --split train --out runs/expert.jsonl      # expert replay
    agent-rl record --policy hf --model runs/tiny --split test --out runs/hf.jsonl
    agent-rl record --policy openai --base-url http://localhost:8000/v1 --model qwen2.5-7b \\
        --format hermes --tasks 20 --out runs/qwen.jsonl

Episodes run ``--batch-size`` at a time, the policy batched across them; each finished episode
is appended to ``--out`` at once (an interrupted run keeps every finished episode). Ends with
the validity table of ``agent-rl score``. If every episode of the first batch fails in the
policy (an endpoint down, a model that cannot load), it stops there with exit status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

__all__ = ["add_parser", "build_policy", "check_flags", "run"]

POLICIES = ("scripted", "hf", "openai")


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be at least 1")
    return value


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "record",
        help="run an agent with a policy over tasks and write trajectories (JSONL)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--policy", choices=POLICIES, default="scripted", help="default: scripted")
    p.add_argument(
        "--model",
        help="hf: a model folder, adapter folder, named model (smollm2-135m) or hub "
        "name; openai: model name",
    )
    p.add_argument(
        "--script",
        metavar="FILE.json",
        help="scripted: replay these outputs instead of the experts (a JSON list with one list "
        "of raw outputs per episode)",
    )
    p.add_argument("--base-url", help="openai: the API root, e.g. http://localhost:8000/v1")
    p.add_argument("--api-key", help="openai: API key (default: $OPENAI_API_KEY)")
    p.add_argument("--format", choices=("react", "json", "hermes"), default="react")
    p.add_argument("--split", choices=("train", "test", "all"), default="all")
    p.add_argument("--tasks", type=_positive, metavar="N", help="only the first N tasks")
    p.add_argument(
        "--max-steps",
        type=_positive,
        metavar="N",
        help="steps per episode (default: 12; scripted: the longest script)",
    )
    p.add_argument("--out", default="trajectories.jsonl", metavar="FILE.jsonl")
    p.add_argument("--temperature", type=float, default=0.0, help="0 = greedy (default)")
    p.add_argument("--top-p", type=float, default=1.0)
    p.add_argument("--max-new-tokens", type=_positive, default=256, metavar="N")
    p.add_argument("--batch-size", type=_positive, default=8, metavar="N", help="episodes at once")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--timeout", type=float, default=60.0, help="openai: seconds per request")
    p.add_argument("--max-retries", type=int, default=3, help="openai: retries on 429/5xx")
    p.add_argument("--tools-mode", action="store_true", help="openai: send native tool schemas")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def check_flags(args: argparse.Namespace) -> None:
    """A ``ConfigError`` naming the first flag that does not fit the chosen policy."""
    from agent_rl.errors import ConfigError

    if args.policy != "openai":
        for flag in ("base_url", "api_key"):
            if getattr(args, flag):
                raise ConfigError(f"--{flag.replace('_', '-')} is only used with --policy openai")
    if args.script and args.policy != "scripted":
        raise ConfigError("--script is only used with --policy scripted")
    if args.temperature < 0:
        raise ConfigError(f"--temperature {args.temperature} must be >= 0 (0 = greedy)")
    if args.policy == "scripted" and args.model:
        raise ConfigError("--model is not used with --policy scripted (it replays experts)")
    if args.policy != "scripted" and not args.model:
        what = "a saved model folder or hub name" if args.policy == "hf" else "the model name"
        raise ConfigError(f"--policy {args.policy} needs --model ({what})")
    if args.policy == "openai" and not args.base_url:
        raise ConfigError("--policy openai needs --base-url (e.g. http://localhost:8000/v1)")


def build_policy(
    args: argparse.Namespace, tasks: Any, tools: Any, script: list[list[str]] | None = None
) -> Any:
    """The policy the (checked) flags ask for."""
    from agent_rl.policies import HFPolicy, OpenAIPolicy, ScriptedPolicy

    if args.policy == "scripted":
        if script is not None:
            return ScriptedPolicy(script, name=f"script:{args.script}")
        return ScriptedPolicy.expert(tasks, args.format)
    if args.policy == "hf":
        return HFPolicy(
            args.model,
            max_new_tokens=args.max_new_tokens,
            temperature=args.temperature or 1.0,
            top_p=args.top_p,
            do_sample=args.temperature > 0,
            seed=args.seed,
            batch_size=args.batch_size,
        )
    return OpenAIPolicy(
        args.base_url,
        args.model,
        args.api_key,
        timeout=args.timeout,
        max_retries=args.max_retries,
        temperature=args.temperature,
        max_tokens=args.max_new_tokens,
        tools_mode=args.tools_mode,
        tools=tools if args.tools_mode else (),
        format=args.format,
        concurrency=args.batch_size,
    )


def _read_script(path: str) -> list[list[str]]:
    from agent_rl.errors import ConfigError

    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"--script {path}: cannot read it as JSON ({exc})") from None
    if not isinstance(data, list) or not all(
        isinstance(ep, list) and all(isinstance(o, str) for o in ep) for ep in data
    ):
        raise ConfigError(
            f"--script {path}: expected a JSON list of lists of strings (the raw outputs of "
            'each episode), e.g. [["Action: {...}", "Final Answer: done"]]'
        )
    return data


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from agent_rl.agent import ReActAgent
    from agent_rl.commands.score import score_trajectories
    from agent_rl.errors import PolicyError
    from agent_rl.sandbox import CodingSandbox
    from agent_rl.tasks import load_tasks
    from agent_rl.trajectories import TrajectoryStore

    check_flags(args)
    script = _read_script(args.script) if args.script else None
    tasks = load_tasks(None if args.split == "all" else args.split)
    tasks = tasks[: args.tasks] if args.tasks else tasks
    if script is not None and args.tasks is None:
        tasks = tasks[: len(script)]
    policy = build_policy(args, tasks, CodingSandbox({}).tools, script)
    max_steps = args.max_steps or 12
    if args.max_steps is None and args.policy == "scripted":
        max_steps = max((len(script) for script in policy.scripts), default=1)
    agent = ReActAgent(policy, format=args.format, max_steps=max_steps)
    store = TrajectoryStore(args.out)
    done: list[Any] = []
    bar = tqdm(total=len(tasks), desc="episodes", unit="ep", disable=args.no_progress or None)

    def on_episode(traj: Any) -> None:
        store.append(traj)
        done.append(traj)
        valid = sum(t.all_valid for t in done)
        bar.set_postfix_str(f"all-valid {valid}/{len(done)}")
        bar.update(1)

    try:
        for start in range(0, len(tasks), args.batch_size):
            chunk = agent.run_many(tasks[start : start + args.batch_size], on_episode=on_episode)
            if start == 0 and all(t.outcome.status == "error" and len(t.steps) == 1 for t in chunk):
                raise PolicyError(
                    f"every episode of the first batch failed in the policy, stopping: "
                    f"{chunk[0].outcome.error}"
                )
    finally:
        bar.close()
        store.close()
        if hasattr(policy, "close"):
            policy.close()
    print(f"wrote {len(done)} trajectories to {args.out} ({policy.name}, format {args.format})")
    print()
    print(score_trajectories(done).table())
    sys.stdout.flush()
    return 0
