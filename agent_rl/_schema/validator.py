"""Argument validation, draft 2020-12 JSON Schema: jsonschema decides, a compiled check runs first.

:class:`SchemaValidator` takes a schema once and then validates many values:

- at construction it checks the schema against the 2020-12 metaschema (patterns must compile),
  resolves every ``$ref`` once (through the given ``referencing.Registry``; nothing is ever
  fetched from the network), and compiles the fast path of :mod:`.compile`;
- ``check(value)`` is the hot path: ``True`` means valid; ``False`` means "ask :meth:`errors`";
- :meth:`errors` lists :class:`ErrorEntry` items (``missing_argument``, ``unknown_argument``,
  ``wrong_type``, ``invalid_value``, ``schema_violation``) from the compiled explainer, or from
  jsonschema's ``Draft202012Validator`` for schemas or values outside the compiled subset.

JSON Schema patterns are ECMA-262 regexes; Python's ``re`` lacks ``\\p{...}``, so property
escapes of the Unicode general categories are rewritten into character classes (in a private
copy of the schema). A ``$schema`` whose metaschema leaves out the validation vocabulary turns
those keywords off, as the spec says. Format is an annotation (2020-12's default), not asserted.
This module does not build schemas from Python types: that is :mod:`.python`.
"""

from __future__ import annotations

import ast
import copy
import re
from collections.abc import Iterator
from itertools import islice
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker, ValidationError
from jsonschema.exceptions import best_match
from jsonschema_specifications import REGISTRY as SPECIFICATIONS
from referencing import Registry, Resource
from referencing.exceptions import NoSuchResource, Unresolvable
from referencing.jsonschema import DRAFT202012

from agent_rl._schema.compile import MAX_ERRORS, Fallback, compile_fast
from agent_rl._schema.regex import python_pattern
from agent_rl._schema.runtime import msg_missing, msg_type, msg_unknown, msg_value, short
from agent_rl.errors import ToolSpecError
from agent_rl.verdicts import ErrorEntry

__all__ = ["DIALECT", "SchemaValidator", "check_schema", "no_network", "subschemas"]

DIALECT = "https://json-schema.org/draft/2020-12/schema"
_OTHER_DRAFTS = {
    "http://json-schema.org/draft-04/schema": "draft-04",
    "http://json-schema.org/draft-06/schema": "draft-06",
    "http://json-schema.org/draft-07/schema": "draft-07",
    "https://json-schema.org/draft/2019-09/schema": "draft 2019-09",
}
_VALIDATION_VOCAB = "https://json-schema.org/draft/2020-12/vocab/validation"
_VALIDATION_KEYWORDS = (
    *("type", "enum", "const", "multipleOf", "maximum", "exclusiveMaximum", "minimum"),
    *("exclusiveMinimum", "maxLength", "minLength", "pattern", "maxItems", "minItems"),
    *("uniqueItems", "maxContains", "minContains", "maxProperties", "minProperties"),
    *("required", "dependentRequired"),
)
_VALUE_KEYWORDS = frozenset(
    {
        *("enum", "const", "pattern", "format", "minimum", "maximum", "exclusiveMinimum"),
        *("exclusiveMaximum", "multipleOf", "minLength", "maxLength", "minItems", "maxItems"),
        *("uniqueItems", "minProperties", "maxProperties", "contains", "minContains"),
        "maxContains",
    }
)
Loc = tuple[str | int, ...]


def no_network(uri: str) -> Resource[Any]:
    """A ``referencing`` retrieve function that never fetches: every unknown URI is missing."""
    raise NoSuchResource(ref=uri)


# -- schema checks and the validation copy -----------------------------------------------------

_META_FORMATS = FormatChecker(formats=())


@_META_FORMATS.checks("regex", raises=(re.error, ValueError))
def _is_regex(value: object) -> bool:
    if isinstance(value, str):
        re.compile(python_pattern(value))
    return True


_META = Draft202012Validator(
    Draft202012Validator.META_SCHEMA,
    format_checker=_META_FORMATS,
    registry=Registry(retrieve=no_network),
)


def subschemas(node: Any) -> Iterator[Any]:
    """The direct subschemas of a 2020-12 schema (``properties`` values, ``items``, ...)."""
    return DRAFT202012.subresources_of(node) if isinstance(node, dict) else iter(())


def check_schema(schema: Any) -> None:
    """Raise :class:`ToolSpecError` unless ``schema`` is a valid 2020-12 schema."""
    error = best_match(_META.iter_errors(schema))
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "(top level)"
        raise ToolSpecError(
            f"parameters is not a valid JSON Schema (draft 2020-12): at {where}: "
            f"{_clip(error.message)}. Fix that keyword (see https://json-schema.org/draft/2020-12)."
        )


def _clip(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _validation_vocabulary(uri: str, registry: Registry[Any]) -> bool:
    """Whether the dialect named by a ``$schema`` asserts the validation keywords."""
    base = uri.split("#", 1)[0]
    if base == DIALECT:
        return True
    if base in _OTHER_DRAFTS:
        raise ToolSpecError(
            f"$schema {uri!r} is {_OTHER_DRAFTS[base]}, but agent-rl validates JSON Schema draft "
            f'2020-12. Remove "$schema" (or set it to {DIALECT!r}) after checking that the '
            'schema means the same in 2020-12 (array-form "items" became "prefixItems").'
        )
    try:
        meta = registry.get_or_retrieve(base).value.contents
    except Unresolvable as e:  # pragma: no cover - NoSuchResource is the usual path
        raise ToolSpecError(f"$schema {uri!r} cannot be resolved ({e}).") from e
    except NoSuchResource as e:
        raise ToolSpecError(
            f'$schema {uri!r} names an unknown metaschema. Remove "$schema", set it to '
            f"{DIALECT!r}, or add the metaschema to the registry you pass."
        ) from e
    vocab = meta.get("$vocabulary") if isinstance(meta, dict) else None
    return not isinstance(vocab, dict) or _VALIDATION_VOCAB in vocab


def _prepare(schema: Any, registry: Registry[Any]) -> Any:
    """The copy jsonschema and the fast path see: patterns in Python syntax, vocabularies on/off."""
    schema = copy.deepcopy(schema)
    stack = [(schema, True)]
    while stack:
        node, validation = stack.pop()
        if not isinstance(node, dict):
            continue
        if isinstance(node.get("$schema"), str):
            validation = _validation_vocabulary(node["$schema"], registry)
        if not validation:
            for keyword in _VALIDATION_KEYWORDS:
                node.pop(keyword, None)
        if isinstance(node.get("pattern"), str):
            node["pattern"] = python_pattern(node["pattern"])
        if isinstance(node.get("patternProperties"), dict):
            node["patternProperties"] = {
                python_pattern(k): v for k, v in node["patternProperties"].items()
            }
        stack.extend((child, validation) for child in subschemas(node))
    return schema


def _check_refs(schema: Any, registry: Registry[Any]) -> None:
    """Resolve every ``$ref`` once, so that a broken one fails now and not mid-training."""
    root = DRAFT202012.create_resource(schema)
    stack = [(schema, registry.resolver_with_root(root))]
    while stack:
        node, resolver = stack.pop()
        if not isinstance(node, dict):
            continue
        resolver = resolver.in_subresource(DRAFT202012.create_resource(node))
        ref = node.get("$ref")
        if isinstance(ref, str):
            try:
                resolver.lookup(ref)
            except Unresolvable as e:
                raise ToolSpecError(
                    f"$ref {ref!r} cannot be resolved ({type(e).__name__}). Point it at a "
                    "$defs entry of this schema, or pass registry=referencing.Registry(...) "
                    "holding the referenced schema: nothing is fetched from the network."
                ) from None
        stack.extend((child, resolver) for child in subschemas(node))


# -- jsonschema errors -> ErrorEntry -----------------------------------------------------------


def _extras(error: ValidationError) -> list[Any]:
    instance, schema = error.instance, error.schema
    if error.validator == "additionalProperties" and isinstance(schema, dict):
        props = schema.get("properties", {})
        patterns = list(schema.get("patternProperties", {}))
        return [
            k for k in instance if k not in props and not any(re.search(p, k) for p in patterns)
        ]
    found = re.search(r"\((.*) (?:was|were) unexpected\)$", error.message, re.S)
    try:
        return list(ast.literal_eval(f"({found.group(1)},)")) if found else []
    except (ValueError, SyntaxError):
        return []


def _entries(error: ValidationError, loc: Loc) -> list[ErrorEntry]:
    where = (*loc, *error.absolute_path)
    kw, value, instance = error.validator, error.validator_value, error.instance
    if kw == "required" and isinstance(instance, dict):
        return [
            ErrorEntry("missing_argument", msg_missing(r, where), (*where, r))
            for r in value
            if r not in instance
        ]
    if kw == "dependentRequired" and isinstance(instance, dict):
        return [
            ErrorEntry("missing_argument", msg_missing(d, where), (*where, d))
            for name, deps in value.items()
            if name in instance
            for d in deps
            if d not in instance
        ]
    if kw in ("additionalProperties", "unevaluatedProperties") and value is False:
        allowed = (
            sorted(error.schema.get("properties", {})) if isinstance(error.schema, dict) else []
        )
        extras = _extras(error)
        if extras:
            return [
                ErrorEntry("unknown_argument", msg_unknown(k, allowed, where), (*where, k))
                for k in extras
            ]
    if kw == "type":
        expected = [value] if isinstance(value, str) else list(value)
        return [ErrorEntry("wrong_type", msg_type(instance, expected), where)]
    if kw in ("anyOf", "oneOf") and error.context:
        return _alternatives(error, loc, where)
    if kw in _VALUE_KEYWORDS:
        msg = msg_value(instance, kw, value) if kw in _FAST_VALUE_MSGS else _clip(error.message)
        return [ErrorEntry("invalid_value", msg, where)]
    if kw == "items" and value is False:
        limit = len(error.schema.get("prefixItems", ())) if isinstance(error.schema, dict) else 0
        return [ErrorEntry("invalid_value", msg_value(instance, "items", limit), where)]
    return [ErrorEntry("schema_violation", _clip(error.message), where)]


_FAST_VALUE_MSGS = _VALUE_KEYWORDS - {"format", "contains", "minContains", "maxContains"}


def _alternatives(error: ValidationError, loc: Loc, where: Loc) -> list[ErrorEntry]:
    """A failed ``anyOf``/``oneOf``: explain the one branch whose type fits, if there is one."""
    branches: dict[Any, list[ValidationError]] = {}
    for sub in error.context or ():  # a boolean branch's error carries no index
        index = sub.relative_schema_path[0] if sub.relative_schema_path else None
        branches.setdefault(index, []).append(sub)
    mismatched = {
        i
        for i, errs in branches.items()
        if any(e.validator == "type" and not e.relative_path for e in errs)
    }
    n = len(error.validator_value)
    fitting = [i for i in range(n) if i not in mismatched]
    if not fitting:
        expected = sorted(
            {
                t
                for errs in branches.values()
                for e in errs
                if e.validator == "type" and not e.relative_path
                for t in (
                    [e.validator_value] if isinstance(e.validator_value, str) else e.validator_value
                )
            }
        )
        return [ErrorEntry("wrong_type", msg_type(error.instance, expected), where)]
    if len(fitting) == 1 and branches.get(fitting[0]):
        return [e for sub in branches[fitting[0]] for e in _entries(sub, loc)]
    msg = f"{short(error.instance)} matches none of the {n} allowed alternatives"
    return [ErrorEntry("schema_violation", msg, where)]


# -- the validator -----------------------------------------------------------------------------


class SchemaValidator:
    """One compiled argument schema. Construction raises :class:`ToolSpecError` on a bad schema.

    ``check(value)`` is ``True`` only for a valid value (fast); :meth:`errors` explains.
    """

    __slots__ = ("_explain", "_validator", "check", "fast", "schema")

    def __init__(self, schema: dict[str, Any], registry: Registry[Any] | None = None) -> None:
        check_schema(schema)
        registry = Registry(retrieve=no_network) if registry is None else registry
        combined = SPECIFICATIONS.combine(registry)
        self.schema = _prepare(schema, combined)
        _check_refs(self.schema, combined)
        # Crawl the schema's own embedded resources ($id) up front: jsonschema's $dynamicRef
        # looks them up by URI without crawling.
        root = DRAFT202012.create_resource(self.schema)
        registry = registry.with_resource(root.id() or "", root).crawl()
        self._validator = Draft202012Validator(self.schema, registry=registry)
        compiled = compile_fast(self.schema)
        self.fast = compiled is not None
        if compiled is None:
            self.check, self._explain = self._slow_check, None
        else:
            self.check, self._explain = compiled

    def _slow_check(self, value: Any) -> bool:
        try:
            return self._validator.is_valid(value)
        except (RecursionError, OverflowError, ValueError, TypeError):
            return False

    def is_valid(self, value: Any) -> bool:
        """Exact: the fast check, then the full answer when it is not sure."""
        return self.check(value) or not self.explain(value)

    def errors(self, value: Any, loc: Loc = ("arguments",)) -> list[ErrorEntry]:
        """Every reason ``value`` is invalid (empty when it is valid)."""
        return [] if self.check(value) else self.explain(value, loc)

    def explain(self, value: Any, loc: Loc = ("arguments",)) -> list[ErrorEntry]:
        """:meth:`errors` for a value ``check`` has already said ``False`` about."""
        if self._explain is not None:
            out: list[ErrorEntry] = []
            try:
                self._explain(value, loc, out)
            except Fallback:
                pass
            except RecursionError:
                return [ErrorEntry("schema_violation", "nested too deeply to validate", loc)]
            else:
                if out:
                    return out
        return self._jsonschema_errors(value, loc)

    def _jsonschema_errors(self, value: Any, loc: Loc) -> list[ErrorEntry]:
        try:
            found = list(islice(self._validator.iter_errors(value), MAX_ERRORS))
        except RecursionError:
            return [ErrorEntry("schema_violation", "nested too deeply to validate", loc)]
        except (OverflowError, ValueError, TypeError) as e:
            # jsonschema's arithmetic on NaN, infinities or non-JSON numbers (Decimal)
            msg = f"cannot check {short(value)}: {type(e).__name__}: {e}"
            return [ErrorEntry("invalid_value", _clip(msg), loc)]
        except Unresolvable as e:
            raise ToolSpecError(f"a reference in the schema cannot be resolved: {e}") from e
        out, seen = [], set()
        for error in found:
            for entry in _entries(error, loc):
                if (entry.type, entry.loc) not in seen:
                    seen.add((entry.type, entry.loc))
                    out.append(entry)
        return out
