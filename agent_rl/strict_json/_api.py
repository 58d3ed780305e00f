"""The public functions: ``parse_json`` (a verdict with diagnostics) and ``loads_strict`` (the
scorer's fast path), and the exception ``loads_strict`` raises.

Both first try orjson, which is strict where we are (no NaN/Infinity, no lone surrogates, no
BOM, UTF-8 only, RFC whitespace), then check what orjson does not: duplicate keys (a
colon count, see :func:`_fast`), integers past 64 bits (orjson makes them floats; we keep
Python ints) and ``max_depth``. Anything it cannot settle goes to the scanner (``_scan``), the
authoritative definition; the property tests check that both paths agree.

Invalid texts are the scorer's slow path, kept short: a text that cannot end a JSON value
(most often one cut off mid-string) skips orjson; a trailing comma, as orjson reports it, is
the verdict without a scan; otherwise ``loads_strict`` raises at once, and the scanner runs
(once) only when the error's ``.verdict`` is asked for.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from agent_rl.strict_json._diagnose import WS, Problem, trailing_comma
from agent_rl.strict_json._scan import scan
from agent_rl.strict_json._verdict import JsonVerdict

__all__ = ["StrictJsonError", "loads_strict", "parse_json"]

_NOT_SETTLED: Any = object()  # _fast cannot tell: the scanner decides
_REJECTED: Any = object()  # invalid for sure: the scanner is needed only to say why
_TRAILING_COMMA = "trailing comma is not allowed"  # orjson's message, its pos the comma
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
# The last character of a JSON text: the end of a value (}, ], ", a digit, true/false, null)
# or whitespace. A text that ends otherwise (most often one cut off mid-string) is invalid.
_MAY_END = frozenset('}]"0123456789el \t\n\r')
# JsonVerdict is frozen: invalid verdicts, one per rejected call, are built with its slots'
# setters (twice as fast as the dataclass __init__, which goes through object.__setattr__).
_new = object.__new__
_SET_OK, _SET_VALUE, _SET_ERROR, _SET_OFFSET, _SET_MESSAGE, _SET_DUPLICATES = (
    getattr(JsonVerdict, name).__set__
    for name in ("ok", "value", "error", "offset", "message", "duplicate_keys")
)


def _fast(text: str, max_depth: int) -> Any:
    """The value of ``text`` if orjson settles it (valid, no repeated key); else the first
    error as a :class:`Problem` where orjson pins it down, ``_REJECTED`` where ``text`` is
    invalid for sure, ``_NOT_SETTLED`` where the scanner must look.

    Repeated keys without a Python call per object: every member of every object has one ':'
    outside strings, so ``text.count(':')`` = members + colons inside strings. Re-serialising
    the parsed value counts the members kept + the colons in the strings kept. A repeated key
    drops a member (and its strings), so the counts are equal exactly when no key repeats,
    unless a colon hides in a ``\\u003a`` escape; those texts go to the scanner, and so do
    texts with a run of 19+ digits (an integer orjson might have turned into a float).

    A rejection by orjson is final but for those integers and nesting deeper than it allows:
    otherwise orjson accepts exactly what the scanner does, token by token (the property
    tests check it), so both fail first at the same place. Where that place is a trailing
    comma (the commonest error after a cut-off text), the error needs no scan.
    """
    if text and text[-1] not in _MAY_END:  # no need to ask orjson (it would raise: slow)
        return _REJECTED
    try:
        raw = text.encode()
    except UnicodeEncodeError:  # a raw surrogate, an error wherever it is
        return _REJECTED
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        if max_depth > _ORJSON_DEPTH or _NINETEEN_DIGITS in raw.translate(_DIGITS_AS_ZERO):
            return _NOT_SETTLED
        if error.msg == _TRAILING_COMMA:
            return _trailing_comma(text, error.pos, max_depth)
        return _REJECTED
    if len(raw) > max_depth and raw.count(b"[") + raw.count(b"{") > max_depth:
        return _NOT_SETTLED  # maybe deeper than max_depth
    try:
        dumped = orjson.dumps(value)
    except orjson.JSONEncodeError:  # dumps stops at 254 levels
        return _NOT_SETTLED
    if (
        raw.count(b":") != dumped.count(b":")
        or _NINETEEN_DIGITS in raw.translate(_DIGITS_AS_ZERO)
        or (b"\\u" in raw and _COLON_ESCAPE.search(raw))
    ):
        return _NOT_SETTLED
    return value


def _trailing_comma(text: str, comma: int, max_depth: int) -> Any:
    """The scanner's :class:`Problem` for the trailing comma orjson found at ``comma`` (a
    character offset), once the text confirms it; else ``_REJECTED``. Nesting up to there
    must be within ``max_depth`` (else ``too_deep`` comes first): counting every bracket,
    those in strings too, bounds it."""
    if not text.startswith(",", comma):
        return _REJECTED
    close = WS.match(text, comma + 1).end()  # type: ignore[union-attr]
    if (
        text[close : close + 1] in ("}", "]")
        and text.count("[", 0, comma) + text.count("{", 0, comma) <= max_depth
    ):
        return trailing_comma(text, comma, close)
    return _REJECTED


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
    verdict = _new(JsonVerdict)
    _SET_OK(verdict, False)
    _SET_VALUE(verdict, None)
    _SET_ERROR(verdict, problem.kind)
    _SET_OFFSET(verdict, offset)
    _SET_MESSAGE(verdict, f"{problem.detail} at line {line}, column {column} ({unit} {offset})")
    _SET_DUPLICATES(verdict, ())
    return verdict


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
        if type(value) is Problem:
            return _failed(text, value, from_bytes)
        if value is not _NOT_SETTLED and value is not _REJECTED:
            return JsonVerdict(True, value, message="valid JSON")
    verdict = _scanned(text, max_depth, from_bytes)
    if undecodable and verdict.ok:  # unreachable: the scanner rejects every undecodable byte
        raise AssertionError("the scanner accepted bytes that are not UTF-8")
    return verdict


def _scanned(text: str, max_depth: int, from_bytes: bool) -> JsonVerdict:
    """The scanner's verdict: :func:`parse_json`'s where ``_fast`` has not settled ``text``."""
    try:
        value, repeats, first_repeat = scan(text, max_depth, from_bytes)
    except Problem as problem:
        return _failed(text, problem, from_bytes)
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
        self._known: Any = None  # see _rejection

    @property
    def verdict(self) -> JsonVerdict:
        """The full :func:`parse_json` verdict (``ok`` is true when only keys repeat)."""
        if self._verdict is None:
            known, text = self._known, self._data
            if known is None:
                self._verdict = parse_json(text, max_depth=self._max_depth)
            elif known is _REJECTED:  # parse_json without its orjson pass, done already
                self._verdict = _scanned(text, self._max_depth, False)  # type: ignore[arg-type]
            else:
                self._verdict = _failed(text, known, False)  # type: ignore[arg-type]
        return self._verdict

    @property
    def kind(self) -> str:
        """The error kind, or ``"duplicate_key"`` for valid JSON that repeats a key."""
        return self.verdict.error or "duplicate_key"

    def __str__(self) -> str:
        return self.verdict.message

    def __reduce__(self) -> tuple[Any, ...]:
        return (StrictJsonError, (self._data, self._max_depth, self._verdict))


_new_error = StrictJsonError.__new__


def _rejection(text: str, max_depth: int, known: Any) -> StrictJsonError:
    """The error for a ``str`` that ``_fast`` rejected, with what it knows (``_REJECTED`` or
    the :class:`Problem`), made without ``__init__``: a rejection is the scorer's common
    slow path, and this one is not pickled with ``known`` (a copy just recomputes it)."""
    error: StrictJsonError = _new_error(StrictJsonError)
    error._data, error._max_depth, error._verdict, error._known = text, max_depth, None, known
    return error


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
    if value is not _NOT_SETTLED and value is not _REJECTED and type(value) is not Problem:
        return value
    if max_depth < 0:
        raise ValueError(f"max_depth must be >= 0, got {max_depth}")
    if value is not _NOT_SETTLED:  # invalid for sure: the diagnosis waits for .verdict
        raise _rejection(text, max_depth, value)
    verdict = _scanned(text, max_depth, False)
    if verdict.strictly_ok:
        return verdict.value
    raise StrictJsonError(text, max_depth, verdict)
