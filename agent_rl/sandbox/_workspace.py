"""``Workspace``: the files of a sandbox in a dict, with the folders and sizes derived from them.

Folders exist only as prefixes of file paths (plus the root ``"."``); sizes are UTF-8 bytes,
kept per file so that limits are checked in O(1). This module holds state and the small text
helpers the tools share; it is not the tools (:mod:`._core`) nor their checks (:mod:`._checks`).
"""

from __future__ import annotations

import posixpath

from agent_rl.sandbox._paths import ROOT, normalize, parents
from agent_rl.verdicts import ErrorEntry

__all__ = [
    "MAX_FILES",
    "MAX_FILE_BYTES",
    "MAX_WORKSPACE_BYTES",
    "Workspace",
    "err",
    "line_count",
    "lines_of",
    "utf8_size",
]

MAX_FILE_BYTES = 1_000_000  # UTF-8 bytes per file
MAX_WORKSPACE_BYTES = 16_000_000  # UTF-8 bytes over all files
MAX_FILES = 10_000


def utf8_size(text: str) -> int:
    """UTF-8 size; ``isascii`` is O(1) in CPython, so ASCII text costs nothing to measure."""
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


def line_count(text: str) -> int:
    """Lines as ``read_file`` numbers them: a final newline does not start another line."""
    if not text:
        return 0
    return text.count("\n") + (not text.endswith("\n"))


def lines_of(text: str) -> list[str]:
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return lines


def err(kind: str, msg: str, field: str | None = "path") -> list[ErrorEntry]:
    """A one-entry error list, located at ``("arguments", field)``."""
    return [ErrorEntry(kind, msg, ("arguments", field) if field else ())]


class Workspace:
    """Normalised path -> text, plus the derived folder set and byte sizes."""

    __slots__ = ("dirs", "files", "sizes", "total")

    def __init__(self) -> None:
        self.files: dict[str, str] = {}
        self.sizes: dict[str, int] = {}
        self.dirs: set[str] = {ROOT}
        self.total = 0

    def copy(self) -> Workspace:
        ws = Workspace()
        ws.files, ws.sizes, ws.dirs, ws.total = (
            dict(self.files),
            dict(self.sizes),
            set(self.dirs),
            self.total,
        )
        return ws

    def key(self, path: str, field: str = "path") -> str | ErrorEntry:
        """The normalised key of ``path`` or the error forbidding it (stored keys: O(1))."""
        if path in self.files or path in self.dirs:
            return path
        return normalize(path, field)

    def put(self, key: str, content: str) -> None:
        size = utf8_size(content)
        self.total += size - self.sizes.get(key, 0)
        self.files[key], self.sizes[key] = content, size
        self.dirs.update(parents(key))

    def missing(self, key: str, kind: str, what: str) -> list[ErrorEntry]:
        """A not-found error that suggests files with the same name elsewhere."""
        base = posixpath.basename(key)
        near = sorted(k for k in self.files if posixpath.basename(k) == base)[:3]
        hint = f"; did you mean {', '.join(near)}?" if near else "; list_dir or search to find it"
        return err(kind, f"{what} {key!r} does not exist{hint}")

    def size_error(self, key: str, new_size: int) -> list[ErrorEntry]:
        """``content_too_large`` if ``key`` holding ``new_size`` bytes breaks a limit."""
        if new_size > MAX_FILE_BYTES:
            return err(
                "content_too_large",
                f"{key} would be {new_size:,} bytes; the limit is {MAX_FILE_BYTES:,} per file",
            )
        if self.total - self.sizes.get(key, 0) + new_size > MAX_WORKSPACE_BYTES:
            return err(
                "content_too_large",
                f"the workspace would exceed its {MAX_WORKSPACE_BYTES:,}-byte limit",
            )
        return []
