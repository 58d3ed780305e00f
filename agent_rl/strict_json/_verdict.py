"""The verdict of the strict JSON check and the stable list of its error kinds.

Data only: :class:`JsonVerdict` and :data:`ERROR_KINDS`. The parsing lives in ``_scan`` (values
and syntax), ``_diagnose`` (naming what is wrong) and ``_api`` (the public functions).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final

__all__ = ["ERROR_KINDS", "JsonVerdict"]

#: Every ``JsonVerdict.error`` kind, with what it means. Stable strings: scorers, metrics and
#: recorded trajectories key on them. The first error in text order wins.
ERROR_KINDS: Final[Mapping[str, str]] = MappingProxyType(
    {
        "empty": "the input is empty or only whitespace",
        "truncated": "the input ends inside a value: an unclosed string, array or object, "
        "or a cut-off number, literal or escape",
        "trailing_comma": "a comma right before a closing } or ]",
        "single_quotes": "a string or key in single quotes ('...') instead of double quotes",
        "smart_quotes": "typographic quotes (“ ” ‘ ’) instead of straight double quotes",
        "unquoted_key": "an object key without quotes ({key: 1}, {5: 1})",
        "unquoted_string": "a bare word where a value is expected (a string without quotes)",
        "unescaped_quote": 'a string ends early at an inner " that should be escaped as \\" '
        "(or a closing quote is missing)",
        "python_literal": "Python's True, False or None instead of true, false, null",
        "python_tuple": "parentheses (a Python tuple) where JSON needs [ ]",
        "nan_or_infinity": "NaN, Infinity or -Infinity, which JSON cannot represent",
        "invalid_literal": "a misspelt or wrongly cased literal (TRUE, Null, tru, undefined)",
        "invalid_number": "a malformed number: leading zero or +, a bare . or e, digit "
        "separators, hex, a fraction or range like 1/3 or 10-20",
        "number_out_of_range": "a float that overflows to infinity or an integer with more "
        "digits than Python converts (4300)",
        "invalid_escape": "a backslash escape JSON does not define (\\', \\x, \\a, a bad \\u)",
        "control_char_in_string": "a raw control character (U+0000-U+001F: a literal newline, "
        "tab, NUL) inside a string; it must be escaped",
        "lone_surrogate": "a UTF-16 surrogate that is not half of a pair (\\ud800 alone, or a "
        "raw surrogate code point in str input)",
        "invalid_utf8": "bytes that are not UTF-8: a bad or overlong sequence, an encoded "
        "surrogate, Latin-1 or UTF-16/32 text",
        "byte_order_mark": "a byte order mark (U+FEFF) before the JSON text",
        "extra_data": "a complete JSON value followed by more data (a second value, prose)",
        "too_deep": "arrays and objects nested deeper than max_depth",
        "prose_before_json": "text before the first { or [ (Here is your JSON: ...)",
        "not_json": "plain text with no JSON value in it",
        "code_fence": "a Markdown code fence (```) around or inside the JSON",
        "comment": "a //, /* */ or # comment; JSON has none",
        "ellipsis": "an ellipsis (... or …) standing in for omitted content",
        "missing_comma": "two values or members with no comma between them",
        "missing_colon": "an object key not followed by a colon",
        "missing_key": "an object member without a key: a value, bracket or colon where a "
        "key is expected",
        "missing_value": "a comma or closing bracket where a value is expected",
        "mismatched_bracket": "a closing bracket that does not match the open one, or that "
        "closes nothing",
        "colon_in_array": "a key: value pair inside an array (it needs an object)",
        "unexpected_character": "any other character that cannot appear at that point",
    }
)


@dataclass(frozen=True, slots=True)
class JsonVerdict:
    """The strict JSON verdict on one text.

    ``ok`` is syntax only: duplicate keys are legal JSON (RFC 8259 says names SHOULD be
    unique), so they leave ``ok`` true and are listed in ``duplicate_keys`` (each name once, in
    the order their repeats appear); ``strictly_ok`` is what a tool call needs.
    ``offset`` is a character offset for ``str`` input and a byte offset for ``bytes``: where
    the error is, or for an ok verdict where the first repeated key starts (else ``None``).
    ``message`` is one line naming the problem and its line and column.
    """

    ok: bool
    value: Any = None
    error: str | None = None
    offset: int | None = None
    message: str = ""
    duplicate_keys: tuple[str, ...] = ()

    @property
    def strictly_ok(self) -> bool:
        """Valid JSON with no repeated key in any object: what a tool call must be."""
        return self.ok and not self.duplicate_keys
