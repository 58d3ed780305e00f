"""Output formats: how a tool call is wrapped in a model's raw text, both ways.

Three envelopes around the same call object ``{"name": ..., "arguments": {...}}``:

- ``json``: the whole output (surrounding whitespace allowed) is the call object.
- ``react``: free reasoning (``Thought: ...``), then a line ``Action: `` followed by exactly the
  call object and nothing after it; ``Final Answer: ...`` ends the episode instead.
- ``hermes``: ``<tool_call>{...}</tool_call>`` — the Qwen2.5/Hermes form that trl's response
  parsers read (``<tool_call>\\s*(.+?)\\s*</tool_call>``); text before the tag is allowed
  content, as in trl; one call per output. Like trl and vLLM, the call ends at the first
  ``</tool_call>``: a tag inside an argument must be escaped (``<\\/tool_call>``), and
  :func:`render_call` does so.

This module renders calls (:func:`render_call`, what an expert writes; :func:`render_raw_call`,
a provider's native call with its raw arguments string), states the format for a system prompt
(:func:`format_instructions`) and locates the JSON of a call in raw text (:func:`extract`). It
does not parse the JSON or check the call: that is :mod:`agent_rl.scorer`, which maps the
parser's ``extra_data`` back to an envelope kind with :func:`trailing_error`.

Envelope kinds (stage ``envelope``): ``empty``, ``code_fence``, ``prose_around_call``,
``multiple_calls``, ``missing_action``, ``action_not_json``, ``action_and_final_answer``,
``text_after_call``, ``missing_tag``, ``unbalanced_tag``, ``truncated``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any, Literal, NamedTuple

from agent_rl.errors import ConfigError
from agent_rl.verdicts import ErrorEntry, ToolCall

__all__ = [
    "FORMATS",
    "Extraction",
    "Format",
    "extract",
    "extractor",
    "format_instructions",
    "render_call",
    "render_final",
    "render_raw_call",
    "trailing_error",
]

Format = Literal["json", "react", "hermes"]
FORMATS: tuple[Format, ...] = ("json", "react", "hermes")

ACTION = "Action:"
FINAL_ANSWER = "Final Answer:"
OPEN_TAG = "<tool_call>"
CLOSE_TAG = "</tool_call>"
JSON_WS = " \t\n\r"  # the only whitespace RFC 8259 allows around a value (not U+2028, NBSP...)

# Something that looks like a call object (quoted or not): a call wrapped in prose, or a bare
# call where a tag was needed. Off the hot path: only for text that is not a call as written.
_CALL_LIKE = re.compile(r"""\{\s*["']?(?:name|arguments)["']?\s*:""")
_EXAMPLE = ToolCall("read_file", {"path": "src/app.py"})


class Extraction(NamedTuple):
    """Where the call is in a raw output, or what else the output is.

    Exactly one of: ``json_text`` (the call's JSON text, starting at char ``offset`` of the
    output; it may carry trailing text the parser reports as ``extra_data``), ``final_answer``
    (a valid non-call), or ``error`` (an envelope error).
    """

    json_text: str | None
    offset: int = 0
    final_answer: str | None = None
    error: ErrorEntry | None = None


def _check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise ConfigError(
            f"format {fmt!r} is not supported because agent-rl knows only {', '.join(FORMATS)}. "
            "Set format to one of those."
        )


def _call_json(call: ToolCall | dict[str, Any]) -> str:
    if isinstance(call, ToolCall):
        call = call.to_dict()
    # Default separators: byte-for-byte what Qwen/Hermes chat templates write (``tojson``).
    return json.dumps(
        {"name": call["name"], "arguments": call["arguments"]},
        ensure_ascii=False,
        allow_nan=False,
    )


def render_call(
    call: ToolCall | dict[str, Any], fmt: Format = "json", thought: str | None = None
) -> str:
    """The canonical text of ``call`` in ``fmt``: what an expert writes, and what the scorer
    accepts. ``thought`` goes before the call in ``react`` (``Thought: ...``) and ``hermes``;
    ``json`` has no room for one (it is ignored)."""
    _check_format(fmt)
    return _wrap(_escape_tags(_call_json(call), fmt), fmt, thought)


def render_raw_call(
    name: Any, arguments: Any, fmt: Format = "json", thought: str | None = None
) -> str:
    """A provider's native tool call as call text in ``fmt``: ``{"name": ..., "arguments": ...}``
    with ``arguments`` — the raw string the provider sent (a string on OpenAI's wire) — spliced
    in verbatim, so malformed JSON stays malformed for the scorer. A non-string ``arguments`` is
    JSON-encoded (``None``: ``null``), and so is ``name``, as given (a missing or non-string
    name stays visible to the scorer). The one place raw arguments become call text."""
    _check_format(fmt)
    encode = json.JSONEncoder(ensure_ascii=False, default=repr).encode
    raw = arguments if isinstance(arguments, str) else _escape_tags(encode(arguments), fmt)
    body = '{"name": ' + _escape_tags(encode(name), fmt) + ', "arguments": ' + raw + "}"
    return _wrap(body, fmt, thought)


def _escape_tags(json_text: str, fmt: Format) -> str:
    # Hermes parsers (trl, vLLM) end a call at the first closing tag, so a tag inside a string
    # must be escaped; "<" can only occur inside JSON strings, where both escapes are exact.
    if fmt != "hermes" or "<" not in json_text:
        return json_text
    return json_text.replace(OPEN_TAG, "\\u003ctool_call>").replace(CLOSE_TAG, "<\\/tool_call>")


def _wrap(body: str, fmt: Format, thought: str | None) -> str:
    if fmt == "json":
        return body
    if fmt == "react":
        action = f"{ACTION} {body}"
        return action if thought is None else f"Thought: {thought}\n{action}"
    tagged = f"{OPEN_TAG}\n{body}\n{CLOSE_TAG}"
    return tagged if thought is None else f"{thought}\n{tagged}"


def render_final(answer: str, fmt: Format = "json", thought: str | None = None) -> str:
    """The canonical text of a final answer (no tool call) in ``fmt``."""
    _check_format(fmt)
    if fmt == "react":
        final = f"{FINAL_ANSWER} {answer}"
        return final if thought is None else f"Thought: {thought}\n{final}"
    return answer


_INSTRUCTIONS: dict[str, str] = {
    "json": (
        "Reply with exactly one JSON object and nothing else: no prose, no code fences. "
        'To call a tool, write {{"name": <tool name>, "arguments": <object of arguments>}}, '
        "for example:\n{example}\n"
        "Use double quotes, escape quotes, backslashes and newlines inside strings, and give "
        "each key once. When you need no tool, reply with your final answer as plain text "
        "instead."
    ),
    "react": (
        "Think, then act. Write Thought: with your reasoning, then on its own line Action: "
        'followed by exactly one JSON object {{"name": <tool name>, "arguments": <object of '
        "arguments>}} and nothing after it; the tool's result comes back as an Observation. "
        "For example:\n{example}\n"
        "Use double quotes, escape quotes, backslashes and newlines inside strings, and give "
        "each key once. When you are done, write Final Answer: followed by your answer instead "
        "of an Action."
    ),
    "hermes": (
        'To call a tool, write one JSON object {{"name": <tool name>, "arguments": <object of '
        "arguments>}} inside <tool_call></tool_call> tags, one call per reply and nothing "
        "after the closing tag. For example:\n{example}\n"
        "Use double quotes, escape quotes, backslashes and newlines inside strings, and give "
        "each key once. To answer without a tool, reply in plain text with no tags."
    ),
}


def format_instructions(fmt: Format = "json") -> str:
    """The exact paragraph a system prompt uses to state the output format, with one example."""
    _check_format(fmt)
    thought = "I need to read the file before changing it." if fmt == "react" else None
    return _INSTRUCTIONS[fmt].format(example=render_call(_EXAMPLE, fmt, thought))


# --- extraction ------------------------------------------------------------------------------


_new = tuple.__new__  # builds an Extraction without NamedTuple's Python-level __new__ (hot path)


def _err(kind: str, msg: str, at: int) -> Extraction:
    return Extraction(None, error=ErrorEntry(kind, msg, ("char", at)))


def _empty() -> Extraction:
    return _err("empty", "the output is empty: write a tool call or a final answer", 0)


def _line_find(text: str, needle: str, start: int = 0) -> int:
    """Index of ``needle`` at the start of a line of ``text`` (from ``start``), or -1."""
    i = text.find(needle, start)
    while i > 0 and text[i - 1] != "\n":
        i = text.find(needle, i + 1)
    return i


def _plain(text: str, tagged: bool) -> Extraction:
    """Text that is not a call as written: a final answer, unless a call hides in it."""
    answer = text.strip()
    if not answer:
        return _empty()
    m = _CALL_LIKE.search(text)
    if m is None:
        return Extraction(None, final_answer=answer)
    at = m.start()
    if "```" in text[:at]:
        return _err(
            "code_fence",
            "the call is inside a code fence: write the JSON object alone, without ```",
            text.index("```"),
        )
    if tagged:
        return _err(
            "missing_tag",
            f"a call must be wrapped in {OPEN_TAG}...{CLOSE_TAG}; this one has no tags",
            at,
        )
    return _err(
        "prose_around_call",
        "the output must be the JSON object alone; remove the text around it",
        at,
    )


def _extract_json(text: str) -> Extraction:
    if text[:1] == "{":
        return _new(Extraction, (text, 0, None, None))
    body = text.lstrip(JSON_WS)
    c = body[:1]
    if c == "{" or (c == "[" and body[1:].lstrip(JSON_WS)[:1] in ("{", "]")):
        return Extraction(body, len(text) - len(body))
    return _plain(text, tagged=False)


def _react_without_action(text: str) -> Extraction:
    f = _line_find(text, FINAL_ANSWER)
    if f < 0:
        if not text.strip():
            return _empty()
        return _err(
            "missing_action",
            f"no line starts with '{ACTION}' or '{FINAL_ANSWER}': write "
            f'{ACTION} {{"name": ..., "arguments": {{...}}}} on its own line',
            0,
        )
    answer = text[f + len(FINAL_ANSWER) :].strip()
    return Extraction(None, final_answer=answer) if answer else _empty()


def _react_conflict(text: str, a: int) -> Extraction | None:
    """A second Action line or a Final Answer line besides the Action at ``a``, if any."""
    f = _line_find(text, FINAL_ANSWER)
    if f >= 0:
        return _err(
            "action_and_final_answer",
            f"write either an {ACTION} line or a {FINAL_ANSWER} line, not both",
            min(a, f),
        )
    second = _line_find(text, ACTION, a + len(ACTION))
    if second >= 0:
        return _err("multiple_calls", f"one {ACTION} per output; this one has another here", second)
    return None


def _extract_react(text: str) -> Extraction:
    a = text.find(ACTION)
    if a > 0 and text[a - 1] != "\n":
        a = _line_find(text, ACTION, a + 1)
    if a < 0:
        return _react_without_action(text)
    # Another Action or a Final Answer needs a line of its own: before the Action, or after
    # a newline that follows it (JSON strings cannot hold a raw newline).
    if text.find("\n", a) >= 0 or (a and text.find(FINAL_ANSWER, 0, a) >= 0):
        conflict = _react_conflict(text, a)
        if conflict is not None:
            return conflict
    rest = text[a + len(ACTION) :]
    body = rest.lstrip(JSON_WS)
    at = len(text) - len(body)
    c = body[:1]
    if c == "{" or c == "[" or not c:
        return _new(Extraction, (body, at, None, None))
    if body.startswith("```"):
        return _err("code_fence", f"write the JSON object right after {ACTION}, without ```", at)
    hint = " (not the 'Action: tool / Action Input: {...}' form)" if "Action Input:" in rest else ""
    return _err(
        "action_not_json",
        f'{ACTION} must be followed by the JSON object {{"name": ..., "arguments": {{...}}}}'
        + hint,
        at,
    )


def _extract_hermes(text: str) -> Extraction:
    i = text.find(OPEN_TAG)
    if i < 0:
        close = text.find(CLOSE_TAG)
        if close >= 0:
            return _err("unbalanced_tag", f"{CLOSE_TAG} without an opening {OPEN_TAG}", close)
        return _plain(text, tagged=True)
    start = i + len(OPEN_TAG)
    k = text.find(CLOSE_TAG, start)
    if k < 0:
        second = text.find(OPEN_TAG, start)
        if second >= 0:
            return _multiple_tags(second)
        return _err(
            "truncated",
            f"{OPEN_TAG} is never closed: the output ends before {CLOSE_TAG}",
            len(text),
        )
    end = k + len(CLOSE_TAG)
    if end < len(text) and not text[end:].isspace():
        second = text.find(OPEN_TAG, end)
        if second >= 0:
            return _multiple_tags(second)
        at = len(text) - len(text[end:].lstrip())
        return _err("text_after_call", f"nothing may follow {CLOSE_TAG}", at)
    body = text[start:k]
    if "<" in body:  # "<" only occurs inside JSON strings: rare, so the tag search can wait
        second = body.find(OPEN_TAG)
        if second >= 0:
            return _multiple_tags(start + second)
    return _new(Extraction, (body, start, None, None))


def _multiple_tags(at: int) -> Extraction:
    return _err("multiple_calls", f"one {OPEN_TAG} per output; another starts here", at)


_EXTRACTORS = {"json": _extract_json, "react": _extract_react, "hermes": _extract_hermes}


def extractor(fmt: Format) -> Callable[[str], Extraction]:
    """The extraction function of ``fmt`` (the scorer binds it once)."""
    _check_format(fmt)
    return _EXTRACTORS[fmt]


def extract(text: str, fmt: Format = "json") -> Extraction:
    """Locate the call in a raw output: its JSON text and offset, a final answer, or an
    envelope error. Never raises on any text."""
    _check_format(fmt)
    return _EXTRACTORS[fmt](text)


def trailing_error(fmt: Format, text: str, at: int) -> ErrorEntry:
    """The envelope error for text that follows a complete JSON value at char ``at`` of the
    output (what the parser reports as ``extra_data``)."""
    rest = text[at:].lstrip()
    at = len(text) - len(rest)
    if rest[:1] in ("{", "["):
        return ErrorEntry(
            "multiple_calls", "one call per output; another value starts here", ("char", at)
        )
    if fmt == "json":
        return ErrorEntry(
            "prose_around_call",
            "the output must be the JSON object alone; remove the text after it",
            ("char", at),
        )
    if fmt == "react":
        msg = (
            f"nothing may follow the JSON object of {ACTION} (the Observation comes from the tool)"
        )
    else:
        msg = f"only whitespace may follow the JSON object inside {OPEN_TAG}...{CLOSE_TAG}"
    return ErrorEntry("text_after_call", msg, ("char", at))
