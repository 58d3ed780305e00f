"""What ``agent-rl online`` keeps in its output folder so that a restart resumes where it was.

- ``weights-v<N>/``: the served weights of version ``N`` (``save_pretrained`` model and
  tokenizer), written to a temporary folder and renamed into place, *before* version ``N`` is
  swapped in — so every version that ever served a request is on disk first;
- ``latest.json``: which folder is the newest and its version, plus the served samples already
  learned from that are still young enough to be learned from (so a restart does not learn
  from them twice); replaced atomically (``os.replace``), so a kill at any moment leaves the
  previous complete version or the new one, never a half-written one;
- ``updates.jsonl``: one line per update (version, samples, policy lags, reward, seconds).

:func:`latest_weights` reads it back at start. Older ``weights-v*`` folders are removed once a
newer one is recorded. This module writes and reads files; it does not train or serve.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent_rl.errors import ConfigError

__all__ = [
    "LATEST",
    "UPDATES",
    "SavedWeights",
    "latest_weights",
    "log_update",
    "read_updates",
    "save_weights",
]

LATEST = "latest.json"
UPDATES = "updates.jsonl"


@dataclass(frozen=True)
class SavedWeights:
    """The newest saved version: its folder (loadable by ``HFPolicy``), its number and the
    learned-from samples (``"<trajectory id>:<step>"`` -> the weights version that made it)."""

    path: Path
    version: int
    learned: dict[str, int] = field(default_factory=dict)


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def save_weights(
    folder: str | os.PathLike[str],
    model: Any,
    tokenizer: Any,
    version: int,
    learned: Mapping[str, int] | None = None,
) -> Path:
    """Save ``model`` and ``tokenizer`` as version ``version`` of ``folder`` and make it the
    latest; returns the weights folder."""
    root = Path(folder)
    root.mkdir(parents=True, exist_ok=True)
    name = f"weights-v{version}"
    tmp = root / f".{name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    target = root / name
    if target.exists():  # a version saved but never recorded as latest (killed in between)
        shutil.rmtree(target)
    os.replace(tmp, target)
    record = {"version": version, "path": name, "saved_at": time.time(), "learned": learned or {}}
    _write_atomic(root / LATEST, json.dumps(record, sort_keys=True))
    for old in root.glob("weights-v*"):
        if old.name != name:
            shutil.rmtree(old, ignore_errors=True)
    for stale in root.glob(".weights-v*.tmp-*"):  # saves cut short by a kill
        shutil.rmtree(stale, ignore_errors=True)
    return target


def latest_weights(folder: str | os.PathLike[str]) -> SavedWeights | None:
    """The newest saved version in ``folder`` (``None``: nothing saved yet)."""
    path = Path(folder) / LATEST
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        weights = Path(folder) / str(data["path"])
        version = int(data["version"])
        learned = {str(k): int(v) for k, v in dict(data.get("learned") or {}).items()}
    except (ValueError, KeyError, TypeError) as e:
        raise ConfigError(
            f"{path} is not an agent-rl online state file ({type(e).__name__}: {e}). Remove it "
            "to start from the model again, or pass --fresh."
        ) from None
    if not (weights / "config.json").is_file():
        raise ConfigError(
            f"{path} names {weights}, which holds no saved model. Remove {path} to start from "
            "the model again, or pass --fresh."
        )
    return SavedWeights(weights, version, learned)


def log_update(folder: str | os.PathLike[str], record: Mapping[str, Any]) -> None:
    """Append one update's line to ``folder/updates.jsonl`` (one ``write``: a kill leaves whole
    lines, at most the last one cut short)."""
    root = Path(folder)
    root.mkdir(parents=True, exist_ok=True)
    line = (json.dumps(dict(record), sort_keys=True) + "\n").encode()
    fd = os.open(root / UPDATES, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


def read_updates(folder: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The lines of ``folder/updates.jsonl`` (none if absent; a last line cut off by a kill is
    left out)."""
    path = Path(folder) / UPDATES
    if not path.is_file():
        return []
    lines = path.read_text(encoding="utf-8").splitlines()
    rows = []
    for i, line in enumerate(lines):
        try:
            rows.append(json.loads(line))
        except ValueError:
            if i < len(lines) - 1:
                raise ConfigError(f"{path}:{i + 1} is not a JSON line") from None
    return rows
