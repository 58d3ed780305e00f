"""Field types that keep every stored trajectory line the same Arrow shape.

``datasets.load_dataset("json", ...)`` infers column types from the first ~10 MB of a file and
casts the rest to them: a field that is ``null`` (or an empty list) all through that first chunk
gets the type ``null`` and any later value breaks the load; a free-form dict changes struct
shape from line to line. So the stored form follows one rule:

- a value that may be ``None`` or whose shape varies (messages, call, observation, verdict,
  snapshots, tool schemas, extra metadata, optional numbers) is stored as JSON *text*
  (``"null"`` for ``None``);
- optional strings are stored as ``""`` for "none" (``None`` is accepted on input);
- everything else is a plain always-present scalar.

(The one shape left to chance: a file whose first chunk holds only trajectories with no steps
types ``steps`` as a list of ``null``.)

The Python attributes hold the decoded values (``ToolCall``, ``CallVerdict``, dicts ...);
``model_dump()`` and ``model_dump_json()`` give the stored form. This module is codecs only.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer, PlainValidator, WithJsonSchema
from pydantic_core import PydanticSerializationError, from_json, to_json

from agent_rl.verdicts import CallVerdict, ErrorEntry, Observation, ToolCall

__all__ = [
    "TEXT_SCHEMA",
    "CallText",
    "JsonDict",
    "JsonList",
    "ObservationText",
    "OptBool",
    "OptFloat",
    "OptInt",
    "OptJsonDict",
    "Text",
    "VerdictText",
    "dumps_text",
    "loads_text",
    "observation_from_dict",
]


_ENCODE = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode
_DECODE = json.JSONDecoder().decode


def dumps_text(value: Any) -> str:
    """Compact JSON text of a value (strict JSON: NaN and Infinity are refused)."""
    if value is None:  # fast paths for the optional scalars (most fields of most steps)
        return "null"
    if type(value) is int:
        return str(value)
    try:
        out = to_json(value)
    except (PydanticSerializationError, ValueError):
        return _ENCODE(value)  # lone surrogates are kept; anything else raises a clear error
    if b"NaN" in out or b"Infinity" in out:  # maybe a bare NaN: let the strict encoder judge
        return _ENCODE(value)
    return out.decode()


def loads_text(value: Any) -> Any:
    """Decode a stored JSON text field (a non-string is already decoded: returned as is)."""
    if type(value) is not str:
        return value
    if value == "null":
        return None
    try:
        return from_json(value, allow_inf_nan=False)
    except (ValueError, TypeError):  # lone surrogates, which only Python's json handles
        return _DECODE(value)


def _none_to_empty(value: Any) -> Any:
    return "" if value is None else value


TEXT_SCHEMA = WithJsonSchema({"type": "string", "contentMediaType": "application/json"})

JsonDict = Annotated[
    dict[str, Any], BeforeValidator(loads_text), PlainSerializer(dumps_text), TEXT_SCHEMA
]
JsonList = Annotated[
    list[Any], BeforeValidator(loads_text), PlainSerializer(dumps_text), TEXT_SCHEMA
]
OptJsonDict = Annotated[
    dict[str, Any] | None, BeforeValidator(loads_text), PlainSerializer(dumps_text), TEXT_SCHEMA
]
OptFloat = Annotated[
    float | None, BeforeValidator(loads_text), PlainSerializer(dumps_text), TEXT_SCHEMA
]
OptInt = Annotated[
    int | None, BeforeValidator(loads_text), PlainSerializer(dumps_text), TEXT_SCHEMA
]
OptBool = Annotated[
    bool | None, BeforeValidator(loads_text), PlainSerializer(dumps_text), TEXT_SCHEMA
]
Text = Annotated[str, BeforeValidator(_none_to_empty)]
"""A string where ``""`` means "none" (``None`` accepted on input)."""


def _error_from_dict(d: dict[str, Any]) -> ErrorEntry:
    return ErrorEntry(str(d["type"]), str(d.get("msg", "")), tuple(d.get("loc") or ()))


def observation_from_dict(d: dict[str, Any]) -> Observation:
    """Inverse of ``Observation.to_dict``."""
    err = d.get("error")
    return Observation(
        content=str(d.get("content", "")),
        ok=bool(d.get("ok", True)),
        error=None if err is None else _error_from_dict(err),
        done=bool(d.get("done", False)),
    )


def _call_from_dict(d: dict[str, Any]) -> ToolCall:
    if not isinstance(d.get("name"), str) or not isinstance(d.get("arguments", {}), dict):
        raise ValueError("a tool call needs a 'name' string and an 'arguments' object")
    return ToolCall(d["name"], dict(d.get("arguments", {})))


def _verdict_from_dict(d: dict[str, Any]) -> CallVerdict:
    if d.get("call") is not None:
        _call_from_dict(d["call"])
    return CallVerdict.from_dict(d)


def _text_of(
    cls: type, from_dict: Callable[[dict[str, Any]], Any], title: str
) -> tuple[PlainValidator, PlainSerializer, WithJsonSchema]:
    """Validator/serializer pair storing an optional ``cls`` (with ``to_dict``) as JSON text."""

    def validate(v: Any) -> Any:
        v = loads_text(v)
        if v is None:
            return v
        if isinstance(v, cls):  # a dataclass is not validated: check it reads back as stored
            from_dict(v.to_dict())
            return v
        if not isinstance(v, dict):
            raise ValueError(f"expected a {title} object, got {type(v).__name__}")
        return from_dict(v)

    def serialize(v: Any) -> str:
        return dumps_text(None if v is None else v.to_dict())

    schema = WithJsonSchema(
        {"type": "string", "title": title, "contentMediaType": "application/json"}
    )
    return PlainValidator(validate), PlainSerializer(serialize), schema


_call = _text_of(ToolCall, _call_from_dict, "ToolCall")
_obs = _text_of(Observation, observation_from_dict, "Observation")
_verdict = _text_of(CallVerdict, _verdict_from_dict, "CallVerdict")
CallText = Annotated[ToolCall | None, _call[0], _call[1], _call[2]]
ObservationText = Annotated[Observation | None, _obs[0], _obs[1], _obs[2]]
VerdictText = Annotated[CallVerdict | None, _verdict[0], _verdict[1], _verdict[2]]
