"""``CodingSandbox``: mock coding tools over a virtual workspace held in a dict.

``check(call)`` says whether a schema-valid call is valid in the current state (the scorer's
``state`` stage) without changing anything; ``step(call_or_text)`` validates and applies it and
returns the ``Observation`` the agent sees. A bad call from a model is an error observation and
the episode goes on; only misuse of this API by the caller raises :class:`SandboxError`.

There is no host access here of any kind: files are strings in a dict, folders are implied by
file paths, tests are read (:mod:`agent_rl.sandbox._runner`), never run.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, ClassVar

from agent_rl.errors import SandboxError
from agent_rl.sandbox._checks import CHECKS, check_write
from agent_rl.sandbox._paths import ROOT, normalize
from agent_rl.sandbox._runner import run_tests
from agent_rl.sandbox._tools import TOOL_NAMES, TOOLS, TOOLS_BY_NAME
from agent_rl.sandbox._workspace import Workspace, err, line_count, lines_of
from agent_rl.tool_spec import ToolSpec
from agent_rl.verdicts import ErrorEntry, Observation, ToolCall

__all__ = ["SNAPSHOT_FORMAT", "CodingSandbox"]

SNAPSHOT_FORMAT = "agent_rl.sandbox/1"
MAX_READ_LINES = 2_000  # a longer read is truncated with a note saying how to go on
MAX_READ_CHARS = 100_000  # likewise: no observation grows past about this many characters
MAX_LINE_CHARS = 2_000  # of each line read
MAX_SHOWN_CHARS = 200  # of each search result line
MAX_EDIT_LINES = 12  # lines shown after an edit

_Args = dict[str, Any]


def _clip(line: str, limit: int) -> str:
    return line if len(line) <= limit else line[:limit] + "…"


def _numbered(lines: list[str], first: int) -> str:
    return "\n".join(
        f"{i:>4}\t{_clip(line, MAX_LINE_CHARS)}" for i, line in enumerate(lines, first)
    )


def _error_observation(errors: list[ErrorEntry]) -> Observation:
    text = "\n".join(f"Error [{e.type}]: {e.msg}" for e in errors[:3])
    return Observation(text, ok=False, error=errors[0])


class CodingSandbox:
    """A virtual workspace (``{"src/app.py": "..."}``) and the tools an agent edits it with.

    Tools: ``read_file``, ``write_file``, ``edit_file``, ``list_dir``, ``search``,
    ``run_tests``, ``finish`` (their specs: ``.tools``). Paths are relative POSIX paths inside
    the workspace root. Limits: ``MAX_FILE_BYTES`` per file, ``MAX_WORKSPACE_BYTES`` and
    ``MAX_FILES`` in all. Not thread-safe: one sandbox per episode (``copy()`` is cheap).
    """

    __slots__ = ("_done", "_summary", "_view", "_ws")

    def __init__(self, files: Mapping[str, str] | None = None) -> None:
        if files is not None and not isinstance(files, Mapping):
            raise SandboxError(
                f"files must be a mapping of path -> text, not {type(files).__name__}"
            )
        self._ws = Workspace()
        self._done = False
        self._summary: str | None = None
        for raw, content in (files or {}).items():
            self._add_initial(raw, content)
        self._view = MappingProxyType(self._ws.files)

    def _add_initial(self, raw: object, content: object) -> None:
        if not isinstance(raw, str) or not isinstance(content, str):
            raise SandboxError(
                f"workspace entries must be str -> str, got {type(raw).__name__} -> "
                f"{type(content).__name__} for {raw!r:.80}"
            )
        key = normalize(raw)
        if isinstance(key, ErrorEntry):
            raise SandboxError(f"cannot create the workspace file {raw!r:.80}: {key.msg}")
        if key in self._ws.files:
            raise SandboxError(f"{raw!r:.80} and another entry both normalise to {key!r}")
        problems = check_write(self._ws, {"path": key, "content": content})
        if problems:
            raise SandboxError(f"cannot create the workspace file {raw!r:.80}: {problems[0].msg}")
        self._ws.put(key, content)

    # -- public API -------------------------------------------------------------------------

    @property
    def tools(self) -> list[ToolSpec]:
        """The specs of the seven tools, in a fixed order."""
        return list(TOOLS)

    @property
    def files(self) -> Mapping[str, str]:
        """A read-only live view of the workspace: normalised path -> text."""
        return self._view

    @property
    def done(self) -> bool:
        """True once ``finish`` was called; every later call is ``already_finished``."""
        return self._done

    @property
    def finish_summary(self) -> str | None:
        return self._summary

    def __repr__(self) -> str:
        return f"CodingSandbox({len(self._ws.files)} files, done={self._done})"

    def check(self, call: ToolCall) -> list[ErrorEntry]:
        """State-stage errors of ``call`` now (empty = valid); never changes anything.

        Assumes arguments valid for the tool's schema (the scorer checks them first);
        arguments of the wrong type still give errors, never an exception.
        """
        checker = CHECKS.get(call.name)
        if checker is None:
            return err(
                "unknown_tool",
                f"there is no tool {call.name!r:.80}; the tools are {', '.join(TOOL_NAMES)}",
                None,
            )
        if self._done:
            return err("already_finished", "the episode has ended: finish was already called", None)
        args = call.arguments
        try:
            return checker(self._ws, args)
        except (TypeError, AttributeError, KeyError):
            if not isinstance(args, dict):
                return err("invalid_arguments", "the arguments must be a JSON object", None)
            errors = TOOLS_BY_NAME[call.name].validate_arguments(args)
            if errors:
                return errors
            raise

    def step(self, call: ToolCall | str) -> Observation:
        """Apply one call (a ``ToolCall`` or the model's raw JSON text) and say what happened.

        An invalid call (unknown tool, bad arguments, state error) changes nothing and returns
        ``Observation(ok=False, error=...)``; ``finish`` returns ``done=True``.
        """
        if isinstance(call, str):
            verdict = self._scorer().score(call, state=self)
            if not verdict.valid:
                return _error_observation(list(verdict.errors))
            if verdict.call is None:
                return _error_observation(
                    err(
                        "no_tool_call",
                        "expected a tool call; call finish(summary) to end the episode",
                        None,
                    )
                )
            call = verdict.call
        elif not isinstance(call, ToolCall):
            raise SandboxError(
                f"step() takes a ToolCall or the model's text, not {type(call).__name__}"
            )
        spec = TOOLS_BY_NAME.get(call.name)
        if spec is not None and not self._done:
            args = call.arguments
            problems = (
                spec.validate_arguments(args)
                if isinstance(args, dict)
                else err("invalid_arguments", "the arguments must be a JSON object", None)
            )
            if problems:
                return _error_observation(problems)
        problems = self.check(call)
        if problems:
            return _error_observation(problems)
        return self._apply[call.name](self, call.arguments)

    def snapshot(self) -> dict[str, Any]:
        """Everything stateful, JSON-serialisable; ``CodingSandbox.restore`` rebuilds it."""
        return {
            "format": SNAPSHOT_FORMAT,
            "files": dict(self._ws.files),
            "done": self._done,
            "finish_summary": self._summary,
        }

    @classmethod
    def restore(cls, snapshot: Mapping[str, Any]) -> CodingSandbox:
        """The sandbox a ``snapshot()`` was taken of (raises ``SandboxError`` if malformed)."""
        if not isinstance(snapshot, Mapping) or snapshot.get("format") != SNAPSHOT_FORMAT:
            raise SandboxError(
                f"not a sandbox snapshot (expected format {SNAPSHOT_FORMAT!r}); pass the dict "
                "that CodingSandbox.snapshot() returned"
            )
        done, summary = snapshot.get("done"), snapshot.get("finish_summary")
        if not isinstance(done, bool) or not (summary is None or isinstance(summary, str)):
            raise SandboxError("a sandbox snapshot needs a bool 'done' and a str|None summary")
        if not isinstance(snapshot.get("files"), Mapping):
            raise SandboxError("a sandbox snapshot needs 'files', a mapping of path -> text")
        box = cls(snapshot["files"])
        box._done, box._summary = done, summary
        return box

    def copy(self) -> CodingSandbox:
        """An independent sandbox in the same state (cheaper than snapshot + restore)."""
        box = object.__new__(type(self))
        box._ws, box._done, box._summary = self._ws.copy(), self._done, self._summary
        box._view = MappingProxyType(box._ws.files)
        return box

    @classmethod
    def _scorer(cls) -> Any:
        from agent_rl.scorer import scorer_for  # the scorer sits after us; import on first use

        return scorer_for(TOOLS, "json")

    # -- tools, applied after check() passed ------------------------------------------------

    def _key(self, path: str) -> str:
        key = self._ws.key(path)
        assert isinstance(key, str), "applied a call that check() refused"
        return key

    def _read(self, args: _Args) -> Observation:
        key = self._key(args["path"])
        lines = lines_of(self._ws.files[key])
        if not lines:
            return Observation(f"{key} is empty")
        start = args.get("start_line") or 1
        end = min(args.get("end_line") or len(lines), start + MAX_READ_LINES - 1)
        chars, stop = 0, start - 1
        while stop < end and chars <= MAX_READ_CHARS:
            chars += min(len(lines[stop]), MAX_LINE_CHARS) + 6
            stop += 1
        note = ""
        if stop < (args.get("end_line") or len(lines)):
            note = (
                f"\n... truncated at line {stop} of {len(lines)}; go on with start_line={stop + 1}"
            )
        return Observation(_numbered(lines[start - 1 : stop], start) + note)

    def _write(self, args: _Args) -> Observation:
        key = self._key(args["path"])
        verb = "Overwrote" if key in self._ws.files else "Created"
        self._ws.put(key, args["content"])
        return Observation(f"{verb} {key} ({line_count(args['content'])} lines)")

    def _edit(self, args: _Args) -> Observation:
        key = self._key(args["path"])
        content, old, new = self._ws.files[key], args["old"], args["new"]
        at = content.find(old)
        updated = content[:at] + new + content[at + len(old) :]
        self._ws.put(key, updated)
        first = content.count("\n", 0, at) + 1
        last = first + new.count("\n")
        shown = lines_of(updated)[first - 1 : min(last, first + MAX_EDIT_LINES - 1)]
        more = (
            f"\n... ({last - first + 1 - len(shown)} more lines)"
            if len(shown) < last - first + 1
            else ""
        )
        return Observation(f"Edited {key}. Now:\n" + _numbered(shown, first) + more)

    def _list(self, args: _Args) -> Observation:
        key = self._key(args.get("path", ROOT))
        parent = "" if key == ROOT else key
        cut = len(parent) + 1 if parent else 0
        ws = self._ws
        dirs = sorted(
            d[cut:] + "/" for d in ws.dirs if d != ROOT and d.rpartition("/")[0] == parent
        )
        files = sorted(f[cut:] for f in ws.files if f.rpartition("/")[0] == parent)
        entries = dirs + files
        return Observation("\n".join(entries) if entries else f"{key} is empty")

    def _search(self, args: _Args) -> Observation:
        query, limit = args["query"], args.get("max_results", 20)
        key = self._key(args.get("path", ROOT))
        files = self._ws.files
        if key in files:
            paths = [key]
        else:
            prefix = "" if key == ROOT else key + "/"
            paths = sorted(p for p in files if p.startswith(prefix))
        hits: list[str] = []
        total = 0
        for path in paths:
            content = files[path]
            if query not in content:  # the common case: one C-level scan per file
                continue
            for i, line in enumerate(content.split("\n"), 1):
                if query in line:
                    total += 1
                    if len(hits) < limit:
                        hits.append(f"{path}:{i}: {_clip(line, MAX_SHOWN_CHARS)}")
        if not hits:
            note = (
                " (the query has a newline; search matches within one line)"
                if "\n" in query
                else ""
            )
            return Observation(f"No matches for {query!r:.200}{note}")
        tail = f"({total} matches)" if total <= limit else f"(showing {limit} of {total} matches)"
        return Observation("\n".join([*hits, tail]))

    def _run_tests(self, args: _Args) -> Observation:
        return Observation(run_tests(self._ws.files, self._key(args.get("path", ROOT))).render())

    def _finish(self, args: _Args) -> Observation:
        self._done, self._summary = True, args["summary"]
        return Observation("Finished.", done=True)

    _apply: ClassVar[dict[str, Callable[[CodingSandbox, _Args], Observation]]] = {
        "read_file": _read,
        "write_file": _write,
        "edit_file": _edit,
        "list_dir": _list,
        "search": _search,
        "run_tests": _run_tests,
        "finish": _finish,
    }
