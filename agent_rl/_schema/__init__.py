"""Argument schemas: checking, compiling and validating draft 2020-12 JSON Schema for tool calls.

The machinery behind :class:`agent_rl.ToolSpec` (which is the public face):

- :mod:`.validator` — :class:`SchemaValidator`: metaschema check, ``$ref`` resolution through a
  ``referencing`` registry (never the network), jsonschema as the authority, error entries;
- :mod:`.compile` — the fast path: a schema compiled to generated ``check``/``explain`` functions
  for a keyword subset, never saying "valid" where jsonschema says "invalid";
- :mod:`.runtime` — error messages and the helpers generated code calls;
- :mod:`.regex` — ECMA-262 ``\\p{..}`` property escapes for Python's ``re``;
- :mod:`.python` — schemas from pydantic models and docstrings; closing objects.
"""

from __future__ import annotations

from agent_rl._schema.python import (
    close_objects,
    json_copy,
    model_schema,
    no_schema_error,
    parse_docstring,
)
from agent_rl._schema.regex import python_pattern
from agent_rl._schema.runtime import json_type
from agent_rl._schema.validator import DIALECT, SchemaValidator, check_schema, no_network

__all__ = [
    "DIALECT",
    "SchemaValidator",
    "check_schema",
    "close_objects",
    "json_copy",
    "json_type",
    "model_schema",
    "no_network",
    "no_schema_error",
    "parse_docstring",
    "python_pattern",
]
