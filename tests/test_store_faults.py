"""A writer process killed with ``kill -9`` while appending: the store stays readable, every
earlier record is intact, at most the torn last record is skipped (and reported), and the next
writer appends cleanly after it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path

import pytest

from agent_rl.trajectories import TornRecordWarning, TrajectoryStore

WRITER = textwrap.dedent(
    """
    import os, sys, time
    from agent_rl.trajectories import Step, Trajectory, TrajectoryStore

    path, mode, size = sys.argv[1], sys.argv[2], int(sys.argv[3])

    def half_then_hang(fd, data):  # a write cut in two by the kill: the torn case, for sure
        n = os.write(fd, bytes(data[: len(data) // 2]))
        print("HALF", flush=True)
        time.sleep(60)
        return n

    store = TrajectoryStore(path)
    i = 0
    while True:
        if mode == "torn" and i == 3:
            store._write = half_then_hang
        body = f"{i}:" + "x" * size
        store.append(Trajectory(id=f"r{i}", steps=[Step(index=0, raw_output=body)]))
        print(f"WROTE {i}", flush=True)
        i += 1
    """
)


def _spawn(path: Path, mode: str, size: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path), mode, str(size)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )


def _kill_after(proc: subprocess.Popen[str], marker: str, delay_s: float = 0.0) -> int:
    """Read the writer's lines until ``marker`` appears, wait ``delay_s``, then ``kill -9`` it.
    Returns the number of appends it reported as complete."""
    assert proc.stdout is not None
    done = 0
    end = time.monotonic() + 60
    for line in proc.stdout:
        if line.startswith("WROTE"):
            done += 1
        if line.startswith(marker):
            break
        assert time.monotonic() < end, "the writer made no progress"
    time.sleep(delay_s)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL
    return done


def _check_intact(path: Path, reported: int, size: int) -> tuple[list[str], list[str]]:
    """Every record the writer finished is there, whole, in order; returns the ids read and
    the torn-record warnings."""
    store = TrajectoryStore(path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trajs = list(store.read())  # on_error="raise": nothing in the middle may be bad
    ids = [t.id for t in trajs]
    assert ids == [f"r{i}" for i in range(len(ids))]
    assert len(ids) >= reported  # the kill can land after a write but before its print
    for i, t in enumerate(trajs):
        assert t.steps[0].raw_output == f"{i}:" + "x" * size
    torn = [w for w in caught if issubclass(w.category, TornRecordWarning)]
    assert store.skipped == len(torn) <= 1
    assert len(caught) == len(torn)  # no other warning
    return ids, [str(w.message) for w in torn]


def _append_after(path: Path, ids: list[str]) -> None:
    """A new writer appends cleanly after whatever the crash left."""
    from agent_rl.trajectories import Trajectory

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TornRecordWarning)  # the torn tail is moved aside
        TrajectoryStore(path).append(Trajectory(id="after"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert [t.id for t in TrajectoryStore(path)] == [*ids, "after"]


def test_kill_9_between_the_halves_of_an_append(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    size = 50_000
    reported = _kill_after(_spawn(path, "torn", size), "HALF")
    assert reported == 3
    assert not path.read_bytes().endswith(b"\n")  # the kill really left a torn record
    ids, torn = _check_intact(path, reported, size)
    assert ids == ["r0", "r1", "r2"]
    assert len(torn) == 1 and "t.jsonl:4: skipped the last record" in torn[0]
    _append_after(path, ids)
    assert (tmp_path / "t.jsonl.torn").stat().st_size > 0


@pytest.mark.parametrize("delay_s", [0.0, 0.01, 0.025, 0.04])
def test_kill_9_at_any_point_of_a_stream_of_big_appends(tmp_path: Path, delay_s: float) -> None:
    """16 MB lines killed a little after the second append: the kill lands while a record is
    being encoded or inside its ``write`` (the kernel stops a killed write midway, leaving a
    truly torn line, in about half of the runs). Whatever the timing, the invariants hold."""
    path = tmp_path / "t.jsonl"
    size = 16_000_000
    proc = _spawn(path, "stream", size)
    reported = _kill_after(proc, "WROTE 1", delay_s)
    ids, _ = _check_intact(path, reported, size)
    _append_after(path, ids)
