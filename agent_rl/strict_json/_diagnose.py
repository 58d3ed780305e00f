"""Naming what is wrong: from a failing position of the scanner to an error kind.

Each function gets the text, the position where the scanner stopped and what it expected
there, and returns a :class:`Problem` (the scanner raises it). The kind is what a person would
say is wrong ("a trailing comma", "Python's True", "an unescaped quote"), not merely which
character was unexpected; :data:`~agent_rl.strict_json.ERROR_KINDS` lists them all. This module
does not parse values and holds no state.
"""

from __future__ import annotations

import re

__all__ = [
    "Problem",
    "bad_after_key",
    "bad_after_value",
    "bad_key",
    "bad_number",
    "bad_start",
    "bad_trailing",
    "bad_value",
    "classify_word",
    "trailing_comma",
]

WS = re.compile(r"[ \t\n\r]*")
_WORD = re.compile(r"[\w$]+")
_NUM_TOKEN = re.compile(r"[-+.\w]+")
_NUM_PREFIX = re.compile(r"-?(?:(?:0|[1-9][0-9]*)(?:\.[0-9]*)?(?:[eE][-+]?[0-9]*)?)?")
_HEX = re.compile(r"[-+]?0[xX][0-9a-fA-F]+")
_KEY_TOKEN = re.compile(r"""[^\s:,{}\[\]"']+""")
_KEY_AHEAD = re.compile(r'"(?:[^"\\\n]|\\.)*"[ \t\n\r]*:')
_BARE = re.compile(r'[^,:}\]\n"]*')
_SMART_QUOTES = "“”‘’„‟"
_LITERALS = ("true", "false", "null")
_PYTHON = {"True": "true", "False": "false", "None": "null"}
_NAN = ("nan", "inf", "infinity")


class Problem(Exception):
    """What is wrong (``kind``), where (``offset``, a character offset) and a one-line
    ``detail`` without the position; the public API adds line, column and the offset unit."""

    def __init__(self, kind: str, offset: int, detail: str) -> None:
        # No super().__init__: BaseException.__new__ has already stored the arguments.
        self.kind, self.offset, self.detail = kind, offset, detail


def show(text: str, i: int, width: int = 24) -> str:
    """A short, one-line quote of the text at ``i``."""
    part = text[i : i + width]
    return repr(part + "…" if len(text) > i + width else part)


def _word(text: str, i: int) -> str:
    m = _WORD.match(text, i)
    return m.group() if m else ""


def _is_surrogate(c: str) -> bool:
    return "\ud800" <= c <= "\udfff"


def surrogate(text: str, i: int, from_bytes: bool) -> Problem:
    """A raw surrogate code point: an undecodable byte (bytes input) or a lone surrogate."""
    if from_bytes:
        return Problem("invalid_utf8", i, f"invalid UTF-8 byte 0x{ord(text[i]) - 0xDC00:02X}")
    return Problem("lone_surrogate", i, f"raw lone surrogate U+{ord(text[i]):04X} in the text")


def _common(text: str, i: int, from_bytes: bool) -> Problem | None:
    """Problems that read the same wherever they appear."""
    c = text[i]
    if text.startswith("```", i):
        return Problem("code_fence", i, "Markdown code fence ``` in the JSON")
    if c == "'":
        return Problem("single_quotes", i, f"single-quoted string {show(text, i)}")
    if c in _SMART_QUOTES:
        return Problem("smart_quotes", i, f"typographic quote {c!r} instead of '\"'")
    if text.startswith(("//", "/*", "#"), i):
        return Problem("comment", i, f"comment {show(text, i)} (JSON has no comments)")
    if text.startswith("...", i) or c == "…":
        return Problem("ellipsis", i, "ellipsis standing in for omitted content")
    if _is_surrogate(c):
        return surrogate(text, i, from_bytes)
    return None


def _special_word(word: str) -> bool:
    low = word.lower()
    return (
        word in _PYTHON
        or low in _NAN
        or low in _LITERALS
        or word in ("undefined", "nil")
        or any(lit.startswith(word) for lit in _LITERALS)
    )


def classify_word(text: str, i: int, word: str) -> Problem:
    """A bare word where a value is expected."""
    if word in _PYTHON:
        return Problem("python_literal", i, f"Python literal {word} (JSON has {_PYTHON[word]})")
    low = word.lower()
    if low in _NAN:
        return Problem("nan_or_infinity", i, f"{word} is not a JSON number")
    if low in _LITERALS or word in ("undefined", "nil"):
        return Problem(
            "invalid_literal", i, f"{word!r} is not a JSON literal (use true, false or null)"
        )
    if any(lit.startswith(word) for lit in _LITERALS):
        if i + len(word) == len(text):
            return Problem("truncated", i, f"input ends inside the literal {word!r}")
        return Problem("invalid_literal", i, f"{word!r} is not a JSON literal")
    bare = _BARE.match(text, i).group().rstrip()  # type: ignore[union-attr]
    return Problem("unquoted_string", i, f'unquoted string {show(bare, 0)} (quote it with ")')


def bad_start(text: str, i: int, from_bytes: bool) -> Problem:
    """The first non-blank character cannot start a JSON value."""
    c = text[i]
    if c == "\ufeff" and i == 0:
        return Problem("byte_order_mark", 0, "byte order mark before the JSON text")
    if c in "}])":
        return Problem("mismatched_bracket", i, f"{c!r} closes nothing")
    problem = _common(text, i, from_bytes)
    if problem is not None:
        return problem
    if c == "(" and (")" not in text or text.rstrip(" \t\n\r").endswith(")")):
        return Problem("python_tuple", i, "parentheses (a Python tuple) instead of [ ]")
    word = _word(text, i)
    if word and _special_word(word):
        return classify_word(text, i, word)
    fence = text.find("```", i)
    if fence >= 0:
        return Problem("code_fence", fence, "Markdown code fence ``` around the JSON")
    if any(b in text[i:] for b in "{["):
        return Problem("prose_before_json", i, f"text {show(text, i)} before the JSON")
    if c in "+-.":
        return bad_number(text, i)
    if word:
        return Problem("not_json", i, f"plain text {show(text, i)}, not JSON")
    return Problem("unexpected_character", i, f"{c!r} cannot start a JSON value")


def bad_value(text: str, i: int, in_array: bool, opened: int, from_bytes: bool) -> Problem:
    """A value was expected (after '[', ',' in an array, or ':') and none starts at ``i``."""
    where = f"the {'array' if in_array else 'object'} opened at char {opened}"
    if i >= len(text):
        return Problem("truncated", i, f"input ends where a value was expected in {where}")
    c = text[i]
    if c in "}])":
        if not in_array:
            return Problem("missing_value", i, f"{c!r} where a value was expected after ':'")
        return Problem("mismatched_bracket", i, f"{c!r} cannot close {where}")
    if c == ",":
        return Problem("missing_value", i, "',' where a value was expected")
    problem = _common(text, i, from_bytes)
    if problem is not None:
        return problem
    if c == "(":
        return Problem("python_tuple", i, "parentheses (a Python tuple) instead of [ ]")
    if c in "+.":
        return bad_number(text, i)
    word = _word(text, i)
    if word:
        return classify_word(text, i, word)
    if c == "\\":
        return Problem("unexpected_character", i, "backslash outside a string (escaped twice?)")
    return Problem("unexpected_character", i, f"{c!r} where a value was expected")


def bad_number(text: str, i: int) -> Problem:
    """A token starting like a number (``-``, ``+``, ``.``, a digit) that is not one."""
    m = _NUM_TOKEN.match(text, i)
    tok = m.group() if m else text[i]
    end = i + len(tok)
    if tok.lstrip("+-").lower() in _NAN:
        return Problem("nan_or_infinity", i, f"{tok} is not a JSON number")
    if _NUM_PREFIX.fullmatch(tok) and WS.match(text, end).end() == len(text):
        return Problem("truncated", i, f"input ends inside the number {tok!r}")
    if _HEX.fullmatch(tok):
        return Problem("invalid_number", i, f"hex number {tok!r} (JSON numbers are decimal)")
    if any(ch.isalpha() and ch not in "eE" for ch in tok):
        return Problem("unquoted_string", i, f"{tok!r} is not a number (quote it if a string)")
    body = tok.lstrip("+-")
    if "_" in tok:
        why = "digit separators"
    elif tok.startswith("+"):
        why = "a leading '+'"
    elif body.startswith("."):
        why = "no digit before '.'"
    elif len(body) > 1 and body[0] == "0" and body[1].isdigit():
        why = "a leading zero"
    elif tok.count(".") > 1:
        why = "more than one '.'"
    elif re.search(r"\.(?![0-9])", tok):
        why = "no digit after '.'"
    elif re.search(r"[eE][-+]?(?![0-9])", tok):
        why = "no digits in the exponent"
    elif re.search(r"[0-9.][-+]", tok) and not re.search(r"[eE][-+]", tok):
        why = "arithmetic or a range, not a number"
    elif not body:
        why = "a sign with no digits"
    else:
        why = "not in JSON number syntax"
    return Problem("invalid_number", i, f"invalid number {tok!r} ({why})")


def bad_after_value(
    text: str,
    i: int,
    in_array: bool,
    opened: int,
    prev: str,
    value_start: int,
    value_end: int,
    from_bytes: bool,
) -> Problem:
    """After a value inside a container, neither ',' nor the closing bracket follows.

    ``prev`` is ``"string"``, ``"number"`` or ``"other"``: what the previous value was.
    """
    close, name = ("]", "array") if in_array else ("}", "object")
    if i >= len(text):
        return Problem("truncated", i, f"input ends inside the {name} opened at char {opened}")
    c = text[i]
    if c in "}])":
        return Problem(
            "mismatched_bracket",
            i,
            f"{c!r} where ',' or {close!r} was expected (the {name} opened at char {opened})",
        )
    if text.startswith("```", i):
        return Problem("code_fence", i, "Markdown code fence ``` in the JSON")
    if text.startswith(("//", "/*", "#"), i):
        return Problem("comment", i, f"comment {show(text, i)} (JSON has no comments)")
    if _is_surrogate(c):
        return surrogate(text, i, from_bytes)
    adjacent = i == value_end
    if c == ":":
        if in_array:
            return Problem("colon_in_array", i, "key: value pair inside an array (use {})")
        if prev == "string":
            return Problem("unescaped_quote", value_start, _unescaped(text, value_start))
        return Problem("unexpected_character", i, "':' after a value")
    if c == '"':
        if prev == "string" and adjacent and (in_array or not _KEY_AHEAD.match(text, i)):
            return Problem("unescaped_quote", value_start, _unescaped(text, value_start))
        return Problem("missing_comma", i, f"missing ',' before {show(text, i)}")
    if c == "/" and prev == "number" and text[i + 1 : i + 2].isdigit():
        expr = text[value_start : i + 1] + _word(text, i + 1)
        return Problem("invalid_number", value_start, f"{expr!r} is arithmetic, not a number")
    if c in "{[-0123456789":
        return Problem("missing_comma", i, f"missing ',' before {show(text, i)}")
    word = _word(text, i)
    if word in _LITERALS:
        return Problem("missing_comma", i, f"missing ',' before {word}")
    if prev == "string" and (word or adjacent) and c not in "'“”‘’….":
        return Problem("unescaped_quote", value_start, _unescaped(text, value_start))
    problem = _common(text, i, from_bytes)
    if problem is not None:
        return problem
    if word:
        return Problem("unexpected_character", i, f"stray text {show(text, i)} after a value")
    return Problem("unexpected_character", i, f"{c!r} where ',' or {close!r} was expected")


def _unescaped(text: str, start: int) -> str:
    return f"the string {show(text, start)} ends early at an inner '\"' (escape it as \\\")"


def bad_after_key(text: str, i: int, key_start: int, key_end: int, from_bytes: bool) -> Problem:
    """After an object key, no ':' follows."""
    key = show(text, key_start, max(2, min(key_end - key_start, 24)))
    if i >= len(text):
        return Problem("truncated", i, f"input ends after the key {key}")
    c = text[i]
    if _is_surrogate(c):
        return surrogate(text, i, from_bytes)
    adjacent = i == key_end
    if c == '"':
        if adjacent:
            return Problem("unescaped_quote", key_start, _unescaped(text, key_start))
        return Problem("missing_colon", i, f"missing ':' after the key {key}")
    if c in ",}":
        return Problem("missing_colon", i, f"the key {key} has no ':' and value")
    if c == "=":
        return Problem("missing_colon", i, f"'=' instead of ':' after the key {key}")
    if c in "])":
        return Problem("mismatched_bracket", i, f"{c!r} after the key {key}")
    word = _word(text, i)
    if word and word not in _LITERALS and c not in "0123456789":
        return Problem("unescaped_quote", key_start, _unescaped(text, key_start))
    if word or c in "{[-":
        return Problem("missing_colon", i, f"missing ':' after the key {key}")
    problem = _common(text, i, from_bytes)
    if problem is not None:
        return problem
    if adjacent:
        return Problem("unescaped_quote", key_start, _unescaped(text, key_start))
    return Problem("unexpected_character", i, f"{c!r} where ':' was expected")


def bad_key(text: str, i: int, opened: int, from_bytes: bool) -> Problem:
    """A key was expected (after '{' or ',' in an object) and no '"' starts at ``i``."""
    if i >= len(text):
        return Problem("truncated", i, f"input ends inside the object opened at char {opened}")
    c = text[i]
    if c in "])":
        return Problem(
            "mismatched_bracket", i, f"{c!r} cannot close the object opened at char {opened}"
        )
    if c in ":,{[":
        return Problem("missing_key", i, f"{c!r} where a key was expected")
    problem = _common(text, i, from_bytes)
    if problem is not None:
        return problem
    m = _KEY_TOKEN.match(text, i)
    if m and (c.isalnum() or c in "_$-+."):
        tok = m.group()
        j = WS.match(text, m.end()).end()
        if j < len(text) and text[j] == ":":
            return Problem("unquoted_key", i, f"unquoted key {tok!r} (keys are quoted strings)")
        if c.isdigit() or c in "-+.":
            return Problem("missing_key", i, f"a value ({tok!r}) where a key was expected")
        return Problem("unexpected_character", i, f"stray text {tok!r} where a key was expected")
    if c == "\\":
        return Problem("unexpected_character", i, "backslash outside a string (escaped twice?)")
    return Problem("unexpected_character", i, f"{c!r} where a key was expected")


def trailing_comma(text: str, comma: int, close: int) -> Problem:
    """A comma at ``comma`` with only whitespace before the closing bracket at ``close``."""
    return Problem("trailing_comma", comma, f"trailing comma before {text[close]!r}")


def bad_trailing(text: str, i: int, from_bytes: bool) -> Problem:
    """A complete JSON value is followed by more than whitespace."""
    c = text[i]
    if text.startswith("```", i):
        return Problem("code_fence", i, "Markdown code fence ``` after the JSON")
    if text.startswith(("//", "/*", "#"), i):
        return Problem("comment", i, f"comment {show(text, i)} (JSON has no comments)")
    if c in "}])":
        return Problem("mismatched_bracket", i, f"extra {c!r} after the JSON value")
    if _is_surrogate(c):
        return surrogate(text, i, from_bytes)
    return Problem("extra_data", i, f"extra data {show(text, i)} after the JSON value")
