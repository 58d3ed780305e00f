"""The public functions: ``parse_json`` (a verdict with diagnostics) and ``loads_strict`` (the
scorer's fast path), and the exception ``loads_strict`` raises.

Both first try orjson, which is strict where we are (no NaN/Infinity, no lone surrogates, no
BOM, UTF-8 only, RFC whitespace), then check what orjson does not: duplicate keys (a
colon count, see :func:`_fast`), integers past 64 bits (orjson makes them floats; we keep
Python ints) and ``max_depth``. Anything it cannot settle goes to the scanner (``_scan``), the
authoritative definition; the property tests check that both paths agree.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from agent_rl.strict_json._diagnose import Problem
from agent_rl.strict_json._scan import scan
from agent_rl.strict_json._verdict import JsonVerdict

__all__ = ["StrictJsonError", "loads_strict", "parse_json"]

_NOT_SETTLED: Any = object()
# orjson turns integers past 64 bits into floats: texts with 19+ digits in a row go to the
# scanner. Mapping every byte to "0" (digit) or " " and searching is 3x faster than a regex.
_DIGITS_AS_ZERO = bytes(0x30 if 0x30 <= b <= 0x39 else 0x20 for b in range(256))
_NINETEEN_DIGITS = b"0" * 19
_COLON_ESCAPE = re.compile(rb"\\u003[aA]")
_WIDE_ENCODINGS = {
    (True, False, True, False),  # UTF-16BE
    (False, True, False, True),  # UTF-16LE
    (True, True, True, False),  # UTF-32BE
    (False, True, True, True),  # UTF-32LE
}
_ORJSON_DEPTH = 1000  # orjson refuses nesting past 1024


def _fast(text: str, max_depth: int) -> Any:
    """The value of ``text`` if orjson settles it (valid, no repeated key); else a sentinel.

    Repeated keys without a Python call per object: every member of every object has one ':'
    outside strings, so ``text.count(':')`` = members + colons inside strings. Re-serialising
    the parsed value counts the members kept + the colons in the strings kept. A repeated key
    drops a member (and its strings), so the counts are equal exactly when no key repeats,
    unless a colon hides in a ``\\u003a`` escape; those texts go to the scanner, and so do
    texts with a run of 19+ digits (an integer orjson might have turned into a float).
    """
    try:
        raw = text.encode()
    except UnicodeEncodeError:  # a raw surrogate: the scanner names it
        return _NOT_SETTLED
    if len(raw) > max_depth and raw.count(b"[") + raw.count(b"{") > max_depth:
        return _NOT_SETTLED
    try:
        value = orjson.loads(raw)
        dumped = orjson.dumps(value)
    except (orjson.JSONDecodeError, orjson.JSONEncodeError):  # dumps stops at 254 levels
        return _NOT_SETTLED
    if (
        raw.count(b":") != dumped.count(b":")
        or _NINETEEN_DIGITS in raw.translate(_DIGITS_AS_ZERO)
        or (b"\\u" in raw and _COLON_ESCAPE.search(raw))
    ):
        return _NOT_SETTLED
    return value


def _orjson_is_final(text: str, max_depth: int) -> bool:
    """Whether orjson's rejection of ``text`` is our rejection too (true but for huge
    integers, which orjson may overflow, and nesting deeper than orjson allows)."""
    return max_depth <= _ORJSON_DEPTH and _NINETEEN_DIGITS not in text.encode(
        errors="replace"
    ).translate(_DIGITS_AS_ZERO)


def _encoding_problem(raw: bytes) -> Problem | None:
    """Bytes that are not UTF-8 JSON text at all: a byte order mark, UTF-16 or UTF-32."""
    if raw.startswith(b"\xef\xbb\xbf"):
        return Problem("byte_order_mark", 0, "UTF-8 byte order mark before the JSON text")
    if raw.startswith((b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff")):
        return Problem("invalid_utf8", 0, "UTF-16/32 byte order mark: JSON must be UTF-8")
    # RFC 4627 §3: the NUL pattern of the first four bytes gives UTF-16/32 away.
    if tuple(b == 0 for b in raw[:4]) in _WIDE_ENCODINGS:
        return Problem("invalid_utf8", 0, "looks like UTF-16/32 text: JSON must be UTF-8")
    return None


def _failed(text: str, problem: Problem, from_bytes: bool) -> JsonVerdict:
    at = problem.offset
    line = text.count("\n", 0, at) + 1
    column = at - text.rfind("\n", 0, at)
    offset = len(text[:at].encode("utf-8", "surrogateescape")) if from_bytes else at
    unit = "byte" if from_bytes else "char"
    message = f"{problem.detail} at line {line}, column {column} ({unit} {offset})"
    return JsonVerdict(False, None, problem.kind, offset, message)


def parse_json(data: str | bytes, *, max_depth: int = 512) -> JsonVerdict:
    """The strict JSON verdict on ``data`` (``str``, or UTF-8 ``bytes``/``bytearray``).

    Never raises on any content and never hangs (see the package docstring for the bounds);
    ``TypeError`` for other input types and ``ValueError`` for a negative ``max_depth`` are
    the caller's bugs. ``max_depth`` bounds the nesting of arrays and objects (``[[]]`` is 2).
    """
    if max_depth < 0:
        raise ValueError(f"max_depth must be >= 0, got {max_depth}")
    from_bytes = not isinstance(data, str)
    if not from_bytes:
        text = str(data)
        undecodable = False
    elif isinstance(data, (bytes, bytearray, memoryview)):
        raw = bytes(data)
        problem = _encoding_problem(raw)
        if problem is not None:
            return _failed(raw.decode("latin-1"), problem, True)
        try:
            text, undecodable = raw.decode("utf-8"), False
        except UnicodeDecodeError:
            text, undecodable = raw.decode("utf-8", "surrogateescape"), True
    else:
        raise TypeError(f"parse_json expects str or bytes, not {type(data).__name__}")
    if not undecodable:
        value = _fast(text, max_depth)
        if value is not _NOT_SETTLED:
            return JsonVerdict(True, value, message="valid JSON")
    try:
        value, repeats, first_repeat = scan(text, max_depth, from_bytes)
    except Problem as problem:
        return _failed(text, problem, from_bytes)
    if undecodable:  # unreachable: the scanner rejects every undecodable byte
        raise AssertionError("the scanner accepted bytes that are not UTF-8")
    if not repeats:
        return JsonVerdict(True, value, message="valid JSON")
    at = first_repeat or 0
    offset = len(text[:at].encode()) if from_bytes else at
    names = ", ".join(repr(k) for k in repeats[:5]) + (", ..." if len(repeats) > 5 else "")
    message = f"valid JSON, but keys repeat in an object: {names}"
    return JsonVerdict(True, value, None, offset, message, repeats)


class StrictJsonError(ValueError):
    """Raised by :func:`loads_strict`: the text is not strict JSON or repeats a key.

    The diagnosis is computed only when asked for (``.verdict``, ``.kind``, ``str()``), so a
    caller that only needs "invalid" pays nothing for it.
    """

    def __init__(
        self, data: str | bytes, max_depth: int = 512, verdict: JsonVerdict | None = None
    ) -> None:
        super().__init__()
        self._data, self._max_depth, self._verdict = data, max_depth, verdict

    @property
    def verdict(self) -> JsonVerdict:
        """The full :func:`parse_json` verdict (``ok`` is true when only keys repeat)."""
        if self._verdict is None:
            self._verdict = parse_json(self._data, max_depth=self._max_depth)
        return self._verdict

    @property
    def kind(self) -> str:
        """The error kind, or ``"duplicate_key"`` for valid JSON that repeats a key."""
        return self.verdict.error or "duplicate_key"

    def __str__(self) -> str:
        return self.verdict.message

    def __reduce__(self) -> tuple[Any, ...]:
        return (StrictJsonError, (self._data, self._max_depth, self._verdict))


def loads_strict(text: str | bytes, *, max_depth: int = 512) -> Any:
    """The value of a strict JSON text with no repeated key; :class:`StrictJsonError` (a
    ``ValueError``) otherwise. The scorer's fast path: about the time of one ``json.loads`` on
    a typical tool call, though it also checks NaN, surrogates, depth and repeated keys."""
    if type(text) is not str:
        if not isinstance(text, (str, bytes, bytearray, memoryview)):
            raise TypeError(f"loads_strict expects str or bytes, not {type(text).__name__}")
        try:
            text = str(text) if isinstance(text, str) else bytes(text).decode("utf-8")
        except UnicodeDecodeError:
            raise StrictJsonError(bytes(text), max_depth) from None
    value = _fast(text, max_depth)
    if value is not _NOT_SETTLED:
        return value
    if max_depth < 0:
        raise ValueError(f"max_depth must be >= 0, got {max_depth}")
    try:
        orjson.loads(text)
    except orjson.JSONDecodeError:
        if _orjson_is_final(text, max_depth):
            raise StrictJsonError(text, max_depth) from None
    verdict = parse_json(text, max_depth=max_depth)
    if verdict.strictly_ok:
        return verdict.value
    raise StrictJsonError(text, max_depth, verdict)
