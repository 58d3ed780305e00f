"""Output formats: rendering, instructions, and where the call is in raw text (envelope rules)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from agent_rl.errors import ConfigError
from agent_rl.formats import (
    FORMATS,
    extract,
    format_instructions,
    render_call,
    render_final,
    render_raw_call,
    trailing_error,
)
from agent_rl.sandbox import CodingSandbox
from agent_rl.scorer import Scorer
from agent_rl.verdicts import ToolCall

CALL = ToolCall(
    "edit_file",
    {"path": "src/app.py", "old": 'x = "1"\n', "new": "y = 'é' \\ \t </tool_call>?"},
)
CALL_JSON = '{"name": "read_file", "arguments": {"path": "a.py"}}'


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("thought", [None, "Read it first."])
def test_render_call_extracts_back_to_the_same_call(fmt: str, thought: str | None) -> None:
    text = render_call(CALL, fmt, thought=thought)  # type: ignore[arg-type]
    ex = extract(text, fmt)  # type: ignore[arg-type]
    assert ex.error is None and ex.final_answer is None
    assert ex.json_text is not None
    assert text[ex.offset : ex.offset + len(ex.json_text)] == ex.json_text
    assert json.loads(ex.json_text) == CALL.to_dict()
    if thought is not None and fmt != "json":
        assert text.index(thought) < ex.offset


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [
        ("json", '{"name": "read_file", "arguments": {"path": "a.py"}}'),
        ("react", 'Thought: t\nAction: {"name": "read_file", "arguments": {"path": "a.py"}}'),
        (
            "hermes",
            't\n<tool_call>\n{"name": "read_file", "arguments": {"path": "a.py"}}\n</tool_call>',
        ),
    ],
)
def test_render_call_exact_text(fmt: str, expected: str) -> None:
    call = {"name": "read_file", "arguments": {"path": "a.py"}}
    assert render_call(call, fmt, thought="t") == expected  # type: ignore[arg-type]


def test_hermes_rendering_matches_the_qwen2_5_chat_template_trl_ships() -> None:
    """What our expert writes is byte-for-byte what trl's Qwen2.5 template renders."""
    from transformers.utils.chat_template_utils import render_jinja_template

    spec = importlib.util.find_spec("trl")
    assert spec is not None and spec.submodule_search_locations
    template = Path(spec.submodule_search_locations[0], "chat_templates", "qwen2_5.jinja")
    call = ToolCall("edit_file", {"path": "a.py", "old": 'x = "1"\n', "new": "é \\ <b>"})
    fn = {"name": call.name, "arguments": call.arguments}
    messages = [
        {"role": "user", "content": "fix it"},
        {"role": "assistant", "content": "", "tool_calls": [{"type": "function", "function": fn}]},
    ]
    rendered, _ = render_jinja_template([messages], chat_template=template.read_text())
    assistant = rendered[0].split("<|im_start|>assistant\n", 1)[1].split("<|im_end|>", 1)[0]
    assert assistant == render_call(call, "hermes")


def test_hermes_escapes_tags_inside_arguments_and_unescaped_ones_break_the_call() -> None:
    text = render_call(CALL, "hermes")
    assert text.count("</tool_call>") == 1 and "<\\/tool_call>" in text
    raw = "<tool_call>" + json.dumps(CALL.to_dict(), ensure_ascii=False) + "</tool_call>"
    assert extract(raw, "hermes").error.type == "text_after_call"  # type: ignore[union-attr]


@pytest.mark.parametrize("fmt", FORMATS)
def test_render_final_extracts_back(fmt: str) -> None:
    answer = "All tests pass.\nThe bug was an off-by-one."
    assert extract(render_final(answer, fmt), fmt).final_answer == answer  # type: ignore[arg-type]
    assert extract(render_final(answer, fmt, "done"), fmt).final_answer == answer  # type: ignore[arg-type]


@pytest.mark.parametrize("fmt", FORMATS)
def test_format_instructions_state_the_format_with_an_example_that_extracts(fmt: str) -> None:
    text = format_instructions(fmt)  # type: ignore[arg-type]
    example = render_call(ToolCall("read_file", {"path": "src/app.py"}), fmt)  # type: ignore[arg-type]
    assert example in text
    start = text.index(example)
    ex = extract(text[start : start + len(example)], fmt)  # type: ignore[arg-type]
    assert ex.json_text is not None and json.loads(ex.json_text)["name"] == "read_file"
    assert "{{" not in text and "escape" in text


@pytest.mark.parametrize("bad", ["xml", "", "JSON"])
def test_unknown_format_is_a_config_error(bad: str) -> None:
    with pytest.raises(ConfigError, match="not supported because"):
        extract("{}", bad)  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        render_call(CALL, bad)  # type: ignore[arg-type]


# (format, text, expected): "call" -> json_text found; "final:<answer>"; or an envelope kind.
CASES = [
    # json: the whole output is the object
    ("json", CALL_JSON, "call"),
    ("json", f"\n  {CALL_JSON}\n\n", "call"),
    ("json", "[" + CALL_JSON + "]", "call"),  # parsed, then not_an_object in the scorer
    ("json", '{"name": "read_file", "argum', "call"),  # truncated: a parse error later
    ("json", "The tests pass now.", "final:The tests pass now."),
    ("json", "  done  \n", "final:done"),
    ("json", "[1] is a citation, not a call", "final:[1] is a citation, not a call"),
    ("json", "def f():\n    return {}", "final:def f():\n    return {}"),
    ("json", "\u2028" + CALL_JSON, "prose_around_call"),  # only JSON whitespace around it
    ("json", "\xa0" + CALL_JSON + "\n", "prose_around_call"),
    ("json", "", "empty"),
    ("json", " \n\t", "empty"),
    ("json", f"Here is the call: {CALL_JSON}", "prose_around_call"),
    ("json", "Sure! {'name': 'read_file', 'arguments': {}}", "prose_around_call"),
    ("json", f"```json\n{CALL_JSON}\n```", "code_fence"),
    ("json", f"Calling:\n```\n{CALL_JSON}\n```", "code_fence"),
    ("json", f"<tool_call>{CALL_JSON}</tool_call>", "prose_around_call"),
    # react: Action line with exactly the object, or Final Answer
    ("react", f"Thought: read it\nAction: {CALL_JSON}", "call"),
    ("react", f"Action: {CALL_JSON}", "call"),
    ("react", f"Thought: x\nAction:\n{CALL_JSON}\n", "call"),
    ("react", f"Thought: x\nAction: {CALL_JSON}\nObservation: ok", "call"),  # extra_data later
    ("react", "Thought: done\nFinal Answer: 42", "final:42"),
    ("react", "Final Answer:\n  line one\nline two ", "final:line one\nline two"),
    ("react", "Final Answer:   ", "empty"),
    ("react", "", "empty"),
    ("react", "I would read the file.", "missing_action"),
    ("react", CALL_JSON, "missing_action"),
    ("react", f"Thought: I will do Action: {CALL_JSON}", "missing_action"),
    ("react", f"Thought: x\naction: {CALL_JSON}", "missing_action"),
    ("react", f"Action: {CALL_JSON}\nAction: {CALL_JSON}", "multiple_calls"),
    ("react", f"Action: {CALL_JSON}\nFinal Answer: done", "action_and_final_answer"),
    ("react", f"Final Answer: done\nAction: {CALL_JSON}", "action_and_final_answer"),
    ("react", 'Action: read_file\nAction Input: {"path": "a.py"}', "action_not_json"),
    ("react", "Action: read the file", "action_not_json"),
    ("react", f"Action: ```json\n{CALL_JSON}\n```", "code_fence"),
    ("react", "Action:", "call"),  # empty JSON: a parse error later
    ("react", "Action:\u3000" + CALL_JSON, "action_not_json"),
    # hermes: <tool_call>...</tool_call>, content before allowed
    ("hermes", f"<tool_call>\n{CALL_JSON}\n</tool_call>", "call"),
    ("hermes", f"<tool_call>{CALL_JSON}</tool_call>\n", "call"),
    ("hermes", f"Let me look.\n<tool_call>\n{CALL_JSON}\n</tool_call>", "call"),
    ("hermes", f"<think>\nhm\n</think>\n\n<tool_call>\n{CALL_JSON}\n</tool_call>", "call"),
    ("hermes", "The answer is 4.", "final:The answer is 4."),
    ("hermes", "", "empty"),
    ("hermes", CALL_JSON, "missing_tag"),
    ("hermes", f"```json\n{CALL_JSON}\n```", "code_fence"),
    ("hermes", f"<tool_call>\n{CALL_JSON}", "truncated"),
    ("hermes", '<tool_call>\n{"name": "read_f', "truncated"),
    (
        "hermes",
        f"<tool_call>{CALL_JSON}</tool_call><tool_call>{CALL_JSON}</tool_call>",
        "multiple_calls",
    ),
    ("hermes", f"<tool_call>{CALL_JSON}<tool_call>{CALL_JSON}</tool_call>", "multiple_calls"),
    ("hermes", f"<tool_call>{CALL_JSON}</tool_call> Done!", "text_after_call"),
    ("hermes", f"{CALL_JSON}</tool_call>", "unbalanced_tag"),
]


@pytest.mark.parametrize(("fmt", "text", "expected"), CASES)
def test_extract_table(fmt: str, text: str, expected: str) -> None:
    ex = extract(text, fmt)  # type: ignore[arg-type]
    if expected == "call":
        assert ex.error is None and ex.final_answer is None and ex.json_text is not None
        assert text[ex.offset : ex.offset + len(ex.json_text)] == ex.json_text
        assert ex.json_text == ex.json_text.lstrip() or fmt == "hermes"
    elif expected.startswith("final:"):
        assert (ex.json_text, ex.error, ex.final_answer) == (None, None, expected[6:])
    else:
        assert ex.json_text is None and ex.final_answer is None and ex.error is not None
        assert ex.error.type == expected
        assert ex.error.loc[0] == "char" and 0 <= int(ex.error.loc[1]) <= len(text)
        assert ex.error.msg


@pytest.mark.parametrize(
    ("fmt", "text", "kind"),
    [
        ("json", CALL_JSON + " I called it.", "prose_around_call"),
        ("json", CALL_JSON + "\n" + CALL_JSON, "multiple_calls"),
        ("react", "Action: " + CALL_JSON + "\nObservation: file contents", "text_after_call"),
        ("hermes", "<tool_call>" + CALL_JSON + "[]</tool_call>", "multiple_calls"),
    ],
)
def test_trailing_error_kind_and_location(fmt: str, text: str, kind: str) -> None:
    end = text.index(CALL_JSON) + len(CALL_JSON)
    err = trailing_error(fmt, text, end)  # type: ignore[arg-type]
    assert err.type == kind
    assert err.loc == ("char", len(text) - len(text[end:].lstrip()))


def test_extract_is_linear_on_huge_and_hostile_text() -> None:
    huge = "Action:" + " x" * 2_000_000  # no second line start: must not rescan quadratically
    assert extract(huge, "react").error.type == "action_not_json"  # type: ignore[union-attr]
    many = "a Action: " * 200_000 + "\nAction: {}"
    assert extract(many, "react").json_text == "{}"
    tags = "<tool_call>" * 100_000
    assert extract(tags, "hermes").error.type == "multiple_calls"  # type: ignore[union-attr]
    braces = "{" * 1_000_000
    assert extract("x" + braces, "json").final_answer is not None


@pytest.mark.parametrize("fmt", FORMATS)
def test_render_raw_call_splices_provider_arguments_verbatim(fmt: str) -> None:
    """A provider's native call (OpenAI, LangChain) becomes call text with its arguments string
    untouched: well-formed, it equals the canonical rendering; malformed, it stays malformed."""
    args = {"path": "src/app.py", "n": [1, 2.5]}
    canonical = render_call(ToolCall("read_file", args), fmt, thought="t")
    assert render_raw_call("read_file", json.dumps(args), fmt, thought="t") == canonical
    assert render_raw_call("read_file", args, fmt, thought="t") == canonical  # a parsed dict
    malformed = '{"path": "a.py",, "x": NaN'
    text = render_raw_call("read_file", malformed, fmt)
    assert malformed in text
    scorer = Scorer(CodingSandbox({}).tools, fmt)
    assert scorer.score(text).stage == "parse"
    assert scorer.score(render_raw_call(None, "{}", fmt)).kind == "name_not_string"
    assert scorer.score(render_raw_call("list_dir", None, fmt)).kind == "arguments_not_object"
