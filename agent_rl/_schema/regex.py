"""ECMA-262 regexes (what JSON Schema ``pattern`` means) in Python's ``re`` dialect.

Python's ``re`` has no Unicode property escapes; :func:`python_pattern` rewrites ``\\p{..}`` and
``\\P{..}`` of the Unicode general categories (``L``, ``Lu``, ``Letter``, ``Nd``, ...; also
``ASCII``, ``Any``, ``Assigned``) into explicit character classes from :mod:`unicodedata`, inside
and outside brackets. Other ECMA/Python differences (``\\d`` matching non-ASCII digits in
Python, for one) are not translated: jsonschema has the same behaviour, so verdicts agree.
"""

from __future__ import annotations

import sys
import unicodedata
from functools import lru_cache

__all__ = ["python_pattern"]

_GC_GROUPS = {
    "L": "Lu Ll Lt Lm Lo",
    "LC": "Lu Ll Lt",
    "M": "Mn Mc Me",
    "N": "Nd Nl No",
    "P": "Pc Pd Ps Pe Pi Pf Po",
    "S": "Sm Sc Sk So",
    "Z": "Zs Zl Zp",
    "C": "Cc Cf Cs Co Cn",
}
_GC_LONG = {
    **{"Letter": "L", "Cased_Letter": "LC", "Uppercase_Letter": "Lu", "Lowercase_Letter": "Ll"},
    **{"Titlecase_Letter": "Lt", "Modifier_Letter": "Lm", "Other_Letter": "Lo", "Mark": "M"},
    **{"Combining_Mark": "M", "Nonspacing_Mark": "Mn", "Spacing_Mark": "Mc", "Number": "N"},
    **{"Enclosing_Mark": "Me", "Decimal_Number": "Nd", "digit": "Nd", "Letter_Number": "Nl"},
    **{"Other_Number": "No", "Punctuation": "P", "punct": "P", "Connector_Punctuation": "Pc"},
    **{"Dash_Punctuation": "Pd", "Open_Punctuation": "Ps", "Close_Punctuation": "Pe"},
    **{"Initial_Punctuation": "Pi", "Final_Punctuation": "Pf", "Other_Punctuation": "Po"},
    **{"Symbol": "S", "Math_Symbol": "Sm", "Currency_Symbol": "Sc", "Modifier_Symbol": "Sk"},
    **{"Other_Symbol": "So", "Separator": "Z", "Space_Separator": "Zs", "Line_Separator": "Zl"},
    **{"Paragraph_Separator": "Zp", "Other": "C", "Control": "Cc", "cntrl": "Cc", "Format": "Cf"},
    **{"Surrogate": "Cs", "Private_Use": "Co", "Unassigned": "Cn"},
}


@lru_cache(maxsize=1)
def _category_ranges() -> dict[str, list[tuple[int, int]]]:
    """Code point ranges of every Unicode general category (one pass, on first use)."""
    ranges: dict[str, list[tuple[int, int]]] = {}
    start, current = 0, unicodedata.category("\0")
    for cp in range(1, sys.maxunicode + 2):
        cat = unicodedata.category(chr(cp)) if cp <= sys.maxunicode else ""
        if cat != current:
            ranges.setdefault(current, []).append((start, cp - 1))
            start, current = cp, cat
    return ranges


@lru_cache(maxsize=64)
def _property_ranges(name: str) -> tuple[tuple[int, int], ...]:
    """Code point ranges of a property usable in ``\\p{...}`` (general categories)."""
    if name.startswith(("General_Category=", "gc=")):
        name = name.split("=", 1)[1]
    if name == "Any":
        return ((0, sys.maxunicode),)
    if name == "ASCII":
        return ((0, 0x7F),)
    table = _category_ranges()
    code = _GC_LONG.get(name, name)
    if name == "Assigned":
        cats = [c for c in table if c != "Cn"]
    elif code in _GC_GROUPS:
        cats = _GC_GROUPS[code].split()
    elif code in table or code in ("Cs", "Co", "Zl", "Zp"):
        cats = [code]
    else:
        raise ValueError(
            f"\\p{{{name}}} is not supported: only Unicode general categories (L, Lu, Nd, ...), "
            "ASCII, Any and Assigned are; use an explicit character range instead"
        )
    merged = sorted(r for c in cats for r in table.get(c, ()))
    out: list[tuple[int, int]] = []
    for a, b in merged:
        if out and a == out[-1][1] + 1:
            out[-1] = (out[-1][0], b)
        else:
            out.append((a, b))
    return tuple(out)


def _class_body(ranges: tuple[tuple[int, int], ...], negate: bool) -> str:
    if negate:
        comp, nxt = [], 0
        for a, b in ranges:
            if a > nxt:
                comp.append((nxt, a - 1))
            nxt = b + 1
        if nxt <= sys.maxunicode:
            comp.append((nxt, sys.maxunicode))
        ranges = tuple(comp)
    return "".join(f"\\U{a:08x}" if a == b else f"\\U{a:08x}-\\U{b:08x}" for a, b in ranges)


def python_pattern(pattern: str) -> str:
    """``pattern`` with ECMA-262 ``\\p{..}``/``\\P{..}`` escapes rewritten for Python's ``re``.

    Raises ``ValueError`` for a property Python cannot express (scripts, binary properties).
    """
    if "\\p{" not in pattern and "\\P{" not in pattern:
        return pattern
    out, i, in_class, n = [], 0, False, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "\\" and i + 1 < n:
            if pattern[i + 1] in "pP" and pattern.startswith("{", i + 2):
                end = pattern.find("}", i + 3)
                if end < 0:
                    raise ValueError(f"unterminated \\{pattern[i + 1]}{{ in pattern")
                body = _class_body(_property_ranges(pattern[i + 3 : end]), pattern[i + 1] == "P")
                out.append(body if in_class else f"[{body}]")
                i = end + 1
                continue
            out.append(pattern[i : i + 2])
            i += 2
            continue
        if c == "[" and not in_class:
            in_class = True
        elif c == "]" and in_class:
            in_class = False
        out.append(c)
        i += 1
    return "".join(out)
