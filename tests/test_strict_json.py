"""The strict JSON check against JSONTestSuite, its transform cases, 297 broken LLM outputs and
a table of hand-picked cases (kind and offset), plus the API contract of the verdict."""

from __future__ import annotations

import dataclasses
import json
import pickle
from collections import Counter
from pathlib import Path

import pytest

from agent_rl.strict_json import (
    ERROR_KINDS,
    JsonVerdict,
    StrictJsonError,
    _api,
    loads_strict,
    parse_json,
)
from agent_rl.strict_json._diagnose import Problem

# Listed at collection time from the same place the ``conformance`` fixture reads; the tests
# read the files through the fixture, and ``test_suite_is_complete`` fails if data is missing.
_SUITE = Path(__file__).resolve().parent / "conformance" / "JSONTestSuite"
PARSING = sorted(p.name for p in (_SUITE / "test_parsing").glob("*.json"))
TRANSFORM = sorted(p.name for p in (_SUITE / "test_transform").glob("*.json"))

# The i_ files: the verdict each gets by the rules in the package docstring (None = accepted).
I_VERDICTS: dict[str, str | None] = {
    "i_number_double_huge_neg_exp.json": None,  # 1.0e-1000 underflows to 0.0
    "i_number_huge_exp.json": "number_out_of_range",
    "i_number_neg_int_huge_exp.json": "number_out_of_range",
    "i_number_pos_double_huge_exp.json": "number_out_of_range",
    "i_number_real_neg_overflow.json": "number_out_of_range",
    "i_number_real_pos_overflow.json": "number_out_of_range",
    "i_number_real_underflow.json": None,
    "i_number_too_big_neg_int.json": None,  # exact Python int
    "i_number_too_big_pos_int.json": None,
    "i_number_very_big_negative_int.json": None,
    "i_object_key_lone_2nd_surrogate.json": "lone_surrogate",
    "i_string_1st_surrogate_but_2nd_missing.json": "lone_surrogate",
    "i_string_1st_valid_surrogate_2nd_invalid.json": "lone_surrogate",
    "i_string_UTF-16LE_with_BOM.json": "invalid_utf8",
    "i_string_UTF-8_invalid_sequence.json": "invalid_utf8",
    "i_string_UTF8_surrogate_U+D800.json": "invalid_utf8",
    "i_string_incomplete_surrogate_and_escape_valid.json": "lone_surrogate",
    "i_string_incomplete_surrogate_pair.json": "lone_surrogate",
    "i_string_incomplete_surrogates_escape_valid.json": "lone_surrogate",
    "i_string_invalid_lonely_surrogate.json": "lone_surrogate",
    "i_string_invalid_surrogate.json": "lone_surrogate",
    "i_string_invalid_utf-8.json": "invalid_utf8",
    "i_string_inverted_surrogates_U+1D11E.json": "lone_surrogate",
    "i_string_iso_latin_1.json": "invalid_utf8",
    "i_string_lone_second_surrogate.json": "lone_surrogate",
    "i_string_lone_utf8_continuation_byte.json": "invalid_utf8",
    "i_string_not_in_unicode_range.json": "invalid_utf8",
    "i_string_overlong_sequence_2_bytes.json": "invalid_utf8",
    "i_string_overlong_sequence_6_bytes.json": "invalid_utf8",
    "i_string_overlong_sequence_6_bytes_null.json": "invalid_utf8",
    "i_string_truncated-utf-8.json": "invalid_utf8",
    "i_string_utf16BE_no_BOM.json": "invalid_utf8",
    "i_string_utf16LE_no_BOM.json": "invalid_utf8",
    "i_structure_500_nested_arrays.json": None,  # 500 <= max_depth 512
    "i_structure_UTF-8_BOM_empty_object.json": "byte_order_mark",
}

# test_transform: (error kind or None, value, duplicate keys); the docstring says why.
TRANSFORM_VERDICTS: dict[str, tuple[str | None, object, tuple[str, ...]]] = {
    "number_-9223372036854775808.json": (None, [-9223372036854775808], ()),
    "number_-9223372036854775809.json": (None, [-9223372036854775809], ()),
    "number_1.0.json": (None, [1.0], ()),
    "number_1.000000000000000005.json": (None, [1.0], ()),
    "number_1000000000000000.json": (None, [1000000000000000], ()),
    "number_10000000000000000999.json": (None, [10000000000000000999], ()),
    "number_1e-999.json": (None, [0.0], ()),
    "number_1e6.json": (None, [1000000.0], ()),
    "number_9223372036854775807.json": (None, [9223372036854775807], ()),
    "number_9223372036854775808.json": (None, [9223372036854775808], ()),
    "object_key_nfc_nfd.json": (None, {"\u00e9": "NFC", "e\u0301": "NFD"}, ()),
    "object_key_nfd_nfc.json": (None, {"e\u0301": "NFD", "\u00e9": "NFC"}, ()),
    "object_same_key_different_values.json": (None, {"a": 2}, ("a",)),
    "object_same_key_same_value.json": (None, {"a": 1}, ("a",)),
    "object_same_key_unclear_values.json": (None, {"a": 0}, ("a",)),
    "string_1_escaped_invalid_codepoint.json": ("lone_surrogate", None, ()),
    "string_1_invalid_codepoint.json": ("invalid_utf8", None, ()),
    "string_2_escaped_invalid_codepoints.json": ("lone_surrogate", None, ()),
    "string_2_invalid_codepoints.json": ("invalid_utf8", None, ()),
    "string_3_escaped_invalid_codepoints.json": ("lone_surrogate", None, ()),
    "string_3_invalid_codepoints.json": ("invalid_utf8", None, ()),
    "string_with_escaped_NULL.json": (None, ["A\x00B"], ()),
}

# Error kind per input over malformed-json/broken_inputs.json (297 broken LLM outputs),
# computed once and reviewed input by input. Two inputs are valid JSON that repeats a key
# ([{"b":"v2","b":"v2"}]): parse_json accepts them with duplicate_keys, loads_strict rejects
# them; they count as "duplicate_key".
BROKEN_KINDS = {
    "truncated": 37,
    "control_char_in_string": 32,
    "unescaped_quote": 31,
    "mismatched_bracket": 22,
    "extra_data": 21,
    "unquoted_string": 21,
    "comment": 13,
    "python_tuple": 13,
    "single_quotes": 12,
    "invalid_number": 11,
    "prose_before_json": 10,
    "unquoted_key": 10,
    "code_fence": 9,
    "missing_key": 7,
    "unexpected_character": 7,
    "missing_comma": 5,
    "trailing_comma": 5,
    "colon_in_array": 4,
    "missing_colon": 4,
    "missing_value": 4,
    "ellipsis": 3,
    "empty": 3,
    "python_literal": 3,
    "duplicate_key": 2,
    "invalid_escape": 2,
    "invalid_literal": 2,
    "not_json": 2,
    "smart_quotes": 2,
}

# Hand-picked inputs: (text, kind, offset). One or more per kind; offsets are characters.
CASES: list[tuple[str, str, int]] = [
    ("", "empty", 0),
    (" \n\t", "empty", 3),
    ('{"path": "a.py"', "truncated", 15),
    ('{"path": "a.py', "truncated", 14),
    ('{"path": "a\\', "truncated", 12),
    ('{"path": "\\u00', "truncated", 14),
    ("[1, 2,", "truncated", 6),
    ("[tr", "truncated", 1),
    ("[-", "truncated", 1),
    ('{"a": 1,}', "trailing_comma", 7),
    ("[1, 2 ,\n]", "trailing_comma", 6),
    ("{'a': 1}", "single_quotes", 1),
    ("{\"a\": 'b'}", "single_quotes", 6),
    ("{“a”: 1}", "smart_quotes", 1),
    ("{a: 1}", "unquoted_key", 1),
    ('{"a": 1, 2: 3}', "unquoted_key", 9),
    ('{"a": hello}', "unquoted_string", 6),
    ('{"id": 57eeb1-4}', "unquoted_string", 7),
    ('{"a": "say "hi""}', "unescaped_quote", 6),
    ('{"k"ey": 1}', "unescaped_quote", 1),
    ('{"a": True}', "python_literal", 6),
    ("None", "python_literal", 0),
    ('{"a": (1, 2)}', "python_tuple", 6),
    ("[NaN]", "nan_or_infinity", 1),
    ("[-Infinity]", "nan_or_infinity", 1),
    ('{"a": Infinity}', "nan_or_infinity", 6),
    ("[TRUE]", "invalid_literal", 1),
    ("[nul]", "invalid_literal", 1),
    ("[undefined]", "invalid_literal", 1),
    ("[01]", "invalid_number", 1),
    ("[+1]", "invalid_number", 1),
    ("[.5]", "invalid_number", 1),
    ("[1.]", "invalid_number", 1),
    ("[1e]", "invalid_number", 1),
    ("[0x1F]", "invalid_number", 1),
    ("[1_000]", "invalid_number", 1),
    ('{"a": 1/3}', "invalid_number", 6),
    ("[1e400]", "number_out_of_range", 1),
    ("[-1e400]", "number_out_of_range", 1),
    ("[" + "9" * 5000 + "]", "number_out_of_range", 1),
    ('["\\x41"]', "invalid_escape", 2),
    ('["\\\'"]', "invalid_escape", 2),
    ('["\\u12G4"]', "invalid_escape", 2),
    ('["a\nb"]', "control_char_in_string", 3),
    ('["a\tb"]', "control_char_in_string", 3),
    ('["\x00"]', "control_char_in_string", 2),
    ('["\\ud800"]', "lone_surrogate", 2),
    ('["\\udc00\\ud800"]', "lone_surrogate", 2),
    ('["\\ud800\\u0041"]', "lone_surrogate", 2),
    ('["\ud800"]', "lone_surrogate", 2),
    ("\ufeff{}", "byte_order_mark", 0),
    ('{"a": 1} {"b": 2}', "extra_data", 9),
    ('"x" trailing', "extra_data", 4),
    ('{"a": 1}, {"a": 2}', "extra_data", 8),
    ("[" * 513 + "]" * 513, "too_deep", 512),
    ('Sure! Here is the call: {"a": 1}', "prose_before_json", 0),
    ('- {"a": 1}', "prose_before_json", 0),
    ("I cannot do that.", "not_json", 0),
    ('```json\n{"a": 1}\n```', "code_fence", 0),
    ('Here:\n```json\n{"a": 1}\n```', "code_fence", 6),
    ('{"a": 1}\n```', "code_fence", 9),
    ('{"a": 1 // one\n}', "comment", 8),
    ('{"a": /* x */ 1}', "comment", 6),
    ("# note\n{}", "comment", 0),
    ("[1, 2, ...]", "ellipsis", 7),
    ('{"a": …}', "ellipsis", 6),
    ('{"a": 1 "b": 2}', "missing_comma", 8),
    ('["a" "b"]', "missing_comma", 5),
    ("[1 2]", "missing_comma", 3),
    ('{"a" 1}', "missing_colon", 5),
    ('{"a"}', "missing_colon", 4),
    ('{"a" = 1}', "missing_colon", 5),
    ("{:1}", "missing_key", 1),
    ('{"a": 1, [2]}', "missing_key", 9),
    ('{"a": }', "missing_value", 6),
    ('{"a": , "b": 1}', "missing_value", 6),
    ("[1,,2]", "missing_value", 3),
    ('{"a": [1, 2}', "mismatched_bracket", 11),
    ('[{"a": 1]', "mismatched_bracket", 8),
    ("[1, 2)", "mismatched_bracket", 5),
    ("}", "mismatched_bracket", 0),
    ("[1]]", "mismatched_bracket", 3),
    ('["a": 1]', "colon_in_array", 4),
    ("[@]", "unexpected_character", 1),
    ('{\\"a\\": 1}', "unexpected_character", 1),
    ("[1]\x0c", "extra_data", 3),
    ("[1,\u00a02]", "unexpected_character", 3),
]


def _read(conformance: Path, folder: str, name: str) -> bytes:
    return (conformance / "JSONTestSuite" / folder / name).read_bytes()


def test_suite_is_complete(conformance: Path) -> None:
    names = sorted(p.name for p in (conformance / "JSONTestSuite" / "test_parsing").iterdir())
    assert names == PARSING and len(PARSING) == 318
    assert sorted(n for n in PARSING if n.startswith("i_")) == sorted(I_VERDICTS)
    assert len(TRANSFORM) == 22 and sorted(TRANSFORM_VERDICTS) == TRANSFORM


@pytest.mark.parametrize("name", PARSING)
def test_json_test_suite(conformance: Path, name: str) -> None:
    data = _read(conformance, "test_parsing", name)
    verdict = parse_json(data)
    expected = {"y": True, "n": False}.get(name[0], I_VERDICTS.get(name) is None)
    assert verdict.ok is expected, verdict
    if name[0] == "i":
        assert verdict.error == I_VERDICTS[name]
    assert verdict.error is None if verdict.ok else verdict.error in ERROR_KINDS
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return
    as_text = parse_json(text)
    assert (as_text.ok, as_text.error) == (verdict.ok, verdict.error)
    if as_text.strictly_ok:
        assert loads_strict(text) == as_text.value
    else:
        with pytest.raises(StrictJsonError):
            loads_strict(text)


@pytest.mark.parametrize("name", TRANSFORM)
def test_json_test_suite_transform(conformance: Path, name: str) -> None:
    error, value, duplicates = TRANSFORM_VERDICTS[name]
    verdict = parse_json(_read(conformance, "test_transform", name))
    assert (verdict.error, verdict.duplicate_keys) == (error, duplicates), verdict
    assert verdict.ok is (error is None)
    if error is None:
        assert verdict.value == value
        assert [type(x) for x in verdict.value] == [type(x) for x in value]  # type: ignore[attr-defined]


def test_broken_llm_outputs_get_a_specific_kind(conformance: Path) -> None:
    texts = json.loads((conformance / "malformed-json" / "broken_inputs.json").read_text())
    assert len(texts) == 297
    kinds: Counter[str] = Counter()
    for text in texts:
        verdict = parse_json(text)
        assert not verdict.strictly_ok, text
        kinds[verdict.error or "duplicate_key"] += 1
        with pytest.raises(StrictJsonError) as info:
            loads_strict(text)
        assert info.value.kind == (verdict.error or "duplicate_key")
    assert dict(kinds) == BROKEN_KINDS
    assert set(kinds) - {"duplicate_key"} <= set(ERROR_KINDS)


@pytest.mark.parametrize(("text", "kind", "offset"), CASES, ids=[c[1] for c in CASES])
def test_kind_and_offset(text: str, kind: str, offset: int) -> None:
    verdict = parse_json(text)
    assert (verdict.ok, verdict.error, verdict.offset) == (False, kind, offset), verdict.message
    assert "\n" not in verdict.message and f"(char {offset})" in verdict.message


def test_every_kind_is_documented_and_reachable() -> None:
    seen = {kind for _, kind, _ in CASES}
    assert seen == set(ERROR_KINDS) - {"invalid_utf8"}  # bytes only: see the bytes tests
    assert all(meaning and "\n" not in meaning for meaning in ERROR_KINDS.values())


@pytest.mark.parametrize(
    ("data", "kind", "offset"),
    [
        (b'["\xff"]', "invalid_utf8", 2),
        (b'["\xc3\xa9", \xc0\xaf]', "invalid_utf8", 7),  # after 'é' (2 bytes): byte offsets
        (b'["\xed\xa0\x80"]', "invalid_utf8", 2),  # an encoded surrogate
        (b"[1,]\xff", "trailing_comma", 2),  # the first error in text order wins
        (b"\xef\xbb\xbf{}", "byte_order_mark", 0),
        (b"\xff\xfe[\x001\x00]\x00", "invalid_utf8", 0),
        (b"\x00[\x001\x00]", "invalid_utf8", 0),  # UTF-16BE without BOM
        ('{"é": tru'.encode(), "truncated", 7),
        ('{"éé": 1,}'.encode(), "trailing_comma", 10),
    ],
)
def test_bytes_offsets_are_byte_offsets(data: bytes, kind: str, offset: int) -> None:
    verdict = parse_json(data)
    assert (verdict.error, verdict.offset) == (kind, offset), verdict.message
    assert f"(byte {offset})" in verdict.message


def test_bytes_like_inputs() -> None:
    assert parse_json(bytearray(b'{"a": [1]}')).value == {"a": [1]}
    assert parse_json(memoryview(b"[true]")).value == [True]
    assert loads_strict(b'{"a": 1}') == {"a": 1}
    with pytest.raises(StrictJsonError) as info:
        loads_strict(b'{"a": "\xff"}')
    assert info.value.kind == "invalid_utf8"


@pytest.mark.parametrize("bad", [None, 1, ["[]"], {"a": 1}])
def test_other_types_are_a_type_error(bad: object) -> None:
    with pytest.raises(TypeError):
        parse_json(bad)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        loads_strict(bad)  # type: ignore[arg-type]


def test_verdict_is_frozen_and_slotted() -> None:
    verdict = parse_json("[1]")
    assert verdict == JsonVerdict(True, [1], None, None, "valid JSON", ())
    assert not hasattr(verdict, "__dict__")
    with pytest.raises(dataclasses.FrozenInstanceError):
        verdict.ok = False  # type: ignore[misc]


def test_duplicate_keys_are_reported_not_rejected() -> None:
    text = '{"a": 1, "b": {"c": 1, "c": 2}, "a": 3, "d": [{"a": 0, "a": 0}]}'
    verdict = parse_json(text)
    assert verdict.ok and not verdict.strictly_ok
    assert verdict.duplicate_keys == ("c", "a")
    assert verdict.value == {"a": 3, "b": {"c": 2}, "d": [{"a": 0}]}
    assert verdict.offset == text.index('"c"', 20) and "'c', 'a'" in verdict.message
    with pytest.raises(StrictJsonError) as info:
        loads_strict(text)
    assert info.value.kind == "duplicate_key" and "repeat" in str(info.value)


@pytest.mark.parametrize(
    "text",
    [
        '{"a\\u003a": 1, "a:": 2}',  # an escaped colon must not hide a repeat
        '{"x": "\\u003a", "y": 1, "y": 2}',
        '{"a": {"b": 1}, "a": {"b": 1}}',
        '{"a": "::::", "a": ""}',
    ],
)
def test_loads_strict_finds_hidden_repeats(text: str) -> None:
    assert parse_json(text).duplicate_keys
    with pytest.raises(StrictJsonError):
        loads_strict(text)


@pytest.mark.parametrize(
    "text",
    [
        '{"a\\u003a": 1, "b": 2}',
        '{"t": "\\u003a\\u003A:"}',
        '{"a": "x:y", "b": {"c:": ":"}}',
        "[18446744073709551616, -9223372036854775809, 123456789012345678901234567890]",
        '{"n": 10000000000000000999}',
        '["\\ud834\\udd1e", "𝄞", "\\u0000"]',
    ],
)
def test_loads_strict_returns_exact_values(text: str) -> None:
    value = json.loads(text)
    assert loads_strict(text) == value
    assert parse_json(text).value == value
    big = [x for x in (value if isinstance(value, list) else []) if isinstance(x, int)]
    assert all(type(x) is int for x in big)


def test_strict_json_error_is_a_lazy_picklable_value_error() -> None:
    with pytest.raises(ValueError) as info:
        loads_strict('{"a": 1,}')
    error = info.value
    assert isinstance(error, StrictJsonError) and error._verdict is None  # not computed yet
    assert error.kind == "trailing_comma" and error.verdict.offset == 7
    assert str(error) == error.verdict.message
    copy = pickle.loads(pickle.dumps(error))
    assert copy.kind == "trailing_comma" and str(copy) == str(error)


@pytest.mark.parametrize(
    ("text", "max_depth", "kind", "offset", "shortcut"),
    [
        ('{"a": 1,}', 512, "trailing_comma", 7, "problem"),
        ('{"é𝄞": [1 ,\n]}', 512, "trailing_comma", 10, "problem"),
        ('["a,]", "b",]', 512, "trailing_comma", 11, "problem"),
        ("[[[1,]]]", 2, "too_deep", 2, "rejected"),  # too deep before the comma
        ("[1,}", 512, "trailing_comma", 2, "rejected"),  # orjson: "expected a value"
        ('{"a": "x\\"y', 512, "truncated", 11, "rejected"),  # ends in neither } ] " digit e l
        ('{"a": tru', 512, "truncated", 6, "rejected"),
        ('{"a": "x"', 512, "truncated", 9, "rejected"),  # orjson refuses it
    ],
)
def test_shortcuts_are_taken_and_give_the_scanners_verdict(
    text: str, max_depth: int, kind: str, offset: int, shortcut: str
) -> None:
    """Without a scan: the trailing comma orjson reports (its message and position are
    checked here, so an orjson upgrade that changes them shows up), and a rejection the
    scanner has only to explain. Either way the verdict is the scanner's."""
    known = _api._fast(text, max_depth)
    assert type(known) is Problem if shortcut == "problem" else known is _api._REJECTED
    verdict = _api._scanned(text, max_depth, False)
    assert (verdict.error, verdict.offset) == (kind, offset)
    assert parse_json(text, max_depth=max_depth) == verdict
    with pytest.raises(StrictJsonError) as info:
        loads_strict(text, max_depth=max_depth)
    assert info.value.verdict == verdict


def _depth(value: object) -> int:
    depth, stack = 0, [(value, 0)]
    while stack:
        node, level = stack.pop()
        if isinstance(node, (list, dict)):
            depth = max(depth, level + 1)
            children = node.values() if isinstance(node, dict) else node
            stack.extend((x, level + 1) for x in children)
    return depth


@pytest.mark.parametrize(
    ("text", "max_depth", "ok"),
    [
        ("1", 0, True),
        ("[]", 0, False),
        ("[]", 1, True),
        ("[[]]", 1, False),
        ('{"a": [{}]}', 3, True),
        ('{"a": [{}]}', 2, False),
        ("[" * 2000 + "]" * 2000, 2000, True),  # past orjson's own limit: the scanner decides
        ("[" * 2000 + "]" * 2000, 1999, False),
    ],
    ids=["scalar-0", "array-0", "array-1", "nested-1", "mixed-3", "mixed-2", "2000", "1999"],
)
def test_max_depth(text: str, max_depth: int, ok: bool) -> None:
    verdict = parse_json(text, max_depth=max_depth)
    assert verdict.ok is ok and verdict.error == (None if ok else "too_deep")
    if ok:
        value = loads_strict(text, max_depth=max_depth)
        assert _depth(value) == _depth(verdict.value) == text.count("[") + text.count("{")
    else:
        with pytest.raises(StrictJsonError):
            loads_strict(text, max_depth=max_depth)


def test_negative_max_depth_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="max_depth"):
        parse_json("[]", max_depth=-1)
