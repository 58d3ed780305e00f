"""The mock test runner: deterministic test results read off the workspace, no code executed.

A test file is Python source whose ``def test_*():`` functions hold only assertions of a small
declarative form over the workspace (string, number and JSON literals only)::

    from sandbox_checks import exists, json_get, read   # optional; imports are ignored

    def test_add_is_fixed():
        "Docstrings and ``pass`` are allowed."
        assert "return a + b" in read("src/calc.py")
        assert "return a - b" not in read("src/calc.py"), "add() still subtracts"
        assert read("VERSION") == "1.2.0\\n"                 # exact content (also !=)
        assert read("src/calc.py").count("def add(") == 1   # occurrences (also !=)
        assert exists("docs/usage.md")                      # or: assert not exists(...)
        assert json_get("config.json", "server", "port") == 8080   # strict JSON lookup

The file is parsed with :func:`ast.parse` (it builds a tree, it never runs anything). A test
passes when every assertion holds, fails at the first that does not, and is an *error* when it
uses anything else (a call, a name, a fixture argument). Files named ``test_*.py`` or
``*_test.py`` under the given folder are collected, in path order; a file given explicitly is
collected whatever its name. Classes are not collected. The same language writes the hidden
success checks of :mod:`agent_rl.tasks`.

This module is not the sandbox: it reads a mapping of paths to contents and nothing else.
"""

from __future__ import annotations

import ast
import posixpath
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

from agent_rl.sandbox._paths import normalize
from agent_rl.strict_json import loads_strict

__all__ = ["CaseResult", "RunReport", "collect_paths", "run_source", "run_tests"]

Outcome = Literal["passed", "failed", "error"]
_MAX_SHOWN = 60  # result lines in a rendered report
_CACHE_MAX_CHARS = 65_536  # larger test files are parsed each time, not kept in the cache


@dataclass(frozen=True, slots=True)
class CaseResult:
    """The outcome of one test function; ``message`` says why it failed or errored."""

    nodeid: str
    outcome: Outcome
    message: str = ""


@dataclass(frozen=True, slots=True)
class RunReport:
    """Every collected test's result, plus files that could not be collected."""

    results: tuple[CaseResult, ...]
    collection_errors: tuple[str, ...] = ()

    def count(self, outcome: Outcome) -> int:
        return sum(r.outcome == outcome for r in self.results)

    @property
    def ok(self) -> bool:
        """At least one test ran, and all passed, and every file was collected."""
        return (
            bool(self.results)
            and not self.collection_errors
            and all(r.outcome == "passed" for r in self.results)
        )

    def render(self) -> str:
        """A short pytest-like summary, what the agent sees."""
        n = len(self.results)
        lines = [f"collected {n} test{'s' if n != 1 else ''}"]
        lines += [f"ERROR collecting {e}" for e in self.collection_errors]
        shown = self.results[:_MAX_SHOWN]
        lines += [f"{r.nodeid} {r.outcome.upper()}" for r in shown]
        if len(self.results) > _MAX_SHOWN:
            lines.append(f"... {len(self.results) - _MAX_SHOWN} more")
        lines += [
            f"{r.outcome.upper()} {r.nodeid} - {r.message}" for r in shown if r.outcome != "passed"
        ]
        parts = [f"{n} {o}" for o in ("failed", "passed", "error") if (n := self.count(o))]
        if self.collection_errors:
            parts.append(f"{len(self.collection_errors)} collection errors")
        lines.append(", ".join(parts) if parts else "no tests ran")
        return "\n".join(lines)


# A compiled assertion: (kind, line, path, operand, expected, negate, message)
_Check = tuple[str, int, str, Any, Any, bool, str]
_Case = tuple[str, int, "tuple[_Check, ...] | str"]


def _str(node: ast.expr) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _helper(node: ast.expr, name: str) -> list[ast.expr] | None:
    """The arguments of ``name(...)`` when ``node`` is such a call without keywords."""
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == name
        and not node.keywords
    ):
        return node.args
    return None


def _read_path(node: ast.expr) -> str | None:
    args = _helper(node, "read")
    return _str(args[0]) if args is not None and len(args) == 1 else None


def _compile(node: ast.Assert) -> _Check | str:
    msg = _str(node.msg) if node.msg is not None else ""
    if msg is None:
        return f"line {node.lineno}: the assertion message must be a string literal"
    test, line, negate = node.test, node.lineno, False
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        negate, test = True, test.operand
    args = _helper(test, "exists")
    if args is not None and len(args) == 1 and (path := _str(args[0])) is not None:
        return ("exists", line, path, None, None, negate, msg)
    if not negate and isinstance(test, ast.Compare) and len(test.ops) == 1:
        op, left, right = test.ops[0], test.left, test.comparators[0]
        if isinstance(op, ast.In | ast.NotIn):
            text, path = _str(left), _read_path(right)
            if text is not None and path is not None:
                return ("contains", line, path, text, None, isinstance(op, ast.NotIn), msg)
        elif isinstance(op, ast.Eq | ast.NotEq):
            neg = isinstance(op, ast.NotEq)
            if (path := _read_path(left)) is not None and (text := _str(right)) is not None:
                return ("equals", line, path, None, text, neg, msg)
            if (
                isinstance(left, ast.Call)
                and isinstance(left.func, ast.Attribute)
                and left.func.attr == "count"
                and (path := _read_path(left.func.value)) is not None
                and len(left.args) == 1
                and not left.keywords
                and (text := _str(left.args[0])) is not None
                and isinstance(right, ast.Constant)
                and type(right.value) is int
            ):
                return ("count", line, path, text, right.value, neg, msg)
            args = _helper(left, "json_get")
            if args and (path := _str(args[0])) is not None:
                keys = [a.value for a in args[1:] if isinstance(a, ast.Constant)]
                if len(keys) == len(args) - 1 and all(type(k) in (str, int) for k in keys):
                    try:
                        value = ast.literal_eval(right)
                    except (ValueError, TypeError, SyntaxError, RecursionError, MemoryError):
                        return f"line {line}: the expected value must be a literal"
                    return ("json", line, path, tuple(keys), value, neg, msg)
    return (
        f"line {line}: unsupported assertion; the mock runner evaluates only "
        "'\"text\" [not] in read(path)', 'read(path) == \"...\"', "
        "'read(path).count(\"...\") == n', '[not] exists(path)' and "
        "'json_get(path, *keys) == value'"
    )


def _collect_uncached(source: str) -> tuple[_Case, ...] | str:
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        return f"syntax error at line {exc.lineno}: {exc.msg}"
    except (ValueError, RecursionError, MemoryError) as exc:
        return f"cannot be parsed ({type(exc).__name__})"
    cases: list[_Case] = []
    for node in tree.body:
        if not isinstance(node, ast.FunctionDef) or not node.name.startswith("test"):
            continue
        a = node.args
        if a.args or a.posonlyargs or a.kwonlyargs or a.vararg or a.kwarg:
            cases.append((node.name, node.lineno, "fixtures and arguments are not supported"))
            continue
        checks: list[_Check] = []
        problem: str | None = None
        for i, stmt in enumerate(node.body):
            if isinstance(stmt, ast.Pass) or (
                i == 0 and isinstance(stmt, ast.Expr) and _str(stmt.value) is not None
            ):
                continue
            compiled = (
                _compile(stmt)
                if isinstance(stmt, ast.Assert)
                else f"line {stmt.lineno}: only assert statements are evaluated"
            )
            if isinstance(compiled, str):
                problem = compiled
                break
            checks.append(compiled)
        cases.append((node.name, node.lineno, problem if problem else tuple(checks)))
    return tuple(cases)


_collect_cached = lru_cache(maxsize=1024)(_collect_uncached)


def _collect(source: str) -> tuple[_Case, ...] | str:
    if len(source) > _CACHE_MAX_CHARS:
        return _collect_uncached(source)
    return _collect_cached(source)


def _json_equal(a: Any, b: Any) -> bool:
    """JSON equality: ``true`` is not ``1``; ``1`` and ``1.0`` are the same number."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(_json_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    return type(a) is type(b) and a == b


def _evaluate(check: _Check, files: Mapping[str, str]) -> str | None:
    """``None`` when the check holds, else why not."""
    kind, line, raw, operand, expected, negate, msg = check
    key = normalize(raw)
    if not isinstance(key, str):
        return f"line {line}: {key.msg}"
    where = f"line {line}: " + (f"{msg}: " if msg else "")
    if kind == "exists":
        if (key in files) == negate:
            return where + f"{key} {'exists' if negate else 'does not exist'}"
        return None
    content = files.get(key)
    if content is None:
        return where + f"{key} does not exist"
    if kind == "contains":
        if (operand in content) == negate:
            return where + f"{operand!r:.200} {'found' if negate else 'not found'} in {key}"
    elif kind == "equals":
        if (content == expected) == negate:
            return where + f"{key} {'equals' if negate else 'does not equal'} {expected!r:.80}"
    elif kind == "count":
        n = content.count(operand)
        if (n == expected) == negate:
            return where + f"{operand!r:.200} occurs {n} times in {key}"
    else:  # json
        try:
            value: Any = loads_strict(content)
        except (ValueError, RecursionError) as exc:
            return where + f"{key} is not strict JSON ({exc})"
        for k in operand:
            in_dict = isinstance(value, dict) and isinstance(k, str) and k in value
            in_list = isinstance(value, list) and type(k) is int and -len(value) <= k < len(value)
            if in_dict or in_list:
                value = value[k]
            else:
                return where + f"{key} has no {k!r} at {'/'.join(map(str, operand))}"
        if _json_equal(value, expected) == negate:
            return where + f"{'/'.join(map(str, operand))} in {key} is {value!r:.80}"
    return None


def _run_file(nodeid_prefix: str, source: str, files: Mapping[str, str]) -> list[CaseResult] | str:
    cases = _collect(source)
    if isinstance(cases, str):
        return cases
    results = []
    for name, _, checks in cases:
        nodeid = f"{nodeid_prefix}::{name}"
        if isinstance(checks, str):
            results.append(CaseResult(nodeid, "error", checks))
            continue
        why = next((w for c in checks if (w := _evaluate(c, files)) is not None), None)
        results.append(
            CaseResult(nodeid, "passed") if why is None else CaseResult(nodeid, "failed", why)
        )
    return results


def _is_test_file(key: str) -> bool:
    base = posixpath.basename(key)
    return base.endswith(".py") and (base.startswith("test_") or base.endswith("_test.py"))


def collect_paths(files: Mapping[str, str], key: str = ".") -> list[str]:
    """The test files that ``run_tests(key)`` runs: ``key`` itself if it is a file, else the
    test files under the folder ``key`` (a normalised workspace key), in path order."""
    if key in files:
        return [key]
    prefix = "" if key == "." else key + "/"
    return sorted(k for k in files if k.startswith(prefix) and _is_test_file(k))


def run_tests(files: Mapping[str, str], key: str = ".") -> RunReport:
    """Run the test files at ``key`` (see :func:`collect_paths`) against ``files``."""
    results: list[CaseResult] = []
    errors: list[str] = []
    for path in collect_paths(files, key):
        out = _run_file(path, files[path], files)
        if isinstance(out, str):
            errors.append(f"{path}: {out}")
        else:
            results += out
    return RunReport(tuple(results), tuple(errors))


def run_source(source: str, files: Mapping[str, str], name: str = "<checks>") -> RunReport:
    """Run test source that is not in the workspace (a task's hidden checks) against ``files``."""
    out = _run_file(name, source, files)
    if isinstance(out, str):
        return RunReport((), (f"{name}: {out}",))
    return RunReport(tuple(out))
