"""The demo's run folder: its settings stamp, skipping finished stages, stage and wall times,
and independent stages run side by side in worker processes.

Knows nothing of what a stage does: ``agent_rl.demo`` says that (its ``_job``).
"""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple, Protocol

from agent_rl.errors import ConfigError

__all__ = ["Job", "RunFolder", "read_json", "seed_all", "train_result", "workers", "write_json"]


class RunConfig(Protocol):
    """What a run folder needs of its settings (``agent_rl.demo.DemoConfig`` is one)."""

    @property
    def run_dir(self) -> Path: ...

    def to_dict(self) -> dict[str, Any]: ...


def write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)


class RunFolder:
    """The run folder: its settings stamp, stage skipping, stage and wall times."""

    def __init__(self, config: RunConfig, restart: bool, echo: Callable[[str], None]) -> None:
        self.config, self.dir, self.echo = config, config.run_dir, echo
        stamp = self.dir / "config.json"
        if restart and self.dir.exists():
            if not stamp.is_file():
                raise ConfigError(
                    f"{self.dir} exists but is not a demo run (no config.json), so restart will "
                    "not delete it. Choose another --name or --out."
                )
            shutil.rmtree(self.dir)
        wanted = json.loads(json.dumps(config.to_dict()))
        if stamp.is_file() and json.loads(stamp.read_text()) != wanted:
            raise ConfigError(
                f"{self.dir} holds a demo run with other settings, so its stages cannot be "
                "reused. Pass --restart to start it over, or another --name."
            )
        write_json(stamp, wanted)
        # Stage seconds of every invocation, so a resumed run still reports the whole run.
        self.timings_path = self.dir / "stage_seconds.json"
        self.timings: dict[str, float] = (
            read_json(self.timings_path) if self.timings_path.is_file() else {}
        )
        self._began, self._wall_path = time.perf_counter(), self.dir / "wall_seconds.json"
        self._wall_before = float(read_json(self._wall_path)) if self._wall_path.is_file() else 0.0

    def stage(self, name: str, output: Path, make: Callable[[], Any]) -> None:
        """Run ``make`` unless ``output`` exists (a finished stage)."""
        if self._finished(name, output):
            return
        start = time.perf_counter()
        make()
        self._done(name, time.perf_counter() - start)

    def phase(
        self, pool: ProcessPoolExecutor | None, jobs: list[Job], work: Callable[..., float]
    ) -> None:
        """Run the unfinished ``jobs`` (independent of each other) as ``work(config, kind, arg,
        threads)``: one after the other here, or side by side in ``pool``'s workers (one torch
        thread each), the first submitted first. ``work`` must be a module-level function."""
        if pool is None:
            for job in jobs:
                self.stage(job.label, job.output,
                           lambda job=job: work(self.config, job.kind, job.arg))  # fmt: skip
            return
        running = {
            pool.submit(work, self.config, job.kind, job.arg, 1): job.label
            for job in jobs
            if not self._finished(job.label, job.output)
        }
        for done in as_completed(running):
            self._done(running[done], done.result())

    def _finished(self, name: str, output: Path) -> bool:
        """Whether the stage's ``output`` exists; says so, or that the stage starts."""
        done = output.exists()
        self.echo(f"[{name}] done already ({output})" if done else f"[{name}] ...")
        return done

    def _done(self, name: str, seconds: float) -> None:
        self.timings[name] = round(seconds, 1)
        write_json(self.timings_path, self.timings)
        write_json(self._wall_path, self.wall)
        self.echo(f"[{name}] {seconds:.0f}s")

    @property
    def wall(self) -> float:
        """Wall-clock seconds of every invocation so far, each up to its last finished stage
        (stages side by side count once)."""
        return round(self._wall_before + time.perf_counter() - self._began, 1)


class Job(NamedTuple):
    """A stage for :meth:`RunFolder.phase`: what its ``work`` runs and the file it ends by
    writing."""

    label: str
    output: Path
    kind: str
    arg: Any = None


@contextmanager
def workers(n: int) -> Iterator[ProcessPoolExecutor | None]:
    """``n`` spawned worker processes (None for 1: stages run in this process).
    On an error the workers are stopped, not waited for."""
    if n <= 1:
        yield None
        return
    pool = ProcessPoolExecutor(n, mp_context=multiprocessing.get_context("spawn"))
    try:
        yield pool
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        for process in list((getattr(pool, "_processes", None) or {}).values()):
            process.terminate()  # a running GRPO arm would otherwise finish first
        raise
    pool.shutdown()


def seed_all(seed: int) -> None:
    from transformers import set_seed

    set_seed(seed)


def read_json(path: Path) -> Any:
    return json.loads(path.read_text())


def train_result(folder: Path) -> dict[str, Any]:
    return read_json(folder / "train_result.json")
