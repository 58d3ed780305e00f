"""``TrajectoryStore``: an append-only JSONL file of trajectories, safe against crashes.

File format: UTF-8 JSON Lines, one ``Trajectory.model_dump_json()`` a line, each with its
``schema_version`` (the columns: ``agent_rl.trajectories.schema.SCHEMA``). Load a file with
``datasets.load_dataset("json", data_files=path, features=TrajectoryStore.features())``.
Guarantees:

- ``append`` writes a whole line with one ``os.write`` on an ``O_APPEND`` descriptor under a
  per-file lock, so threads of one process never interleave records. ``fsync=True`` also
  syncs each append to disk (survives power loss, not just a killed process). One process
  writes a file at a time; give each process (or rank) its own file.
- A crash mid-append leaves at most the last line torn. Readers skip a torn last line with a
  ``TornRecordWarning`` (counted in ``store.skipped``). The next writer that opens the file
  moves the torn bytes to ``<path>.torn`` and truncates them, so new records never glue onto
  a torn one and the file stays loadable by ``datasets``.
- A bad line anywhere else raises ``CorruptRecordError`` naming file and line, or, with
  ``on_error="skip"``, is skipped with a ``SkippedRecordWarning`` and counted: never silently.
- ``read()`` streams one line at a time: memory stays flat however large the file is.

Not here: the data model (``agent_rl.trajectories.models``), scoring or any indexing/query.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import warnings
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import ValidationError
from pydantic_core import PydanticSerializationError

from agent_rl.errors import CorruptRecordError, StoreError
from agent_rl.trajectories import schema
from agent_rl.trajectories.models import Trajectory

if TYPE_CHECKING:
    import datasets

__all__ = [
    "SkippedRecordWarning",
    "StoreWarning",
    "TornRecordWarning",
    "TrajectoryStore",
    "encode_line",
]

OnError = Literal["raise", "skip"]
Writer = Callable[[int, bytes], int]
_CHUNK = 1 << 16


class StoreWarning(UserWarning):
    """Something in a trajectory file was skipped or repaired (never silently)."""


class TornRecordWarning(StoreWarning):
    """The last record of a file was cut short by an interrupted write."""


class SkippedRecordWarning(StoreWarning):
    """A bad record was skipped because the reader asked for ``on_error="skip"``."""


_LOCKS: dict[str, threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()


def _lock_for(path: Path) -> threading.Lock:
    key = os.path.realpath(path)
    with _LOCKS_GUARD:
        return _LOCKS.setdefault(key, threading.Lock())


def encode_line(traj: Trajectory) -> bytes:
    """The stored line of ``traj`` (with its newline). Raises ``StoreError`` if it holds a value
    that JSON cannot represent (NaN, an arbitrary object)."""
    try:
        return traj.__pydantic_serializer__.to_json(traj) + b"\n"
    except PydanticSerializationError:
        pass  # lone surrogates (hostile model output) or a value JSON cannot hold
    try:
        data = traj.model_dump(mode="json")
        return (
            json.dumps(data, ensure_ascii=True, separators=(",", ":"), allow_nan=False).encode(
                "ascii"
            )
            + b"\n"
        )
    except (PydanticSerializationError, TypeError, ValueError) as e:
        raise StoreError(
            f"trajectory {traj.id} cannot be stored as JSON ({e}). "
            "Keep messages, arguments, snapshots and metadata to JSON values (no NaN, no objects)."
        ) from e


def _decode(line: bytes) -> Trajectory:
    """Parse one stored line; raises ``ValueError`` with a short reason."""
    try:
        return Trajectory.model_validate_json(line)
    except ValidationError as e:
        if not any(err["type"] == "json_invalid" for err in e.errors()):
            raise ValueError(_reason(e)) from None
    try:  # jiter refuses lone-surrogate escapes that Python's json reads back exactly
        data = json.loads(line)
    except (ValueError, UnicodeDecodeError) as e:
        raise ValueError(f"not JSON: {e}") from None
    try:
        return Trajectory.model_validate(data)
    except ValidationError as e:
        raise ValueError(_reason(e)) from None


def _reason(e: ValidationError) -> str:
    errs = e.errors(include_url=False, include_input=False)
    parts = [f"{'.'.join(map(str, x['loc'])) or '<record>'}: {x['msg']}" for x in errs[:3]]
    more = f" (+{len(errs) - 3} more)" if len(errs) > 3 else ""
    return "; ".join(parts) + more


class TrajectoryStore:
    """An append-only JSONL file of ``Trajectory`` records.

    ``write`` is an injectable seam for tests (``os.write``-compatible: ``(fd, data) -> n``).
    """

    def __init__(
        self, path: str | os.PathLike[str], *, fsync: bool = False, write: Writer = os.write
    ) -> None:
        self.path = Path(path)
        self.fsync = fsync
        self.skipped = 0
        """Lines skipped by the latest read (torn or, with ``on_error="skip"``, bad)."""
        self.skipped_lines: list[tuple[int, str]] = []
        """``(line number, reason)`` of each line the latest read skipped."""
        self.appended = 0
        self._write = write
        self._fd: int | None = None
        self._check_tail = True
        self._lock = _lock_for(self.path)

    def __repr__(self) -> str:
        return f"TrajectoryStore({str(self.path)!r})"

    @staticmethod
    def features() -> datasets.Features:
        """The Arrow schema of a stored line (current version), for
        ``datasets.load_dataset("json", data_files=..., features=TrajectoryStore.features())``.
        Version 1 files (nested values as JSON text) load without it."""
        return schema.features()

    # --- writing ---

    def append(self, traj: Trajectory) -> None:
        """Append one trajectory as one line."""
        self.extend((traj,))

    def extend(self, trajs: Iterable[Trajectory]) -> int:
        """Append trajectories (encoded first, then written with one ``os.write``)."""
        data = b"".join(encode_line(t) for t in trajs)
        if not data:
            return 0
        n = data.count(b"\n")
        with self._lock:
            try:
                fd = self._open()
                if self._check_tail:
                    self._repair_tail(fd)
                self._write_all(fd, data)
                if self.fsync:
                    os.fsync(fd)
            except OSError as e:
                self._check_tail = True  # a partial write may have left a torn tail
                if isinstance(e, StoreError):
                    raise
                raise StoreError(
                    f"could not append to {self.path}: {e}. "
                    "Check that the path is a writable file and the disk has free space."
                ) from e
            self.appended += n
        return n

    def _open(self) -> int:
        if self._fd is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)
            self._fd = os.open(self.path, flags, 0o644)
        return self._fd

    def _write_all(self, fd: int, data: bytes) -> None:
        view = memoryview(data)
        while view:
            n = self._write(fd, view)
            if n <= 0:
                raise StoreError(f"could not append to {self.path}: the write made no progress")
            view = view[n:]

    def _repair_tail(self, fd: int) -> None:
        """Make sure the file ends with a newline; move a torn last line aside."""
        size = os.fstat(fd).st_size
        if size:
            with open(self.path, "rb") as f:
                f.seek(size - 1)
                if f.read(1) != b"\n":
                    self._move_torn_tail(f, size, fd)
        self._check_tail = False

    def _move_torn_tail(self, f: Any, size: int, fd: int) -> None:
        start = size
        while start > 0:  # find the byte after the last newline
            lo = max(0, start - _CHUNK)
            f.seek(lo)
            idx = f.read(start - lo).rfind(b"\n")
            if idx >= 0:
                start = lo + idx + 1
                break
            start = lo
        f.seek(start)
        tail_len = size - start
        if tail_len <= _CHUNK * 16:
            tail = f.read(tail_len)
            with contextlib.suppress(ValueError):
                _decode(tail)
                self._write_all(fd, b"\n")  # a whole record missing only its newline
                return
        sidecar = self.path.with_name(self.path.name + ".torn")
        f.seek(start)
        with open(sidecar, "ab") as out:
            while chunk := f.read(_CHUNK):
                out.write(chunk)
            out.write(b"\n")
        os.truncate(self.path, start)
        warnings.warn(
            TornRecordWarning(
                f"{self.path}: the last record ({tail_len} bytes at offset {start}) was cut short "
                f"by an interrupted write; moved it to {sidecar} and truncated it from the store"
            ),
            stacklevel=4,
        )

    def close(self) -> None:
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
                self._check_tail = True

    def __enter__(self) -> TrajectoryStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        fd, self._fd = getattr(self, "_fd", None), None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)

    # --- reading ---

    def __iter__(self) -> Iterator[Trajectory]:
        return self.read()

    def read(self, on_error: OnError = "raise") -> Iterator[Trajectory]:
        """Stream the trajectories in file order.

        A torn last line is skipped with a ``TornRecordWarning``. Any other bad line raises
        ``CorruptRecordError`` (``on_error="raise"``) or is skipped with a
        ``SkippedRecordWarning`` (``on_error="skip"``); skips are counted in ``self.skipped``.
        """
        if on_error not in ("raise", "skip"):
            raise ValueError(f"on_error={on_error!r} is not supported. Use 'raise' or 'skip'.")
        self.skipped, self.skipped_lines = 0, []
        try:
            f = open(self.path, "rb")  # noqa: SIM115 - closed in the finally of this generator
        except FileNotFoundError:
            raise StoreError(
                f"trajectory file {self.path} does not exist; check the path "
                "(record some trajectories first with `agent-rl record`)"
            ) from None
        except OSError as e:
            raise StoreError(f"cannot read trajectory file {self.path}: {e}") from e
        with f:
            for lineno, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    traj = _decode(line)
                except ValueError as e:
                    self._bad_line(lineno, line, str(e), on_error)
                    continue
                yield traj

    def _bad_line(self, lineno: int, line: bytes, reason: str, on_error: OnError) -> None:
        torn = not line.endswith(b"\n")  # only the last line can lack its newline
        if not torn and on_error == "raise":
            raise CorruptRecordError(str(self.path), lineno, reason)
        self.skipped += 1
        self.skipped_lines.append((lineno, reason))
        if torn:
            msg = (
                f"{self.path}:{lineno}: skipped the last record, cut short by an interrupted "
                f"write ({len(line)} bytes; {reason})"
            )
            warnings.warn(TornRecordWarning(msg), stacklevel=3)
        else:
            msg = f"{self.path}:{lineno}: skipped a bad record ({reason})"
            warnings.warn(SkippedRecordWarning(msg), stacklevel=3)
