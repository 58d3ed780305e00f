"""The ``ToolSpec`` of each sandbox tool: names, descriptions and argument schemas.

Data only; what the tools do is in :mod:`agent_rl.sandbox._core`. Every schema is a closed
object (``additionalProperties: false``): an argument the tool does not know is an error.
Paths are plain strings here; their rules (relative, inside the root, printable) are checked
at the state stage so that each breach gets its own error kind.
"""

from __future__ import annotations

from typing import Any

from agent_rl.tool_spec import ToolSpec

__all__ = ["MAX_SEARCH_RESULTS", "TOOLS", "TOOLS_BY_NAME", "TOOL_NAMES"]

MAX_SEARCH_RESULTS = 50
_PATH = {"type": "string", "description": "Path relative to the workspace root, e.g. src/app.py."}


def _object(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }


TOOLS: tuple[ToolSpec, ...] = (
    ToolSpec(
        name="read_file",
        description=(
            "Read a text file. Returns its lines numbered from 1. Give start_line and end_line "
            "(1-based, inclusive, both within the file) to read part of it."
        ),
        parameters=_object(
            {
                "path": _PATH,
                "start_line": {"type": "integer", "minimum": 1, "description": "First line."},
                "end_line": {"type": "integer", "minimum": 1, "description": "Last line."},
            },
            ["path"],
        ),
    ),
    ToolSpec(
        name="write_file",
        description=(
            "Create a file or replace its whole content. Missing parent folders are created."
        ),
        parameters=_object(
            {"path": _PATH, "content": {"type": "string", "description": "The full new text."}},
            ["path", "content"],
        ),
    ),
    ToolSpec(
        name="edit_file",
        description=(
            "Replace one exact occurrence of `old` with `new` in a file. `old` must occur "
            "exactly once: include enough surrounding lines to make it unique."
        ),
        parameters=_object(
            {
                "path": _PATH,
                "old": {"type": "string", "minLength": 1, "description": "Exact text to replace."},
                "new": {"type": "string", "description": "Replacement text."},
            },
            ["path", "old", "new"],
        ),
    ),
    ToolSpec(
        name="list_dir",
        description="List a folder: sub-folders end with '/'. The workspace root is '.'.",
        parameters=_object({"path": {**_PATH, "default": "."}}, []),
    ),
    ToolSpec(
        name="search",
        description=(
            "Find lines containing `query` (plain text, case-sensitive, not a regex) in the "
            "workspace or under `path`. Results read 'path:line: text'."
        ),
        parameters=_object(
            {
                "query": {"type": "string", "minLength": 1, "description": "Text to find."},
                "path": {**_PATH, "description": "File or folder to search (default: all)."},
                "max_results": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": MAX_SEARCH_RESULTS,
                    "default": 20,
                    "description": "At most this many results (1-50).",
                },
            },
            ["query"],
        ),
    ),
    ToolSpec(
        name="run_tests",
        description=(
            "Run the test files (tests/test_*.py) of the workspace, or those under `path`, "
            "and report which pass."
        ),
        parameters=_object({"path": {**_PATH, "description": "Test file or folder."}}, []),
    ),
    ToolSpec(
        name="finish",
        description="End the episode once the task is done, with a short summary of the change.",
        parameters=_object(
            {"summary": {"type": "string", "description": "What was changed and why."}},
            ["summary"],
        ),
    ),
)
TOOLS_BY_NAME: dict[str, ToolSpec] = {t.name: t for t in TOOLS}
TOOL_NAMES: tuple[str, ...] = tuple(TOOLS_BY_NAME)
