"""The package's shape: a sorted, importable public API, one-way layering between packages and
no import cycles between modules, no torch in scoring; the conformance data in the project,
byte-exact and licensed, and nothing read from outside it."""

from __future__ import annotations

import ast
import hashlib
import re
import subprocess
import sys
from pathlib import Path

import agent_rl

PKG = Path(agent_rl.__file__).parent
ROOT = Path(__file__).resolve().parents[1]
CONFORMANCE = ROOT / "tests" / "conformance"
SUITES = ("JSONTestSuite", "JSON-Schema-Test-Suite", "malformed-json")
OURS = ("SOURCE", "README.md", "SHA256SUMS")  # the project's notes beside the upstream files
# What a test, tool or doc may not point at: the old data folder beside the checkout.
_FOLDER = b"sha" + b"red"  # spelled in pieces: this file must not name the path it guards
OUTSIDE = re.compile(rb"[.]{2}/" + _FOLDER + b"|" + _FOLDER + rb"[\"']?\s*[/,]\s*[\"']?conformance")
SCANNED = ("agent_rl", "tests", "tools", "demos", "docs", ".ci")
SCANNED_FILES = ("README.md", "BENCHMARKS.md", "pyproject.toml", "MANIFEST.in")

# Each module may import only from modules at its own position or before it.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("errors", "verdicts"),
    ("strict_json",),
    ("kinds",),
    ("tool_spec", "_schema"),
    ("formats",),
    ("scorer",),
    ("sandbox",),
    ("tasks",),
    ("trajectories",),
    ("recorder",),
    ("checkpoints",),
    ("policies",),
    ("prompts", "agent"),
    ("integrations",),
    ("models",),
    ("training",),
    ("evaluation",),
    ("demo",),
    ("runtime",),
    ("commands",),
    ("cli",),
)
RANK = {name: i for i, layer in enumerate(LAYERS) for name in layer}


def _top(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if parts[0] == "agent_rl" and len(parts) > 1 else None


def test_all_is_sorted_and_importable() -> None:
    assert agent_rl.__all__ == sorted(agent_rl.__all__)
    for name in agent_rl.__all__:
        assert getattr(agent_rl, name) is not None, name


def test_layering_is_one_way() -> None:
    bad = []
    for path in PKG.rglob("*.py"):
        rel = path.relative_to(PKG).with_suffix("")
        own = rel.parts[0]
        if own not in RANK:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            for name in names:
                top = _top(name)
                if top in RANK and RANK[top] > RANK[own]:
                    bad.append(f"{rel} imports {name}")
    assert not bad, bad


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PKG.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _module_graph() -> dict[str, set[str]]:
    """Each module of the package and the package modules it imports (anywhere in the file,
    lazy and type-checking imports included); ``from pkg import sub`` is an edge to ``pkg.sub``."""
    paths = {_module_name(p): p for p in PKG.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in paths.items():
        out: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level:
                out.add(f"<relative import in {name}>")
            elif isinstance(node, ast.ImportFrom) and node.module:
                for alias in node.names:
                    sub = f"{node.module}.{alias.name}"
                    out.add(sub if sub in paths else node.module)
            elif isinstance(node, ast.Import):
                out.update(a.name for a in node.names)
        graph[name] = {m for m in out if m in paths or m.startswith("<")} - {name}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.get(root, ()))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return sorted(found)


# Import cycles that exist today (none); a new cycle, or one of these gone, fails the test below.
KNOWN_CYCLES: list[list[str]] = []


def test_no_import_cycles_between_modules() -> None:
    """Data flows one way between the modules inside each package too: no module imports
    (directly or through others) a module that imports it, and no relative imports."""
    graph = _module_graph()
    assert "agent_rl.trajectories.store" in graph["agent_rl.trajectories"]  # the graph is real
    assert not [m for deps in graph.values() for m in deps if m.startswith("<")]
    assert _cycles(graph) == KNOWN_CYCLES


def test_the_cycle_finder_finds_cycles() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set(), "e": {"e2"}, "e2": {"e"}}
    assert _cycles(graph) == [["a", "b", "c"], ["e", "e2"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_scoring_does_not_import_torch_or_the_agent() -> None:
    code = (
        "import sys, agent_rl; from agent_rl import Scorer, CodingSandbox, parse_json, ToolSpec;"
        "bad = [m for m in ('torch', 'transformers', 'trl', 'agent_rl.agent') if m in sys.modules];"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_conformance_data_is_in_the_project_byte_exact_and_licensed() -> None:
    sums = (CONFORMANCE / "SHA256SUMS").read_text().splitlines()
    listed = {name: digest for digest, name in (line.split("  ", 1) for line in sums)}
    on_disk = {
        p.relative_to(CONFORMANCE).as_posix(): p
        for p in CONFORMANCE.rglob("*")
        if p.is_file() and p.name not in OURS
    }
    assert sorted(on_disk) == sorted(listed) and len(listed) == 469
    changed = [
        n for n, p in on_disk.items() if hashlib.sha256(p.read_bytes()).hexdigest() != listed[n]
    ]
    assert not changed, changed  # e.g. a line-ending conversion: see .gitattributes
    for suite in SUITES:
        assert "Permission is hereby granted" in (CONFORMANCE / suite / "LICENSE").read_text()
        source = (CONFORMANCE / suite / "SOURCE").read_text()
        assert source.count("\n") == 1 and " @ " in source and "github.com/" in source, suite


def test_nothing_reads_from_outside_the_project() -> None:
    up, two = b"..", b"parents[" + b"2]"  # the old forms, spelled so this file lacks them
    old = (
        two + b' / "' + _FOLDER + b'" / "conformance"',
        up + b"/" + _FOLDER + b"/conformance/",
        b"'" + _FOLDER + b"', 'conformance'",
    )
    assert all(OUTSIDE.search(line) for line in old)  # the pattern catches the old forms
    files = [ROOT / name for name in SCANNED_FILES]
    files += [p for top in SCANNED for p in sorted((ROOT / top).rglob("*")) if p.is_file()]
    assert ROOT / "tests" / "conftest.py" in files and len(files) > 100  # it sees the project
    hits = [
        f"{path.relative_to(ROOT)}:{n}"
        for path in files
        if path.is_file()
        and CONFORMANCE not in path.parents
        and "__pycache__" not in path.parts
        and path != Path(__file__).resolve()  # the examples just above
        for n, line in enumerate(path.read_bytes().splitlines(), 1)
        if OUTSIDE.search(line)
    ]
    assert not hits, hits
