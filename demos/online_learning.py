"""Online learning, shown end to end: our ReAct agent drives ``agent-rl online`` over fresh
task-family episodes for N minutes, the server is SIGKILLed mid-run and restarted, and served
validity is plotted against wall time and weights version.

    python demos/online_learning.py --model tiny-sft --minutes 4 --out runs/online_demo

1. Starts the real CLI as a subprocess — ``python -m agent_rl.cli online MODEL --store
   OUT/served.jsonl --output_dir OUT/learner --format react --no-template-tools ...`` (log:
   ``OUT/server-<n>.log``; the agent's system prompt lists the tools, as in training, so they
   are scored against but not rendered into the template again unless ``--template-tools``)
   — and waits, bounded, until ``GET /v1/models`` answers.
   The server gets ``--tasks OUT/tasks.jsonl``, the episodes the agent will run (60 a minute
   of serving; more are drawn if the agent gets through them, and those are learned from by
   schema validity alone): it replays each served episode in its task's sandbox and learns
   from validity in the episode's state and, while the agent follows the expert, from the
   expert's tool at that step (``runtime.replay``, ``ONLINE_REWARDS``). ``--no-replay``
   leaves the file out: schema validity alone, which a detour onto a call that is valid
   anywhere (``run_tests``) wins (BENCHMARKS.md).
2. Runs ``ReActAgent`` with ``OpenAIPolicy`` (httpx; the tools sent natively, sampled at
   ``--temperature``) over train-split task-family episodes with fresh seeds (never those of an
   SFT set built with ``seed=0``), a batch of ``--episodes`` at a time, for ``--minutes`` of
   serving (the outage does not count). The server process is driven by ``online_server.py``.
3. At ``--kill-at`` of the way it SIGKILLs the server and starts it again on the same store and
   output folder. The agent's requests retry with exponential backoff through the outage
   (``--retries``, bounded: an episode whose retries run out ends with the error recorded and
   the next batch goes on — never a hang).
4. Reads the store back and checks that every request the client got an answer to is recorded
   (exit 1 and a loud message if one is lost) and that the restarted server serves the newest
   saved weights version, counting on from it (exit 1 if a version goes back). Writes
   ``OUT/online.json`` (per-window and per-version validity with counts, policy lag, requests
   answered vs recorded, records before/after the restart, which tools the valid calls named,
   the agent's episodes per window), ``OUT/online.png``, ``OUT/answered.txt`` (the id of every
   request the client got an answer to), ``OUT/tasks.jsonl`` and ``OUT/episodes.jsonl`` (the
   agent's episodes, scored on the client with the state too: ``agent-rl score`` reads it).

Each run starts clean: the files above are removed from ``OUT`` first.
"""

from __future__ import annotations

import argparse
import itertools
import json
import shutil
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from online_server import NAME, Client, DemoError, Restart, Server, free_port, kill_and_restart
from online_summary import agent_windows, print_report

from agent_rl.agent import ReActAgent
from agent_rl.policies import OpenAIPolicy
from agent_rl.runtime.online_report import (
    lag_stats,
    plot_served,
    served_calls,
    summarize,
    version_bins,
)
from agent_rl.runtime.online_state import read_updates
from agent_rl.tasks import Task, generate_tasks, make_sandbox, save_task_file
from agent_rl.trajectories import TrajectoryStore

TASKS_PER_MINUTE = 60  # in OUT/tasks.jsonl (a 15-minute run drew ~14 a minute)
SEED_BASE = 1_000_000  # task seeds of this demo: SEED_BASE + 1000 * --seed + batch


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--model", required=True, help="a model folder or a named model")
    p.add_argument("--minutes", type=float, default=4.0, help="minutes of serving (no outage)")
    p.add_argument("--out", default="runs/online_demo", help="output folder")
    p.add_argument("--kill-at", type=float, default=0.5, help="kill point, fraction (0: none)")
    p.add_argument("--port", type=int, default=0, help="server port (0: a free one)")
    p.add_argument("--seed", type=int, default=1, help="task seeds; sampling seed")
    p.add_argument("--episodes", type=int, default=2, help="episodes per batch, sent together")
    p.add_argument("--max-steps", type=int, default=8, help="model turns per episode")
    p.add_argument("--temperature", type=float, default=1.0, help="sampling temperature")
    p.add_argument("--max-tokens", type=int, default=192, help="max_tokens per request")
    p.add_argument("--window", type=float, default=0.0, help="seconds per window (0: N*60/8)")
    p.add_argument("--learning-rate", type=float, default=3e-4, help="GRPO learning rate")
    p.add_argument("--num-generations", type=int, default=4, help="GRPO completions per prompt")
    p.add_argument("--max-prompts", type=int, default=8, help="served steps per update")
    p.add_argument("--max-completion-length", type=int, default=128, help="GRPO tokens")
    p.add_argument("--interval", type=float, default=2.0, help="learner's store checks, s")
    p.add_argument(
        "--retries", type=int, default=60, help="client retries per request (1-10 s apart: ~10 min)"
    )
    p.add_argument("--request-timeout", type=float, default=180.0, help="seconds per request")
    p.add_argument("--start-timeout", type=float, default=600.0, help="seconds to wait for up")
    p.add_argument("--device", default="cpu", help="the server's device")
    p.add_argument(
        "--no-replay",
        action="store_true",
        help="do not give the server the tasks file: it learns from schema validity alone "
        "(default: it replays the agent's episodes for their state and the expert's tool)",
    )
    p.add_argument(
        "--template-tools",
        action="store_true",
        help="also render the tools into the chat template (default: the agent's system "
        "prompt lists them, as in training; the server scores against them either way)",
    )
    args = p.parse_args(argv)
    if args.minutes <= 0 or not 0 <= args.kill_at < 1 or args.episodes < 1:
        p.error("need --minutes > 0, 0 <= --kill-at < 1 and --episodes >= 1")
    return args


def fresh_tasks(seed: int) -> Iterator[Task]:
    """Train-split family instances, every family in turn, seeds never used by an SFT set."""
    for block in itertools.count():
        yield from generate_tasks("train", 11, seed=SEED_BASE + 1000 * seed + block)


def run_agent(
    args: argparse.Namespace,
    server: Server,
    client: Client,
    restart: Restart | None,
    t0: float,
    tasks: Iterator[Task],
) -> dict[str, Any]:
    """Episodes until the minutes of serving are up (the outage does not count; one batch
    after the restart at least)."""
    first = next(tasks)
    policy = OpenAIPolicy(
        server.base_url,
        NAME,
        api_key="-",
        timeout=args.request_timeout,
        max_retries=args.retries,
        backoff=1.0,
        max_backoff=10.0,
        transport=client.transport(),
        temperature=args.temperature,
        max_tokens=args.max_tokens,
        tools_mode=True,
        tools=make_sandbox(first).tools,
        format="react",
        concurrency=args.episodes,
        on_response=client.on_response,
    )
    agent = ReActAgent(policy, format="react", max_steps=args.max_steps, metadata={"demo": NAME})
    tasks = itertools.chain([first], tasks)
    deadline = t0 + 60 * args.minutes
    status: Counter[str] = Counter()
    batches = solved = steps = 0
    errors: list[str] = []
    episodes: list[dict[str, Any]] = []
    store = TrajectoryStore(server.out / "episodes.jsonl")  # the client's side, state-scored
    after_restart = False
    while True:
        if restart is not None and restart.error:
            break
        outage = restart.ready_at - restart.killed_at if restart and restart.ready_at else 0.0
        if time.time() >= deadline + outage and (restart is None or after_restart):
            break
        started = time.time()
        batch = [next(tasks) for _ in range(args.episodes)]
        for traj in agent.run_many(batch):
            store.append(traj)
            episodes.append(
                {
                    "end_s": round(time.time() - t0, 1),
                    "status": traj.outcome.status,
                    "solved": bool(traj.outcome.success),
                    "steps": len(traj.steps),
                }
            )
            status[traj.outcome.status] += 1
            solved += bool(traj.outcome.success)
            steps += len(traj.steps)
            if traj.outcome.error:
                errors.append(traj.outcome.error)
        batches += 1
        if restart is not None and restart.ready_at and started >= restart.ready_at:
            after_restart = True
        print(
            f"[{time.time() - t0:6.1f}s] batch {batches}: {dict(status)} so far, "
            f"{len(client.answered)} answers, {client.failed_attempts} failed attempts",
            flush=True,
        )
    policy.close()
    store.close()
    return {
        "batches": batches,
        "episodes": sum(status.values()),
        "status": dict(status),
        "solved": solved,
        "steps": steps,
        "errors": errors[:5],
        "per_episode": episodes,
    }


def analyse(
    args: argparse.Namespace,
    out: Path,
    client: Client,
    restart: Restart | None,
    agent: dict[str, Any],
    t0: float,
    t_end: float,
) -> tuple[dict[str, Any], list[str]]:
    """The report and the list of failed checks (empty: all held)."""
    store = out / "served.jsonl"
    calls = served_calls(store) if store.is_file() else []
    window = args.window or 60 * args.minutes / 8
    summary = summarize(calls, start=t0, window_s=window)
    updates = read_updates(out / "learner")
    answered = {a["id"] for a in client.answered}
    recorded = {c.request_id for c in calls}
    lost = sorted(answered - recorded)
    failures = []
    if lost:
        failures.append(f"LOST {len(lost)} answered request(s) not in the store: {lost[:5]}")
    report: dict[str, Any] = {
        "model": args.model,
        "minutes": args.minutes,
        "started_at": t0,
        "wall_s": round(t_end - t0, 1),
        "settings": {k: v for k, v in vars(args).items() if k not in ("model", "out")},
        "served": summary | {"version_bins": version_bins(summary)},
        "requests": {
            "client_attempts": client.attempts,
            "client_failed_attempts": client.failed_attempts,
            "client_answered": len(answered),
            "recorded": len(recorded),
            "lost": len(lost),
            "recorded_not_answered": len(recorded - answered),
        },
        "updates": {
            "count": len(updates),
            "last_version": max((int(u["version"]) for u in updates), default=0),
            "seconds": [round(u["finished_at"] - u["started_at"], 1) for u in updates],
            "rewards": [u.get("reward") for u in updates],
            "at_s": [round(u["finished_at"] - t0, 1) for u in updates],
            "samples": sum(int(u["samples"]) for u in updates),
            "replayed": sum(int(u.get("replayed", 0)) for u in updates),
            "off_path": sum(int(u.get("off_path", 0)) for u in updates),
        },
        "policy_lag": lag_stats(updates),
        "agent": agent | {"windows": agent_windows(agent["per_episode"], window)},
    }
    if restart is not None:
        before = [c.version for c in calls if c.at < restart.killed_at and c.version is not None]
        after = [c for c in calls if c.at >= restart.killed_at and c.version is not None]
        saved = restart.saved_version or 0
        first_after = min((c.at, c.version) for c in after)[1] if after else None
        report["restart"] = {
            "killed_s": round(restart.killed_at - t0, 1),
            "ready_s": round(restart.ready_at - t0, 1),
            "outage_s": round(restart.ready_at - restart.killed_at, 1),
            "records_before": restart.records_before,
            "records_after": len(recorded) - restart.records_before,
            "max_version_before": max(before, default=None),
            "saved_version_at_kill": restart.saved_version,
            "first_version_after": first_after,
            "min_version_after": min((c.version for c in after), default=None),
            "error": restart.error,
        }
        if restart.error:
            failures.append(f"the server did not come back: {restart.error}")
        elif not after:
            failures.append("no request was served after the restart")
        elif min(c.version for c in after) < max(saved, max(before, default=0)):  # type: ignore[type-var]
            failures.append(
                f"weights version went back: v{max(before, default=0)} before the kill "
                f"(saved v{saved}), v{min(c.version for c in after)} after"  # type: ignore[type-var]
            )
    return report, failures


def clean(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for name in (
        "served.jsonl",
        "episodes.jsonl",
        "online.json",
        "online.png",
        "answered.txt",
        "tasks.jsonl",
    ):
        (out / name).unlink(missing_ok=True)
    for log in out.glob("server-*.log"):
        log.unlink()
    shutil.rmtree(out / "learner", ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    out = Path(args.out)
    clean(out)
    tasks = fresh_tasks(args.seed)
    listed = list(itertools.islice(tasks, TASKS_PER_MINUTE * max(1, round(args.minutes))))
    save_task_file(listed, out / "tasks.jsonl")  # what the server replays (more are drawn after)
    server = Server(args, out, args.port or free_port())
    print(f"starting: {' '.join(server.command())}", flush=True)
    try:
        server.start()
    except DemoError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    t0 = time.time()
    client = Client()
    restart = Restart(kill_s=60 * args.minutes * args.kill_at) if args.kill_at else None
    killer = None
    if restart is not None:
        killer = threading.Thread(
            target=kill_and_restart, args=(server, restart, t0, out / "served.jsonl"), daemon=True
        )
        killer.start()
    try:
        agent = run_agent(args, server, client, restart, t0, itertools.chain(listed, tasks))
        if killer is not None:
            killer.join()
    finally:
        t_end = time.time()
        server.stop()
    report, failures = analyse(args, out, client, restart, agent, t0, t_end)
    report["failures"] = failures
    (out / "online.json").write_text(json.dumps(report, indent=2))
    (out / "answered.txt").write_text("".join(f"{a['id']}\n" for a in client.answered))
    calls = served_calls(out / "served.jsonl") if (out / "served.jsonl").is_file() else []
    outage = (
        []
        if restart is None or not restart.ready_at
        else [(restart.killed_at - t0, restart.ready_at - t0)]
    )
    plot_served(
        report["served"],
        out / "online.png",
        versions_at=[(c.at - t0, c.version) for c in calls if c.version is not None],
        outages=outage,
        title=f"Served validity while learning online ({'/'.join(Path(args.model).parts[-2:])})",
    )
    print_report(report)
    print(f"wrote {out / 'online.json'} and {out / 'online.png'}")
    for failure in failures:
        print(f"FAILED: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
