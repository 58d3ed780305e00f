"""The Scorer on real tool specs and a real sandbox: every stage and kind, episodes, bad input."""

from __future__ import annotations

import json
import time
import tracemalloc

import pytest

from agent_rl.errors import ConfigError, ToolSpecError
from agent_rl.formats import FORMATS, render_call, render_final
from agent_rl.sandbox import CodingSandbox
from agent_rl.scorer import Scorer
from agent_rl.strict_json import parse_json
from agent_rl.verdicts import CallVerdict, ErrorEntry, ToolCall

TOOLS = CodingSandbox({}).tools
SCORERS = {fmt: Scorer(TOOLS, format=fmt) for fmt in FORMATS}
FILES = {
    "src/app.py": 'DEBUG = False\nNAME = "app"\n',
    "src/dup.py": "x = 1\nx = 1\n",
    "tests/test_app.py": "from src.app import NAME\n",
}


def j(name: str, **arguments: object) -> str:
    """A call's JSON text as an expert writes it."""
    return render_call(ToolCall(name, dict(arguments)), "json")


def R(arguments: str) -> str:
    """A read_file call with raw JSON ``arguments`` (may be malformed on purpose)."""
    return '{"name": "read_file", "arguments": ' + arguments + "}"


def F(summary: str) -> str:
    """A finish call with raw JSON ``summary`` (may be malformed on purpose)."""
    return '{"name": "finish", "arguments": {"summary": ' + summary + "}}"


def tagged(body: str) -> str:
    return f"<tool_call>{body}</tool_call>"


ENV, ARG = "envelope", "arguments"
READ = j("read_file", path="src/app.py")
EDIT = j("edit_file", path="src/app.py", old='NAME = "app"', new='NAME = "C:\\\\tmp é\\n"')

# (format, text, valid, stage, kind) -- stage and kind are None for a valid output.
CASES: list[tuple[str, str, bool, str | None, str | None]] = [
    # valid calls, each format, escapes included
    ("json", READ, True, None, None),
    ("json", f"  \n{EDIT}\n", True, None, None),
    ("json", j("search", query='"quoted" \\ \t', max_results=5), True, None, None),
    ("json", j("list_dir"), True, None, None),
    ("react", f"Thought: look first\nAction: {READ}", True, None, None),
    ("react", f"Action: {EDIT}\n", True, None, None),
    ("hermes", f"<tool_call>\n{READ}\n</tool_call>", True, None, None),
    ("hermes", f"I'll edit it.\n<tool_call>\n{EDIT}\n</tool_call>\n", True, None, None),
    ("json", '{"arguments": {"path": "a"}, "name": "read_file"}', True, None, None),
    # final answers: valid non-calls
    ("json", "The bug is fixed.", True, None, None),
    ("react", "Thought: done\nFinal Answer: The bug is fixed.", True, None, None),
    ("hermes", "The bug is fixed.", True, None, None),
    # parse stage: the kind from the strict parser
    ("json", READ[:30], False, "parse", "truncated"),
    ("react", "Action: " + READ[:-1], False, "parse", "truncated"),
    ("json", READ[:-2] + ",}}", False, "parse", "trailing_comma"),
    ("json", READ.replace('"', "'"), False, "parse", "single_quotes"),
    ("json", '{name: "read_file", arguments: {}}', False, "parse", "unquoted_key"),
    ("json", R('{"path": None}'), False, "parse", "python_literal"),
    ("json", F("NaN"), False, "parse", "nan_or_infinity"),
    ("json", F("-Infinity"), False, "parse", "nan_or_infinity"),
    ("json", F('"a\\x41"'), False, "parse", "invalid_escape"),
    ("json", F('"line\nbreak"'), False, "parse", "control_char_in_string"),
    ("json", F('"\\ud800"'), False, "parse", "lone_surrogate"),
    ("json", F('"x" /* why */'), False, "parse", "comment"),
    ("react", "Action:", False, "parse", "empty"),
    ("hermes", "<tool_call>\n\n</tool_call>", False, "parse", "empty"),
    ("json", F("[" * 600 + "]" * 600), False, "parse", "too_deep"),
    # envelope stage: the format around the call
    ("json", "", False, "envelope", "empty"),
    ("json", f"Sure! Here it is: {READ}", False, "envelope", "prose_around_call"),
    ("json", f"{READ}\nDone.", False, "envelope", "prose_around_call"),
    ("json", f"```json\n{READ}\n```", False, "envelope", "code_fence"),
    ("json", f"{READ}\n{EDIT}", False, "envelope", "multiple_calls"),
    ("react", "I think I should read the file.", False, "envelope", "missing_action"),
    ("react", READ, False, "envelope", "missing_action"),
    ("react", f"Action: {READ}\nAction: {EDIT}", False, "envelope", "multiple_calls"),
    ("react", f"Action: {READ}\nObservation: DEBUG = False", False, "envelope", "text_after_call"),
    ("react", f"Action: {READ}\nFinal Answer: ok", False, "envelope", "action_and_final_answer"),
    ("react", 'Action: read_file\nAction Input: {"path": "a"}', False, ENV, "action_not_json"),
    ("react", f"Action: ```json\n{READ}\n```", False, "envelope", "code_fence"),
    ("hermes", READ, False, "envelope", "missing_tag"),
    ("hermes", f"<tool_call>\n{READ}", False, "envelope", "truncated"),
    ("hermes", tagged(READ) + tagged(READ), False, ENV, "multiple_calls"),
    ("hermes", f"<tool_call>{READ}</tool_call>\nLet me know!", False, ENV, "text_after_call"),
    ("hermes", f"<tool_call>{READ} {EDIT}</tool_call>", False, "envelope", "multiple_calls"),
    ("hermes", f"{READ}\n</tool_call>", False, "envelope", "unbalanced_tag"),
    # envelope stage: the call object itself
    ("json", "[" + READ + "]", False, "envelope", "not_an_object"),
    ("json", '{"name": "read_file", "name": "x", "arguments": {}}', False, ENV, "duplicate_key"),
    ("json", R('{"path": "a", "path": "a"}'), False, ENV, "duplicate_key"),
    ("json", '{"arguments": {"path": "a"}}', False, "envelope", "missing_name"),
    ("json", '{"tool": "read_file", "arguments": {"path": "a"}}', False, ENV, "missing_name"),
    ("json", '{"name": ["read_file"], "arguments": {"path": "a"}}', False, ENV, "name_not_string"),
    ("json", '{"name": "read_file"}', False, "envelope", "missing_arguments"),
    ("json", '{"name": "read_file", "parameters": {"path": "a"}}', False, ENV, "missing_arguments"),
    ("json", R('"{\\"path\\": \\"a\\"}"'), False, ENV, "arguments_not_object"),
    ("json", '{"name": "read_file", "arguments": null}', False, "envelope", "arguments_not_object"),
    ("json", '{"name": "read_file", "arguments": {"path": "a"}, "id": 1}', False, ENV, "extra_key"),
    # tool stage
    ("json", j("reed_file", path="a"), False, "tool", "unknown_tool"),
    ("json", j("", path="a"), False, "tool", "unknown_tool"),
    ("react", "Action: " + j("delete_file", path="a"), False, "tool", "unknown_tool"),
    # arguments stage: the tool's JSON Schema
    ("json", j("read_file"), False, "arguments", "missing_argument"),
    ("json", j("read_file", path="a", mode="r"), False, "arguments", "unknown_argument"),
    ("json", j("read_file", path=7), False, "arguments", "wrong_type"),
    ("json", j("read_file", path="a", start_line="3"), False, "arguments", "wrong_type"),
    ("json", j("read_file", path="a", start_line=True), False, "arguments", "wrong_type"),
    ("hermes", tagged(j("search", query="x", max_results=500)), False, ARG, "invalid_value"),
    ("json", j("edit_file", path="a", old="", new="b"), False, "arguments", "invalid_value"),
]  # fmt: skip


@pytest.mark.parametrize(("fmt", "text", "valid", "stage", "kind"), CASES)
def test_score_table(fmt: str, text: str, valid: bool, stage: str | None, kind: str | None) -> None:
    v = SCORERS[fmt].score(text)
    assert (v.valid, v.stage, v.kind) == (valid, stage, kind), v.errors
    assert all(e.msg for e in v.errors)
    if stage in ("tool", "arguments", "state") or (valid and v.final_answer is None):
        assert isinstance(v.call, ToolCall)  # got that far: the call is reported
    if stage in ("parse", "envelope"):
        assert v.call is None
    assert v == CallVerdict.from_dict(json.loads(json.dumps(v.to_dict())))


@pytest.mark.parametrize("fmt", FORMATS)
def test_final_answer_is_a_valid_non_call(fmt: str) -> None:
    v = SCORERS[fmt].score(render_final("All 3 tests pass.", fmt))  # type: ignore[arg-type]
    assert v.valid and not v.is_call and v.final_answer == "All 3 tests pass." and not v.errors


def test_unknown_tool_suggests_the_closest_name() -> None:
    v = SCORERS["json"].score(j("reed_file", path="a"))
    assert "did you mean 'read_file'?" in v.errors[0].msg
    assert v.call == ToolCall("reed_file", {"path": "a"}) and v.errors[0].loc == ("name",)


@pytest.mark.parametrize(
    ("text", "loc"),
    [
        ('{"name": "read_file", "arguments": {"path": "a"}, "name": "x"}', ("name",)),
        (R('{"path": {"a": 1, "a": 2}}'), ("arguments", "path", "a")),
        (F('[{"k": 1, "k": 1}]'), ("arguments", "summary", 0, "k")),
    ],
)  # fmt: skip
def test_duplicate_key_is_located_anywhere_in_the_call(text: str, loc: tuple) -> None:
    v = SCORERS["json"].score(text)
    assert (v.stage, v.kind) == ("envelope", "duplicate_key")
    assert loc in [e.loc for e in v.errors if e.type == "duplicate_key"]


@pytest.mark.parametrize(
    ("fmt", "prefix", "body"),
    [
        ("json", "", '{"name": "read_file", "arguments": {"path": "a",}}'),
        ("json", "\n\n   ", '{"name": "read_file", "arguments": {"path": \'a\'}}'),
        ("react", "Thought: héllo wörld\nAction:  ", F('"a\\qb"')),
        ("hermes", "Let me see ✓\n<tool_call>\n", '{"name": "read_file" "arguments": {}}'),
    ],
)  # fmt: skip
def test_parse_error_loc_is_the_offset_in_the_whole_output(
    fmt: str, prefix: str, body: str
) -> None:
    text = prefix + body + ("\n</tool_call>" if fmt == "hermes" else "")
    v = SCORERS[fmt].score(text)
    jv = parse_json(body)
    assert v.stage == "parse" and v.kind == jv.error and jv.offset is not None
    assert v.errors[0].loc == ("char", len(prefix) + jv.offset)


def test_bytes_are_decoded_strictly() -> None:
    scorer = SCORERS["react"]
    text = f"Thought: café\nAction: {EDIT}"
    assert scorer.score(text.encode()) == scorer.score(text)
    assert scorer.score(bytearray(text.encode())).valid
    bad = scorer.score(b"Action: " + READ.encode()[:20] + b"\xff\xfe" + READ.encode()[20:])
    assert (bad.valid, bad.stage, bad.kind) == (False, "parse", "invalid_utf8")
    assert bad.errors[0].loc == ("byte", 28)
    surrogate = scorer.score(
        b'Action: {"name": "finish", "arguments": {"summary": "\xed\xa0\x80"}}'
    )
    assert surrogate.kind == "invalid_utf8"


@pytest.mark.parametrize("bad", [None, 3, ["{}"], {"name": "x"}])
def test_non_text_input_is_a_caller_bug_and_raises(bad: object) -> None:
    with pytest.raises(TypeError, match="str or bytes"):
        SCORERS["json"].score(bad)  # type: ignore[arg-type]


# --- the state stage, with a real sandbox ---------------------------------------------------

STATE_CASES = [
    (j("read_file", path="src/missing.py"), "file_not_found"),
    (j("read_file", path="src/app.py", start_line=1, end_line=99), "line_out_of_range"),
    (j("edit_file", path="src/app.py", old="DEBUG = True", new="x"), "old_text_not_found"),
    (j("edit_file", path="src/dup.py", old="x = 1", new="x = 2"), "old_text_ambiguous"),
    (j("list_dir", path="docs"), "dir_not_found"),
    (j("read_file", path="../../etc/passwd"), "path_outside_workspace"),
    (j("write_file", path="/etc/passwd", content="x"), "path_outside_workspace"),
]


@pytest.mark.parametrize(("text", "kind"), STATE_CASES)
def test_state_stage_with_a_real_sandbox(text: str, kind: str) -> None:
    box = CodingSandbox(FILES)
    before = box.snapshot()
    v = SCORERS["json"].score(text, box)
    assert (v.valid, v.stage, v.kind) == (False, "state", kind)
    assert v.call is not None
    assert SCORERS["json"].score(text).valid  # the same call is fine without a state
    assert box.snapshot() == before  # score() only checks


def test_score_never_applies_a_call() -> None:
    box = CodingSandbox(FILES)
    write = j("write_file", path="new.txt", content="hi")
    assert SCORERS["json"].score(write, box).valid
    assert "new.txt" not in box.files


def test_score_episode_carries_state_and_skips_invalid_calls() -> None:
    scorer = SCORERS["react"]
    write = "Action: " + j("write_file", path="notes.md", content='say "hi"\n')
    edit = "Action: " + j("edit_file", path="notes.md", old='"hi"', new='"bye"')
    bad_write = "Action: " + j("write_file", path="notes.md", content=3)
    finish = "Final Answer: done"

    ok = scorer.score_episode([write, edit, finish], lambda: CodingSandbox(FILES))
    assert ok.all_valid and ok.first_invalid_step is None and ok.valid_rate == 1.0

    early = scorer.score_episode([edit, write, edit], lambda: CodingSandbox(FILES))
    assert [v.valid for v in early.steps] == [False, True, True]
    assert (early.steps[0].stage, early.steps[0].kind) == ("state", "file_not_found")
    assert early.first_invalid_step == 0 and early.error_counts == {"file_not_found": 1}

    skipped = scorer.score_episode([bad_write, edit], lambda: CodingSandbox(FILES))
    assert [(v.stage, v.kind) for v in skipped.steps] == [
        ("arguments", "wrong_type"),
        ("state", "file_not_found"),  # the invalid write was not applied
    ]
    assert skipped.valid_rate == 0.0

    twice = scorer.score_episode([write, edit, edit], lambda: CodingSandbox(FILES))
    assert [v.kind for v in twice.steps] == [None, None, "old_text_not_found"]


def test_score_episode_without_state_scores_each_step_alone() -> None:
    steps = ["Action: " + EDIT, "nonsense", "Final Answer: ok"]
    ep = SCORERS["react"].score_episode(steps)
    assert [v.valid for v in ep.steps] == [True, False, True]
    assert ep.error_counts == {"missing_action": 1}


def test_state_errors_are_bugs_not_verdicts_when_check_raises() -> None:
    class Broken:
        def check(self, call: ToolCall) -> list[ErrorEntry]:
            raise RuntimeError("bug in a state")

        def step(self, call: ToolCall) -> None:  # pragma: no cover - never reached
            raise AssertionError

    with pytest.raises(RuntimeError, match="bug in a state"):
        SCORERS["json"].score(READ, Broken())  # type: ignore[arg-type]


def test_constructor_errors() -> None:
    with pytest.raises(ConfigError, match="format 'xml' is not supported"):
        Scorer(TOOLS, format="xml")  # type: ignore[arg-type]
    with pytest.raises(ToolSpecError, match="two tools are named 'read_file'"):
        Scorer([*TOOLS, TOOLS[0]])
    assert not Scorer([]).score(READ).valid  # no tools: every call is unknown
    assert "read_file" in repr(SCORERS["json"])


# --- hostile outputs: bounded time, a verdict every time ------------------------------------


HOSTILE = {
    "100k nested arrays": ("json", "[{" * 50_000, "parse"),
    "100k open braces": ("json", "{" * 100_000, "parse"),
    "100k nested arrays in arguments": ("json", F("[" * 100_000 + "]" * 100_000), "parse"),
    "100k brackets without braces": ("json", "[" * 100_000, None),  # no '{': an answer
    "100k brackets after Action": ("react", "Action: " + "[" * 100_000, "parse"),
    "10 MB string": ("json", F('"' + "x" * 10_000_000 + '"'), None),
    "2M escapes": ("json", F('"' + "\\n" * 2_000_000 + '"'), None),
    "10 MB truncated string": ("json", F('"' + "x" * 10_000_000)[:-2], "parse"),
    "a million keys": ("json", R("{" + ", ".join(f'"k{i}": {i}' for i in range(10**6)) + "}"), ARG),
    "a 5 MB tool name": ("json", '{"name": "' + "x" * 5_000_000 + '", "arguments": {}}', "tool"),
    "raw NUL in a string": ("json", F('"\x00"'), "parse"),
    "a million NULs before a call": ("json", "\x00" * 1_000_000 + READ, "envelope"),
    "200k Action lines": ("react", "Action: {}\n" * 200_000, "envelope"),
    "100k open tags": ("hermes", "<tool_call>" * 100_000, "envelope"),
}


@pytest.mark.parametrize(("fmt", "text", "stage"), HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_outputs_get_a_verdict_in_bounded_time(
    fmt: str, text: str, stage: str | None
) -> None:
    t0 = time.perf_counter()
    v = SCORERS[fmt].score(text)
    elapsed = time.perf_counter() - t0
    assert v.stage == stage
    assert len(v.errors) <= 100  # a million bad keys do not make a million entries
    assert elapsed < 20, f"{elapsed:.1f}s: a hang guard, not a speed target (see the benchmark)"


MEMORY_CASES = {
    "2 MB string": F('"' + "x" * 2_000_000 + '"'),
    "2 MB truncated string": F('"' + "x" * 2_000_000),
    "100k keys": R("{" + ", ".join(f'"k{i}": {i}' for i in range(100_000)) + "}"),
    "100k repeated keys": R("{" + ", ".join('"k": 1' for _ in range(100_000)) + "}"),
    "100k nested arrays": F("[" * 100_000 + "]" * 100_000),
}


@pytest.mark.parametrize("text", MEMORY_CASES.values(), ids=MEMORY_CASES.keys())
def test_hostile_outputs_use_memory_linear_in_their_size(text: str) -> None:
    """Peak Python allocation while scoring stays under 64x the output's size: parsed values
    and their diagnostics, never a quadratic blow-up (measured: 12-30x)."""
    tracemalloc.start()
    try:
        SCORERS["json"].score(text)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak <= 64 * len(text), f"{peak / len(text):.0f}x the output's size"
