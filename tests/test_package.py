"""The package's shape: a sorted, importable public API, one-way layering, no torch in scoring;
the conformance data in the project, byte-exact and licensed, and nothing read from outside it."""

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
OUTSIDE = re.compile(rb"\.\./shared|shared[\"']?\s*[/,]\s*[\"']?conformance")
SCANNED = ("agent_rl", "tests", "tools", "demos", "docs", ".ci")
SCANNED_FILES = ("README.md", "BENCHMARKS.md", "pyproject.toml", "MANIFEST.in")

# Each module may import only from modules at its own position or before it.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("errors", "verdicts"),
    ("strict_json",),
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
    old = (
        b'parents[2] / "shared" / "conformance"',
        b"../shared/conformance/",
        b"'shared', 'conformance'",
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
