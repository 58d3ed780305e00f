"""The diagnostic scanner: strict RFC 8259 parsing that builds the value or names the first error.

Iterative (an explicit stack, no recursion), so 100,000 nested brackets cost a loop, not a
``RecursionError``; strings are read by the C ``json.decoder.scanstring`` (a pure-Python reader
names the errors in them), whitespace, keys and numbers are matched with compiled regexes, so
a 10 MB string is one C-speed scan. It runs on ``str``; bytes input arrives decoded with
``surrogateescape``, so each undecodable byte is a lone surrogate here and is reported as
``invalid_utf8`` in text order. This is the authoritative definition of what the strict check
accepts; ``_api`` only adds a fast path that must agree with it. It does not do I/O, encoding
detection or offsets in bytes (``_api`` does).
"""

from __future__ import annotations

import re
import sys
from json.decoder import JSONDecodeError
from json.decoder import scanstring as _scanstring
from typing import Any

from agent_rl.strict_json._diagnose import (
    WS,
    Problem,
    bad_after_key,
    bad_after_value,
    bad_key,
    bad_number,
    bad_start,
    bad_trailing,
    bad_value,
    surrogate,
    trailing_comma,
)

__all__ = ["scan"]

_STR_CHUNK = re.compile(r'[^"\\\x00-\x1f\ud800-\udfff]*')
_SIMPLE_KEY = re.compile(r'"([^"\\\x00-\x1f\ud800-\udfff]*)"[ \t\n\r]*:[ \t\n\r]*')
_SEPARATOR = re.compile(r"[ \t\n\r]*(?:(,)[ \t\n\r]*)?")
# ', "key": ' after an object member: the separator and the next simple key in one match.
_NEXT_KEY = re.compile(r"[ \t\n\r]*,[ \t\n\r]*" + _SIMPLE_KEY.pattern)
# A JSON number not followed by anything that would make it a longer (bad) token.
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?(?![-+.\w])")
_LITERAL = re.compile(r"(?:true|false|null)(?![\w$])")
_SURROGATE = re.compile(r"[\ud800-\udfff]")
_HEX4 = re.compile(r"[0-9a-fA-F]{1,4}")
_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
_SHORT_ESCAPES = {v: "\\" + k for k, v in _ESCAPES.items() if k in "bfnrt"}
_LITERAL_VALUES = {"true": True, "false": False, "null": None}
_INF = float("inf")

# A stack frame is [container, current key, offset of its bracket, offset of the current key].
_Frame = list[Any]


def scan(text: str, max_depth: int, from_bytes: bool) -> tuple[Any, tuple[str, ...], int | None]:
    """Parse ``text`` strictly: ``(value, repeated keys, offset of the first repeat)``, or
    raise :class:`Problem` for the first error in text order."""
    n = len(text)
    ws = WS.match
    repeats: dict[str, None] = {}
    first_repeat: int | None = None
    i = ws(text).end()
    if i == n:
        raise Problem("empty", i, "empty input" if n == 0 else "input is only whitespace")
    if text[i] == "-" and not text[i + 1 : i + 2].isalnum():  # "- item" is prose, not a number
        raise bad_start(text, i, from_bytes)
    stack: list[_Frame] = []
    value: Any
    last = _last_quote(text)
    while True:
        # A value starts at i (whitespace already skipped).
        c = text[i] if i < n else ""
        start = i
        prev = "other"
        if c == '"':
            value, i = _string(text, i, from_bytes, last)
            prev = "string"
        elif c == "{" or c == "[":
            if len(stack) >= max_depth:
                raise Problem("too_deep", i, f"nesting deeper than max_depth={max_depth}")
            j = ws(text, i + 1).end()
            if j < n and text[j] == ("]" if c == "[" else "}"):
                value, i = ([] if c == "[" else {}), j + 1
            elif c == "[":
                stack.append([[], None, i, 0])
                i = j
                continue
            else:
                frame = [{}, None, i, 0]
                stack.append(frame)
                m = _SIMPLE_KEY.match(text, j)
                if m is not None:
                    frame[1], frame[3] = m.group(1), j
                    i = m.end()
                else:
                    i = _key(text, j, frame, from_bytes, last)
                continue
        elif c == "-" or "0" <= c <= "9":
            m = _NUMBER.match(text, i)
            if m is not None and m.lastindex is None and m.end() - i < 19:
                value, i = int(m.group()), m.end()
            else:
                value, i = _number(text, i)
            prev = "number"
        elif c in "tfn" and (m := _LITERAL.match(text, i)) is not None:
            value, i = _LITERAL_VALUES[m.group()], m.end()
        elif not stack:
            raise bad_start(text, i, from_bytes)
        else:
            frame = stack[-1]
            raise bad_value(text, i, type(frame[0]) is list, frame[2], from_bytes)
        # A complete value ends at i: add it to its container, close what closes.
        while True:
            if not stack:
                j = ws(text, i).end()
                if j < n:
                    raise bad_trailing(text, j, from_bytes)
                return value, tuple(repeats), first_repeat
            frame = stack[-1]
            container = frame[0]
            is_list = type(container) is list
            if is_list:
                container.append(value)
            else:
                name = frame[1]
                if name in container:
                    repeats[name] = None
                    if first_repeat is None:
                        first_repeat = frame[3]
                container[name] = value
                m = _NEXT_KEY.match(text, i)
                if m is not None:
                    frame[1], frame[3] = m.group(1), m.start(1) - 1
                    i = m.end()
                    break
            value_end = i
            m = _SEPARATOR.match(text, i)
            i = m.end()  # type: ignore[union-attr]
            if m.lastindex:  # type: ignore[union-attr]
                if i < n and text[i] in "}]":
                    raise trailing_comma(text, m.start(1), i)  # type: ignore[union-attr]
                if not is_list:
                    i = _key(text, i, frame, from_bytes, last)
                break
            if i < n and text[i] == ("]" if is_list else "}"):
                stack.pop()
                value, start, prev = container, frame[2], "other"
                i += 1
                continue
            raise bad_after_value(text, i, is_list, frame[2], prev, start, value_end, from_bytes)


def _key(text: str, i: int, frame: _Frame, from_bytes: bool, last: int) -> int:
    """Read the key at ``i`` and its ':' into ``frame``; return where the value starts."""
    m = _SIMPLE_KEY.match(text, i)
    if m is not None:
        frame[1], frame[3] = m.group(1), i
        return m.end()
    if i < len(text) and text[i] == '"':
        name, end = _string(text, i, from_bytes, last)
        frame[1], frame[3] = name, i
        j = WS.match(text, end).end()  # type: ignore[union-attr]
        if j < len(text) and text[j] == ":":
            return WS.match(text, j + 1).end()  # type: ignore[union-attr]
        raise bad_after_key(text, j, i, end, from_bytes)
    raise bad_key(text, i, frame[2], from_bytes)


def _last_quote(text: str) -> int:
    """The last '"' that no backslash escapes (if the text ends inside a string, that string
    opens there), or -1: none, or not found behind a few escaped ones. A hint for
    :func:`_string`; its verdicts do not depend on it."""
    j = len(text)
    for _ in range(8):
        j = text.rfind('"', 0, j)
        if j <= 0 or text[j - 1] != "\\":
            return j
        if j == 1 or text[j - 2] != "\\":  # escaped by one backslash
            continue
        before = text[max(j - 16, 0) : j]
        run = len(before) - len(before.rstrip("\\"))
        if run == 16:
            return -1
        if run % 2 == 0:
            return j
    return -1


def _string(text: str, i: int, from_bytes: bool, last: int = -1) -> tuple[str, int]:
    """The string whose opening quote is at ``i``, and the offset after its closing quote.

    The C ``json.decoder.scanstring`` reads it: with ``strict=True`` it accepts exactly what
    :func:`_read_string` does, except surrogates (raw, undecodable bytes, or a lone
    ``\\uD800`` escape), which it passes through; so a value it gives without a surrogate
    is the value :func:`_read_string` gives. Its errors name and place problems differently,
    so :func:`_read_string` names them, but for the commonest: the text ends inside this
    string (see :func:`_unclosed`; when it opens at ``last``, the last unescaped quote, that
    is known without a C error, which costs more than the read).
    """
    if i == last:
        return _unclosed(text, i, from_bytes)
    try:
        value, end = _scanstring(text, i + 1, True)
    except JSONDecodeError as error:
        if error.msg.startswith("Unterminated"):
            return _unclosed(text, i, from_bytes)
        return _read_string(text, i, from_bytes)
    if value.isascii() or _SURROGATE.search(value) is None:
        return value, end
    return _read_string(text, i, from_bytes)


def _unclosed(text: str, i: int, from_bytes: bool) -> tuple[str, int]:
    """A string at ``i`` with no closing quote: ``truncated`` if all of it is valid, as a C
    read with a closing quote added shows; else :func:`_read_string` names the error."""
    n = len(text)
    if _STR_CHUNK.match(text, i + 1).end() == n:  # type: ignore[union-attr]
        raise _unterminated(n, i)
    try:
        value, end = _scanstring(text + '"', i + 1, True)
    except JSONDecodeError:
        return _read_string(text, i, from_bytes)
    if end == n + 1 and (value.isascii() or _SURROGATE.search(value) is None):
        raise _unterminated(n, i)
    return _read_string(text, i, from_bytes)  # a quote closes it after all (a wrong hint)


def _unterminated(n: int, i: int) -> Problem:
    return Problem("truncated", n, f"input ends inside the string opened at char {i}")


def _read_string(text: str, i: int, from_bytes: bool) -> tuple[str, int]:
    """:func:`_string` in pure Python: the authoritative reader, which names the first error."""
    n = len(text)
    k = _STR_CHUNK.match(text, i + 1).end()  # type: ignore[union-attr]
    parts = [text[i + 1 : k]]
    while True:
        if k >= n:
            raise _unterminated(n, i)
        c = text[k]
        if c == '"':
            return "".join(parts), k + 1
        if c == "\\":
            e = text[k + 1 : k + 2]
            if e in _ESCAPES:
                parts.append(_ESCAPES[e])
                k += 2
            elif e == "u":
                char, k = _unicode_escape(text, k)
                parts.append(char)
            elif not e:
                raise Problem("truncated", n, "input ends inside an escape")
            else:
                raise Problem("invalid_escape", k, f"invalid escape {text[k : k + 2]!r}")
        elif c < " ":
            escaped = _SHORT_ESCAPES.get(c) or f"\\u{ord(c):04x}"
            detail = f"raw control character U+{ord(c):04X} in a string (write {escaped})"
            raise Problem("control_char_in_string", k, detail)
        else:
            raise surrogate(text, k, from_bytes)
        end = _STR_CHUNK.match(text, k).end()  # type: ignore[union-attr]
        parts.append(text[k:end])
        k = end


def _unicode_escape(text: str, k: int) -> tuple[str, int]:
    """The ``\\uXXXX`` escape at ``k`` (a surrogate pair takes two) and where it ends."""
    n = len(text)
    digits = _HEX4.match(text, k + 2)
    if digits is None or digits.end() != k + 6:
        if (digits.end() if digits else k + 2) == n:
            raise Problem("truncated", n, "input ends inside a \\u escape")
        raise Problem("invalid_escape", k, f"invalid escape {text[k : k + 6]!r}")
    cp = int(text[k + 2 : k + 6], 16)
    if 0xD800 <= cp <= 0xDBFF:
        low = _HEX4.match(text, k + 8) if text.startswith("\\u", k + 6) else None
        if low is not None and low.end() == k + 12:
            lo = int(text[k + 8 : k + 12], 16)
            if 0xDC00 <= lo <= 0xDFFF:
                return chr(0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00)), k + 12
        elif "\\u".startswith(text[k + 6 : k + 8]) and (low.end() if low else k + 8) >= n:
            raise Problem("truncated", n, "input ends inside a surrogate pair")
        raise Problem("lone_surrogate", k, f"lone surrogate escape {text[k : k + 6]!r}")
    if 0xDC00 <= cp <= 0xDFFF:
        raise Problem("lone_surrogate", k, f"lone surrogate escape {text[k : k + 6]!r}")
    return chr(cp), k + 6


def _number(text: str, i: int) -> tuple[int | float, int]:
    m = _NUMBER.match(text, i)
    if m is None:
        raise bad_number(text, i)
    if m.lastindex is None:
        try:
            return int(m.group()), m.end()
        except ValueError:  # more digits than sys.get_int_max_str_digits()
            limit = sys.get_int_max_str_digits()
            detail = f"integer of {m.end() - i} characters (Python converts {limit} digits)"
            raise Problem("number_out_of_range", i, detail) from None
    value = float(m.group())
    if value == _INF or value == -_INF:
        token = m.group()
        token = token if len(token) <= 24 else token[:24] + "…"
        raise Problem("number_out_of_range", i, f"{token!r} overflows a float")
    return value, m.end()
