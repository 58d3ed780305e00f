"""The fast path of argument validation: a JSON Schema compiled to two generated Python functions.

For a whitelisted keyword subset of draft 2020-12 (``type``, ``enum``, ``const``, ``properties``,
``required``, ``additionalProperties``, ``items``, ``prefixItems``, length and range limits,
``pattern``, ``multipleOf``, ``allOf``, ``anyOf``, local ``$ref``s into the same document),
:func:`compile_fast` writes

- ``check(value) -> bool``: ``True`` only if the value is valid. ``False`` means invalid *or*
  "not sure" (a Python value that is not plain JSON, a dict subclass, a ``Decimal``): the caller
  then asks jsonschema. Every combinator used here is monotone, so a ``True`` is never wrong.
- ``explain(value, loc, out)``: appends an :class:`ErrorEntry` per failure and raises
  :class:`Fallback` on a value that is not plain JSON.

Schemas outside the subset (``oneOf``, ``not``, ``if``, ``uniqueItems``, ``unevaluated*``,
``$id``/``$anchor``/``$dynamicRef``, remote refs, ...) get no fast path: :mod:`agent_rl._schema`
validates them with jsonschema. This module is not a validator on its own; jsonschema is the
authority and the conformance tests check that the two agree.

Generated source holds only identifiers made here; every value from the schema (names, limits,
patterns, enum members) reaches the code through the namespace, never as source text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from fractions import Fraction
from json.encoder import encode_basestring as _quote
from typing import Any
from urllib.parse import unquote

from jsonschema import Draft202012Validator

from agent_rl.verdicts import ErrorEntry

__all__ = [
    "Check",
    "Explain",
    "Fallback",
    "compile_fast",
    "json_type",
    "msg_missing",
    "msg_type",
    "msg_unknown",
    "msg_value",
    "short",
]

Check = Callable[[Any], bool]
Explain = Callable[[Any, tuple[str | int, ...], list[ErrorEntry]], None]
Loc = tuple[str | int, ...]


class Fallback(Exception):
    """An explainer met a value that is not plain JSON: jsonschema must decide."""


class _Unsupported(Exception):
    """The schema uses something outside the compiled subset."""


_MISSING = object()
_JSON = frozenset({dict, list, str, int, float, bool, type(None)})
_MAX_LINES = 20_000

# Keywords that assert something in 2020-12 (per jsonschema) or change how refs resolve; any of
# them not compiled below means "no fast path". Other keys are annotations, ignored by both.
_ASSERTING = frozenset(Draft202012Validator.VALIDATORS) | {
    "$id",
    "$anchor",
    "$dynamicAnchor",
    "$recursiveRef",
    "$recursiveAnchor",
    "$schema",
    "$vocabulary",
}
_GROUPS: dict[str, tuple[str, ...]] = {
    "object": (
        "properties",
        "required",
        "additionalProperties",
        "minProperties",
        "maxProperties",
        "dependentRequired",
    ),
    "array": ("items", "prefixItems", "minItems", "maxItems"),
    "string": ("minLength", "maxLength", "pattern"),
    "number": ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"),
}
# "format" is an annotation in 2020-12 unless a format checker is configured (none is).
_HANDLED = frozenset(k for g in _GROUPS.values() for k in g) | {
    "$ref",
    "type",
    "enum",
    "const",
    "allOf",
    "anyOf",
    "format",
}
_COMPOUND = frozenset({"properties", "additionalProperties", "items", "prefixItems", "allOf"})
_GROUP_TEST = {
    "object": "{t} is dict",
    "array": "{t} is list",
    "string": "{t} is str",
    "number": "({t} is int or {t} is float)",
}
_TYPE_TEST = {
    **_GROUP_TEST,
    "boolean": "{t} is bool",
    "null": "{v} is None",
    "integer": "({t} is int or ({t} is float and {v}.is_integer()))",
}
_TYPE_GROUP = {"object": "object", "array": "array", "string": "string"} | {
    "number": "number",
    "integer": "number",
}


# -- messages (shared with the jsonschema path in agent_rl._schema) ---------------------------


def json_type(value: Any) -> str:
    """The JSON type name of a Python value (``integer`` for ints, ``number`` for floats)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def short(value: Any, limit: int = 40) -> str:
    """A short JSON-ish rendering of a value for messages (never the whole of a huge value)."""
    if isinstance(value, str):
        return _quote(value[:limit]) + ("…" if len(value) > limit else "")
    if isinstance(value, dict):
        return f"an object with {len(value)} key{'s' * (len(value) != 1)}"
    if isinstance(value, list):
        return f"an array of {len(value)} item{'s' * (len(value) != 1)}"
    if value is None or isinstance(value, bool | int | float):
        text = json.dumps(value) if not isinstance(value, int) or abs(value) < 10**40 else "a huge"
        return text if len(text) <= limit else text[:limit] + "…"
    return type(value).__name__


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
}


def msg_value(value: Any, keyword: str, limit: Any) -> str:
    text = _VALUE_TEXT.get(keyword, "{v} fails {k} {c}")
    if keyword == "enum":
        c = ", ".join(short(x, 20) for x in limit[:10]) + (", …" if len(limit) > 10 else "")
        c = f"[{c}]"
    elif keyword == "pattern":
        c = json.dumps(limit[:80])
    else:
        c = short(limit)
    return text.format(v=short(value), c=c, k=keyword)


def _multiple_of(value: int | float, divisor: int | float) -> bool:
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


def _fits(value: Any, types: tuple[str, ...]) -> bool:
    t = type(value)
    return any(
        (x == "integer" and (t is int or (t is float and value.is_integer())))
        or (x == "number" and t in (int, float))
        or _TYPE_NAMES.get(t) == x
        for x in types
    )


_TYPE_NAMES = {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}


def _any_explain(
    value: Any,
    loc: Loc,
    out: list[ErrorEntry],
    explains: tuple[Explain, ...],
    branch_types: tuple[tuple[str, ...] | None, ...],
) -> None:
    """Errors of a failed ``anyOf``: the one branch whose type fits, else a type error."""
    fitting = [
        e for e, ts in zip(explains, branch_types, strict=True) if ts is None or _fits(value, ts)
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


_NS: dict[str, Any] = {
    "_MISSING": _MISSING,
    "_JSON": _JSON,
    "_E": ErrorEntry,
    "_Fallback": Fallback,
    "_mult": _multiple_of,
    "_any": _any_explain,
    "_m_missing": msg_missing,
    "_m_unknown": msg_unknown,
    "_m_type": msg_type,
    "_m_value": msg_value,
    "_short": short,
    "__builtins__": {
        f.__name__: f
        for f in (type, len, enumerate, dict, list, str, int, float, bool, RecursionError)
    },
}


# -- code generation ---------------------------------------------------------------------------


def _dynamic(schema: Any) -> bool:
    """Whether resolution could depend on anything but JSON pointers into this document."""
    stack, root = [schema], schema
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("$anchor", "$dynamicAnchor", "$dynamicRef", "$recursiveRef"):
                    return True
                if key in ("$id", "$schema") and node is not root:
                    return True
                stack.append(value)
        elif isinstance(node, list):
            stack.extend(node)
    return False


class _Gen:
    def __init__(self, root: Any) -> None:
        self.root = root
        self.ns = dict(_NS)
        self.out: list[str] = []
        self.funcs: dict[tuple[int, bool], str] = {}
        self.lines = 0
        self.n = 0

    def name(self, prefix: str) -> str:
        self.n += 1
        return f"{prefix}{self.n}"

    def const(self, value: Any) -> str:
        name = self.name("_c")
        self.ns[name] = value
        return name

    def function(self, schema: Any, explain: bool, root: bool = False) -> str:
        key = (id(schema), explain)
        if key in self.funcs:
            return self.funcs[key]
        name = self.funcs[key] = self.name("_e" if explain else "_f")
        body: list[str] = ["    try:"] if root else []
        ind = 2 if root else 1
        self.node(schema, "v", "p", body, ind, explain)
        body.append("    " * ind + ("return None" if explain else "return True"))
        if root:  # a value nested deeper than the stack: "not sure", jsonschema reports it
            body.append("    except RecursionError:")
            body.append("        " + ("raise _Fallback from None" if explain else "return False"))
        self.lines += len(body)
        if self.lines > _MAX_LINES:
            raise _Unsupported("schema too large to compile")
        head = f"def {name}(v, p, out):" if explain else f"def {name}(v):"
        self.out.append("\n".join([head, *body]))
        return name

    def fail(
        self, lines: list[str], ind: int, explain: bool, kind: str, msg: str, loc: str
    ) -> None:
        pad = "    " * ind
        if explain:
            lines.append(f"{pad}out.append(_E({kind!r}, {msg}, {loc}))")
        else:
            lines.append(f"{pad}return False")

    def otherwise(self, lines: list[str], ind: int, explain: bool) -> int:
        """After a failed test: check mode has returned, explain mode continues in ``else``."""
        if explain:
            lines.append("    " * ind + "else:")
            return ind + 1
        return ind

    def sub(self, schema: Any, v: str, p: str, lines: list[str], ind: int, explain: bool) -> None:
        """Inline a leaf subschema; call a function for a compound one (bounded nesting)."""
        start = len(lines)
        if isinstance(schema, dict) and _COMPOUND.intersection(schema):
            fn = self.function(schema, explain)
            if explain:
                lines.append(f"{'    ' * ind}{fn}({v}, {p}, out)")
            else:
                lines.append(f"{'    ' * ind}if not {fn}({v}): return False")
        else:
            self.node(schema, v, p, lines, ind, explain)
        if len(lines) == start:
            lines.append("    " * ind + "pass")

    def resolve(self, ref: Any) -> Any:
        if not isinstance(ref, str) or not ref.startswith("#"):
            raise _Unsupported("$ref")
        node = self.root
        if ref == "#":
            return node
        if not ref.startswith("#/"):
            raise _Unsupported("$ref to an anchor")
        for part in ref[2:].split("/"):
            part = unquote(part).replace("~1", "/").replace("~0", "~")
            if isinstance(node, dict) and part in node:
                node = node[part]
            elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            else:
                raise _Unsupported("$ref to nowhere")
        return node

    def node(self, s: Any, v: str, p: str, lines: list[str], ind: int, explain: bool) -> None:
        pad = "    " * ind
        if s is True:
            return
        if s is False:
            self.fail(lines, ind, explain, "schema_violation", "'no value is allowed here'", p)
            return
        if not isinstance(s, dict):
            raise _Unsupported("not a schema")
        for key in s:
            if key in _ASSERTING and key not in _HANDLED:
                if s is self.root and key in ("$id", "$schema"):
                    continue
                raise _Unsupported(key)
        if explain:
            lines.append(f"{pad}if type({v}) not in _JSON: raise _Fallback")
        if "$ref" in s:
            target = self.resolve(s["$ref"])
            fn = self.function(target, explain)
            if explain:
                lines.append(f"{pad}{fn}({v}, {p}, out)")
            else:
                lines.append(f"{pad}if not {fn}({v}): return False")
        for branch in s.get("allOf", ()):
            self.sub(branch, v, p, lines, ind, explain)
        if "anyOf" in s:
            self.any_of(s["anyOf"], v, p, lines, ind, explain)
        types = s.get("type")
        tl = None if types is None else [types] if isinstance(types, str) else list(types)
        groups = [g for g, kws in _GROUPS.items() if any(k in s for k in kws)]
        if tl is not None:
            groups = [g for g in groups if g in {_TYPE_GROUP.get(x) for x in tl}]
        enum = s["enum"] if "enum" in s else [s["const"]] if "const" in s else None
        if tl is None and not groups and enum is None:
            return
        start = len(lines)
        self.typed(s, v, p, lines, ind, explain, tl, groups, enum)
        if lines[-1].endswith("else:") and len(lines) > start:
            lines.append("    " * (ind + 1) + "pass")

    def typed(
        self,
        s: dict[str, Any],
        v: str,
        p: str,
        lines: list[str],
        ind: int,
        explain: bool,
        tl: list[str] | None,
        groups: list[str],
        enum: list[Any] | None,
    ) -> None:
        """``type``, ``enum``/``const`` and the keywords of each type group."""
        pad = "    " * ind
        t = self.name("t")
        lines.append(f"{pad}{t} = type({v})")
        if tl is not None:
            cond = " or ".join(_TYPE_TEST[x].format(t=t, v=v) for x in tl) or "False"
            lines.append(f"{pad}if not ({cond}):")
            self.fail(lines, ind + 1, explain, "wrong_type", f"_m_type({v}, {self.const(tl)})", p)
            ind = self.otherwise(lines, ind, explain)
            pad = "    " * ind
        elif groups and not explain:
            lines.append(f"{pad}if {t} not in _JSON: return False")
        if enum is not None:
            keyword = "enum" if "enum" in s else "const"
            lines.append(f"{pad}if not ({self.enum_test(enum, v, t)}):")
            msg = f"_m_value({v}, {keyword!r}, {self.const(enum if 'enum' in s else s['const'])})"
            self.fail(lines, ind + 1, explain, "invalid_value", msg, p)
        if tl is not None and len(tl) == 1 and groups:
            getattr(self, groups[0])(s, v, p, lines, ind, explain)
            return
        for i, group in enumerate(groups):
            lines.append(f"{pad}{'elif' if i else 'if'} {_GROUP_TEST[group].format(t=t)}:")
            start = len(lines)
            getattr(self, group)(s, v, p, lines, ind + 1, explain)
            if len(lines) == start:
                lines.append(pad + "    pass")

    def any_of(
        self, branches: list[Any], v: str, p: str, lines: list[str], ind: int, ex: bool
    ) -> None:
        pad = "    " * ind
        cond = " or ".join(f"{self.function(b, False)}({v})" for b in branches)
        if not ex:
            lines.append(f"{pad}if not ({cond}): return False")
            return
        explains = ", ".join(self.function(b, True) for b in branches)
        types = self.const(tuple(self.branch_types(b) for b in branches))
        lines.append(f"{pad}if not ({cond}): _any({v}, {p}, out, ({explains},), {types})")

    def branch_types(self, branch: Any) -> tuple[str, ...] | None:
        for _ in range(8):  # follow a plain {"$ref": ...} chain a little way
            if not isinstance(branch, dict):
                return None
            types = branch.get("type")
            if types is not None:
                return (types,) if isinstance(types, str) else tuple(types)
            if "$ref" not in branch:
                return None
            branch = self.resolve(branch["$ref"])
        return None

    def enum_test(self, values: list[Any], v: str, t: str) -> str:
        strs, nums, bools, null = set(), set(), set(), False
        for x in values:
            if isinstance(x, bool):
                bools.add(x)
            elif isinstance(x, str):
                strs.add(x)
            elif isinstance(x, int | float) and x == x:
                nums.add(x)
            elif x is None:
                null = True
            else:
                raise _Unsupported("enum of containers")
        parts = []
        if strs:
            parts.append(f"({t} is str and {v} in {self.const(frozenset(strs))})")
        if nums:
            parts.append(f"(({t} is int or {t} is float) and {v} in {self.const(frozenset(nums))})")
        if bools:
            parts.append(f"({t} is bool and {v} in {self.const(frozenset(bools))})")
        if null:
            parts.append(f"{v} is None")
        return " or ".join(parts) or "False"

    # -- one method per type group; ``v`` is known to be of that type ---------------------

    def object(
        self, s: dict[str, Any], v: str, p: str, lines: list[str], ind: int, ex: bool
    ) -> None:
        pad = "    " * ind
        props: dict[str, Any] = s.get("properties", {})
        required: list[str] = s.get("required", [])
        extra = s.get("additionalProperties", True)
        extra = True if extra == {} else extra
        req = set(required)
        for name in required:
            if name not in props:
                k = self.const(name)
                lines.append(f"{pad}if {k} not in {v}:")
                msg = f"_m_missing({k}, {p})"
                self.fail(lines, ind + 1, ex, "missing_argument", msg, f"{p} + ({k},)")
        count = not ex and extra is not True
        optional = [n for n in props if n not in req]
        cnt = self.name("n")
        if count and optional:
            lines.append(f"{pad}{cnt} = 0")
        for name, sub in props.items():
            k, pv = self.const(name), self.name("v")
            lines.append(f"{pad}{pv} = {v}.get({k}, _MISSING)")
            loc = f"{p} + ({k},)"
            if name in req:
                lines.append(f"{pad}if {pv} is _MISSING:")
                self.fail(lines, ind + 1, ex, "missing_argument", f"_m_missing({k}, {p})", loc)
                inner = self.otherwise(lines, ind, ex)
                start = len(lines)
                self.sub(sub, pv, loc, lines, inner, ex)
                if not ex and lines[start:] == ["    " * inner + "pass"]:
                    del lines[start:]
            else:
                lines.append(f"{pad}if {pv} is not _MISSING:")
                if count:
                    lines.append(f"{pad}    {cnt} += 1")
                self.sub(sub, pv, loc, lines, ind + 1, ex)
        if extra is not True:
            known = self.const(frozenset(props))
            names = self.const(sorted(props))
            kv, wv = self.name("k"), self.name("w")
            inner = ind
            if count:
                total = f"{len([n for n in props if n in req])}" + (f" + {cnt}" if optional else "")
                if extra is False:
                    lines.append(f"{pad}if len({v}) != {total}: return False")
                else:
                    lines.append(f"{pad}if len({v}) != {total}:")
                    inner = ind + 1
            if extra is not False or ex:
                ipad = "    " * inner
                lines.append(f"{ipad}for {kv}, {wv} in {v}.items():")
                lines.append(f"{ipad}    if {kv} not in {known}:")
                loc = f"{p} + ({kv},)"
                if extra is False:
                    msg = f"_m_unknown({kv}, {names}, {p})"
                    self.fail(lines, inner + 2, ex, "unknown_argument", msg, loc)
                else:
                    self.sub(extra, wv, loc, lines, inner + 2, ex)
        for keyword, op in (("minProperties", "<"), ("maxProperties", ">")):
            if keyword in s:
                c = self.const(s[keyword])
                lines.append(f"{pad}if len({v}) {op} {c}:")
                msg = f"_m_value({v}, {keyword!r}, {c})"
                self.fail(lines, ind + 1, ex, "invalid_value", msg, p)
        for name, deps in s.get("dependentRequired", {}).items():
            lines.append(f"{pad}if {self.const(name)} in {v}:")
            for dep in deps:
                k = self.const(dep)
                lines.append(f"{pad}    if {k} not in {v}:")
                self.fail(
                    lines, ind + 2, ex, "missing_argument", f"_m_missing({k}, {p})", f"{p} + ({k},)"
                )

    def array(
        self, s: dict[str, Any], v: str, p: str, lines: list[str], ind: int, ex: bool
    ) -> None:
        pad = "    " * ind
        for keyword, op in (("minItems", "<"), ("maxItems", ">")):
            if keyword in s:
                c = self.const(s[keyword])
                lines.append(f"{pad}if len({v}) {op} {c}:")
                self.fail(
                    lines, ind + 1, ex, "invalid_value", f"_m_value({v}, {keyword!r}, {c})", p
                )
        prefix = s.get("prefixItems", [])
        for i, sub in enumerate(prefix):
            ev = self.name("v")
            lines.append(f"{pad}if len({v}) > {i}:")
            lines.append(f"{pad}    {ev} = {v}[{i}]")
            self.sub(sub, ev, f"{p} + ({i},)", lines, ind + 1, ex)
        items = s.get("items", True)
        n = len(prefix)
        if items is False:
            lines.append(f"{pad}if len({v}) > {n}:")
            self.fail(lines, ind + 1, ex, "invalid_value", f"_m_value({v}, 'items', {n})", p)
        elif items is not True and items != {}:
            iv, ev = self.name("i"), self.name("v")
            seq = f"{v}[{n}:]" if n else v
            if ex:
                lines.append(f"{pad}for {iv}, {ev} in enumerate({seq}, {n}):")
            else:
                lines.append(f"{pad}for {ev} in {seq}:")
            self.sub(items, ev, f"{p} + ({iv},)", lines, ind + 1, ex)

    def string(
        self, s: dict[str, Any], v: str, p: str, lines: list[str], ind: int, ex: bool
    ) -> None:
        pad = "    " * ind
        for keyword, op in (("minLength", "<"), ("maxLength", ">")):
            if keyword in s:
                c = self.const(s[keyword])
                lines.append(f"{pad}if len({v}) {op} {c}:")
                self.fail(
                    lines, ind + 1, ex, "invalid_value", f"_m_value({v}, {keyword!r}, {c})", p
                )
        if "pattern" in s:
            try:
                rx = re.compile(s["pattern"])
            except re.error as e:
                raise _Unsupported("pattern") from e
            lines.append(f"{pad}if {self.const(rx)}.search({v}) is None:")
            msg = f"_m_value({v}, 'pattern', {self.const(s['pattern'])})"
            self.fail(lines, ind + 1, ex, "invalid_value", msg, p)

    def number(
        self, s: dict[str, Any], v: str, p: str, lines: list[str], ind: int, ex: bool
    ) -> None:
        pad = "    " * ind
        ops = (
            ("minimum", "<"),
            ("maximum", ">"),
            ("exclusiveMinimum", "<="),
            ("exclusiveMaximum", ">="),
        )
        for keyword, op in ops:
            if keyword in s:
                c = self.const(s[keyword])
                lines.append(f"{pad}if {v} {op} {c}:")
                self.fail(
                    lines, ind + 1, ex, "invalid_value", f"_m_value({v}, {keyword!r}, {c})", p
                )
        if "multipleOf" in s:
            c = self.const(s["multipleOf"])
            lines.append(f"{pad}if not _mult({v}, {c}):")
            self.fail(lines, ind + 1, ex, "invalid_value", f"_m_value({v}, 'multipleOf', {c})", p)


def compile_fast(schema: Any) -> tuple[Check, Explain] | None:
    """The generated ``(check, explain)`` pair for ``schema``, or ``None`` if it is outside the
    compiled subset (then jsonschema alone validates)."""
    if _dynamic(schema):
        return None
    gen = _Gen(schema)
    try:
        check, explain = gen.function(schema, False, True), gen.function(schema, True, True)
        code = compile("\n\n".join(gen.out), "<agent_rl schema>", "exec")
    except (_Unsupported, RecursionError, SyntaxError, MemoryError, TypeError, ValueError):
        return None
    exec(code, gen.ns)  # the source holds only identifiers made by _Gen
    return gen.ns[check], gen.ns[explain]
