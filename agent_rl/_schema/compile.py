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
``$id``/``$anchor``/``$dynamicRef``, remote refs, ...) get no fast path: :mod:`.validator`
validates them with jsonschema. This module is not a validator on its own; jsonschema is the
authority and the conformance tests check that the two agree.

Generated source holds only identifiers made here; every value from the schema (names, limits,
patterns, enum members) reaches the code through the namespace, never as source text.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

from jsonschema import Draft202012Validator

from agent_rl._schema.groups import (
    Body,
    Unsupported,
    emit_array,
    emit_number,
    emit_object,
    emit_string,
)
from agent_rl._schema.runtime import (
    Explain,
    any_explain,
    msg_missing,
    msg_type,
    msg_unknown,
    msg_value,
    multiple_of,
    short,
)
from agent_rl.verdicts import ErrorEntry

__all__ = ["MAX_ERRORS", "Check", "Explain", "Fallback", "compile_fast"]

Check = Callable[[Any], bool]


class Fallback(Exception):
    """An explainer met a value that is not plain JSON: jsonschema must decide."""


class _Full(Exception):
    """An explainer has found ``MAX_ERRORS`` errors: enough to report."""


MAX_ERRORS = 50


_MISSING = object()
_JSON = frozenset({dict, list, str, int, float, bool, type(None)})
_MAX_LINES = 20_000

# Keywords that assert something in 2020-12 (per jsonschema) or change how refs resolve; any of
# them not compiled below means "no fast path". Other keys are annotations, ignored by both.
_ASSERTING = frozenset(Draft202012Validator.VALIDATORS) | {
    *("$id", "$anchor", "$dynamicAnchor", "$recursiveRef", "$recursiveAnchor", "$schema"),
    "$vocabulary",
}
_GROUPS: dict[str, tuple[str, ...]] = {
    "object": (
        *("properties", "required", "additionalProperties", "minProperties", "maxProperties"),
        "dependentRequired",
    ),
    "array": ("items", "prefixItems", "minItems", "maxItems"),
    "string": ("minLength", "maxLength", "pattern"),
    "number": ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"),
}
# "format" is an annotation in 2020-12 unless a format checker is configured (none is).
_HANDLED = frozenset(k for g in _GROUPS.values() for k in g) | {
    *("$ref", "type", "enum", "const", "allOf", "anyOf", "format"),
}
_COMPOUND = frozenset({"properties", "additionalProperties", "items", "prefixItems", "allOf"})
_GROUP_TEST = {"object": "{t} is dict", "array": "{t} is list", "string": "{t} is str"} | {
    "number": "({t} is int or {t} is float)"
}
_TYPE_TEST = (
    _GROUP_TEST
    | {"boolean": "{t} is bool", "null": "{v} is None"}
    | {"integer": "({t} is int or ({t} is float and {v}.is_integer()))"}
)
_TYPE_GROUP = {"object": "object", "array": "array", "string": "string"} | {
    "number": "number",
    "integer": "number",
}
_NS: dict[str, Any] = {  # what generated code sees, builtins included
    **{"_MISSING": _MISSING, "_JSON": _JSON, "_E": ErrorEntry, "_Fallback": Fallback},
    **{"_Full": _Full, "_MAX_ERRORS": MAX_ERRORS},
    **{"_mult": multiple_of, "_any": any_explain, "_short": short, "_m_type": msg_type},
    **{"_m_missing": msg_missing, "_m_unknown": msg_unknown, "_m_value": msg_value},
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
        self.size = 0
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
        b = Body(explain)
        ind = 2 if root else 1
        if root:
            b.emit(1, "try:")
        self.node(b, schema, "v", "p", ind)
        b.emit(ind, "return None" if explain else "return True")
        if root:  # a value nested deeper than the stack: "not sure", jsonschema reports it
            b.emit(1, "except RecursionError:")
            b.emit(2, "raise _Fallback from None" if explain else "return False")
            if explain:
                b.emit(1, "except _Full:")
                b.emit(2, "return None")
        self.size += len(b.lines)
        if self.size > _MAX_LINES:
            raise Unsupported("schema too large to compile")
        head = f"def {name}(v, p, out):" if explain else f"def {name}(v):"
        self.out.append("\n".join([head, *b.lines]))
        return name

    def call(self, b: Body, schema: Any, v: str, p: str, ind: int) -> None:
        fn = self.function(schema, b.explain)
        b.emit(ind, f"{fn}({v}, {p}, out)" if b.explain else f"if not {fn}({v}): return False")

    def sub(self, b: Body, schema: Any, v: str, p: str, ind: int) -> None:
        """Inline a leaf subschema; call a function for a compound one (bounded nesting)."""
        start = len(b.lines)
        if isinstance(schema, dict) and _COMPOUND.intersection(schema):
            self.call(b, schema, v, p, ind)
        else:
            self.node(b, schema, v, p, ind)
        b.close(start, ind)

    def resolve(self, ref: Any) -> Any:
        if not isinstance(ref, str) or not ref.startswith("#"):
            raise Unsupported("$ref")
        node = self.root
        if ref == "#":
            return node
        if not ref.startswith("#/"):
            raise Unsupported("$ref to an anchor")
        for part in ref[2:].split("/"):
            part = unquote(part).replace("~1", "/").replace("~0", "~")
            if isinstance(node, dict) and part in node:
                node = node[part]
            elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            else:
                raise Unsupported("$ref to nowhere")
        return node

    def node(self, b: Body, s: Any, v: str, p: str, ind: int) -> None:
        if s is True:
            return
        if s is False:
            b.fail(ind, "schema_violation", "'no value is allowed here'", p)
            return
        if not isinstance(s, dict):
            raise Unsupported("not a schema")
        for key in s:
            if key in _ASSERTING and key not in _HANDLED:
                if s is self.root and key in ("$id", "$schema"):
                    continue
                raise Unsupported(key)
        if b.explain:
            b.emit(ind, f"if type({v}) not in _JSON: raise _Fallback")
        if "$ref" in s:
            self.call(b, self.resolve(s["$ref"]), v, p, ind)
        for branch in s.get("allOf", ()):
            self.sub(b, branch, v, p, ind)
        if "anyOf" in s:
            self.any_of(b, s["anyOf"], v, p, ind)
        types = s.get("type")
        tl = None if types is None else [types] if isinstance(types, str) else list(types)
        groups = [g for g, kws in _GROUPS.items() if any(k in s for k in kws)]
        if tl is not None:
            groups = [g for g in groups if g in {_TYPE_GROUP.get(x) for x in tl}]
        if tl is None and not groups and "enum" not in s and "const" not in s:
            return
        t = self.name("t")
        b.emit(ind, f"{t} = type({v})")
        start = len(b.lines)
        if tl is not None:
            cond = " or ".join(_TYPE_TEST[x].format(t=t, v=v) for x in tl) or "False"
            b.emit(ind, f"if not ({cond}):")
            b.fail(ind + 1, "wrong_type", f"_m_type({v}, {self.const(tl)})", p)
            ind = b.otherwise(ind)
        elif groups and not b.explain:
            b.emit(ind, f"if {t} not in _JSON: return False")
        for keyword in ("enum", "const"):
            if keyword in s:
                values = s["enum"] if keyword == "enum" else [s["const"]]
                b.emit(ind, f"if not ({self.enum_test(values, v, t)}):")
                msg = f"_m_value({v}, {keyword!r}, {self.const(s[keyword])})"
                b.fail(ind + 1, "invalid_value", msg, p)
        if tl is not None and len(tl) == 1 and groups:
            _EMIT[groups[0]](self, b, s, v, p, ind)
        else:
            for i, group in enumerate(groups):
                b.emit(ind, f"{'elif' if i else 'if'} {_GROUP_TEST[group].format(t=t)}:")
                opened = len(b.lines)
                _EMIT[group](self, b, s, v, p, ind + 1)
                b.close(opened, ind + 1)
        b.close(start, ind)

    def any_of(self, b: Body, branches: list[Any], v: str, p: str, ind: int) -> None:
        cond = " or ".join(f"{self.function(x, False)}({v})" for x in branches)
        if not b.explain:
            b.emit(ind, f"if not ({cond}): return False")
            return
        explains = ", ".join(self.function(x, True) for x in branches)
        types = self.const(tuple(self.branch_types(x) for x in branches))
        b.emit(ind, f"if not ({cond}): _any({v}, {p}, out, ({explains},), {types})")

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
                raise Unsupported("enum of containers")
        parts = [f"{v} is None"] if null else []
        if strs:
            parts.append(f"({t} is str and {v} in {self.const(frozenset(strs))})")
        if nums:
            parts.append(f"(({t} is int or {t} is float) and {v} in {self.const(frozenset(nums))})")
        if bools:
            parts.append(f"({t} is bool and {v} in {self.const(frozenset(bools))})")
        return " or ".join(parts) or "False"


_EMIT = {"object": emit_object, "array": emit_array, "string": emit_string, "number": emit_number}


def compile_fast(schema: Any) -> tuple[Check, Explain] | None:
    """The generated ``(check, explain)`` pair for ``schema``, or ``None`` if it is outside the
    compiled subset (then jsonschema alone validates)."""
    if _dynamic(schema):
        return None
    gen = _Gen(schema)
    try:
        check, explain = gen.function(schema, False, True), gen.function(schema, True, True)
        code = compile("\n\n".join(gen.out), "<agent_rl schema>", "exec")
    except (Unsupported, RecursionError, SyntaxError, MemoryError, TypeError, ValueError):
        return None
    exec(code, gen.ns)  # the source holds only identifiers made by _Gen
    return gen.ns[check], gen.ns[explain]
