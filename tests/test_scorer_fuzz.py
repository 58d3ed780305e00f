"""Property tests of the Scorer: any text or bytes in, a consistent verdict out, never an exception.

The verdict is compared with an independent reference built from the standard library and the
``jsonschema`` package (strict ``json.loads`` + duplicate and surrogate checks + the tool's
schema), and every valid call must round-trip through ``render_call``. Examples per test:
``AGENT_RL_FUZZ_EXAMPLES`` (default 150; the documented long run uses 20000).
"""

from __future__ import annotations

import json
import os
from typing import Any

from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from agent_rl.formats import FORMATS, JSON_WS, extract, render_call, render_final
from agent_rl.sandbox import CodingSandbox
from agent_rl.scorer import Scorer
from agent_rl.verdicts import STAGES, CallVerdict, ToolCall

TOOLS = CodingSandbox({}).tools
SCORERS = {fmt: Scorer(TOOLS, format=fmt) for fmt in FORMATS}
SCHEMAS = {t.name: Draft202012Validator(t.parameters) for t in TOOLS}
EXAMPLES = int(os.environ.get("AGENT_RL_FUZZ_EXAMPLES", "150"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def check_invariants(v: CallVerdict) -> None:
    assert isinstance(v, CallVerdict)
    assert v.valid == (v.stage is None) == (not v.errors)
    assert v.stage is None or v.stage in STAGES
    if v.valid:
        assert (v.call is None) != (v.final_answer is None)
    else:
        assert v.final_answer is None
        assert (v.call is not None) == (v.stage in ("tool", "arguments", "state"))
    for e in v.errors:
        assert e.type and e.msg and isinstance(e.loc, tuple)
    json.dumps(v.to_dict())  # always serialisable for the trajectory store


def roundtrips(v: CallVerdict, fmt: str) -> None:
    scorer = SCORERS[fmt]
    if v.call is not None:
        again = scorer.score(render_call(v.call, fmt))  # type: ignore[arg-type]
        assert again.call == v.call and again.valid == v.valid
    if v.final_answer is not None:
        assert scorer.score(render_final(v.final_answer, fmt)).final_answer == v.final_answer  # type: ignore[arg-type]


@FUZZ
@given(text=st.text(), fmt=st.sampled_from(FORMATS))
def test_any_text_gets_a_consistent_verdict(text: str, fmt: str) -> None:
    v = SCORERS[fmt].score(text)
    check_invariants(v)
    roundtrips(v, fmt)


@FUZZ
@given(data=st.binary(), fmt=st.sampled_from(FORMATS))
def test_any_bytes_get_a_verdict(data: bytes, fmt: str) -> None:
    v = SCORERS[fmt].score(data)
    check_invariants(v)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        assert (v.stage, v.kind) == ("parse", "invalid_utf8")
    else:
        assert v == SCORERS[fmt].score(text)


# --- valid calls built from the tool schemas ------------------------------------------------

_text = st.text(max_size=40)
_nonempty = st.text(min_size=1, max_size=40)
_line = st.integers(min_value=1, max_value=10_000)
ARGUMENTS: dict[str, st.SearchStrategy[dict[str, Any]]] = {
    "read_file": st.fixed_dictionaries(
        {"path": _text}, optional={"start_line": _line, "end_line": _line}
    ),
    "write_file": st.fixed_dictionaries({"path": _text, "content": st.text(max_size=300)}),
    "edit_file": st.fixed_dictionaries({"path": _text, "old": _nonempty, "new": _text}),
    "list_dir": st.fixed_dictionaries({}, optional={"path": _text}),
    "search": st.fixed_dictionaries(
        {"query": _nonempty},
        optional={"path": _text, "max_results": st.integers(min_value=1, max_value=50)},
    ),
    "run_tests": st.fixed_dictionaries({}, optional={"path": _text}),
    "finish": st.fixed_dictionaries({"summary": st.text(max_size=200)}),
}
CALLS = st.sampled_from(sorted(ARGUMENTS)).flatmap(
    lambda name: ARGUMENTS[name].map(lambda args: ToolCall(name, args))
)
THOUGHTS = st.none() | st.text(max_size=80).filter(
    lambda t: not any(m in t for m in ("Action:", "Final Answer:", "<tool_call>", "</tool_call>"))
)


@FUZZ
@given(call=CALLS, fmt=st.sampled_from(FORMATS), thought=THOUGHTS)
def test_every_rendered_valid_call_scores_valid_with_the_same_call(
    call: ToolCall, fmt: str, thought: str | None
) -> None:
    assert SCHEMAS[call.name].is_valid(call.arguments)
    v = SCORERS[fmt].score(render_call(call, fmt, thought=thought))  # type: ignore[arg-type]
    assert v.valid and v.call == call, v.errors
    assert SCORERS[fmt].score(render_call(call, fmt).encode()) == v  # type: ignore[arg-type]


# --- mutated calls against an independent strict reference ---------------------------------


class _Reject(ValueError):
    pass


def _no_dups(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    d = dict(pairs)
    if len(d) != len(pairs):
        raise _Reject("duplicate key")
    return d


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [*value, *(s for v in value.values() for s in _strings(v))]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def reference_valid(text: str) -> bool:
    """Is ``text`` (json format, starting with '{') a valid call? Stdlib + jsonschema only."""
    try:
        value = json.loads(text, object_pairs_hook=_no_dups, parse_constant=_Reject)
    except (ValueError, RecursionError):
        return False
    if any("\ud800" <= c <= "\udfff" for s in _strings(value) for c in s):
        return False  # a lone surrogate (an escaped one: a paired escape decodes to one char)
    if not (isinstance(value, dict) and set(value) == {"name", "arguments"}):
        return False
    name, args = value["name"], value["arguments"]
    if not (isinstance(name, str) and name in SCHEMAS and isinstance(args, dict)):
        return False
    return SCHEMAS[name].is_valid(args)


MUTATION_CHARS = st.sampled_from(list(",:{}[]\"'\\ \n\t0-.eE+truefalsnNI\x00\u2028é\ud800"))


@st.composite
def mutated(draw: st.DrawFn) -> str:
    text = render_call(draw(CALLS), "json")
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        i = draw(st.integers(min_value=0, max_value=len(text)))
        op = draw(st.sampled_from(["insert", "delete", "replace", "truncate", "duplicate"]))
        if op == "insert":
            text = text[:i] + draw(MUTATION_CHARS) + text[i:]
        elif op == "delete":
            text = text[:i] + text[i + 1 :]
        elif op == "replace":
            text = text[:i] + draw(MUTATION_CHARS) + text[i + 1 :]
        elif op == "truncate":
            text = text[:i]
        else:
            j = draw(st.integers(min_value=i, max_value=len(text)))
            text = text[:j] + text[i:j] + text[j:]
    return text


@FUZZ
@given(text=mutated())
def test_mutated_calls_agree_with_a_strict_reference(text: str) -> None:
    assume(text.lstrip(JSON_WS)[:1] == "{")  # a call attempt in the json format
    v = SCORERS["json"].score(text)
    event(f"{v.stage}: {v.kind}")
    check_invariants(v)
    assert v.valid == reference_valid(text), (text, v.errors)
    if v.valid:
        assert v.call is not None
        assert json.loads(text) == v.call.to_dict()
    roundtrips(v, "json")


@FUZZ
@given(text=mutated(), fmt=st.sampled_from(["react", "hermes"]), thought=THOUGHTS)
def test_mutated_calls_agree_across_formats(text: str, fmt: str, thought: str | None) -> None:
    """The same JSON body gets the same validity whatever envelope it comes in."""
    assume(text.lstrip(JSON_WS)[:1] == "{")
    assume("</tool_call>" not in text and "\n" not in text)
    wrapped = f"Action: {text}" if fmt == "react" else f"<tool_call>\n{text}\n</tool_call>"
    if thought is not None:
        wrapped = (f"Thought: {thought}\n" if fmt == "react" else f"{thought}\n") + wrapped
    v = SCORERS[fmt].score(wrapped)
    check_invariants(v)
    assert v.valid == SCORERS["json"].score(text).valid
    if v.stage == "parse":
        ex = extract(wrapped, fmt)  # type: ignore[arg-type]
        loc = v.errors[0].loc
        assert ex.json_text is not None and ex.offset <= int(loc[1]) <= len(wrapped)
