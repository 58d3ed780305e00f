"""The latency ``agent-rl proxy`` adds: the same requests sent to an upstream directly and through
the proxy (which scores and records each one), interleaved in one run.

Run from the project root:  OMP_NUM_THREADS=1 python tools/bench_proxy.py [--quick]

The upstream is ``agent-rl serve``'s app with an instant scripted model (so the proxy's own cost
is not hidden behind generation), in its own process; the proxy is the ``agent-rl proxy``
command, recording to a temporary store. The client sends a coding task's prompt with the
sandbox's 7 tools and gets a valid tool call back, over keep-alive connections; streamed
requests are timed to the last byte. Prints p50 / p99 per mode and what the proxy adds.
"""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
N = 100 if "--quick" in sys.argv else 500


def upstream_child(port: int) -> None:
    """The upstream process: serve's app, a model that answers a valid call at once."""
    from agent_rl import ScriptedPolicy, load_tasks, render_call
    from agent_rl.runtime import ServedPolicy, create_serve_app
    from agent_rl.runtime.server import run_foreground

    text = render_call(load_tasks("train")[0].expert[0], "hermes")
    policy = ScriptedPolicy(lambda messages: text, name="bench")
    run_foreground(create_serve_app(ServedPolicy(policy)), "127.0.0.1", port, log_level="warning")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(url: str, procs: list[subprocess.Popen[bytes]]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if any(p.poll() is not None for p in procs):
            raise SystemExit("a server process exited early")
        try:
            if httpx.get(f"{url}/models", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise SystemExit(f"{url} did not start")


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    from agent_rl import load_tasks, make_sandbox

    task = load_tasks("train")[0]
    body = {
        "model": "bench",
        "messages": [{"role": "user", "content": task.prompt}],
        "tools": [t.to_openai() for t in make_sandbox(task).tools],
        "temperature": 0,
    }
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    up_port, proxy_port = _free_port(), _free_port()
    store = Path(tempfile.mkdtemp()) / "bench.jsonl"
    cmds = [
        [sys.executable, __file__, "--upstream-child", str(up_port)],
        [
            sys.executable,
            "-m",
            "agent_rl.cli",
            "proxy",
            "--upstream",
            f"http://127.0.0.1:{up_port}/v1",
            "--port",
            str(proxy_port),
            "--store",
            str(store),
        ],
    ]
    procs = [
        subprocess.Popen(c, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for c in cmds
    ]
    try:
        urls = {
            "direct": f"http://127.0.0.1:{up_port}/v1",
            "proxy": f"http://127.0.0.1:{proxy_port}/v1",
        }
        for url in urls.values():
            _wait(url, procs)
        times: dict[tuple[str, str], list[float]] = {}
        with httpx.Client(timeout=30) as client:
            for i in range(N + 20):  # interleaved; the first 20 rounds warm up
                for stream in (False, True):
                    for name, url in urls.items():
                        t0 = time.perf_counter()
                        with client.stream(
                            "POST", f"{url}/chat/completions", json={**body, "stream": stream}
                        ) as r:
                            for _ in r.iter_raw():
                                pass
                            assert r.status_code == 200, r.status_code
                        if i >= 20:
                            key = (name, "stream" if stream else "json")
                            times.setdefault(key, []).append((time.perf_counter() - t0) * 1e3)
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(20)
    recorded = sum(1 for _ in store.open())
    print(f"{N} requests per mode (+20 warm-up), {recorded} recorded by the proxy\n")
    print(
        f"{'mode':8} {'direct p50':>11} {'proxy p50':>10} {'added p50':>10} "
        f"{'direct p99':>11} {'proxy p99':>10} {'added p99':>10}"
    )
    for mode in ("json", "stream"):
        d, p = times[("direct", mode)], times[("proxy", mode)]
        d50, p50, d99, p99 = _pct(d, 0.5), _pct(p, 0.5), _pct(d, 0.99), _pct(p, 0.99)
        print(
            f"{mode:8} {d50:9.2f}ms {p50:8.2f}ms {p50 - d50:8.2f}ms "
            f"{d99:9.2f}ms {p99:8.2f}ms {p99 - d99:8.2f}ms"
        )
    added = [
        statistics.median(times[("proxy", m)]) / statistics.median(times[("direct", m)])
        for m in ("json", "stream")
    ]
    print(f"\nproxy / direct (median): json {added[0]:.2f}x, stream {added[1]:.2f}x")


if __name__ == "__main__":
    if "--upstream-child" in sys.argv:
        upstream_child(int(sys.argv[sys.argv.index("--upstream-child") + 1]))
    else:
        main()
