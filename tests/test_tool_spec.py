"""ToolSpec: constructors, round trips, bad specs, and argument verdicts (kinds, locs, edges)."""

from __future__ import annotations

import functools
import json
import math
import pickle
import re
from decimal import Decimal
from typing import Annotated, Any, Literal

import pytest
from jsonschema import Draft202012Validator
from pydantic import BaseModel, ConfigDict, Field
from referencing import Registry, Resource
from referencing.exceptions import NoSuchResource

from agent_rl import ToolSpec, ToolSpecError
from agent_rl._schema import parse_docstring
from agent_rl._schema.compile import MAX_ERRORS

OBJ = "object"


def spec_of(properties: dict[str, Any], required: tuple[str, ...] = (), **extra: Any) -> ToolSpec:
    schema = {"type": OBJ, "properties": properties, "required": list(required), **extra}
    return ToolSpec(name="t", description="test tool", parameters=schema)


def kinds(spec: ToolSpec, args: Any) -> list[tuple[str, tuple[str | int, ...]]]:
    return [(e.type, e.loc) for e in spec.validate_arguments(args)]


# -- from_function ---------------------------------------------------------------------------


class Point(BaseModel):
    """A point."""

    x: int
    y: int = 0


def read_file(
    path: str,
    start_line: int | None = None,
    mode: Literal["text", "bytes"] = "text",
    tags: list[str] | None = None,
    origin: Point | None = None,
) -> str:
    """Read a file from the workspace.

    More detail that is not part of the description.

    Args:
        path: Path of the file,
            relative to the workspace root.
        start_line (int): First line to read.
        mode: How to read it.

    Returns:
        The text.
    """
    return path


def test_from_function_schema() -> None:
    spec = ToolSpec.from_function(read_file)
    assert spec.name == "read_file"
    assert spec.description == "Read a file from the workspace."
    params = spec.parameters
    assert params["required"] == ["path"]
    assert params["additionalProperties"] is False
    props = params["properties"]
    assert props["path"] == {
        "type": "string",
        "description": "Path of the file, relative to the workspace root.",
    }
    assert props["start_line"]["description"] == "First line to read."
    assert props["mode"]["enum"] == ["text", "bytes"]
    assert "title" not in props["path"] and "title" not in params
    # nested pydantic models are closed too: pydantic would silently drop an unknown key
    assert params["$defs"]["Point"]["additionalProperties"] is False
    assert spec.compiled


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ({"path": "a.py"}, []),
        ({"path": "a.py", "start_line": None, "mode": "bytes", "tags": ["x"]}, []),
        ({"path": "a.py", "origin": {"x": 1}}, []),
        ({}, [("missing_argument", ("arguments", "path"))]),
        ({"path": "a", "start_line": "3"}, [("wrong_type", ("arguments", "start_line"))]),
        ({"path": "a", "start_line": True}, [("wrong_type", ("arguments", "start_line"))]),
        ({"path": "a", "start_line": 3.0}, []),  # 3.0 is an integer in JSON Schema 2020-12
        ({"path": "a", "mode": "binary"}, [("invalid_value", ("arguments", "mode"))]),
        ({"path": "a", "tags": ["x", 1]}, [("wrong_type", ("arguments", "tags", 1))]),
        ({"path": "a", "origin": {"y": 1}}, [("missing_argument", ("arguments", "origin", "x"))]),
        (
            {"path": "a", "origin": {"x": 1, "z": 1}},
            [("unknown_argument", ("arguments", "origin", "z"))],
        ),
        ({"path": "a", "encoding": "utf8"}, [("unknown_argument", ("arguments", "encoding"))]),
        ([], [("arguments_not_object", ("arguments",))]),
    ],
)
def test_from_function_validates(args: Any, expected: list[Any]) -> None:
    assert kinds(ToolSpec.from_function(read_file), args) == expected


def numpy_style(query: str, limit: int = 10) -> list[str]:
    """Search the index.

    Parameters
    ----------
    query : str
        Text to look for,
        case-sensitive.
    limit : int, optional
        At most this many hits.
    """
    return []


def sphinx_style(a: int, b: Annotated[int, Field(description="kept from the hint")] = 1) -> int:
    """Add numbers.

    :param a: the first one.
    :param b: ignored: the annotation's description wins.
    """
    return a + b


def no_doc(x, y: float = 1.5):  # type: ignore[no-untyped-def]
    return x


@pytest.mark.parametrize(
    ("fn", "description", "props"),
    [
        (
            numpy_style,
            "Search the index.",
            {"query": "Text to look for, case-sensitive.", "limit": "At most this many hits."},
        ),
        (sphinx_style, "Add numbers.", {"a": "the first one.", "b": "kept from the hint"}),
        (no_doc, "", {"x": None, "y": None}),
    ],
)
def test_from_function_docstring_styles(fn: Any, description: str, props: dict[str, Any]) -> None:
    spec = ToolSpec.from_function(fn)
    assert spec.description == description
    for name, text in props.items():
        assert spec.parameters["properties"][name].get("description") == text


def test_from_function_unannotated_and_defaults() -> None:
    spec = ToolSpec.from_function(no_doc)
    assert spec.parameters["properties"]["x"] == {}  # any JSON value
    assert spec.parameters["required"] == ["x"]
    assert spec.validate_arguments({"x": [1, {"a": None}]}) == []
    assert kinds(spec, {"x": 1, "y": "2"}) == [("wrong_type", ("arguments", "y"))]


def test_from_function_names_and_overrides() -> None:
    spec = ToolSpec.from_function(lambda q: q, name="echo", description="Echo q.")
    assert (spec.name, spec.description) == ("echo", "Echo q.")
    with pytest.raises(ToolSpecError, match=r"'<lambda>' is invalid.*Rename it"):
        ToolSpec.from_function(lambda q: q)
    bound = ToolSpec.from_function(functools.partial(numpy_style, limit=3))
    assert (bound.name, bound.description) == ("numpy_style", "Search the index.")
    assert bound.parameters["properties"]["limit"]["default"] == 3


def star_args(*paths: str) -> None: ...


def star_kwargs(path: str, **options: Any) -> None: ...


@pytest.mark.parametrize(("fn", "shown"), [(star_args, r"\*paths"), (star_kwargs, r"\*\*options")])
def test_from_function_rejects_var_args(fn: Any, shown: str) -> None:
    with pytest.raises(ToolSpecError, match=shown + r"\) cannot be a tool argument.*explicit"):
        ToolSpec.from_function(fn)


class Handle:
    """Not JSON."""


def open_handle(h: Handle) -> None: ...


def test_from_function_rejects_types_without_schema() -> None:
    with pytest.raises(ToolSpecError, match=r"cannot build a JSON Schema.*Use JSON types"):
        ToolSpec.from_function(open_handle)


# -- from_pydantic ---------------------------------------------------------------------------


class EditArgs(BaseModel):
    """Replace one exact occurrence of text.

    Attributes:
        path: File to edit.
    """

    path: str
    old: str = Field(min_length=1, description="Exact text to replace.")
    new: str


class OpenArgs(BaseModel):
    model_config = ConfigDict(extra="allow")
    path: str


def test_from_pydantic() -> None:
    spec = ToolSpec.from_pydantic(EditArgs)
    assert spec.name == "EditArgs"
    assert spec.description == "Replace one exact occurrence of text."
    props = spec.parameters["properties"]
    assert props["path"]["description"] == "File to edit."
    assert props["old"] == {
        "description": "Exact text to replace.",
        "minLength": 1,
        "type": "string",
    }
    assert spec.parameters["additionalProperties"] is False
    assert kinds(spec, {"path": "a", "old": "", "new": "b"}) == [
        ("invalid_value", ("arguments", "old"))
    ]
    # extra="allow" says so explicitly: extra arguments stay allowed
    open_spec = ToolSpec.from_pydantic(OpenArgs, name="open_file", description="Open.")
    assert open_spec.parameters["additionalProperties"] is True
    assert open_spec.validate_arguments({"path": "a", "anything": 1}) == []


def test_from_pydantic_rejects_non_models() -> None:
    with pytest.raises(ToolSpecError, match="pydantic BaseModel class"):
        ToolSpec.from_pydantic(dict)  # type: ignore[arg-type]


# -- from_openai / to_openai -----------------------------------------------------------------

WRAPPED = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city.",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "unit": {"type": "string", "enum": ["c", "f"]},
            },
            "required": ["city", "unit"],
            "additionalProperties": False,
        },
        "strict": True,
    },
}


@pytest.mark.parametrize(
    "form",
    [
        WRAPPED,
        WRAPPED["function"],  # bare form
        {"type": "function", **WRAPPED["function"]},  # Responses API form
    ],
    ids=["wrapped", "bare", "responses"],
)
def test_from_openai_forms(form: dict[str, Any]) -> None:
    spec = ToolSpec.from_openai(form)
    assert (spec.name, spec.description, spec.strict) == (
        "get_weather",
        "Weather for a city.",
        True,
    )
    assert spec.to_openai() == WRAPPED


def test_from_openai_fills_gaps_and_closes_top_level_only() -> None:
    nested = {"type": "object", "properties": {"k": {"type": "string"}}}
    spec = ToolSpec.from_openai({"name": "f", "parameters": {"properties": {"opt": nested}}})
    assert spec.description == "" and spec.strict is None
    assert spec.parameters["type"] == "object"
    assert spec.parameters["additionalProperties"] is False
    assert "additionalProperties" not in spec.parameters["properties"]["opt"]
    assert "strict" not in spec.to_openai()["function"]
    for no_args in (ToolSpec.from_openai({"name": "ping"}), ToolSpec(name="ping")):
        assert no_args.validate_arguments({}) == []
        assert kinds(no_args, {"x": 1}) == [("unknown_argument", ("arguments", "x"))]
        assert no_args == ToolSpec.model_validate_json(no_args.model_dump_json())


@pytest.mark.parametrize(
    ("bad", "match"),
    [
        ([1], "an OpenAI tool is a dict"),
        ({"type": "web_search"}, "not an OpenAI function tool"),
        ({"function": {"description": "no name"}}, "not an OpenAI function tool"),
        (
            {"name": "f", "parameters": {"type": "array"}},
            'must be an object schema.*"type": "object"',
        ),
    ],
)
def test_from_openai_errors(bad: Any, match: str) -> None:
    with pytest.raises(ToolSpecError, match=match):
        ToolSpec.from_openai(bad)


# -- from_langchain --------------------------------------------------------------------------


def test_from_langchain_tool_decorator() -> None:
    from langchain_core.tools import tool

    @tool(parse_docstring=True)
    def search(query: str, max_results: int = 10, origin: Point | None = None) -> str:
        """Search the workspace.

        Args:
            query: Text to find.
            max_results: At most this many results.
            origin: Where to start.
        """
        return query

    spec = ToolSpec.from_langchain(search)
    assert (spec.name, spec.description) == ("search", "Search the workspace.")
    assert spec.parameters["properties"]["query"] == {
        "type": "string",
        "description": "Text to find.",
    }
    assert spec.parameters["required"] == ["query"]
    assert spec.parameters["additionalProperties"] is False
    assert spec.validate_arguments({"query": "x", "origin": {"x": 1}}) == []
    assert kinds(spec, {"query": "x", "origin": {"x": 1, "q": 2}}) == [
        ("unknown_argument", ("arguments", "origin", "q"))
    ]
    assert ToolSpec.from_openai(spec.to_openai()) == spec


def test_from_langchain_base_tool_subclass() -> None:
    from langchain_core.tools import BaseTool

    class SearchArgs(BaseModel):
        query: str = Field(description="what to find")
        max_results: int = Field(10, ge=1, le=50)

    class Search(BaseTool):
        name: str = "search"
        description: str = "Search the workspace."
        args_schema: type[BaseModel] = SearchArgs

        def _run(self, query: str, max_results: int = 10) -> str:
            return query

    spec = ToolSpec.from_langchain(Search())
    assert spec.parameters["properties"]["max_results"]["maximum"] == 50
    assert kinds(spec, {"query": "x", "max_results": 51}) == [
        ("invalid_value", ("arguments", "max_results"))
    ]
    assert kinds(spec, {"max_results": 5}) == [("missing_argument", ("arguments", "query"))]


def test_from_langchain_rejects_other_objects() -> None:
    with pytest.raises(ToolSpecError, match="BaseTool"):
        ToolSpec.from_langchain(read_file)


# -- round trips, identity, copies -----------------------------------------------------------


@pytest.mark.parametrize(
    "make",
    [
        lambda: ToolSpec.from_function(read_file),
        lambda: ToolSpec.from_pydantic(EditArgs),
        lambda: ToolSpec.from_openai(WRAPPED),
        lambda: spec_of({"a": {"type": "integer"}}, ("a",)),
    ],
)
def test_round_trips(make: Any) -> None:
    spec = make()
    again = ToolSpec.from_openai(json.loads(json.dumps(spec.to_openai())))
    assert again == spec and hash(again) == hash(spec)
    assert pickle.loads(pickle.dumps(spec)) == spec
    assert ToolSpec(**spec.model_dump()) == spec
    assert pickle.loads(pickle.dumps(spec)).validate_arguments(
        {"zzz": 1}
    ) == spec.validate_arguments({"zzz": 1})


def test_spec_is_frozen_and_isolated_from_the_caller() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}}
    spec = ToolSpec(name="t", parameters=schema)
    schema["properties"]["a"]["type"] = "string"  # the caller's dict, not the spec's
    assert spec.validate_arguments({"a": 1}) == []
    spec.to_openai()["function"]["parameters"]["properties"].clear()
    assert spec.validate_arguments({"a": 1}) == []
    with pytest.raises(Exception, match="frozen"):
        spec.name = "other"  # type: ignore[misc]
    copy = spec.model_copy(update={"parameters": {"type": "object"}})
    assert kinds(copy, {"a": 1}) == [("unknown_argument", ("arguments", "a"))]
    with pytest.raises(ToolSpecError):
        spec.model_copy(update={"name": "bad name"})


# -- closing: unknown argument names ---------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "key"),
    [
        ({"type": "object", "properties": {"a": {}}}, "additionalProperties"),
        ({"type": "object"}, "additionalProperties"),
        ({"type": "object", "allOf": [{"properties": {"a": {}}}]}, "unevaluatedProperties"),
        (
            {"type": "object", "$ref": "#/$defs/A", "$defs": {"A": {"properties": {"a": {}}}}},
            "unevaluatedProperties",
        ),
    ],
)
def test_top_level_is_closed_unless_said_otherwise(params: dict[str, Any], key: str) -> None:
    spec = ToolSpec(name="t", parameters=params)
    assert spec.parameters[key] is False
    assert kinds(spec, {"zzz": 1}) == [("unknown_argument", ("arguments", "zzz"))]
    if params.get("properties") or "allOf" in params or "$ref" in params:
        assert spec.validate_arguments({"a": 1}) == []


@pytest.mark.parametrize(
    "explicit",
    [
        {"additionalProperties": True},
        {"additionalProperties": {"type": "integer"}},
        {"patternProperties": {"^x": {}}},
    ],
)
def test_explicit_extra_properties_are_kept(explicit: dict[str, Any]) -> None:
    spec = spec_of({"a": {}}, **explicit)
    assert {k: spec.parameters[k] for k in explicit} == explicit
    assert "unevaluatedProperties" not in spec.parameters


# -- bad specs -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"name": "read file"}, r"'read file' is invalid.*letters, digits.*'read_file'"),
        ({"name": ""}, "is invalid"),
        ({"name": "x" * 129}, "is invalid"),
        ({"name": "math/gcd"}, r"is invalid.*MCP's rule.*'math_gcd'"),
        ({"parameters": {"type": "string"}}, r'must be an object schema.*set "type": "object"'),
        ({"parameters": {"properties": {}}}, "must be an object schema"),
        (
            {"parameters": {"type": "object", "properties": {"a": {"type": "strin"}}}},
            r"properties/a/type",
        ),
        ({"parameters": {"type": "object", "required": "a"}}, r"at required.*Fix that keyword"),
        (
            {"parameters": {"type": "object", "properties": {"a": {"pattern": "("}}}},
            "not a 'regex'",
        ),
        (
            {"parameters": {"type": "object", "properties": {"a": {"$ref": "#/$defs/B"}}}},
            r"\$ref '#/\$defs/B' cannot be resolved",
        ),
        (
            {
                "parameters": {
                    "type": "object",
                    "properties": {"a": {"$ref": "https://example.com/s.json"}},
                }
            },
            "nothing is fetched from the network",
        ),
        (
            {
                "parameters": {
                    "$schema": "http://json-schema.org/draft-07/schema#",
                    "type": "object",
                }
            },
            "draft-07.*2020-12",
        ),
        (
            {"parameters": {"$schema": "https://example.com/meta", "type": "object"}},
            "unknown metaschema",
        ),
        (
            {"parameters": {"type": "object", "properties": {"a": {"maximum": float("nan")}}}},
            "plain JSON",
        ),
        (
            {
                "parameters": {
                    "type": "object",
                    "properties": {"a": {"pattern": r"\p{Script=Greek}"}},
                }
            },
            "not a 'regex'",
        ),
        ({"parameters": "{}"}, "parameters: Input should be a valid dictionary"),
        ({"description": 3}, "description"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_specs_say_what_to_fix(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ToolSpecError, match=match):
        ToolSpec(**{"name": "t", "parameters": {"type": "object"}, **kwargs})


# -- argument verdicts -----------------------------------------------------------------------

VALUES = spec_of(
    {
        "n": {"type": "integer", "minimum": 1, "maximum": 5},
        "x": {"type": "number", "exclusiveMinimum": 0, "multipleOf": 0.5},
        "s": {"type": "string", "minLength": 2, "maxLength": 4, "pattern": "^[a-z]+$"},
        "e": {"enum": ["a", 1, None]},
        "c": {"const": True},
        "l": {"type": "array", "items": {"type": "boolean"}, "minItems": 1, "maxItems": 2},
        "t": {
            "type": "array",
            "prefixItems": [{"type": "string"}, {"type": "integer"}],
            "items": False,
        },
        "o": {"type": ["string", "null"]},
        "u": {
            "anyOf": [
                {"type": "integer"},
                {"type": "object", "properties": {"k": {"type": "string"}}, "required": ["k"]},
            ]
        },
    }
)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            {
                "n": 1,
                "x": 1.5,
                "s": "ab",
                "e": None,
                "c": True,
                "l": [True],
                "t": ["a", 1],
                "o": None,
            },
            [],
        ),
        ({"n": 5.0, "e": 1.0, "u": {"k": "v"}, "o": "x"}, []),
        ({"n": 0}, [("invalid_value", ("arguments", "n"))]),
        ({"n": 6}, [("invalid_value", ("arguments", "n"))]),
        ({"n": 2.5}, [("wrong_type", ("arguments", "n"))]),
        ({"n": False}, [("wrong_type", ("arguments", "n"))]),
        ({"x": 0}, [("invalid_value", ("arguments", "x"))]),
        ({"x": 0.75}, [("invalid_value", ("arguments", "x"))]),
        ({"s": "a"}, [("invalid_value", ("arguments", "s"))]),
        ({"s": "abcde"}, [("invalid_value", ("arguments", "s"))]),
        ({"s": "AB"}, [("invalid_value", ("arguments", "s"))]),
        ({"e": True}, [("invalid_value", ("arguments", "e"))]),  # True is not 1 in JSON Schema
        ({"e": "b"}, [("invalid_value", ("arguments", "e"))]),
        ({"c": 1}, [("invalid_value", ("arguments", "c"))]),
        ({"l": []}, [("invalid_value", ("arguments", "l"))]),
        ({"l": [True, 1]}, [("wrong_type", ("arguments", "l", 1))]),
        ({"t": ["a", 1, 2]}, [("invalid_value", ("arguments", "t"))]),
        ({"t": [1]}, [("wrong_type", ("arguments", "t", 0))]),
        ({"o": 1}, [("wrong_type", ("arguments", "o"))]),
        ({"u": "s"}, [("wrong_type", ("arguments", "u"))]),
        ({"u": {"k": 1}}, [("wrong_type", ("arguments", "u", "k"))]),
        ({"u": {}}, [("missing_argument", ("arguments", "u", "k"))]),
        (
            {"n": "1", "s": 1, "zz": 0},
            [
                ("wrong_type", ("arguments", "n")),
                ("wrong_type", ("arguments", "s")),
                ("unknown_argument", ("arguments", "zz")),
            ],
        ),
    ],
)
def test_argument_kinds_and_locs(args: dict[str, Any], expected: list[Any]) -> None:
    assert VALUES.compiled
    assert kinds(VALUES, args) == expected
    assert VALUES.accepts(args) is (not expected)
    # the jsonschema path (used for schemas outside the compiled subset) agrees on the verdict
    assert Draft202012Validator(VALUES.parameters).is_valid(args) is (not expected)


def test_messages_are_short_and_useful() -> None:
    spec = spec_of({"path": {"type": "string"}, "n": {"type": "integer"}}, ("path",))
    by_kind = {e.type: e.msg for e in spec.validate_arguments({"n": "x" * 10_000, "pth": 1})}
    assert by_kind["missing_argument"] == 'missing required argument "path"'
    assert by_kind["unknown_argument"] == 'unknown argument "pth"; allowed: n, path'
    assert by_kind["wrong_type"].startswith('expected integer, got string "xxx')
    assert len(by_kind["wrong_type"]) < 80


@pytest.mark.parametrize(
    ("params", "args", "kind"),
    [
        ({"a": {"oneOf": [{"type": "integer"}, {"minimum": 0}]}}, {"a": 1}, "schema_violation"),
        ({"a": {"not": {"type": "string"}}}, {"a": "s"}, "schema_violation"),
        ({"a": {"type": "array", "uniqueItems": True}}, {"a": [1, 1.0]}, "invalid_value"),
        (
            {"a": {"type": "object", "propertyNames": {"maxLength": 1}}},
            {"a": {"ab": 1}},
            "invalid_value",
        ),
        (
            {"a": {"type": "object", "patternProperties": {"^x": {"type": "integer"}}}},
            {"a": {"xa": "s"}},
            "wrong_type",
        ),
        ({"a": {"dependentRequired": {"b": ["c"]}}}, {"a": {"b": 1}}, "missing_argument"),
    ],
)
def test_keywords_outside_the_fast_subset(
    params: dict[str, Any], args: dict[str, Any], kind: str
) -> None:
    spec = spec_of(params)
    errors = spec.validate_arguments(args)
    assert [e.type for e in errors] == [kind]
    assert errors[0].loc[:2] == ("arguments", "a")


TREE = {
    "type": "object",
    "properties": {"node": {"$ref": "#/$defs/node"}},
    "$defs": {
        "node": {
            "type": "object",
            "properties": {"children": {"type": "array", "items": {"$ref": "#/$defs/node"}}},
        }
    },
}


class StrSubclass(str):
    pass


@pytest.mark.parametrize(
    ("args", "valid"),
    [
        ({"n": float("nan")}, False),  # not JSON; not a multiple of anything
        ({"n": float("inf")}, False),
        ({"n": 10**400}, False),  # not a multiple of 0.1 (and no OverflowError)
        ({"n": 0.3}, False),  # 0.3 / 0.1 is 2.9999999999999996 in floats, as in jsonschema
        ({"n": 3}, True),
        ({"d": Decimal("0.5")}, True),  # not plain JSON: jsonschema decides
        ({"d": Decimal("-1")}, False),
        ({"n": Decimal("0.5")}, False),  # jsonschema cannot divide a Decimal by a float
        ({"s": StrSubclass("ok")}, True),
        ({"s": ("a",)}, False),
        ({"s": b"x"}, False),
        ({"s": object()}, False),
    ],
)
def test_values_that_are_not_plain_json_never_raise(args: dict[str, Any], valid: bool) -> None:
    spec = spec_of(
        {
            "n": {"type": "number", "multipleOf": 0.1},
            "d": {"type": "number", "minimum": 0},
            "s": {"type": "string"},
        }
    )
    assert (spec.validate_arguments(args) == []) is valid
    assert spec.accepts(args) is valid


def test_deep_recursive_values_never_raise() -> None:
    spec = ToolSpec(name="tree", parameters=TREE)
    assert spec.compiled
    node: dict[str, Any] = {}
    for _ in range(50):
        node = {"children": [node]}
    assert spec.validate_arguments({"node": node}) == []
    for _ in range(20_000):
        node = {"children": [node]}
    errors = spec.validate_arguments({"node": node})  # deeper than Python's stack
    assert [e.type for e in errors] == ["schema_violation"]
    assert "deeply" in errors[0].msg


# -- registries, patterns, vocabularies -------------------------------------------------------


def test_remote_refs_resolve_from_the_registry_only() -> None:
    asked: list[str] = []

    def retrieve(uri: str) -> Resource[Any]:
        asked.append(uri)
        if uri == "https://example.com/point.json":
            return Resource.from_contents(
                {"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "integer"}
            )
        raise NoSuchResource(ref=uri)

    params = {"type": "object", "properties": {"p": {"$ref": "https://example.com/point.json"}}}
    spec = ToolSpec(name="t", parameters=params, registry=Registry(retrieve=retrieve))
    assert spec.validate_arguments({"p": 1}) == []
    assert kinds(spec, {"p": "1"}) == [("wrong_type", ("arguments", "p"))]
    assert set(asked) == {"https://example.com/point.json"}
    with pytest.raises(ToolSpecError, match="cannot be resolved"):
        ToolSpec(name="t", parameters=params)  # no registry: never the network


def test_unicode_property_escapes_in_patterns() -> None:
    spec = spec_of(
        {"word": {"type": "string", "pattern": r"^\p{L}+$"}, "no_digit": {"pattern": r"^\P{Nd}*$"}}
    )
    assert spec.parameters["properties"]["word"]["pattern"] == r"^\p{L}+$"  # kept as written
    assert spec.validate_arguments({"word": "héllo", "no_digit": "abc"}) == []
    assert kinds(spec, {"word": "abc1", "no_digit": "a١"}) == [
        ("invalid_value", ("arguments", "word")),
        ("invalid_value", ("arguments", "no_digit")),
    ]


def test_parse_docstring_stops_at_the_next_section() -> None:
    summary, args = parse_docstring(
        """Do it.

        Args:
            a: first.
        Raises:
            ValueError: never an argument.
        """
    )
    assert (summary, args) == ("Do it.", {"a": "first."})


@pytest.mark.parametrize(
    ("properties", "args"),
    [
        (
            {"a": {"type": "array", "items": {"type": "integer"}}},
            {f"k{i}": i for i in range(10**5)},
        ),
        ({"a": {"type": "array", "items": {"type": "integer"}}}, {"a": ["x"] * 10**5}),
        ({"a": {"type": "array", "items": {"not": {"type": "string"}}}}, {"a": ["x"] * 10**5}),
    ],
    ids=["many-unknown-keys", "many-bad-items", "many-bad-items-jsonschema"],
)
def test_error_lists_are_bounded(properties: dict[str, Any], args: dict[str, Any]) -> None:
    errors = spec_of(properties).validate_arguments(args)
    assert len(errors) == MAX_ERRORS
    assert all(len(e.msg) < 200 for e in errors)


# -- names as the ecosystem writes them; MCP tools ----------------------------------------------


@pytest.mark.parametrize(
    ("name", "issues"),
    [
        ("read_file", {}),
        ("x" * 64, {}),
        ("math.gcd", {"openai": r"'math.gcd' does not match OpenAI's .*'math_gcd'"}),
        ("x" * 65, {"openai": "does not match"}),
        ("a." + "b" * 126, {"openai": "does not match"}),
    ],
)
def test_mcp_names_are_accepted_and_stricter_providers_are_named(
    name: str, issues: dict[str, str]
) -> None:
    spec = ToolSpec(name=name)
    assert spec.name == name
    found = spec.name_issues()
    assert sorted(found) == sorted(issues)
    for provider, pattern in issues.items():
        assert re.search(pattern, found[provider]), found[provider]
    assert spec.to_openai()["function"]["name"] == name  # the spec is not renamed
    assert ToolSpec.from_openai(spec.to_openai()) == spec


def test_from_mcp_wire_dict_closes_the_schema() -> None:
    spec = ToolSpec.from_mcp(
        {
            "name": "math.gcd",
            "description": "Greatest common divisor.",
            "inputSchema": {
                "type": "object",
                "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
                "required": ["a", "b"],
            },
        }
    )
    assert (spec.name, spec.description) == ("math.gcd", "Greatest common divisor.")
    assert spec.validate_arguments({"a": 12, "b": 18}) == []
    assert kinds(spec, {"a": 12, "b": 18, "c": 1}) == [("unknown_argument", ("arguments", "c"))]
    empty = ToolSpec.from_mcp({"name": "ping", "inputSchema": {}})
    assert empty.validate_arguments({}) == [] and not empty.accepts({"x": 1})


@pytest.mark.parametrize(
    "tool", [{"name": "x"}, {"inputSchema": {"type": "object"}}, "math.gcd", None]
)
def test_from_mcp_refuses_what_is_not_an_mcp_tool(tool: Any) -> None:
    with pytest.raises(ToolSpecError, match="not an MCP tool"):
        ToolSpec.from_mcp(tool)


def test_from_mcp_reads_a_real_in_process_mcp_server() -> None:
    anyio = pytest.importorskip("anyio")
    mcp = pytest.importorskip("mcp")
    from mcp.server.mcpserver import MCPServer

    server = MCPServer("math")

    @server.tool(name="math.gcd")
    def gcd(a: int, b: int) -> int:
        """Greatest common divisor of two integers."""
        return math.gcd(a, b)

    @server.tool()
    def read_file(path: str, start_line: int = 1) -> str:
        """Read a text file."""
        return f"{path}:{start_line}"

    async def listed() -> tuple[list[Any], Any]:
        async with mcp.Client(server) as client:
            tools = (await client.list_tools()).tools
            result = await client.call_tool("math.gcd", {"a": 12, "b": 18})
            return tools, result

    tools, result = anyio.run(listed)
    specs = {t.name: ToolSpec.from_mcp(t) for t in tools}
    assert set(specs) == {"math.gcd", "read_file"}
    gcd_spec, read_spec = specs["math.gcd"], specs["read_file"]
    assert gcd_spec.description == "Greatest common divisor of two integers."
    assert gcd_spec.validate_arguments({"a": 12, "b": 18}) == []  # what the server accepted
    assert result.structured_content == {"result": 6}
    assert kinds(gcd_spec, {"a": "12", "b": 18}) == [("wrong_type", ("arguments", "a"))]
    assert kinds(gcd_spec, {"a": 12}) == [("missing_argument", ("arguments", "b"))]
    assert read_spec.validate_arguments({"path": "a.py"}) == []
    assert kinds(read_spec, {"path": "a.py", "encoding": "utf8"}) == [
        ("unknown_argument", ("arguments", "encoding"))
    ]
    # the wire form of the same tool gives the same spec
    wire = next(t for t in tools if t.name == "math.gcd").model_dump(by_alias=True)
    assert ToolSpec.from_mcp(wire) == gcd_spec
    assert list(gcd_spec.name_issues()) == ["openai"]
