"""Hostile and random input for the strict JSON check: properties with hypothesis and the
stated time bounds on pathological texts.

Each property runs ``AGENT_RL_FUZZ_EXAMPLES`` examples (default 300, for CI); a long run is
``AGENT_RL_FUZZ_EXAMPLES=20000 python -m pytest tests/test_strict_json_fuzz.py``.
"""

from __future__ import annotations

import json
import math
import os
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent_rl.strict_json import (
    ERROR_KINDS,
    JsonVerdict,
    StrictJsonError,
    loads_strict,
    parse_json,
)
from agent_rl.strict_json._api import _scanned
from agent_rl.strict_json._diagnose import Problem
from agent_rl.strict_json._scan import _last_quote, _read_string, _string, scan

FUZZ = settings(
    max_examples=int(os.environ.get("AGENT_RL_FUZZ_EXAMPLES", "300")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# --- an independent reference: the stdlib parser plus the strict rules it lacks --------------


class _Rejected(ValueError):
    pass


def _no_constant(name: str) -> Any:
    raise _Rejected(name)


def _finite(token: str) -> float:
    value = float(token)
    if math.isinf(value):
        raise _Rejected(token)
    return value


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found = {k for i, (k, _) in enumerate(pairs) if k in {p for p, _ in pairs[:i]}}
    _REPEATS.update(found)
    return dict(pairs)


_REPEATS: set[str] = set()


def _strings(value: Any) -> list[str]:
    out, stack = [], [value]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            out.append(node)
        elif isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, dict):
            out.extend(node)
            stack.extend(node.values())
    return out


def reference(data: str | bytes) -> tuple[bool, Any, set[str]]:
    """(ok, value, repeated keys) by ``json.loads`` + strict UTF-8, no NaN/Infinity, no lone
    surrogate, no BOM, depth <= 512."""
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError:
            return False, None, set()
    if data.startswith("\ufeff") or any("\ud800" <= c <= "\udfff" for c in data):
        return False, None, set()
    _REPEATS.clear()
    try:
        value = json.loads(
            data, parse_constant=_no_constant, parse_float=_finite, object_pairs_hook=_pairs
        )
    except (ValueError, RecursionError):
        return False, None, set()
    if any("\ud800" <= c <= "\udfff" for s in _strings(value) for c in s):
        return False, None, set()
    if data.count("[") + data.count("{") > 512:
        return False, None, set()  # (the generated texts never nest that deep)
    return True, value, set(_REPEATS)


# --- generators: JSON values, their texts, and mutations of them -----------------------------

_KEYS = st.text(max_size=6) | st.sampled_from(["a", "name", "path", ":", "a:"])
_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_KEYS, inner, max_size=4),
    max_leaves=12,
)
_TRICKY = [
    ",",
    '"',
    "'",
    ":",
    "{",
    "}",
    "[",
    "]",
    " ",
    "\\",
    "\n",
    "\t",
    "\x00",
    "\x0c",
    "\u00a0",
    "\ufeff",
    "\ud800",
    "\\ud800",
    "\\udc00",
    "\\ud834\\udd1e",
    "\\u003a",
    "\\x41",
    "\\'",
    "NaN",
    "Infinity",
    "-Infinity",
    "True",
    "None",
    "nul",
    "tru",
    "1e999",
    "-1e999",
    "01",
    "-",
    ".5",
    "1.",
    "1e",
    "+1",
    "…",
    "...",
    "“",
    "//",
    "/*",
    "#",
    "```",
    "é",
    "𝄞",
    '"a": 1, "a": 2, ',
    '"k": 0,',
    "99999999999999999999",
    "1" * 30,
    "()",
    "=",
]


@st.composite
def json_texts(draw: st.DrawFn) -> str:
    value = draw(_VALUES)
    indent = draw(st.sampled_from([None, 0, 2]))
    separators = draw(st.sampled_from([None, (",", ":"), (" , ", " : ")]))
    return json.dumps(value, ensure_ascii=draw(st.booleans()), indent=indent, separators=separators)


@st.composite
def mutated_texts(draw: st.DrawFn) -> str:
    text = draw(json_texts())
    for _ in range(draw(st.integers(0, 3))):
        at = draw(st.integers(0, len(text)))
        op = draw(st.sampled_from(["delete", "insert", "insert", "truncate", "repeat_key"]))
        if op == "delete":
            text = text[:at] + text[at + 1 :]
        elif op == "insert":
            text = text[:at] + draw(st.sampled_from(_TRICKY)) + text[at:]
        elif op == "truncate":
            text = text[:at]
        elif "{" in text:  # open an object with a repeated key (valid if the rest was)
            brace = text.find("{", at) if "{" in text[at:] else text.index("{")
            rest = text[brace + 1 :]
            members = '"k": 1, "k": 2' + ("" if rest.lstrip().startswith("}") else ", ")
            text = text[: brace + 1] + members + rest
    return text


_ANY_TEXT = mutated_texts() | json_texts() | st.text(max_size=40)
_ANY_BYTES = (
    st.binary(max_size=40)
    | mutated_texts().map(lambda t: t.encode("utf-8", "surrogatepass"))
    | st.tuples(json_texts(), st.integers(0, 40), st.binary(min_size=1, max_size=3)).map(
        lambda x: x[0].encode()[: x[1]] + x[2] + x[0].encode()[x[1] :]
    )
)


def _check_shape(verdict: JsonVerdict, data: str | bytes) -> None:
    assert isinstance(verdict, JsonVerdict)
    assert "\n" not in verdict.message and verdict.message
    if verdict.ok:
        assert verdict.error is None
        assert (verdict.offset is None) == (not verdict.duplicate_keys)
    else:
        assert verdict.error in ERROR_KINDS and verdict.value is None
        assert verdict.offset is not None and 0 <= verdict.offset <= len(data)


# --- properties ----------------------------------------------------------------------------


def _agrees_with_reference(data: str | bytes) -> JsonVerdict:
    verdict = parse_json(data)
    _check_shape(verdict, data)
    ok, value, repeats = reference(data)
    assert verdict.ok is ok, (data, verdict)
    if ok:
        assert verdict.value == value
        assert set(verdict.duplicate_keys) == repeats
    return verdict


@FUZZ
@given(_ANY_TEXT)
def test_text_verdict_agrees_with_reference(text: str) -> None:
    _agrees_with_reference(text)


@FUZZ
@given(_ANY_BYTES)
def test_bytes_verdict_agrees_with_reference(data: bytes) -> None:
    verdict = _agrees_with_reference(data)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return
    as_text = parse_json(text)
    assert (as_text.ok, as_text.error) == (verdict.ok, verdict.error)
    if as_text.offset is not None:  # the same place, counted in bytes
        assert verdict.offset == len(text[: as_text.offset].encode())


@FUZZ
@given(_ANY_TEXT)
def test_loads_strict_agrees_with_parse_json(text: str) -> None:
    verdict = parse_json(text)
    ok, _, repeats = reference(text)
    assert verdict.strictly_ok is (ok and not repeats)
    if verdict.strictly_ok:
        assert loads_strict(text) == verdict.value
        assert loads_strict(text.encode("utf-8")) == verdict.value
    else:
        with pytest.raises(StrictJsonError) as info:
            loads_strict(text)
        assert info.value.kind == (verdict.error or "duplicate_key")


@FUZZ
@given(_ANY_TEXT)
def test_fast_path_agrees_with_the_scanner(text: str) -> None:
    verdict = parse_json(text)
    try:
        value, repeats, first = scan(text, 512, False)
    except Problem as problem:
        assert (verdict.ok, verdict.error, verdict.offset) == (False, problem.kind, problem.offset)
        return
    assert verdict.ok and verdict.value == value
    assert (verdict.duplicate_keys, verdict.offset) == (repeats, first)


# --- the shortcuts: each gives exactly the scanner's verdict ----------------------------------


@st.composite
def trailing_comma_texts(draw: st.DrawFn) -> str:
    """A JSON text (maybe mutated) with a comma put before one of its closing brackets."""
    text = draw(json_texts() | mutated_texts())
    closers = [k for k, c in enumerate(text) if c in "]}"]
    if closers:
        k = draw(st.sampled_from(closers))
        text = text[:k] + draw(st.sampled_from([",", " , ", ",\n", ",\t "])) + text[k:]
    return text


@FUZZ
@given(_ANY_TEXT | trailing_comma_texts())
def test_shortcuts_give_the_scanners_verdict(text: str) -> None:
    """orjson's trailing comma, the cut-off text rejected without orjson, the error whose
    diagnosis waits for ``.verdict``: the same verdict, message included, as the scanner."""
    verdict = _scanned(text, 512, False)
    assert parse_json(text) == verdict
    if verdict.strictly_ok:
        assert loads_strict(text) == verdict.value
    else:
        with pytest.raises(StrictJsonError) as info:
            loads_strict(text)
        assert info.value.verdict == verdict


# Pieces of string bodies: escapes good and bad, surrogates, control characters, quotes.
_STRING_PIECES = st.sampled_from(
    [
        *("a", "é", "𝄞", " ", '"', "\\", "\\\\", '\\"', "\\n", "\\/", "\\u0041", "\\u00E9"),
        *("\\ud834\\udd1e", "\\ud800", "\\uDC00", "\\ud800\\u0041", "\\u12", "\\u", "\\x"),
        *("\n", "\t", "\x00", "\x1f", "\x7f", "\ud800", "\udcff", "u", "d8"),
    ]
)


@FUZZ
@given(st.lists(_STRING_PIECES, max_size=12).map("".join), st.booleans())
def test_c_string_reader_agrees_with_the_python_reader(body: str, from_bytes: bool) -> None:
    """``_string`` (the C ``scanstring`` first) against ``_read_string`` (pure Python, which
    names errors): the same value and end, or the same error, whatever the hint says."""

    def outcome(read: Callable[..., tuple[str, int]], *args: Any) -> object:
        try:
            return read(text, 1, from_bytes, *args)
        except Problem as problem:
            return problem.kind, problem.offset, problem.detail

    text = '["' + body
    expected = outcome(_read_string)
    for last in {_last_quote(text), 1, -1}:
        assert outcome(_string, last) == expected, last


@FUZZ
@given(st.text(st.sampled_from('"\\a'), max_size=30))
def test_last_quote_is_the_last_unescaped_quote_or_none(text: str) -> None:
    unescaped = [
        j
        for j, c in enumerate(text)
        if c == '"' and (len(text[:j]) - len(text[:j].rstrip("\\"))) % 2 == 0
    ]
    assert _last_quote(text) in ((unescaped or [-1])[-1], -1)


# --- hostile inputs: a verdict within the stated bounds ---------------------------------------

_MB = 1_000_000


def _members(n: int, repeat: bool = False) -> str:
    return ",".join(f'"k{"" if repeat else i}":{i}' for i in range(n))


# (id, input built at run time, ok, kind, seconds allowed: generous, the box is shared)
HOSTILE: list[tuple[str, Callable[[], str | bytes], bool, str | None, float]] = [
    ("100k-open-brackets", lambda: "[" * 100_000, False, "too_deep", 2.0),
    ("100k-nested-arrays", lambda: "[" * 100_000 + "]" * 100_000, False, "too_deep", 2.0),
    (
        "100k-nested-objects",
        lambda: '{"a":' * 100_000 + "1" + "}" * 100_000,
        False,
        "too_deep",
        2.0,
    ),
    ("10MB-string", lambda: '"' + "x" * 10 * _MB + '"', True, None, 5.0),
    ("10MB-string-unterminated", lambda: '"' + "x" * 10 * _MB, False, "truncated", 5.0),
    ("10MB-escapes", lambda: '"' + "\\n" * 5 * _MB + '"', True, None, 5.0),
    (
        "10MB-bad-escape-at-end",
        lambda: '["' + "x" * 10 * _MB + '\\q"]',
        False,
        "invalid_escape",
        5.0,
    ),
    ("10MB-integer", lambda: "1" * 10 * _MB, False, "number_out_of_range", 5.0),
    ("10MB-exponent", lambda: "1e" + "9" * 10 * _MB, False, "number_out_of_range", 5.0),
    ("10MB-whitespace", lambda: " " * 10 * _MB, False, "empty", 5.0),
    ("1M-NUL-bytes", lambda: b"\x00" * _MB, False, "unexpected_character", 2.0),
    ("1M-NUL-in-string", lambda: '"' + "\x00" * _MB + '"', False, "control_char_in_string", 2.0),
    ("NUL-after-value", lambda: b'{"a": 1}\x00', False, "extra_data", 2.0),
    ("10MB-invalid-utf8", lambda: b'"' + b"\xff" * 10 * _MB + b'"', False, "invalid_utf8", 5.0),
    (
        "10MB-utf8-then-bad",
        lambda: b'"' + b"\xc3\xa9" * 5 * _MB + b'\xc3"',
        False,
        "invalid_utf8",
        5.0,
    ),
    ("1M-lone-surrogates", lambda: '"' + "\\ud800" * _MB + '"', False, "lone_surrogate", 5.0),
    ("million-keys", lambda: "{" + _members(_MB) + "}", True, None, 20.0),
    ("million-keys-truncated", lambda: "{" + _members(_MB), False, "truncated", 20.0),
    ("million-repeated-keys", lambda: "{" + _members(_MB, repeat=True) + "}", True, None, 20.0),
    ("million-items-trailing-comma", lambda: "[" + "1," * _MB + "]", False, "trailing_comma", 20.0),
]


@pytest.mark.parametrize(
    ("make", "ok", "kind", "seconds"), [h[1:] for h in HOSTILE], ids=[h[0] for h in HOSTILE]
)
def test_hostile_input_is_bounded(
    make: Callable[[], str | bytes], ok: bool, kind: str | None, seconds: float
) -> None:
    data = make()
    start = time.perf_counter()
    verdict = parse_json(data)
    elapsed = time.perf_counter() - start
    assert (verdict.ok, verdict.error) == (ok, kind), verdict.message
    assert elapsed < seconds, f"{elapsed:.2f}s > {seconds}s"
    _check_shape(verdict, data)
    if verdict.strictly_ok:
        assert loads_strict(data) == verdict.value
    else:
        with pytest.raises(StrictJsonError):
            loads_strict(data)


def test_deep_nesting_within_max_depth_needs_no_recursion() -> None:
    text = "[" * 100_000 + "]" * 100_000
    start = time.perf_counter()
    verdict = parse_json(text, max_depth=100_000)
    assert time.perf_counter() - start < 5.0
    node, depth = verdict.value, 1
    while node:
        node, depth = node[0], depth + 1
    assert verdict.ok and depth == 100_000


@pytest.mark.parametrize(
    "make",
    [
        lambda: '["' + "x" * 2 * _MB + '", "' + "y" * 2 * _MB,  # fails at the end
        lambda: '"' + "é𝄞" * _MB + '"',
        lambda: b'"' + b"x" * 4 * _MB + b'\xff"',
    ],
    ids=["ascii-truncated", "non-ascii-valid", "bytes-invalid-at-end"],
)
def test_memory_is_linear_in_the_input(make: Callable[[], str | bytes]) -> None:
    """Scratch memory stays under 16 bytes per UTF-8 input byte (orjson's fast path takes
    about 14; the scanner about 2), besides the parsed value itself."""
    data = make()
    size = len(data if isinstance(data, bytes) else data.encode())
    tracemalloc.start()
    try:
        verdict = parse_json(data)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert verdict.value is None or isinstance(verdict.value, str)
    assert peak < 16 * size, f"peak {peak / _MB:.1f} MB for a {size / _MB:.0f} MB input"
