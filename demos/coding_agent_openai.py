"""A coding agent on the task suite with any OpenAI-compatible endpoint.

    # vLLM:       vllm serve Qwen/Qwen2.5-7B-Instruct --port 8000
    # llama.cpp:  llama-server -m model.gguf --port 8000
    # Ollama:     ollama serve   (base URL http://localhost:11434/v1)
    python demos/coding_agent_openai.py --base-url http://localhost:8000/v1 \\
        --model Qwen/Qwen2.5-7B-Instruct --format hermes
    python demos/coding_agent_openai.py --base-url https://api.openai.com/v1 --model gpt-4o-mini
        # API key from $OPENAI_API_KEY (or --api-key)

POSTs ``/v1/chat/completions`` over httpx; a batch of live episodes is sent as concurrent
requests. Timeouts, 429 and 5xx are retried with exponential backoff; an endpoint that stays
down ends its episodes with a clear error recorded in the trajectory — never a hang. The raw
``message.content`` is what gets scored (with ``--tools-mode`` the server's native
``tool_calls`` are rendered in the format from their *raw* argument strings, so malformed JSON
from the model stays malformed). Prints one line per step and a validity table, and writes
the trajectories.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass, fields
from pathlib import Path

from agent_rl.agent import ReActAgent
from agent_rl.commands.score import score_trajectories
from agent_rl.policies import OpenAIPolicy
from agent_rl.sandbox import CodingSandbox
from agent_rl.tasks import load_tasks
from agent_rl.trajectories import Step, Trajectory, TrajectoryStore


@dataclass
class Args:
    base_url: str = "http://localhost:8000/v1"
    """the server's API root"""
    model: str = "default"
    """model name the server serves"""
    api_key: str = ""
    """API key ("": $OPENAI_API_KEY, or none)"""
    format: str = "react"
    """output format the prompt asks for: react, json or hermes"""
    tools_mode: bool = False
    """also send native tool schemas; render returned tool_calls into the format"""
    split: str = "test"
    """task split: train, test or all"""
    tasks: int = 8
    """run the first N tasks (0: all of the split)"""
    max_steps: int = 12
    """steps per episode"""
    temperature: float = 0.0
    """sampling temperature sent to the server"""
    max_tokens: int = 512
    """max_tokens sent to the server"""
    timeout: float = 60.0
    """seconds per request (overall, not per read)"""
    max_retries: int = 3
    """retries on 429, 5xx, timeouts and dropped connections"""
    concurrency: int = 8
    """requests in flight at once"""
    out: str = "runs/demo_openai.jsonl"
    """trajectory file to append to"""


def parse_args() -> Args:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    for f in fields(Args):
        flag = "--" + f.name.replace("_", "-")
        if isinstance(f.default, bool):
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=f.default)
        else:
            parser.add_argument(flag, type=type(f.default), default=f.default)
    return Args(**vars(parser.parse_args()))


def print_step(traj: Trajectory, step: Step) -> None:
    verdict = step.verdict
    if verdict is None:
        what = f"POLICY ERROR  {step.error[:90]}"
    elif verdict.valid:
        what = f"valid         {verdict.call.name if verdict.call else 'final answer'}"
    else:
        what = f"INVALID       {verdict.stage}/{verdict.kind}"
    print(f"{traj.task.id[:34]:34} step {step.index:2}  {step.latency_s or 0:5.1f}s  {what}")


def main() -> None:
    args = parse_args()
    policy = OpenAIPolicy(
        args.base_url,
        args.model,
        args.api_key or None,
        timeout=args.timeout,
        max_retries=args.max_retries,
        temperature=args.temperature,
        max_tokens=args.max_tokens,
        tools_mode=args.tools_mode,
        tools=CodingSandbox({}).tools if args.tools_mode else (),
        format=args.format,
        concurrency=args.concurrency,
    )
    print(f"endpoint {policy.url}, model {args.model}")
    tasks = load_tasks(None if args.split == "all" else args.split)
    tasks = tasks[: args.tasks] if args.tasks else tasks
    agent = ReActAgent(policy, format=args.format, max_steps=args.max_steps)

    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    store = TrajectoryStore(args.out)
    start = time.perf_counter()
    with policy:
        trajs = agent.run_many(tasks, on_step=print_step, on_episode=store.append)
    store.close()

    print(f"\n{len(trajs)} episodes in {time.perf_counter() - start:.1f}s, format {args.format}\n")
    print(score_trajectories(trajs).table())
    print(f"\nwrote {len(trajs)} trajectories to {args.out}; re-score: agent-rl score {args.out}")


if __name__ == "__main__":
    main()
