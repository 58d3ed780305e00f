"""Online learning, shown end to end: our ReAct agent drives ``agent-rl online`` over fresh
task-family episodes for N minutes, the server is SIGKILLed mid-run and restarted, and served
validity is plotted against wall time and weights version.

    python demos/online_learning.py --model tiny-sft --minutes 4 --out runs/online_demo

1. Starts the real CLI as a subprocess — ``python -m agent_rl.cli online MODEL --store
   OUT/served.jsonl --output_dir OUT/learner --format react --no-template-tools ...`` (log:
   ``OUT/server-<n>.log``; the agent's system prompt lists the tools, as in training, so they
   are scored against but not rendered into the template again unless ``--template-tools``)
   — and waits, bounded, until ``GET /v1/models`` answers.
2. Runs ``ReActAgent`` with ``OpenAIPolicy`` (httpx; the tools sent natively, sampled at
   ``--temperature``) over train-split task-family episodes with fresh seeds (never those of an
   SFT set built with ``seed=0``), a batch of ``--episodes`` at a time, for ``--minutes`` of
   serving (the outage does not count).
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
   request the client got an answer to) and ``OUT/episodes.jsonl`` (the agent's episodes,
   scored on the client with the sandbox state too: ``agent-rl score`` reads it).

Each run starts clean: the files above are removed from ``OUT`` first.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

import agent_rl
from agent_rl.agent import ReActAgent
from agent_rl.policies import OpenAIPolicy
from agent_rl.runtime.online_report import plot_served, served_calls, summarize, version_bins
from agent_rl.runtime.online_state import latest_weights, read_updates
from agent_rl.tasks import Task, generate_tasks, make_sandbox
from agent_rl.trajectories import TrajectoryStore

PACKAGE_ROOT = Path(agent_rl.__file__).resolve().parents[1]
NAME = "online"  # the model name the server answers to
SEED_BASE = 1_000_000  # task seeds of this demo: SEED_BASE + 1000 * --seed + batch


class DemoError(Exception):
    """The demo cannot go on (the server did not start, or did not come back)."""


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
        "--template-tools",
        action="store_true",
        help="also render the tools into the chat template (default: the agent's system "
        "prompt lists them, as in training; the server scores against them either way)",
    )
    args = p.parse_args(argv)
    if args.minutes <= 0 or not 0 <= args.kill_at < 1 or args.episodes < 1:
        p.error("need --minutes > 0, 0 <= --kill-at < 1 and --episodes >= 1")
    return args


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """``agent-rl online`` as a subprocess: started, waited for, killed, stopped."""

    def __init__(self, args: argparse.Namespace, out: Path, port: int) -> None:
        self.args, self.out, self.port = args, out, port
        self.base_url = f"http://127.0.0.1:{port}/v1"
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.log_path = out / "server-0.log"

    def command(self) -> list[str]:
        a = self.args
        return [
            sys.executable, "-m", "agent_rl.cli", "online", a.model,
            "--store", str(self.out / "served.jsonl"),
            "--output_dir", str(self.out / "learner"),
            "--port", str(self.port), "--format", "react", "--name", NAME,
            "--device", a.device, "--max-tokens", str(a.max_tokens),
            "--learning_rate", str(a.learning_rate),
            "--num_generations", str(a.num_generations),
            "--max-prompts", str(a.max_prompts),
            "--max_completion_length", str(a.max_completion_length),
            "--interval", str(a.interval),
            *([] if a.template_tools else ["--no-template-tools"]),
        ]  # fmt: skip

    def start(self) -> float:
        """Start the server and wait until it answers; returns the time it did."""
        self.starts += 1
        self.log_path = self.out / f"server-{self.starts}.log"
        paths = [str(PACKAGE_ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}  # the agent_rl we run
        env.setdefault("OMP_NUM_THREADS", "1")
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                self.command(), stdout=log, stderr=subprocess.STDOUT, env=env
            )
        deadline = time.monotonic() + self.args.start_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise DemoError(
                    f"the server exited with code {self.proc.returncode} before answering; "
                    f"its log ({self.log_path}) ends:\n{self.log_tail()}"
                )
            try:
                if httpx.get(f"{self.base_url}/models", timeout=5).status_code == 200:
                    return time.time()
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        self.kill()
        raise DemoError(
            f"the server did not answer within --start-timeout={self.args.start_timeout:g}s; "
            f"its log ({self.log_path}) ends:\n{self.log_tail()}"
        )

    def log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self, timeout: float = 120.0) -> None:
        """SIGTERM (uvicorn shuts down, the learner thread is joined), then SIGKILL."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()


@dataclass
class Restart:
    """What happened around the kill."""

    kill_s: float
    killed_at: float = 0.0
    ready_at: float = 0.0
    records_before: int = 0
    saved_version: int | None = None
    error: str = ""
    done: threading.Event = field(default_factory=threading.Event, repr=False)


class Client:
    """Counts what the agent's httpx client sent and what it got answered."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.attempts = 0
        self.failed_attempts = 0
        self.answered: list[dict[str, Any]] = []

    def transport(self) -> httpx.HTTPTransport:
        client = self

        class Counting(httpx.HTTPTransport):
            def handle_request(self, request: httpx.Request) -> httpx.Response:
                with client.lock:
                    client.attempts += 1
                try:
                    return super().handle_request(request)
                except httpx.TransportError:
                    with client.lock:
                        client.failed_attempts += 1
                    raise

        return Counting()

    def on_response(self, body: dict[str, Any]) -> None:
        with self.lock:
            self.answered.append(
                {"id": body.get("id"), "at": time.time(), "fp": body.get("system_fingerprint")}
            )


def fresh_tasks(seed: int) -> Iterator[Task]:
    """Train-split family instances, every family in turn, seeds never used by an SFT set."""
    for block in itertools.count():
        yield from generate_tasks("train", 11, seed=SEED_BASE + 1000 * seed + block)


def request_ids(store: Path) -> list[str]:
    return [c.request_id for c in served_calls(store)] if store.is_file() else []


def kill_and_restart(server: Server, restart: Restart, t0: float, store: Path) -> None:
    try:
        time.sleep(max(0.0, t0 + restart.kill_s - time.time()))
        server.kill()
        restart.killed_at = time.time()
        restart.records_before = len(set(request_ids(store)))
        saved = latest_weights(server.out / "learner")
        restart.saved_version = saved.version if saved else None
        print(
            f"[{restart.killed_at - t0:6.1f}s] SIGKILLed the server: {restart.records_before} "
            f"requests recorded, newest saved weights v{restart.saved_version or 0}; restarting",
            flush=True,
        )
        restart.ready_at = server.start()
        said = [line for line in server.log_tail(40).splitlines() if line.startswith("serving")]
        print(
            f"[{restart.ready_at - t0:6.1f}s] server back after "
            f"{restart.ready_at - restart.killed_at:.1f}s: {said[-1] if said else '?'}",
            flush=True,
        )
    except Exception as e:  # reported and fails the demo; the client's retries end in time
        restart.error = f"{type(e).__name__}: {e}"
        print(f"restart failed: {restart.error}", file=sys.stderr, flush=True)
    finally:
        restart.done.set()


def run_agent(
    args: argparse.Namespace, server: Server, client: Client, restart: Restart | None, t0: float
) -> dict[str, Any]:
    """Episodes until the minutes of serving are up (the outage does not count; one batch
    after the restart at least)."""
    tasks = fresh_tasks(args.seed)
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


def lag_stats(updates: list[dict[str, Any]]) -> dict[str, Any]:
    lags = [int(lag) for u in updates for lag in u.get("lags", [])]
    return {
        "samples": len(lags),
        "mean": round(sum(lags) / len(lags), 3) if lags else None,
        "max": max(lags, default=None),
        "histogram": {str(k): v for k, v in sorted(Counter(lags).items())},
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


def _span(versions: list[int]) -> str:
    if not versions:
        return "-"
    return f"v{versions[0]}" if len(versions) == 1 else f"v{versions[0]}-v{versions[-1]}"


def agent_windows(episodes: list[dict[str, Any]], window_s: float) -> list[dict[str, Any]]:
    """The client's episodes per window (by end time): how many, solved, ended by ``finish``."""
    out: dict[int, dict[str, Any]] = {}
    for e in episodes:
        w = out.setdefault(
            int(e["end_s"] // window_s),
            {"start_s": int(e["end_s"] // window_s) * window_s, "episodes": 0, "solved": 0,
             "finished": 0, "steps": 0},
        )  # fmt: skip
        w["episodes"] += 1
        w["solved"] += int(e["solved"])
        w["finished"] += int(e["status"] == "finished")
        w["steps"] += int(e["steps"])
    return [out[k] for k in sorted(out)]


def print_report(report: dict[str, Any]) -> None:
    served = report["served"]
    print(f"\nserved validity per {served['window_s']:g} s window (the server's verdicts):")
    for w in served["windows"]:
        print(
            f"  {w['start_s']:6.0f}-{w['end_s']:<6.0f}s  {w['valid']:4d}/{w['calls']:<4d} "
            f"{100 * w['rate']:5.1f}%  versions {_span(w['versions'])}  {w['valid_tools']}"
        )
    print("per weights version (runs of versions when there are many):")
    for b in served["version_bins"]:
        name = f"v{b['first']}" + (f"-v{b['last']}" if b["last"] != b["first"] else "")
        print(
            f"  {name:<10} {b['valid']:4d}/{b['calls']:<4d} {100 * b['rate']:5.1f}%  "
            f"{b['valid_tools']}"
        )
    print("the agent's episodes per window (client side, by end time):")
    for w in report["agent"]["windows"]:
        print(
            f"  from {w['start_s']:6.0f}s  {w['episodes']:3d} episodes, {w['solved']} solved, "
            f"{w['finished']} ended by finish, {w['steps']} steps"
        )
    r, u, lag = report["requests"], report["updates"], report["policy_lag"]
    print(
        f"updates {u['count']} (last v{u['last_version']}), policy lag mean {lag['mean']} "
        f"max {lag['max']} {lag['histogram']}"
    )
    print(
        f"requests: {r['client_attempts']} attempts ({r['client_failed_attempts']} failed), "
        f"{r['client_answered']} answered, {r['recorded']} recorded, lost {r['lost']}"
    )
    if "restart" in report:
        s = report["restart"]
        print(
            f"restart: killed at {s['killed_s']}s, back at {s['ready_s']}s; records "
            f"{s['records_before']} before / {s['records_after']} after; versions: "
            f"v{s['max_version_before']} served before, v{s['saved_version_at_kill']} saved, "
            f"v{s['first_version_after']} first after"
        )


def clean(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for name in ("served.jsonl", "episodes.jsonl", "online.json", "online.png", "answered.txt"):
        (out / name).unlink(missing_ok=True)
    for log in out.glob("server-*.log"):
        log.unlink()
    shutil.rmtree(out / "learner", ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    out = Path(args.out)
    clean(out)
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
        agent = run_agent(args, server, client, restart, t0)
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
