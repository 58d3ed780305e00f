"""The stored shape of a trajectory line, declared once: ``SCHEMA`` and its ``features()``.

``datasets.load_dataset("json", ...)`` infers column types batch by batch: a field that is
``null`` all through a batch, or a value whose shape varies from line to line, breaks the load.
The cure is an explicit schema: ``SCHEMA`` declares every column of a stored line, and
``features()`` turns it into the ``datasets.Features`` to pass to ``load_dataset`` (with it,
nulls and absent keys load in any batch). This module is data only: the codecs that write and
read values in this shape are in ``agent_rl.trajectories.fields``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import datasets

__all__ = ["JSON", "MESSAGE", "SCHEMA", "STEP", "TOOL", "features"]

JSON = "json"
"""A string holding JSON text (a free-form value)."""

ERROR: dict[str, Any] = {"type": "string", "loc": JSON, "msg": "string"}
CALL: dict[str, Any] = {"name": "string", "arguments": JSON}
TOOL_CALL: dict[str, Any] = {
    "id": "string",
    "type": "string",
    "function": {"name": "string", "arguments": "string"},  # the provider's raw text, as sent
}
MESSAGE: dict[str, Any] = {
    "role": "string",
    "content": "string",
    "tool_calls": [TOOL_CALL],
    "tool_call_id": "string",
    "name": "string",
    "extra": JSON,
}
TOOL: dict[str, Any] = {
    "type": "string",
    "function": {"name": "string", "description": "string", "parameters": JSON, "strict": "bool"},
    "extra": JSON,
}
OBSERVATION: dict[str, Any] = {"content": "string", "ok": "bool", "error": ERROR, "done": "bool"}
VERDICT: dict[str, Any] = {
    "valid": "bool",
    "stage": "string",
    "call": CALL,
    "errors": [ERROR],
    "final_answer": "string",
}
STEP: dict[str, Any] = {
    "index": "int64",
    "messages": [MESSAGE],
    "raw_output": "string",
    "call": CALL,
    "observation": OBSERVATION,
    "verdict": VERDICT,
    "started_at": "float64",
    "latency_s": "float64",
    "prompt_tokens": "int64",
    "completion_tokens": "int64",
    "error": "string",
    "state_before": JSON,
    "extra": JSON,
}
SCHEMA: dict[str, Any] = {
    "schema_version": "int64",
    "id": "string",
    "task": {"id": "string", "prompt": "string"},
    "tools": [TOOL],
    "format": "string",
    "steps": [STEP],
    "outcome": {
        "status": "string",
        "success": "bool",
        "final_answer": "string",
        "error": "string",
    },
    "metadata": {"source": "string", "model": "string", "created_at": "string", "extra": JSON},
}
"""Every column of a stored line: an Arrow type name, ``JSON``, ``[item]`` (a list) or
``{key: type}`` (a struct). Every value may be ``null``; a struct's key may be absent."""


def features() -> datasets.Features:
    """``SCHEMA`` as ``datasets.Features`` (imports ``datasets``: call it only to load)."""
    import datasets

    def convert(decl: Any) -> Any:
        if isinstance(decl, list):
            return datasets.List(convert(decl[0]))
        if isinstance(decl, dict):
            return {k: convert(v) for k, v in decl.items()}
        return datasets.Value("string" if decl == JSON else decl)

    return datasets.Features(convert(SCHEMA))
