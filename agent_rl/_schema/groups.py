"""The code each JSON type contributes to a generated checker (see :mod:`.compile`).

One function per type group (``object``, ``array``, ``string``, ``number``), called with the
value already known to be of that type. ``Body`` holds a function's lines: in a *check* a
failure is ``return False``; in an *explainer* it appends an :class:`ErrorEntry` and goes on.
Values from the schema enter generated code only as namespace constants (``gen.const``).
"""

from __future__ import annotations

import re
from typing import Any, Protocol

__all__ = ["Body", "Gen", "Unsupported", "emit_array", "emit_number", "emit_object", "emit_string"]


class Unsupported(Exception):
    """The schema uses something outside the compiled subset."""


class Gen(Protocol):
    """What the emitters need from the generator in :mod:`.compile`."""

    def name(self, prefix: str) -> str: ...

    def const(self, value: Any) -> str: ...

    def sub(self, b: Body, schema: Any, v: str, p: str, ind: int) -> None: ...


class Body:
    """The lines of one generated function; ``explain`` functions report, checks return."""

    def __init__(self, explain: bool) -> None:
        self.explain = explain
        self.lines: list[str] = []

    def emit(self, ind: int, text: str) -> None:
        self.lines.append("    " * ind + text)

    def fail(self, ind: int, kind: str, msg: str, loc: str) -> None:
        if self.explain:  # at MAX_ERRORS the explainer stops (a million bad keys stay cheap)
            self.emit(ind, f"out.append(_E({kind!r}, {msg}, {loc}))")
            self.emit(ind, "if len(out) >= _MAX_ERRORS: raise _Full")
        else:
            self.emit(ind, "return False")

    def otherwise(self, ind: int) -> int:
        """After a failure branch: a check has returned, an explainer goes on in ``else``."""
        if self.explain:
            self.emit(ind, "else:")
            return ind + 1
        return ind

    def close(self, start: int, ind: int) -> None:
        """A block opened since ``start`` must not be empty."""
        if len(self.lines) == start or self.lines[-1].endswith(":"):
            self.emit(ind, "pass")


LIMITS = {
    "object": (("minProperties", "<"), ("maxProperties", ">")),
    "array": (("minItems", "<"), ("maxItems", ">")),
    "string": (("minLength", "<"), ("maxLength", ">")),
    "number": (
        *(("minimum", "<"), ("maximum", ">")),
        *(("exclusiveMinimum", "<="), ("exclusiveMaximum", ">=")),
    ),
}


def limits(gen: Gen, b: Body, s: dict[str, Any], v: str, p: str, ind: int, group: str) -> None:
    """The size (``len(v)``) or range (``v``) keywords of a type group."""
    measure = v if group == "number" else f"len({v})"
    for keyword, op in LIMITS[group]:
        if keyword in s:
            c = gen.const(s[keyword])
            b.emit(ind, f"if {measure} {op} {c}:")
            b.fail(ind + 1, "invalid_value", f"_m_value({v}, {keyword!r}, {c})", p)


def emit_object(gen: Gen, b: Body, s: dict[str, Any], v: str, p: str, ind: int) -> None:
    props: dict[str, Any] = s.get("properties", {})
    required: list[str] = s.get("required", [])
    extra = s.get("additionalProperties", True)
    extra = True if extra == {} else extra
    for name in required:
        if name not in props:
            k = gen.const(name)
            b.emit(ind, f"if {k} not in {v}:")
            b.fail(ind + 1, "missing_argument", f"_m_missing({k}, {p})", f"{p} + ({k},)")
    # A check counts the known properties present instead of looping over the keys.
    count = not b.explain and extra is not True
    optional = [n for n in props if n not in required]
    cnt = gen.name("n")
    if count and optional:
        b.emit(ind, f"{cnt} = 0")
    for name, sub in props.items():
        k, pv = gen.const(name), gen.name("v")
        loc = f"{p} + ({k},)"
        b.emit(ind, f"{pv} = {v}.get({k}, _MISSING)")
        if name in required:
            b.emit(ind, f"if {pv} is _MISSING:")
            b.fail(ind + 1, "missing_argument", f"_m_missing({k}, {p})", loc)
            gen.sub(b, sub, pv, loc, b.otherwise(ind))
        else:
            b.emit(ind, f"if {pv} is not _MISSING:")
            if count:
                b.emit(ind + 1, f"{cnt} += 1")
            gen.sub(b, sub, pv, loc, ind + 1)
    if extra is not True:
        known, names = gen.const(frozenset(props)), gen.const(sorted(props))
        kv, wv = gen.name("k"), gen.name("w")
        inner = ind
        if count:
            total = str(len([n for n in props if n in required])) + f" + {cnt}" * bool(optional)
            b.emit(ind, f"if len({v}) != {total}:" + " return False" * (extra is False))
            inner = ind + 1
        if extra is not False or b.explain:
            b.emit(inner, f"for {kv}, {wv} in {v}.items():")
            b.emit(inner + 1, f"if {kv} not in {known}:")
            loc = f"{p} + ({kv},)"
            if extra is False:
                msg = f"_m_unknown({kv}, {names}, {p})"
                b.fail(inner + 2, "unknown_argument", msg, loc)
            else:
                gen.sub(b, extra, wv, loc, inner + 2)
    limits(gen, b, s, v, p, ind, "object")
    for name, deps in s.get("dependentRequired", {}).items():
        b.emit(ind, f"if {gen.const(name)} in {v}:")
        for dep in deps:
            k = gen.const(dep)
            b.emit(ind + 1, f"if {k} not in {v}:")
            b.fail(ind + 2, "missing_argument", f"_m_missing({k}, {p})", f"{p} + ({k},)")


def emit_array(gen: Gen, b: Body, s: dict[str, Any], v: str, p: str, ind: int) -> None:
    limits(gen, b, s, v, p, ind, "array")
    prefix = s.get("prefixItems", [])
    for i, sub in enumerate(prefix):
        ev = gen.name("v")
        b.emit(ind, f"if len({v}) > {i}:")
        b.emit(ind + 1, f"{ev} = {v}[{i}]")
        gen.sub(b, sub, ev, f"{p} + ({i},)", ind + 1)
    items, n = s.get("items", True), len(prefix)
    if items is False:
        b.emit(ind, f"if len({v}) > {n}:")
        b.fail(ind + 1, "invalid_value", f"_m_value({v}, 'items', {n})", p)
    elif items is not True and items != {}:
        iv, ev = gen.name("i"), gen.name("v")
        seq = f"{v}[{n}:]" if n else v
        loop = f"{iv}, {ev} in enumerate({seq}, {n})" if b.explain else f"{ev} in {seq}"
        b.emit(ind, f"for {loop}:")
        gen.sub(b, items, ev, f"{p} + ({iv},)", ind + 1)


def emit_string(gen: Gen, b: Body, s: dict[str, Any], v: str, p: str, ind: int) -> None:
    limits(gen, b, s, v, p, ind, "string")
    if "pattern" in s:
        try:
            rx = re.compile(s["pattern"])
        except re.error as e:
            raise Unsupported("pattern") from e
        b.emit(ind, f"if {gen.const(rx)}.search({v}) is None:")
        msg = f"_m_value({v}, 'pattern', {gen.const(s['pattern'])})"
        b.fail(ind + 1, "invalid_value", msg, p)


def emit_number(gen: Gen, b: Body, s: dict[str, Any], v: str, p: str, ind: int) -> None:
    limits(gen, b, s, v, p, ind, "number")
    if "multipleOf" in s:
        c = gen.const(s["multipleOf"])
        b.emit(ind, f"if not _mult({v}, {c}):")
        b.fail(ind + 1, "invalid_value", f"_m_value({v}, 'multipleOf', {c})", p)
