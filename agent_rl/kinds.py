"""Every error kind agent-rl emits, in one place: its stage and a one-line meaning.

An ``ErrorEntry.type`` is one of these stable strings; scorers, rewards, metrics and recorded
trajectories key on them. ``KINDS`` maps each kind to the places it can appear:

- ``parse``: the strict JSON check (``agent_rl.strict_json.ERROR_KINDS``, whose meanings are
  reused here) and the scorer's UTF-8 decoding;
- ``envelope``: the call's wrapper (``agent_rl.formats``) and its object shape (``scorer``);
- ``tool``: the tool name; ``arguments``: the tool's argument schema (``agent_rl._schema``,
  ``tool_spec``); ``state``: the episode's state (``agent_rl.sandbox``);
- ``observation``: only in an ``Observation.error`` (a call the environment refused outright,
  or a framework tool's exception), never in a verdict.

``no_call`` is the scorer's envelope kind for plain text where a call was due
(``Scorer.score(..., expect_call=True)``: rewards, evaluation and the agent loop).

A test checks that every kind the code can emit is listed with the stage it appears in. This
module is data only and imports nothing heavy.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final, Literal

from agent_rl.strict_json import ERROR_KINDS as JSON_KINDS

__all__ = ["KINDS", "KNOWN_KINDS", "NO_CALL", "Kind", "Where"]

Where = Literal["parse", "envelope", "tool", "arguments", "state", "observation"]

NO_CALL: Final = "no_call"


@dataclass(frozen=True, slots=True)
class Kind:
    """One error kind: where it appears (first the usual place) and what it means."""

    name: str
    stages: tuple[Where, ...]
    meaning: str


# Kinds that strict_json emits and the envelope stage emits too, for the same problem.
_ALSO_ENVELOPE = ("empty", "truncated", "code_fence")

_OTHER: tuple[tuple[str, tuple[Where, ...], str], ...] = (
    # envelope: formats (the wrapper around the call)
    ("missing_action", ("envelope",), "react: no line starts with Action: or Final Answer:"),
    ("action_not_json", ("envelope",), "react: Action: is not followed by a JSON object"),
    ("action_and_final_answer", ("envelope",), "react: both an Action and a Final Answer line"),
    ("missing_tag", ("envelope",), "hermes: a call without <tool_call>...</tool_call> tags"),
    ("unbalanced_tag", ("envelope",), "hermes: a </tool_call> without an opening <tool_call>"),
    ("prose_around_call", ("envelope",), "json: text before or after the call object"),
    ("text_after_call", ("envelope",), "text after the call (after </tool_call>, or the JSON)"),
    ("multiple_calls", ("envelope",), "more than one call in one output"),
    # envelope: the call object (scorer)
    ("not_an_object", ("envelope",), "the call is not a JSON object (a list of calls, a string)"),
    ("duplicate_key", ("envelope",), "a key appears twice in the call: ambiguous"),
    ("missing_name", ("envelope",), "the call has no 'name'"),
    ("name_not_string", ("envelope",), "'name' is not a string"),
    ("missing_arguments", ("envelope",), "the call has no 'arguments'"),
    (
        "arguments_not_object",
        ("envelope", "arguments"),
        "'arguments' is not a JSON object (often a JSON-encoded string)",
    ),
    ("extra_key", ("envelope",), "a key besides 'name' and 'arguments' in the call"),
    # tool
    ("unknown_tool", ("tool", "state"), "no tool of that name is offered"),
    # arguments: the tool's argument schema
    ("missing_argument", ("arguments",), "a required argument is missing"),
    ("unknown_argument", ("arguments",), "an argument the schema does not define (a typo)"),
    ("wrong_type", ("arguments",), "an argument of the wrong JSON type"),
    ("invalid_value", ("arguments",), "an argument outside its enum, range, pattern or length"),
    ("schema_violation", ("arguments",), "any other schema keyword the arguments break"),
    # state: the sandbox
    ("file_not_found", ("state",), "the file does not exist"),
    ("dir_not_found", ("state",), "the folder does not exist"),
    ("path_not_found", ("state",), "the path does not exist"),
    ("is_a_directory", ("state",), "a folder where a file is needed"),
    ("not_a_directory", ("state",), "a file where a folder is needed (or as a parent folder)"),
    ("invalid_path", ("state",), "an empty, overlong, non-printable, backslash or drive path"),
    ("path_outside_workspace", ("state",), "an absolute path or one leading out with .. or ~"),
    ("line_out_of_range", ("state",), "a line number past the end of the file"),
    ("invalid_line_range", ("state",), "end_line before start_line"),
    ("old_text_not_found", ("state",), "edit_file: the old text is not in the file"),
    ("old_text_ambiguous", ("state",), "edit_file: the old text occurs more than once"),
    ("no_op_edit", ("state",), "edit_file: old and new are the same text"),
    ("content_too_large", ("state",), "the file or the workspace would pass its size limit"),
    ("too_many_files", ("state",), "the workspace already holds its maximum number of files"),
    ("already_finished", ("state",), "a call after finish ended the episode"),
    # observation only
    ("no_tool_call", ("observation",), "the sandbox was stepped with an output that is no call"),
    ("invalid_arguments", ("observation", "state"), "arguments that are not a JSON object"),
    ("tool_error", ("observation",), "a framework tool raised (recorded from LangChain)"),
    # the training rewards
    (NO_CALL, ("envelope",), "plain text (no call) where a call was due"),
)


def _build() -> dict[str, Kind]:
    kinds = {
        name: Kind(name, ("parse", "envelope") if name in _ALSO_ENVELOPE else ("parse",), meaning)
        for name, meaning in JSON_KINDS.items()
    }
    for name, stages, meaning in _OTHER:
        if name in kinds:
            raise AssertionError(f"error kind {name!r} is listed twice")
        kinds[name] = Kind(name, stages, meaning)
    return kinds


KINDS: Final[Mapping[str, Kind]] = MappingProxyType(_build())
"""Every error kind, by name."""
KNOWN_KINDS: Final[tuple[str, ...]] = tuple(KINDS)
"""The names of ``KINDS``, in their documented order (parse, envelope, tool, arguments, state,
observation)."""
