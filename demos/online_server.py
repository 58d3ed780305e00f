"""``agent-rl online`` as a subprocess for ``demos/online_learning.py``: started and waited for,
SIGKILLed and restarted mid-run, stopped; and a client that counts what it was answered.

Not a library module: the demo's process management (the server it drives is the real CLI).
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

import agent_rl
from agent_rl.runtime.online_report import served_calls
from agent_rl.runtime.online_state import latest_weights

PACKAGE_ROOT = Path(agent_rl.__file__).resolve().parents[1]
NAME = "online"  # the model name the server answers to


class DemoError(Exception):
    """The demo cannot go on (the server did not start, or did not come back)."""


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
            *([] if a.no_replay else ["--tasks", str(self.out / "tasks.jsonl")]),
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
