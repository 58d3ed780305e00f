"""``agent_rl.kinds`` lists every error kind the code emits, with the stage it appears in.

Two checks: the source (every literal kind handed to an error constructor is listed, and the
places that pass a kind through a variable are the known ones), and the running stages (the
scorer on the conformance set's broken outputs in every format, hand-made envelope, tool,
argument and state errors, and the sandbox's refusals): every kind seen is listed, at the stage
it was seen in.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

import agent_rl
from agent_rl.formats import FORMATS, render_call
from agent_rl.kinds import KINDS, KNOWN_KINDS, NO_CALL
from agent_rl.sandbox import CodingSandbox
from agent_rl.scorer import Scorer
from agent_rl.strict_json import ERROR_KINDS
from agent_rl.training.rewards import KNOWN_KINDS as REWARD_KINDS
from agent_rl.verdicts import CallVerdict, ToolCall

PKG = Path(agent_rl.__file__).parent

# Error constructors and the position of their kind argument.
KIND_ARG = {"ErrorEntry": 0, "_err": 0, "err": 0, "missing": 1}
# Where a kind is passed through an expression, not a literal (each checked below).
DYNAMIC = {
    ("formats.py", "kind"),  # _err(kind, ...): its callers pass literals
    ("sandbox/_workspace.py", "kind"),  # err(kind, ...) and missing(key, kind, ...): same
    ("scorer.py", "jv.error or 'invalid'"),  # a strict_json kind (ERROR_KINDS)
    ("scorer.py", "NO_CALL"),
    ("verdicts.py", "e['type']"),  # reading a stored verdict back
    ("trajectories/fields.py", "str(d['type'])"),  # the same
}


def _emitted() -> tuple[dict[str, set[str]], set[tuple[str, str]]]:
    literal: dict[str, set[str]] = {}
    dynamic: set[tuple[str, str]] = set()
    for path in PKG.rglob("*.py"):
        rel = path.relative_to(PKG).as_posix()
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            f = node.func
            name = f.id if isinstance(f, ast.Name) else getattr(f, "attr", None)
            if name not in KIND_ARG or len(node.args) <= KIND_ARG[name]:
                continue
            arg = node.args[KIND_ARG[name]]
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                literal.setdefault(arg.value, set()).add(rel)
            else:
                dynamic.add((rel, ast.unparse(arg)))
    return literal, dynamic


def test_every_kind_in_the_source_is_listed() -> None:
    literal, dynamic = _emitted()
    assert len(literal) > 40  # the walk found the emitters
    missing = {k: sorted(v) for k, v in literal.items() if k not in KINDS}
    assert not missing, f"error kinds emitted but not listed in agent_rl/kinds.py: {missing}"
    assert dynamic == DYNAMIC, "a new place passes an error kind through a variable: list it"
    assert set(ERROR_KINDS) <= set(KINDS) and NO_CALL in KINDS


def test_every_listed_kind_is_documented_once() -> None:
    assert len(KNOWN_KINDS) == len(set(KNOWN_KINDS)) == len(KINDS)
    literal, _ = _emitted()
    for kind in KINDS.values():
        assert kind.stages and kind.meaning.strip() and kind.name in KINDS
        # a listed kind is emitted somewhere (literally, or by strict_json or the rewards)
        assert kind.name in literal or kind.name in ERROR_KINDS or kind.name == NO_CALL
    assert REWARD_KINDS == KNOWN_KINDS  # the rewards log exactly these
    for gone in ("control_character", "unterminated_string"):  # never emitted
        assert gone not in KINDS
    assert "unescaped_quote" in KINDS


def _seen(verdict: CallVerdict, seen: dict[str, set[str]]) -> None:
    for e in verdict.errors:
        assert verdict.stage is not None
        seen.setdefault(verdict.stage, set()).add(e.type)


def _broken_outputs(conformance: Path) -> Iterator[str]:
    yield from json.loads((conformance / "malformed-json" / "broken_inputs.json").read_text())
    for p in sorted((conformance / "JSONTestSuite" / "test_parsing").glob("n_*.json")):
        yield p.read_bytes().decode("utf-8", "replace")


def _wrapped(text: str, fmt: str) -> str:
    return {"json": text, "react": f"Action: {text}", "hermes": f"<tool_call>{text}</tool_call>"}[
        fmt
    ]


_FILES = {"src/app.py": "x = 1\nx = 1\n", "README.md": "hi\n"}

# (tool, arguments) that fail at the tool, arguments or state stage.
BAD_CALLS = [
    ("read_flie", {"path": "src/app.py"}),
    ("read_file", {}),
    ("read_file", {"path": 3}),
    ("read_file", {"pth": "src/app.py"}),
    ("read_file", {"path": "src/app.py", "start_line": 0}),
    ("search", {"query": "x", "max_results": 99}),
    ("read_file", {"path": "src/main.py"}),
    ("read_file", {"path": "src"}),
    ("read_file", {"path": "/etc/passwd"}),
    ("read_file", {"path": "../x"}),
    ("read_file", {"path": "a\\b"}),
    ("read_file", {"path": "src/app.py", "start_line": 9}),
    ("read_file", {"path": "src/app.py", "start_line": 2, "end_line": 1}),
    ("list_dir", {"path": "nope"}),
    ("list_dir", {"path": "README.md"}),
    ("search", {"query": "x", "path": "nope"}),
    ("write_file", {"path": "README.md/x", "content": ""}),
    ("write_file", {"path": "src", "content": ""}),
    ("write_file", {"path": "big.txt", "content": "x" * 1_000_001}),
    ("edit_file", {"path": "src/app.py", "old": "y", "new": "z"}),
    ("edit_file", {"path": "src/app.py", "old": "x = 1", "new": "z"}),
    ("edit_file", {"path": "src/app.py", "old": "x", "new": "x"}),
]


def test_every_kind_the_stages_emit_is_listed_at_its_stage(conformance: Path) -> None:
    sandbox = CodingSandbox(_FILES)
    seen: dict[str, set[str]] = {}
    for fmt in FORMATS:
        scorer = Scorer(sandbox.tools, fmt)
        for text in _broken_outputs(conformance):
            _seen(scorer.score(_wrapped(text, fmt)), seen)
        for text in (
            "",
            "   ",
            "I will read the file.",
            'Sure: {"name": "read_file", "arguments": {}}',
            '```json\n{"name": "read_file", "arguments": {}}\n```',
            '{"name": "read_file", "arguments": {}} and more',
            '{"name": "a", "arguments": {}}{"name": "b", "arguments": {}}',
            "Action: read_file\nAction Input: {}",
            'Action: {"name": "finish", "arguments": {"summary": "x"}}\nFinal Answer: done',
            'Action: {"name": "a", "arguments": {}}\nAction: {"name": "b", "arguments": {}}',
            '{"name": "finish", "arguments": {"summary": "x"}}</tool_call>',
            '<tool_call>{"name": "finish", "arguments": {"summary": "x"}}',
            '<tool_call>{"name": "finish", "arguments": {}}</tool_call> thanks',
            '<tool_call>{"name": "finish", "arguments": {}}</tool_call><tool_call>',
            '[{"name": "finish", "arguments": {}}]',
            '{"name": "finish", "name": "finish", "arguments": {}}',
            '{"tool": "finish", "arguments": {}}',
            '{"name": 3, "arguments": {}}',
            '{"name": "finish", "args": {}}',
            '{"name": "finish", "arguments": "{\\"summary\\": \\"x\\"}"}',
            '{"name": "finish", "arguments": {"summary": "x"}, "id": 1}',
            '{"name": "finish", "arguments": {"summary": 1e400}}',
        ):
            _seen(scorer.score(text), seen)
            _seen(scorer.score(_wrapped(text, fmt)), seen)
        _seen(scorer.score(b'{"name": "finish", "arguments": {"summary": "\xff"}}'), seen)
        for name, args in BAD_CALLS:
            _seen(scorer.score(render_call(ToolCall(name, args), fmt), state=sandbox), seen)
    done = CodingSandbox(_FILES)
    done.step(ToolCall("finish", {"summary": "x"}))
    _seen(Scorer(done.tools).score(render_call(ToolCall("list_dir", {}))), seen)
    _seen(Scorer(done.tools).score(render_call(ToolCall("list_dir", {})), state=done), seen)

    wrong = {
        (stage, kind)
        for stage, kinds in seen.items()
        for kind in kinds
        if kind not in KINDS or stage not in KINDS[kind].stages
    }
    assert not wrong, f"kinds seen at a stage agent_rl/kinds.py does not list: {sorted(wrong)}"
    assert set(seen) == {"parse", "envelope", "tool", "arguments", "state"}  # every stage ran
    assert len(set().union(*seen.values())) > 50  # the inputs reach most kinds


def test_sandbox_refusals_are_listed() -> None:
    sandbox = CodingSandbox(_FILES)
    refusals = [
        sandbox.step("just text, no call"),
        sandbox.step(ToolCall("read_file", "not a dict")),  # type: ignore[arg-type]
        sandbox.step(ToolCall("nope", {})),
        sandbox.step(ToolCall("read_file", {"path": 3})),
        sandbox.step('{"name": "read_file", "arguments": {"path": "src/x.py"}}'),
    ]
    kinds = [o.error.type for o in refusals if o.error is not None]
    assert len(kinds) == len(refusals)
    assert all(k in KINDS for k in kinds), kinds
    assert "observation" in KINDS[kinds[0]].stages and "observation" in KINDS[kinds[1]].stages


@pytest.mark.parametrize("kind", ["unescaped_quote", "trailing_comma", "missing_argument"])
def test_known_kinds_include_the_common_ones(kind: str) -> None:
    assert kind in KNOWN_KINDS
