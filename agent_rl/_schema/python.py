"""JSON Schema from Python: pydantic models and docstrings, made ready for tool calls.

- :func:`model_schema`: a pydantic model's validation schema without the titles pydantic derives
  from field names (noise in a prompt), as a :class:`ToolSpecError` when a type has no schema;
- :func:`parse_docstring`: the first paragraph and per-argument descriptions of a Google, numpy
  or Sphinx docstring;
- :func:`close_objects`: ``additionalProperties: false`` where a schema says nothing about extra
  properties (``unevaluatedProperties: false`` when its properties come through applicators).
"""

from __future__ import annotations

import inspect
import json
import re
import warnings
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema, PydanticJsonSchemaWarning

from agent_rl._schema.validator import subschemas
from agent_rl.errors import ToolSpecError

__all__ = ["close_objects", "json_copy", "model_schema", "no_schema_error", "parse_docstring"]

_EXTRAS = ("additionalProperties", "unevaluatedProperties", "patternProperties")
_APPLICATORS = ("$ref", "$dynamicRef", "allOf", "anyOf", "oneOf", "if", "dependentSchemas")


class _NoAutoTitles(GenerateJsonSchema):
    """pydantic's schema without the titles it derives from field names (prompt noise)."""

    def field_title_should_be_set(self, schema: Any) -> bool:
        return False


def model_schema(model: type[BaseModel], owner: str) -> dict[str, Any]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", PydanticJsonSchemaWarning)  # unserialisable defaults
            schema = model.model_json_schema(by_alias=True, schema_generator=_NoAutoTitles)
    except Exception as e:  # pydantic raises several types for types it cannot describe
        raise no_schema_error(owner, e) from None
    schema.pop("title", None)
    return schema


def no_schema_error(owner: str, error: Exception) -> ToolSpecError:
    first = str(error).split("\n", 1)[0]
    return ToolSpecError(
        f"cannot build a JSON Schema for the arguments of {owner!r}: {first} Use JSON types "
        "(str, int, float, bool, None, list, dict, Literal, pydantic models) in the hints."
    )


def json_copy(value: Any) -> Any:
    try:
        return json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError) as e:
        raise ToolSpecError(f"parameters must be plain JSON data: {e}.") from None


def close_objects(schema: Any, *, deep: bool) -> Any:
    """Add ``additionalProperties: false`` (or ``unevaluatedProperties``) where nothing is said
    about extra properties: at the top, and with ``deep`` in every nested object schema."""
    stack = [(schema, True)]
    while stack:
        node, close = stack.pop()
        if not isinstance(node, dict):
            continue
        is_object = node.get("type") == "object" or "properties" in node
        if close and is_object and not any(k in node for k in _EXTRAS):
            applied = any(k in node for k in _APPLICATORS)
            node["unevaluatedProperties" if applied else "additionalProperties"] = False
        if deep:  # parts of one object (allOf, if/then/else, ...) are left open
            parts = [node.get(k) for k in ("not", "if", "then", "else")]
            parts += [*node.get("allOf", ()), *node.get("dependentSchemas", {}).values()]
            stack.extend((c, all(c is not x for x in parts)) for c in subschemas(node))
    return schema


_SECTION = re.compile(
    r"^(Args|Arguments|Parameters|Params|Keyword Args|Keyword Arguments|Attributes|"
    r"Returns|Return|Yields|Raises|Examples?|Notes?|See Also|Warnings?|References)\s*:?\s*$"
)
_ARG_SECTIONS = (
    *("Args", "Arguments", "Parameters", "Params", "Keyword Args", "Keyword Arguments"),
    "Attributes",
)
_GOOGLE_ARG = re.compile(r"^\*{0,2}(\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)$")
_NUMPY_ARG = re.compile(r"^(\w+)\s*(?::.*)?$")
_SPHINX_ARG = re.compile(r"^:param\s+(?:[^:]*\s)?(\w+)\s*:\s*(.*)$")


def parse_docstring(doc: str) -> tuple[str, dict[str, str]]:
    """The first paragraph and per-argument descriptions of a Google, numpy or Sphinx docstring."""
    lines = inspect.cleandoc(doc).splitlines() if doc else []
    summary: list[str] = []
    for line in lines:
        if not line.strip() or _SECTION.match(line.strip()) or line.lstrip().startswith(":"):
            break
        summary.append(line.strip())
    args: dict[str, str] = {}
    current: str | None = None
    section: str | None = None
    numpy = False
    entry_indent = 0
    for i, line in enumerate(lines):
        stripped, indent = line.strip(), len(line) - len(line.lstrip())
        underline = i + 1 < len(lines) and set(lines[i + 1].strip()) == {"-"}
        if set(stripped) == {"-"}:
            continue
        header = _SECTION.match(stripped)
        if header and (stripped.endswith(":") or underline):
            section, current = header.group(1), None
            numpy = underline
            entry_indent = -1 if not numpy else indent
            continue
        if sphinx := _SPHINX_ARG.match(stripped):
            current = sphinx.group(1)
            args[current] = sphinx.group(2).strip()
            section, entry_indent = ":param", indent
            continue
        if section is None or section not in (*_ARG_SECTIONS, ":param") or not stripped:
            continue
        if entry_indent == -1:
            entry_indent = indent
        if indent == entry_indent and section != ":param":
            m = _GOOGLE_ARG.match(stripped) if not numpy else _NUMPY_ARG.match(stripped)
            if m:
                current = m.group(1)
                args[current] = m.group(2).strip() if not numpy else ""
                continue
        if indent > entry_indent and current is not None:
            args[current] = f"{args[current]} {stripped}".strip()
        elif indent < entry_indent:
            section, current = None, None
    return " ".join(summary), {k: v for k, v in args.items() if v}
