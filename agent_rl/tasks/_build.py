"""Small builders the task templates share: tool calls of an expert, and check source.

``has("src/app.py", "timeout = 30")`` writes one assertion of the mock runner's language;
``suite(test_name=[...])`` a whole test file. Text goes through ``repr``, so any quotes,
backslashes, tabs or unicode survive exactly. Not the catalog itself.
"""

from __future__ import annotations

from typing import Any

from agent_rl.verdicts import ToolCall

__all__ = [
    "absent",
    "count",
    "edit",
    "exists",
    "finish",
    "has",
    "json_is",
    "lacks",
    "ls",
    "read",
    "run_tests",
    "same",
    "search",
    "suite",
    "write",
]

_HEADER = "from sandbox_checks import exists, json_get, read\n"


def read(path: str, start: int | None = None, end: int | None = None) -> ToolCall:
    args: dict[str, Any] = {"path": path}
    if start is not None:
        args["start_line"] = start
    if end is not None:
        args["end_line"] = end
    return ToolCall("read_file", args)


def write(path: str, content: str) -> ToolCall:
    return ToolCall("write_file", {"path": path, "content": content})


def edit(path: str, old: str, new: str) -> ToolCall:
    return ToolCall("edit_file", {"path": path, "old": old, "new": new})


def ls(path: str | None = None) -> ToolCall:
    return ToolCall("list_dir", {} if path is None else {"path": path})


def search(query: str, path: str | None = None) -> ToolCall:
    return ToolCall("search", {"query": query} if path is None else {"query": query, "path": path})


def run_tests(path: str | None = None) -> ToolCall:
    return ToolCall("run_tests", {} if path is None else {"path": path})


def finish(summary: str) -> ToolCall:
    return ToolCall("finish", {"summary": summary})


def has(path: str, text: str) -> str:
    return f"assert {text!r} in read({path!r})"


def lacks(path: str, text: str) -> str:
    return f"assert {text!r} not in read({path!r})"


def same(path: str, text: str) -> str:
    return f"assert read({path!r}) == {text!r}"


def count(path: str, text: str, n: int) -> str:
    return f"assert read({path!r}).count({text!r}) == {n}"


def exists(path: str) -> str:
    return f"assert exists({path!r})"


def absent(path: str) -> str:
    return f"assert not exists({path!r})"


def json_is(path: str, *keys: str | int, value: Any) -> str:
    args = ", ".join(repr(k) for k in (path, *keys))
    return f"assert json_get({args}) == {value!r}"


def suite(doc: str | None = None, /, **tests: list[str]) -> str:
    """Test source: an optional module docstring, the helper import, one function per test."""
    head = f'"""{doc}"""\n\n' if doc else ""
    body = "\n\n\n".join(
        f"def {name}():\n" + "\n".join(f"    {line}" for line in lines)
        for name, lines in tests.items()
    )
    return f"{head}{_HEADER}\n\n{body}\n"
