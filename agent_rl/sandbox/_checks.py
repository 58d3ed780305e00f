"""The state stage: is a schema-valid call valid against the workspace *now*?

One function per tool, ``(workspace, arguments) -> list[ErrorEntry]`` (empty = valid), none of
which changes anything. Arguments are assumed schema-valid; a wrong type raises ``TypeError``
(or similar), which ``CodingSandbox.check`` turns into the schema's own errors.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from agent_rl.sandbox._paths import ROOT, parents
from agent_rl.sandbox._workspace import (
    MAX_FILE_BYTES,
    MAX_FILES,
    Workspace,
    err,
    line_count,
    utf8_size,
)
from agent_rl.verdicts import ErrorEntry

__all__ = ["CHECKS"]

Args = dict[str, Any]


def _file_key(ws: Workspace, args: Args) -> str | list[ErrorEntry]:
    key = ws.key(args["path"])
    if isinstance(key, ErrorEntry):
        return [key]
    if key not in ws.files:
        if key in ws.dirs:
            return err("is_a_directory", f"{key!r} is a folder, not a file; use list_dir")
        return ws.missing(key, "file_not_found", "the file")
    return key


def check_read(ws: Workspace, args: Args) -> list[ErrorEntry]:
    key = _file_key(ws, args)
    if isinstance(key, list):
        return key
    start, end = args.get("start_line"), args.get("end_line")
    if start is None and end is None:
        return []
    n = line_count(ws.files[key])
    for field, line in (("start_line", start), ("end_line", end)):
        if line is not None and line > n:
            return err(
                "line_out_of_range",
                f"{field}={line} but {key} has {n} lines; stay within 1..{n}",
                field,
            )
    if start is not None and end is not None and end < start:
        return err("invalid_line_range", f"end_line {end} is before start_line {start}", "end_line")
    return []


def check_write(ws: Workspace, args: Args) -> list[ErrorEntry]:
    key, content = ws.key(args["path"]), args["content"]
    if not isinstance(content, str):
        raise TypeError("content")
    if isinstance(key, ErrorEntry):
        return [key]
    if key in ws.dirs:
        return err("is_a_directory", f"{key!r} is a folder; write to a file path inside it")
    if key not in ws.files:
        for parent in parents(key):
            if parent in ws.files:
                return err("not_a_directory", f"{parent!r} is a file, so {key!r} cannot exist")
        if len(ws.files) >= MAX_FILES:
            return err("too_many_files", f"the workspace already holds {MAX_FILES:,} files")
    if len(content) > MAX_FILE_BYTES:  # UTF-8 never has fewer bytes than characters
        return ws.size_error(key, len(content))
    return ws.size_error(key, utf8_size(content))


def check_edit(ws: Workspace, args: Args) -> list[ErrorEntry]:
    key = _file_key(ws, args)
    if isinstance(key, list):
        return key
    old, new = args["old"], args["new"]
    if not isinstance(new, str):
        raise TypeError("new")
    if old == new:
        return err("no_op_edit", "old and new are the same text; the edit changes nothing", "new")
    content = ws.files[key]
    at = content.find(old)
    if at < 0:
        stripped = old.strip()
        hint = (
            " (it occurs with different leading/trailing whitespace)"
            if stripped and stripped in content
            else ""
        )
        return err(
            "old_text_not_found",
            f"old text not found in {key}{hint}; read_file to copy the exact text",
            "old",
        )
    again = content.find(old, at + 1)
    if again >= 0:
        first, second = content.count("\n", 0, at) + 1, content.count("\n", 0, again) + 1
        return err(
            "old_text_ambiguous",
            f"old text occurs more than once in {key} (lines {first} and {second}); "
            "include more surrounding lines so it matches exactly once",
            "old",
        )
    return ws.size_error(key, ws.sizes[key] - utf8_size(old) + utf8_size(new))


def check_list(ws: Workspace, args: Args) -> list[ErrorEntry]:
    key = ws.key(args.get("path", ROOT))
    if isinstance(key, ErrorEntry):
        return [key]
    if key in ws.dirs:
        return []
    if key in ws.files:
        return err("not_a_directory", f"{key!r} is a file; use read_file")
    return ws.missing(key, "dir_not_found", "the folder")


def check_scope(ws: Workspace, args: Args) -> list[ErrorEntry]:
    """An optional ``path`` that may be a file or a folder (``search``, ``run_tests``)."""
    path = args.get("path")
    if path is None:
        return []
    key = ws.key(path)
    if isinstance(key, ErrorEntry):
        return [key]
    if key in ws.files or key in ws.dirs:
        return []
    return ws.missing(key, "path_not_found", "the path")


def check_search(ws: Workspace, args: Args) -> list[ErrorEntry]:
    if not isinstance(args["query"], str):
        raise TypeError("query")
    return check_scope(ws, args)


def check_finish(ws: Workspace, args: Args) -> list[ErrorEntry]:
    if not isinstance(args["summary"], str):
        raise TypeError("summary")
    return []


CHECKS: dict[str, Callable[[Workspace, Args], list[ErrorEntry]]] = {
    "read_file": check_read,
    "write_file": check_write,
    "edit_file": check_edit,
    "list_dir": check_list,
    "search": check_search,
    "run_tests": check_scope,
    "finish": check_finish,
}
