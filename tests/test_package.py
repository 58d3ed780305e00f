"""The package's shape: a sorted, importable public API, one-way layering, no torch in scoring."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import agent_rl

PKG = Path(agent_rl.__file__).parent

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
