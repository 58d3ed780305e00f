"""JSON-Schema-Test-Suite draft 2020-12 through ``ToolSpec.validate_arguments``, and the fast path
checked against jsonschema (on the suite and on generated schemas and values).

Each suite schema ``S`` becomes the schema of one required argument ``value``. When ``S`` uses
references or anchors it gets its own ``$id`` so that ``#...`` still means ``S``, not the
wrapper; a ``$schema`` equal to the wrapper's is hoisted away. ``$ref``s to
``http://localhost:1234/`` resolve from the suite's ``remotes/`` through a ``referencing``
registry; anything else is refused (never the network). No test is skipped.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.exceptions import NoSuchResource
from referencing.jsonschema import DRAFT202012

from agent_rl import ToolSpec
from agent_rl._schema.compile import Fallback, compile_fast

DIALECT = "https://json-schema.org/draft/2020-12/schema"
REMOTE = "http://localhost:1234/"
# The required (non-optional) test files of draft 2020-12; a new upstream file fails
# test_every_file_is_covered until it is listed here.
FILES = (
    "additionalProperties",
    "allOf",
    "anchor",
    "anyOf",
    "boolean_schema",
    "const",
    "contains",
    "content",
    "default",
    "defs",
    "dependentRequired",
    "dependentSchemas",
    "dynamicRef",
    "enum",
    "exclusiveMaximum",
    "exclusiveMinimum",
    "format",
    "if-then-else",
    "infinite-loop-detection",
    "items",
    "maxContains",
    "maxItems",
    "maxLength",
    "maxProperties",
    "maximum",
    "minContains",
    "minItems",
    "minLength",
    "minProperties",
    "minimum",
    "multipleOf",
    "not",
    "oneOf",
    "pattern",
    "patternProperties",
    "prefixItems",
    "properties",
    "propertyNames",
    "ref",
    "refRemote",
    "required",
    "type",
    "unevaluatedItems",
    "unevaluatedProperties",
    "uniqueItems",
    "vocabulary",
)
TOTAL_TESTS = 1299


@pytest.fixture(scope="module")
def suite(conformance: Path) -> Path:
    return conformance / "JSON-Schema-Test-Suite"


@pytest.fixture(scope="module")
def registry(suite: Path) -> Registry[Any]:
    def refuse(uri: str) -> Resource[Any]:
        raise NoSuchResource(ref=uri)  # a test must never reach the network

    resources = [
        (
            REMOTE + path.relative_to(suite / "remotes").as_posix(),
            Resource.from_contents(json.loads(path.read_text()), default_specification=DRAFT202012),
        )
        for path in sorted((suite / "remotes").rglob("*.json"))
    ]
    return Registry(retrieve=refuse).with_resources(resources).crawl()


def wrap(schema: Any) -> dict[str, Any]:
    """``schema`` as the schema of the one required argument ``value``."""
    if isinstance(schema, dict):
        schema = dict(schema)
        if schema.get("$schema") == DIALECT:
            del schema["$schema"]
        text = json.dumps(schema)
        keys = ('"$ref"', '"$dynamicRef"', '"$anchor"', '"$dynamicAnchor"', '"$schema"')
        if any(k in text for k in keys):
            schema.setdefault("$id", "urn:agent-rl:conformance:value")
    return {
        "$schema": DIALECT,
        "type": "object",
        "properties": {"value": schema},
        "required": ["value"],
        "additionalProperties": False,
    }


def cases(suite: Path, name: str) -> list[dict[str, Any]]:
    return json.loads((suite / "tests" / "draft2020-12" / f"{name}.json").read_text())


@pytest.fixture(scope="module")
def specs(suite: Path, registry: Registry[Any]) -> dict[str, list[tuple[dict[str, Any], ToolSpec]]]:
    """Every case of every file with its ToolSpec, built once."""
    return {
        name: [
            (case, ToolSpec(name="t", parameters=wrap(case["schema"]), registry=registry))
            for case in cases(suite, name)
        ]
        for name in FILES
    }


def test_every_file_is_covered(suite: Path) -> None:
    on_disk = {p.stem for p in (suite / "tests" / "draft2020-12").glob("*.json")}
    assert on_disk == set(FILES)
    assert sum(len(c["tests"]) for name in FILES for c in cases(suite, name)) == TOTAL_TESTS


@pytest.mark.parametrize("name", FILES)
def test_suite_file(name: str, specs: dict[str, list[tuple[dict[str, Any], ToolSpec]]]) -> None:
    wrong = []
    for case, spec in specs[name]:
        for test in case["tests"]:
            args = {"value": test["data"]}
            errors = spec.validate_arguments(args)
            if (not errors) is not test["valid"]:
                wrong.append((case["description"], test["description"], errors[:2]))
            assert all(e.loc[0] == "arguments" and e.msg for e in errors)
            if spec.compiled:  # the fast path itself, not just the public verdict
                validator = spec._validator
                out: list[Any] = []
                validator._explain(args, ("arguments",), out)
                if validator.check(args) is not test["valid"] or (not out) is not test["valid"]:
                    wrong.append(("fast path", case["description"], test["description"]))
    assert not wrong


def test_fast_path_covers_the_common_subset(
    specs: dict[str, list[tuple[dict[str, Any], ToolSpec]]],
) -> None:
    compiled = [spec.compiled for pairs in specs.values() for _, spec in pairs]
    assert len(compiled) == 383
    assert sum(compiled) >= 140, sum(compiled)  # the rest use keywords outside the subset


# -- generated schemas in the compiled subset vs jsonschema ------------------------------------

KEYS = ("a", "b", "c")
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.sampled_from([0.5, 1.0, 2.0, -1.5, 1e300, 0.1]),
    st.sampled_from(["", "a", "ab", "b1", "é", "abc"]),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.sampled_from((*KEYS, "d")), inner, max_size=4),
    ),
    max_leaves=12,
)
TYPES = ["null", "boolean", "integer", "number", "string", "array", "object"]


def leaf_schemas() -> st.SearchStrategy[Any]:
    numeric = st.fixed_dictionaries(
        {"type": st.sampled_from(["integer", "number"])},
        optional={
            "minimum": st.sampled_from([-1, 0, 0.5]),
            "maximum": st.sampled_from([1, 2, 2.5]),
            "exclusiveMinimum": st.sampled_from([-2, 0]),
            "exclusiveMaximum": st.sampled_from([2, 3.5]),
            "multipleOf": st.sampled_from([1, 2, 0.5, 0.1]),
        },
    )
    text = st.fixed_dictionaries(
        {"type": st.just("string")},
        optional={
            "minLength": st.integers(0, 2),
            "maxLength": st.integers(1, 3),
            "pattern": st.sampled_from(["^a", "b", "^[a-z]*$", r"\d"]),
        },
    )
    return st.one_of(
        st.booleans(),
        st.builds(lambda t: {"type": t}, st.sampled_from(TYPES)),
        st.builds(
            lambda ts: {"type": ts},
            st.lists(st.sampled_from(TYPES), min_size=1, max_size=3, unique=True),
        ),
        st.builds(lambda v: {"enum": v}, st.lists(scalars, min_size=1, max_size=4)),
        st.builds(lambda v: {"const": v}, scalars),
        numeric,
        text,
        st.fixed_dictionaries({}, optional={"minLength": st.integers(0, 2), "minimum": st.just(1)}),
    )


def compound(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    obj = st.builds(
        lambda props, req, extra, typed: {
            **({"type": "object"} if typed else {}),
            "properties": props,
            "required": req,
            **({} if extra is None else {"additionalProperties": extra}),
        },
        st.dictionaries(st.sampled_from(KEYS), inner, max_size=3),
        st.lists(st.sampled_from(KEYS), max_size=2, unique=True),
        st.one_of(st.none(), st.booleans(), inner),
        st.booleans(),
    )
    arr = st.builds(
        lambda items, prefix, lo, hi: {
            "type": "array",
            **({} if items is None else {"items": items}),
            **({"prefixItems": prefix} if prefix else {}),
            **({} if lo is None else {"minItems": lo}),
            **({} if hi is None else {"maxItems": hi}),
        },
        st.one_of(st.none(), inner),
        st.lists(inner, max_size=2),
        st.one_of(st.none(), st.integers(0, 2)),
        st.one_of(st.none(), st.integers(1, 3)),
    )
    combo = st.builds(
        lambda kw, subs: {kw: subs},
        st.sampled_from(["anyOf", "allOf"]),
        st.lists(inner, min_size=1, max_size=3),
    )
    return st.one_of(obj, arr, combo)


subset_schemas = st.recursive(leaf_schemas(), compound, max_leaves=8)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(schema=subset_schemas, values=st.lists(json_values, min_size=1, max_size=6))
def test_fast_path_agrees_with_jsonschema(schema: Any, values: list[Any]) -> None:
    compiled = compile_fast(schema)
    assert compiled is not None, schema  # everything generated here is in the subset
    check, explain = compiled
    reference = Draft202012Validator(schema)
    for value in values:
        expected = reference.is_valid(value)
        assert check(value) is expected, (schema, value)
        out: list[Any] = []
        explain(value, ("arguments",), out)
        assert (not out) is expected, (schema, value, out)


@pytest.mark.parametrize(
    "value",
    [(1, 2), {"a": (1,)}, [b"x"], {1: "a"}, type("D", (dict,), {})(a=1)],
    ids=["tuple", "nested-tuple", "bytes", "int-key", "dict-subclass"],
)
def test_fast_path_is_never_wrong_on_values_that_are_not_plain_json(value: Any) -> None:
    schema = {"properties": {"a": {"type": "array"}}, "items": {"type": "integer"}}
    check, explain = compile_fast(schema)  # type: ignore[misc]
    expected = Draft202012Validator(schema).is_valid(value)
    assert check(value) is False or expected  # False = "not sure"; True must be right
    try:
        out: list[Any] = []
        explain(value, ("arguments",), out)
        assert (not out) is expected
    except Fallback:
        pass  # jsonschema decides
