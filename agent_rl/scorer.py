"""The Scorer: one raw model output in, one ``CallVerdict`` out — the binary verifier of agent-rl.

Stages, in order; the verdict's ``stage`` is the first that failed:

1. ``envelope`` of the format (:mod:`agent_rl.formats`): where the call is in the text, or a
   final answer, or ``code_fence`` / ``prose_around_call`` / ``missing_action`` ... ;
2. ``parse``: strict JSON (:mod:`agent_rl.strict_json`) — ``truncated``, ``trailing_comma``,
   ``nan_or_infinity``, ``invalid_utf8`` ... with ``loc=("char", offset in the output)``;
3. ``envelope`` of the call object: exactly ``name`` (a string) and ``arguments`` (an object),
   no ``duplicate_key`` anywhere in it;
4. ``tool``: ``unknown_tool`` (the message suggests the closest name);
5. ``arguments``: the tool's JSON Schema (:meth:`ToolSpec.validate_arguments`);
6. ``state``: ``state.check(call)`` of the episode's state (a ``CodingSandbox``), if given.

Valid calls take a fast path (``loads_strict``, a few type checks, one compiled schema check,
one verdict); only invalid ones pay for diagnostics. Any text or bytes gives a verdict; a bug
in the scorer or in a tool's validator raises — it is never scored as an invalid call.
This module imports neither torch nor the agent. It does not apply calls except in
:meth:`Scorer.score_episode`, which carries state with ``state.step``.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any

from agent_rl.errors import ToolSpecError
from agent_rl.formats import Extraction, Format, extractor, trailing_error
from agent_rl.kinds import NO_CALL
from agent_rl.strict_json import JsonVerdict, StrictJsonError, loads_strict
from agent_rl.tool_spec import ToolSpec
from agent_rl.verdicts import CallState, CallVerdict, EpisodeVerdict, ErrorEntry, ToolCall

__all__ = ["NO_CALL", "Scorer", "scorer_for"]


MAX_ERRORS = 20  # per verdict: a million bad keys must not make a million entries
_ARG_ALIASES = ("parameters", "args", "input", "arguments_json", "params")
_NAME_ALIASES = ("function", "tool", "tool_name", "action")


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "an array" if isinstance(value, list) else "an object"


class _PairsDict(dict):  # type: ignore[type-arg]
    """A JSON object that remembers the keys it saw more than once (slow path only)."""

    __slots__ = ("dups",)


def _pairs_hook(pairs: list[tuple[str, Any]]) -> _PairsDict:
    d = _PairsDict(pairs)
    seen: set[str] = set()
    d.dups = [k for k, _ in pairs if k in seen or seen.add(k)]  # type: ignore[func-returns-value]
    return d


def _duplicate_paths(json_text: str) -> list[tuple[str | int, ...]]:
    """``loc`` of every duplicate key (JSON already known to be strictly valid)."""
    found: list[tuple[str | int, ...]] = []
    stack: list[tuple[Any, tuple[str | int, ...]]] = [
        (json.loads(json_text, object_pairs_hook=_pairs_hook), ())
    ]
    while stack:
        node, path = stack.pop()
        if isinstance(node, _PairsDict):
            found.extend((*path, k) for k in dict.fromkeys(node.dups))
            stack.extend((v, (*path, k)) for k, v in node.items())
        elif isinstance(node, list):
            stack.extend((v, (*path, i)) for i, v in enumerate(node))
    return sorted(found, key=lambda p: [str(x) for x in p])


def _call_errors(value: Any, json_text: str, duplicates: Sequence[str]) -> list[ErrorEntry]:
    """Envelope errors of a parsed call object (empty list: the shape is right)."""
    if not isinstance(value, dict):
        hint = " (one call per output, not a list of calls)" if isinstance(value, list) else ""
        return [
            ErrorEntry(
                "not_an_object",
                f'a call is a JSON object {{"name": ..., "arguments": {{...}}}}, '
                f"not {_json_type(value)}{hint}",
            )
        ]
    errors = [
        ErrorEntry(
            "duplicate_key",
            f"key {loc[-1]!r} appears more than once: a call must "
            "be unambiguous, give each key once",
            loc,
        )
        for loc in (_duplicate_paths(json_text) or [(k,) for k in duplicates] if duplicates else ())
    ]
    if "name" not in value:
        alias = next((a for a in _NAME_ALIASES if a in value), None)
        hint = f" (found {alias!r}: rename it to 'name')" if alias else ""
        errors.append(ErrorEntry("missing_name", f"the call has no 'name'{hint}", ("name",)))
    elif not isinstance(value["name"], str):
        errors.append(
            ErrorEntry(
                "name_not_string",
                f"'name' must be a string, not {_json_type(value['name'])}",
                ("name",),
            )
        )
    if "arguments" not in value:
        alias = next((a for a in _ARG_ALIASES if a in value), None)
        hint = f" (found {alias!r}: rename it to 'arguments')" if alias else ""
        errors.append(
            ErrorEntry("missing_arguments", f"the call has no 'arguments'{hint}", ("arguments",))
        )
    elif not isinstance(value["arguments"], dict):
        args = value["arguments"]
        hint = (
            ": write the object itself, not a JSON-encoded string" if isinstance(args, str) else ""
        )
        errors.append(
            ErrorEntry(
                "arguments_not_object",
                f"'arguments' must be a JSON object, not {_json_type(args)}{hint}",
                ("arguments",),
            )
        )
    errors.extend(
        ErrorEntry(
            "extra_key", f"unexpected key {k!r}: a call has only 'name' and 'arguments'", (k,)
        )
        for k in value
        if k not in ("name", "arguments")
    )
    return errors


# The hot path builds its two frozen, slotted objects through their slot descriptors: the same
# objects as the dataclass constructors make, at half the cost (their __init__ goes through
# object.__setattr__ per field to honour frozen=True).
_new = object.__new__
_set_name, _set_arguments = (
    ToolCall.__dict__["name"].__set__,
    ToolCall.__dict__["arguments"].__set__,
)
_VERDICT_SLOTS = [
    CallVerdict.__dict__[f].__set__ for f in ("valid", "stage", "call", "errors", "final_answer")
]
_set_valid, _set_stage, _set_call, _set_errors, _set_final = _VERDICT_SLOTS


def _tool_call(name: str, arguments: dict[str, Any]) -> ToolCall:
    call = _new(ToolCall)
    _set_name(call, name)
    _set_arguments(call, arguments)
    return call


def _valid_call(call: ToolCall) -> CallVerdict:
    verdict = _new(CallVerdict)
    _set_valid(verdict, True)
    _set_stage(verdict, None)
    _set_call(verdict, call)
    _set_errors(verdict, ())
    _set_final(verdict, None)
    return verdict


class Scorer:
    """Scores raw outputs as tool calls for ``tools`` in one output ``format``.

    >>> scorer = Scorer(CodingSandbox({}).tools, format="react")
    >>> scorer.score('Action: {"name": "list_dir", "arguments": {"path": "."}}').valid
    True
    """

    __slots__ = ("_extract", "_names", "_validators", "format", "tools")

    def __init__(self, tools: Sequence[ToolSpec], format: Format = "json") -> None:
        self._extract: Callable[[str], Extraction] = extractor(format)
        self.format: Format = format
        self.tools: tuple[ToolSpec, ...] = tuple(tools)
        self._validators: dict[str, Callable[[dict[str, Any]], list[ErrorEntry]]] = {}
        for spec in self.tools:
            if spec.name in self._validators:
                raise ToolSpecError(
                    f"two tools are named {spec.name!r}: a call could not say which one it "
                    "means. Give each tool a unique name."
                )
            self._validators[spec.name] = spec.validate_arguments
        self._names = sorted(self._validators)

    def __repr__(self) -> str:
        return f"Scorer(tools={self._names!r}, format={self.format!r})"

    def score(
        self, text: str | bytes, state: CallState | None = None, *, expect_call: bool = False
    ) -> CallVerdict:
        """The verdict on one raw output; ``state.check`` is consulted, never ``state.step``.

        ``expect_call``: a tool call is due here (every step of a coding episode, which ends
        with ``finish``), so a plain-text reply is invalid — kind ``no_call`` at stage
        ``envelope`` — instead of a valid final answer. Rewards, evaluation and the agent loop
        all score with ``expect_call=True``: rewarding a final answer would teach the model to
        stop calling tools."""
        verdict = self._score(text, state)
        if expect_call and verdict.valid and verdict.call is None:
            entry = ErrorEntry(NO_CALL, "a tool call was due here, but the output is plain text")
            return CallVerdict(False, "envelope", None, (entry,), verdict.final_answer)
        return verdict

    def _score(self, text: str | bytes, state: CallState | None) -> CallVerdict:
        if type(text) is not str:
            text_or_verdict = self._decode(text)
            if isinstance(text_or_verdict, CallVerdict):
                return text_or_verdict
            text = text_or_verdict
        ex = self._extract(text)
        json_text = ex.json_text
        if json_text is None:
            if ex.error is None:
                return CallVerdict(True, None, None, (), ex.final_answer)
            return CallVerdict(False, "envelope", None, (ex.error,))
        try:
            value = loads_strict(json_text)
        except StrictJsonError as e:  # only that: any other exception is a bug and raises
            return self._slow_parse(text, ex, e.verdict)
        # Fast path: the right shape, a known tool, valid arguments.
        if type(value) is dict and len(value) == 2:
            name = value.get("name")
            args = value.get("arguments")
            if type(name) is str and type(args) is dict:
                validate = self._validators.get(name)
                if validate is not None:
                    call = _tool_call(name, args)
                    errors = validate(args)
                    if errors:
                        return CallVerdict(False, "arguments", call, tuple(errors[:MAX_ERRORS]))
                    if state is not None:
                        errors = state.check(call)
                        if errors:
                            return CallVerdict(False, "state", call, tuple(errors[:MAX_ERRORS]))
                    return _valid_call(call)
        return self._slow_call(value, json_text, ())

    def score_episode(
        self,
        steps: Sequence[str | bytes],
        state_factory: Callable[[], CallState] | None = None,
    ) -> EpisodeVerdict:
        """Verdicts of a whole episode: each valid call is applied with ``state.step`` on a
        fresh ``state_factory()`` so later steps are checked against the state it left."""
        state = None if state_factory is None else state_factory()
        verdicts = []
        for text in steps:
            verdict = self.score(text, state)
            verdicts.append(verdict)
            if state is not None and verdict.valid and verdict.call is not None:
                state.step(verdict.call)
        return EpisodeVerdict(tuple(verdicts))

    # --- slow paths: invalid outputs get their diagnostics here -------------------------------

    @staticmethod
    def _decode(data: Any) -> str | CallVerdict:
        if isinstance(data, str):
            return str(data)
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"Scorer.score expects str or bytes, not {type(data).__name__}")
        try:
            return bytes(data).decode("utf-8")
        except UnicodeDecodeError as e:
            entry = ErrorEntry(
                "invalid_utf8",
                f"the output is not valid UTF-8 (byte {e.start}: {e.reason})",
                ("byte", e.start),
            )
            return CallVerdict(False, "parse", None, (entry,))

    def _slow_parse(self, text: str, ex: Extraction, jv: JsonVerdict) -> CallVerdict:
        assert ex.json_text is not None
        if jv.ok:
            if not jv.duplicate_keys:
                raise RuntimeError(
                    "strict_json disagrees with itself: loads_strict rejected a text that "
                    f"parse_json accepts without duplicate keys: {ex.json_text[:200]!r}"
                )
            return self._slow_call(jv.value, ex.json_text, jv.duplicate_keys)
        at = ex.offset + (jv.offset or 0)
        if jv.error == "extra_data":
            return CallVerdict(False, "envelope", None, (trailing_error(self.format, text, at),))
        loc: tuple[str | int, ...] = () if jv.offset is None else ("char", at)
        msg = jv.message if not ex.offset else f"{jv.message} of the call's JSON (char {at})"
        return CallVerdict(False, "parse", None, (ErrorEntry(jv.error or "invalid", msg, loc),))

    def _slow_call(self, value: Any, json_text: str, duplicates: Sequence[str]) -> CallVerdict:
        errors = _call_errors(value, json_text, duplicates)
        if errors:
            return CallVerdict(False, "envelope", None, tuple(errors[:MAX_ERRORS]))
        name, args = value["name"], value["arguments"]
        call = ToolCall(name, args)
        if name not in self._validators:
            close = (  # bounded: difflib is quadratic-ish in the name's length
                difflib.get_close_matches(name, self._names, n=1, cutoff=0.6)
                if len(name) <= 100
                else []
            )
            hint = f"; did you mean {close[0]!r}?" if close else ""
            known = ", ".join(self._names) or "none"
            msg = f"unknown tool {name[:100]!r}{hint} (tools: {known})"
            return CallVerdict(False, "tool", call, (ErrorEntry("unknown_tool", msg, ("name",)),))
        raise RuntimeError(f"Scorer fast path missed a well-formed call to {name!r}")  # a bug


@lru_cache(maxsize=64)
def _scorer_for(tools_json: str, fmt: Format) -> Scorer:
    return Scorer([ToolSpec.from_openai(t) for t in json.loads(tools_json)], fmt)


def scorer_for(tools: str | Sequence[Any], fmt: Format) -> Scorer:
    """The one cached ``Scorer`` for a tool list and format. ``tools``: OpenAI tool dicts or
    ``ToolSpec``s, or their JSON text (as the training datasets carry them). Compiling a tool's
    argument check is the expensive part of a ``Scorer``, so every caller shares these."""
    if not isinstance(tools, str):
        tools = json.dumps(
            [t.to_openai() if hasattr(t, "to_openai") else t for t in tools], ensure_ascii=False
        )
    return _scorer_for(tools, fmt)
