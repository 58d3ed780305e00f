"""What validation errors say, and the helpers generated checkers call at run time.

Messages are short and name the JSON value (``expected integer, got string "3"``) without ever
rendering a huge value whole. Shared by the compiled explainer (:mod:`.compile`) and the
jsonschema path (:mod:`.validator`) so both speak alike. No validation logic lives here beyond
``multipleOf`` (jsonschema's, to the letter) and the choice of which ``anyOf`` branch to explain.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from fractions import Fraction
from json.encoder import encode_basestring as _quote
from typing import Any

from agent_rl.verdicts import ErrorEntry

__all__ = [
    "Explain",
    "Loc",
    "any_explain",
    "fits",
    "json_type",
    "msg_missing",
    "msg_type",
    "msg_unknown",
    "msg_value",
    "multiple_of",
    "short",
]

Loc = tuple[str | int, ...]
Explain = Callable[[Any, Loc, list[ErrorEntry]], None]


_JSON_NAMES = (
    *((bool, "boolean"), (int, "integer"), (float, "number")),
    *((str, "string"), (list, "array"), (dict, "object")),
)


def json_type(value: Any) -> str:
    """The JSON type name of a Python value (``integer`` for ints, ``number`` for floats)."""
    if value is None:
        return "null"
    return next((name for t, name in _JSON_NAMES if isinstance(value, t)), type(value).__name__)


def short(value: Any, limit: int = 40) -> str:
    """A short JSON-ish rendering of a value for messages (never the whole of a huge value)."""
    if isinstance(value, str):
        return _quote(value[:limit]) + ("…" if len(value) > limit else "")
    if value is None or isinstance(value, bool):
        return _LITERALS[value]
    if isinstance(value, int):
        return str(value) if -_HUGE < value < _HUGE else "a huge integer"
    if isinstance(value, float):
        return repr(value) if value == value and value not in _INFINITIES else str(value)
    if isinstance(value, dict):
        return f"an object with {len(value)} key{'s' * (len(value) != 1)}"
    if isinstance(value, list):
        return f"an array of {len(value)} item{'s' * (len(value) != 1)}"
    return type(value).__name__


_LITERALS = {None: "null", True: "true", False: "false"}
_HUGE = 10**40
_INFINITIES = (float("inf"), float("-inf"))


def _what(loc: Loc) -> str:
    return "argument" if len(loc) <= 1 else "property"


def msg_missing(name: str, loc: Loc) -> str:
    return f"missing required {_what(loc)} {short(name)}"


def msg_unknown(name: Any, allowed: Sequence[str], loc: Loc) -> str:
    known = f"allowed: {', '.join(allowed)}" if allowed else f"no {_what(loc)} is allowed here"
    return f"unknown {_what(loc)} {short(name)}; {known}"


def msg_type(value: Any, expected: Sequence[str]) -> str:
    got = short(value) if isinstance(value, dict | list) else f"{json_type(value)} {short(value)}"
    return f"expected {' or '.join(expected)}, got {got}"


_VALUE_TEXT = {
    "enum": "{v} is not one of {c}",
    "const": "{v} is not {c}",
    "pattern": "{v} does not match the pattern {c}",
    "minLength": "{v} is shorter than the minimum length {c}",
    "maxLength": "{v} is longer than the maximum length {c}",
    "minimum": "{v} is less than the minimum {c}",
    "maximum": "{v} is greater than the maximum {c}",
    "exclusiveMinimum": "{v} must be greater than {c}",
    "exclusiveMaximum": "{v} must be less than {c}",
    "multipleOf": "{v} is not a multiple of {c}",
    "minItems": "{v} has fewer than {c} items",
    "maxItems": "{v} has more than {c} items",
    "minProperties": "{v} has fewer than {c} properties",
    "maxProperties": "{v} has more than {c} properties",
    "items": "{v} has more items than the {c} allowed",
    "uniqueItems": "{v} has duplicate items",
}


def msg_value(value: Any, keyword: str, limit: Any) -> str:
    text = _VALUE_TEXT.get(keyword, "{v} fails {k} {c}")
    if keyword == "enum":
        c = ", ".join(short(x, 20) for x in limit[:10]) + (", …" if len(limit) > 10 else "")
        c = f"[{c}]"
    elif keyword == "pattern":
        c = _quote(limit[:80])
    else:
        c = short(limit)
    return text.format(v=short(value), c=c, k=keyword)


def multiple_of(value: int | float, divisor: int | float) -> bool:
    # jsonschema's multipleOf, to the letter, so that both paths agree on floats.
    try:
        if isinstance(divisor, float):
            quotient = value / divisor
            try:
                return int(quotient) == quotient
            except OverflowError:
                return (Fraction(value) / Fraction(divisor)).denominator == 1
        return not value % divisor
    except (OverflowError, ValueError, ZeroDivisionError):
        return False  # "not sure": jsonschema decides


def fits(value: Any, types: tuple[str, ...]) -> bool:
    t = type(value)
    return any(
        (x == "integer" and (t is int or (t is float and value.is_integer())))
        or (x == "number" and t in (int, float))
        or _TYPE_NAMES.get(t) == x
        for x in types
    )


_TYPE_NAMES = {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}


def any_explain(
    value: Any,
    loc: Loc,
    out: list[ErrorEntry],
    explains: tuple[Explain, ...],
    branch_types: tuple[tuple[str, ...] | None, ...],
) -> None:
    """Errors of a failed ``anyOf``: the one branch whose type fits, else a type error."""
    fitting = [
        e for e, ts in zip(explains, branch_types, strict=True) if ts is None or fits(value, ts)
    ]
    before = len(out)
    if len(fitting) == 1:
        fitting[0](value, loc, out)
    elif not fitting:
        expected = sorted({x for ts in branch_types if ts for x in ts})
        out.append(ErrorEntry("wrong_type", msg_type(value, expected), loc))
    if len(out) == before:
        n = len(explains)
        msg = f"{short(value)} matches none of the {n} allowed alternatives"
        out.append(ErrorEntry("schema_violation", msg, loc))
