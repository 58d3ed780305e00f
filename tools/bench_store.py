"""Benchmark the TrajectoryStore against plain ``json.dumps`` + ``write``, side by side in one run,
and stream a store of 1,000,000 steps with flat memory.

    python tools/bench_store.py            # full run: 1,000,000 steps (~0.5 GB file, minutes)
    python tools/bench_store.py --quick    # CI: 20,000 steps
    python tools/bench_store.py --dir /big/disk --steps 2000000

Rows:
- append: ``store.append(traj)`` one trajectory at a time (validated model -> one line -> one
  ``os.write`` under a lock), and ``store.extend`` in batches of 100; baseline: ``json.dumps``
  of the same stored-form dicts written with a buffered ``f.write`` per line (no model, no
  crash safety).
- read: ``store.read()`` streaming validated ``Trajectory`` objects; baseline: ``json.loads``
  of each line.
- scale: a store of ``--steps`` steps (``--steps-per-traj`` each) written with ``extend``, then
  streamed once; resident memory (RSS, from /proc) is sampled during the scan and the Python
  heap peak is taken with ``tracemalloc`` (a second pass over the first 10% of the file, since
  tracemalloc slows the scan). Flat memory: RSS at 100% of the scan ~ RSS at 10%.

Each timing row is the best of ``--repeats`` (noise only ever adds time). Set
``OMP_NUM_THREADS=1`` and keep the machine otherwise idle.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agent_rl.trajectories import Step, Trajectory, TrajectoryStore
from agent_rl.verdicts import CallVerdict, ErrorEntry, Observation, ToolCall

_FILES = ["src/app.py", "src/util/config.py", "tests/test_app.py", "README.md"]
_SYSTEM = "You are a coding agent. Tools: read_file, write_file, edit_file, list_dir, search. " * 3


def make_trajectory(rng: random.Random, n_steps: int) -> Trajectory:
    """A realistic episode: a system prompt, the task, and per step a call, its observation and
    verdict (about one step in eight invalid)."""
    steps = []
    history: list[dict[str, Any]] = [
        {"role": "system", "content": _SYSTEM},
        {"role": "user", "content": "Fix the failing test in tests/test_app.py"},
    ]
    for i in range(n_steps):
        path = rng.choice(_FILES)
        call = ToolCall("read_file", {"path": path, "start": rng.randint(1, 50)})
        raw = json.dumps({"name": call.name, "arguments": call.arguments})
        if rng.random() < 0.125:
            err = ErrorEntry("trailing_comma", "trailing comma before }", ("char", len(raw) - 2))
            raw, verdict, obs = raw[:-1] + ",}", CallVerdict(False, "parse", None, (err,)), None
            applied = None
        else:
            verdict, applied = CallVerdict(True, None, call), call
            obs = Observation("\n".join(f"{k}| line {k} of {path}" for k in range(1, 6)))
        steps.append(
            Step(
                index=i,
                messages=history[-4:],
                raw_output=raw,
                call=applied,
                observation=obs,
                verdict=verdict,
                latency_s=rng.random(),
                prompt_tokens=rng.randint(100, 900),
                completion_tokens=rng.randint(10, 60),
                state_before={"format": 1, "files": {"src/app.py": "x = 1\n"}} if i == 0 else None,
            )
        )
        history.append({"role": "assistant", "content": raw})
        history.append({"role": "user", "content": obs.content if obs else "invalid call"})
    return Trajectory(
        task={"id": f"task-{rng.randint(0, 47)}", "prompt": "Fix the failing test"},
        steps=steps,
        metadata={"source": "agent", "model": "tiny-qwen2"},
    )


def best_of(repeats: int, fn: Callable[[], int]) -> tuple[float, int]:
    best, n = float("inf"), 0
    for _ in range(repeats):
        t0 = time.perf_counter()
        n = fn()
        best = min(best, time.perf_counter() - t0)
    return best, n


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def bench_throughput(tmp: Path, n: int, steps: int, repeats: int) -> None:
    rng = random.Random(0)
    trajs = [make_trajectory(rng, steps) for _ in range(n)]
    dicts = [t.model_dump(mode="json") for t in trajs]
    store_path, plain_path = tmp / "store.jsonl", tmp / "plain.jsonl"

    def ours() -> int:
        store_path.unlink(missing_ok=True)
        store = TrajectoryStore(store_path)
        for t in trajs:
            store.append(t)
        store.close()
        return n

    def ours_batched() -> int:
        store_path.unlink(missing_ok=True)
        with TrajectoryStore(store_path) as store:
            for i in range(0, n, 100):
                store.extend(trajs[i : i + 100])
        return n

    def plain() -> int:
        with open(plain_path, "w") as f:
            for d in dicts:
                f.write(json.dumps(d) + "\n")
        return n

    def read_ours() -> int:
        return sum(1 for _ in TrajectoryStore(store_path).read())

    def read_plain() -> int:
        with open(store_path, "rb") as f:
            return sum(1 for line in f if json.loads(line))

    base_w, _ = best_of(repeats, plain)
    rows = [("append (one per call)", *best_of(repeats, ours), base_w)]
    rows.append(("extend (batches of 100)", *best_of(repeats, ours_batched), base_w))
    base_r, _ = best_of(repeats, read_plain)
    rows.append(("read (validated models)", *best_of(repeats, read_ours), base_r))
    size = store_path.stat().st_size / n
    print(f"\nthroughput: {n} trajectories x {steps} steps, {size / 1024:.1f} KiB a line")
    print(f"{'row':<26}{'traj/s':>10}{'baseline/s':>12}{'ratio':>8}")
    for name, t, count, base in rows:
        print(f"{name:<26}{count / t:>10,.0f}{count / base:>12,.0f}{t / base:>7.2f}x")


def bench_scale(tmp: Path, total_steps: int, per_traj: int) -> None:
    n = total_steps // per_traj
    rng = random.Random(1)
    templates = [make_trajectory(rng, per_traj) for _ in range(50)]
    path = tmp / "scale.jsonl"
    path.unlink(missing_ok=True)
    t0 = time.perf_counter()
    with TrajectoryStore(path) as store:
        for i in range(0, n, 500):
            batch = [
                templates[j % 50].model_copy(update={"id": f"traj-{j}"})
                for j in range(i, min(n, i + 500))
            ]
            store.extend(batch)
    write_s = time.perf_counter() - t0
    size_mb = path.stat().st_size / 2**20
    print(f"\nscale: {n:,} trajectories, {n * per_traj:,} steps, {size_mb:,.0f} MiB")
    rate = n / write_s
    print(f"write (extend): {write_s:.1f} s, {rate:,.0f} traj/s, {rate * per_traj:,.0f} steps/s")

    marks = {max(1, n // 10): "10%", max(1, n // 2): "50%", n: "100%"}
    samples = {}
    rss0 = rss_mb()
    t0 = time.perf_counter()
    count = steps = 0
    for traj in TrajectoryStore(path).read():
        count += 1
        steps += len(traj.steps)
        if count in marks:
            samples[marks[count]] = rss_mb()
    read_s = time.perf_counter() - t0
    assert count == n and steps == n * per_traj, (count, steps)
    print(f"stream read: {read_s:.1f} s, {n / read_s:,.0f} traj/s, {steps / read_s:,.0f} steps/s")
    grow = samples["100%"] - samples["10%"]
    print(
        f"RSS before scan {rss0:.0f} MiB; at 10% {samples['10%']:.0f}, 50% {samples['50%']:.0f}, "
        f"100% {samples['100%']:.0f} MiB (growth 10%->100%: {grow:+.1f} MiB)"
    )
    tracemalloc.start()
    limit = max(1, n // 10)
    for k, _ in enumerate(TrajectoryStore(path).read(), 1):
        if k >= limit:
            break
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    line_kib = path.stat().st_size / n / 1024
    print(
        f"tracemalloc peak over {limit:,} streamed trajectories: {peak / 2**20:.2f} MiB "
        f"(one line is {line_kib:.1f} KiB)"
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="CI size: 20,000 steps")
    p.add_argument("--steps", type=int, default=1_000_000, help="steps in the scale store")
    p.add_argument("--steps-per-traj", type=int, default=10)
    p.add_argument("--n", type=int, default=2000, help="trajectories in the throughput rows")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--dir", type=Path, default=None, help="where to write (default: a temp dir)")
    args = p.parse_args(argv)
    if args.quick:
        args.steps, args.n, args.repeats = 20_000, 300, 2
    with tempfile.TemporaryDirectory(dir=args.dir) as d:
        bench_throughput(Path(d), args.n, args.steps_per_traj, args.repeats)
        bench_scale(Path(d), args.steps, args.steps_per_traj)
    return 0


if __name__ == "__main__":
    sys.exit(main())
