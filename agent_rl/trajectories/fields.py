"""The codecs of a trajectory line's fields: Python values <-> the stored shape.

The columns are declared once in :mod:`agent_rl.trajectories.schema` (``SCHEMA``,
``features()`` for ``datasets``); the stored form (schema version 2) follows one rule:

- fixed-shape values are typed JSON: messages (with their ``tool_calls``), the applied call,
  the observation, the verdict (with its errors), the outcome, numbers that may be ``null``;
- free-form values are JSON *text* (a string holding JSON): call arguments (a string on
  OpenAI's wire too), an error's ``loc`` (mixed strings and integers), tool parameters, state
  snapshots and ``extra`` metadata. A message or tool key that does not fit its declared type
  (a list ``content`` of a multimodal message, a provider's own keys) moves into that item's
  ``extra`` text and comes back in place when read, so no line ever changes a column's type.

Version 1 stored every nested value as JSON text; its lines still read (each codec takes the
text form too) and come back in the current form. The Python attributes hold the decoded values
(``ToolCall``, ``CallVerdict``, dicts ...); ``model_dump()`` and ``model_dump_json()`` give the
stored form. This module is the codecs only: the schema is in ``agent_rl.trajectories.schema``,
the models in ``agent_rl.trajectories.models``, the file in ``agent_rl.trajectories.store``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer, PlainValidator, WithJsonSchema
from pydantic_core import PydanticSerializationError, from_json, to_json

from agent_rl.trajectories.schema import JSON, MESSAGE, TOOL
from agent_rl.verdicts import CallVerdict, ErrorEntry, Observation, ToolCall

__all__ = [
    "TEXT_SCHEMA",
    "CallField",
    "JsonDict",
    "MessageList",
    "ObservationField",
    "OptBool",
    "OptFloat",
    "OptInt",
    "OptJsonDict",
    "Text",
    "ToolList",
    "VerdictField",
    "dumps_text",
    "loads_text",
    "observation_from_dict",
]

# --- JSON text ----------------------------------------------------------------------------------

_ENCODE = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode
_DECODE = json.JSONDecoder().decode


def dumps_text(value: Any) -> str:
    """Compact JSON text of a value (strict JSON: NaN and Infinity are refused)."""
    if value is None:
        return "null"
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


def _dict_or_empty(value: Any) -> Any:
    value = loads_text(value)
    return {} if value is None else value


TEXT_SCHEMA = WithJsonSchema({"type": "string", "contentMediaType": "application/json"})

JsonDict = Annotated[
    dict[str, Any], BeforeValidator(_dict_or_empty), PlainSerializer(dumps_text), TEXT_SCHEMA
]
OptJsonDict = Annotated[
    dict[str, Any] | None,
    BeforeValidator(loads_text),
    PlainSerializer(lambda v: None if v is None else dumps_text(v)),
    WithJsonSchema({"type": ["string", "null"], "contentMediaType": "application/json"}),
]
# Numbers and booleans are typed JSON since version 2; version 1 stored them as text.
OptFloat = Annotated[float | None, BeforeValidator(loads_text)]
OptInt = Annotated[int | None, BeforeValidator(loads_text)]
OptBool = Annotated[bool | None, BeforeValidator(loads_text)]
Text = Annotated[str, BeforeValidator(_none_to_empty)]
"""A string where ``""`` means "none" (``None`` accepted on input)."""


# --- open structs: messages and tools -----------------------------------------------------------

_SCALARS: dict[str, Callable[[Any], bool]] = {
    "string": lambda v: type(v) is str,
    "bool": lambda v: type(v) is bool,
    "int64": lambda v: type(v) is int,
    "float64": lambda v: type(v) in (int, float),
}


def _fits(value: Any, decl: Any) -> bool:
    """Whether ``value`` has the declared type (``None`` fits anything; JSON text fits all)."""
    if value is None or decl == JSON:
        return True
    if isinstance(decl, list):
        return isinstance(value, list) and all(_fits(x, decl[0]) for x in value)
    if isinstance(decl, dict):
        return isinstance(value, dict) and all(
            k in decl and k != "extra" and _fits(v, decl[k]) for k, v in value.items()
        )
    return _SCALARS[decl](value)


def _pack(value: Any, decl: Any) -> Any:
    """A decoded value (that fits ``decl``) in its stored form: JSON slots as text, ``None``
    keys left out."""
    if value is None:
        return None
    if decl == JSON:
        return dumps_text(value)
    if isinstance(decl, list):
        return [_pack(x, decl[0]) for x in value]
    if isinstance(decl, dict):
        return {k: _pack(v, decl[k]) for k, v in value.items() if v is not None}
    return value


def _unpack(value: Any, decl: Any) -> Any:
    """Inverse of ``_pack`` (also takes the decoded form); ``None`` keys left out."""
    if value is None:
        return None
    if decl == JSON:
        return loads_text(value)
    if isinstance(decl, list):
        return [_unpack(x, decl[0]) for x in value]
    if isinstance(decl, dict):
        return {
            k: _unpack(v, decl[k]) if k in decl else v for k, v in value.items() if v is not None
        }
    return value


def _open_struct_codec(
    decl: dict[str, Any], always: tuple[str, ...], title: str
) -> tuple[Callable[[Any], Any], Callable[[Any], Any]]:
    """Codecs for a list of dicts whose declared keys are typed columns and whose other keys
    (or keys that do not fit their type) travel in ``extra`` (JSON text).

    The decoded form is canonical: ``always`` keys present (``None`` if absent), other keys
    left out when ``None`` or ``[]``, so decode(encode(x)) == x for a decoded ``x``.
    """
    plain = frozenset(always)

    def decode_one(item: Any) -> dict[str, Any]:
        if not isinstance(item, dict):
            raise ValueError(f"each {title} must be an object, got {type(item).__name__}")
        if item.keys() == plain and all(type(item[k]) is str for k in always):
            return item  # the common case (a plain chat message) is already canonical
        item = dict(item)
        extra = item.get("extra")
        if type(extra) is str:  # the stored form's leftover keys
            more = loads_text(extra)
            if isinstance(more, dict):
                del item["extra"]
                item.update(more)
        out = {k: item.pop(k, None) for k in always}
        for k, v in item.items():
            if v is None or (v == [] and k in decl):
                continue
            out[k] = _unpack(v, decl[k]) if k in decl and k != "extra" else v
        return out

    def decode(value: Any) -> list[dict[str, Any]]:
        value = loads_text(value)
        if value is None:
            return []
        if not isinstance(value, (list, tuple)):
            raise ValueError(f"expected a list of {title} objects, got {type(value).__name__}")
        return [decode_one(x) for x in value]

    def encode_one(item: dict[str, Any]) -> dict[str, Any]:
        if item.keys() == plain and all(type(item[k]) is str for k in always):
            return item
        out: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        for k, v in item.items():
            if v is None:
                continue
            if k in decl and k != "extra" and _fits(v, decl[k]):
                out[k] = _pack(v, decl[k])
            else:
                extra[k] = v
        if extra:
            out["extra"] = dumps_text(extra)
        return out

    def encode(value: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [encode_one(x) for x in value]

    return decode, encode


def _json_list_schema(title: str) -> WithJsonSchema:
    return WithJsonSchema({"type": "array", "items": {"type": "object", "title": title}})


_decode_messages, _encode_messages = _open_struct_codec(MESSAGE, ("role", "content"), "message")
_decode_tools, _encode_tools = _open_struct_codec(TOOL, (), "tool")


def _tools_in(value: Any) -> Any:
    value = loads_text(value)
    if isinstance(value, (list, tuple)):  # ToolSpec (or anything with to_openai) accepted
        value = [t.to_openai() if hasattr(t, "to_openai") else t for t in value]
    return _decode_tools(value)


MessageList = Annotated[
    list[dict[str, Any]],
    PlainValidator(_decode_messages),
    PlainSerializer(_encode_messages),
    _json_list_schema("Message"),
]
"""OpenAI chat messages. Decoded form: ``role`` and ``content`` always present."""
ToolList = Annotated[
    list[dict[str, Any]],
    PlainValidator(_tools_in),
    PlainSerializer(_encode_tools),
    _json_list_schema("Tool"),
]
"""OpenAI function-tool dicts (``ToolSpec`` accepted on input)."""


# --- fixed shapes: call, observation, verdict ---------------------------------------------------


def _error_in(d: Any) -> ErrorEntry:
    if not isinstance(d, dict):
        raise ValueError(f"an error entry must be an object, got {type(d).__name__}")
    loc = loads_text(d.get("loc"))
    return ErrorEntry(str(d["type"]), str(d.get("msg") or ""), tuple(loc or ()))


def _error_out(e: ErrorEntry) -> dict[str, Any]:
    return {"type": e.type, "loc": dumps_text(list(e.loc)), "msg": e.msg}


def observation_from_dict(d: dict[str, Any]) -> Observation:
    """An ``Observation`` from ``Observation.to_dict`` or its stored form."""
    err = d.get("error")
    return Observation(
        content=str(d.get("content") or ""),
        ok=bool(d.get("ok", True)),
        error=None if err is None else _error_in(err),
        done=bool(d.get("done")),
    )


def _observation_out(o: Observation) -> dict[str, Any]:
    out: dict[str, Any] = {"content": o.content, "ok": o.ok, "done": o.done}
    if o.error is not None:
        out["error"] = _error_out(o.error)
    return out


def _call_from_dict(d: Any) -> ToolCall:
    if not isinstance(d, dict):
        raise ValueError(f"a tool call must be an object, got {type(d).__name__}")
    args = d.get("arguments", {})
    if type(args) is str:  # version 2 stores the arguments as JSON text
        args = loads_text(args)
    if not isinstance(d.get("name"), str) or not isinstance(args, dict):
        raise ValueError("a tool call needs a 'name' string and an 'arguments' object")
    return ToolCall(d["name"], dict(args))


def _call_out(c: ToolCall) -> dict[str, Any]:
    return {"name": c.name, "arguments": dumps_text(c.arguments)}


def _verdict_from_dict(d: dict[str, Any]) -> CallVerdict:
    call = d.get("call")
    return CallVerdict(
        valid=bool(d["valid"]),
        stage=d.get("stage"),
        call=None if call is None else _call_from_dict(call),
        errors=tuple(_error_in(e) for e in d.get("errors") or ()),
        final_answer=d.get("final_answer"),
    )


def _verdict_out(v: CallVerdict) -> dict[str, Any]:
    out: dict[str, Any] = {"valid": v.valid, "stage": v.stage}
    if v.call is not None:
        out["call"] = _call_out(v.call)
    out["errors"] = [_error_out(e) for e in v.errors]
    if v.final_answer is not None:
        out["final_answer"] = v.final_answer
    return out


def _codec(
    cls: type,
    from_dict: Callable[[Any], Any],
    to_stored: Callable[[Any], dict[str, Any]],
    title: str,
) -> tuple[PlainValidator, PlainSerializer, WithJsonSchema]:
    """Validator/serializer pair storing an optional ``cls`` as a typed struct; the version 1
    JSON text form is read too."""

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

    def serialize(v: Any) -> dict[str, Any] | None:
        return None if v is None else to_stored(v)

    schema = WithJsonSchema({"type": ["object", "null"], "title": title})
    return PlainValidator(validate), PlainSerializer(serialize), schema


_call = _codec(ToolCall, _call_from_dict, _call_out, "ToolCall")
_obs = _codec(Observation, observation_from_dict, _observation_out, "Observation")
_verdict = _codec(CallVerdict, _verdict_from_dict, _verdict_out, "CallVerdict")
CallField = Annotated[ToolCall | None, _call[0], _call[1], _call[2]]
ObservationField = Annotated[Observation | None, _obs[0], _obs[1], _obs[2]]
VerdictField = Annotated[CallVerdict | None, _verdict[0], _verdict[1], _verdict[2]]
