"""The runtime's pieces without a server: raw argument slices, SSE chunks read back, the
answer a raw text becomes, and the conversation index."""

from __future__ import annotations

import json
from typing import Any

import pytest

from agent_rl.runtime.capture import ConversationIndex, scorer_for
from agent_rl.runtime.serve import answer, raw_arguments, template_messages
from agent_rl.runtime.wire import Choice, StreamAccumulator, completion_chunks

GCD = {
    "type": "function",
    "function": {
        "name": "math.gcd",
        "parameters": {
            "type": "object",
            "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
        },
    },
}


@pytest.mark.parametrize(
    ("text", "arguments"),
    [
        ('{"name": "f", "arguments": {"a": 1}}', '{"a": 1}'),
        ('{"arguments":{"a" :  [1, {"}": "\\""}]},"name":"f"}', '{"a" :  [1, {"}": "\\""}]}'),
        ('\n { "name" : "f" ,\n "arguments" :\t{ }\n}\n', "{ }"),
        (
            '{"name": "f", "arguments": {"s": "<\\/tool_call> \\u00e9"}}',
            '{"s": "<\\/tool_call> \\u00e9"}',
        ),
    ],
)
def test_raw_arguments_is_the_slice_the_model_wrote(text: str, arguments: str) -> None:
    assert raw_arguments(text) == arguments
    assert json.loads(arguments) == json.loads(text)["arguments"]


@pytest.mark.parametrize(
    ("text", "calls", "content"),
    [
        (
            '<tool_call>\n{"name": "math.gcd", "arguments": {"a": 1,  "b": 2}}\n</tool_call>',
            [("math.gcd", '{"a": 1,  "b": 2}')],
            None,
        ),
        (
            'Let me see.\n<tool_call>\n{"name": "math.gcd", "arguments": {}}\n</tool_call>',
            [("math.gcd", "{}")],
            "Let me see.\n",
        ),
        ('<tool_call>\n{"name": "math.gcd", "arguments": {"a": "1"}}\n</tool_call>', [], "same"),
        ('<tool_call>\n{"name": "math.lcm", "arguments": {}}\n</tool_call>', [], "same"),
        ('<tool_call>\n{"name": "math.gcd", "arguments": {}}', [], "same"),
        ("The answer is 6.", [], "same"),
    ],
)
def test_answer_is_tool_calls_only_for_a_valid_call(
    text: str, calls: list[tuple[str, str]], content: str | None
) -> None:
    verdict = scorer_for([GCD], "hermes").score(text)
    choice = answer(text, verdict, "hermes", calls_allowed=True)
    got = [
        (c["function"]["name"], c["function"]["arguments"])
        for c in choice.message.get("tool_calls", [])
    ]
    assert got == calls and verdict.valid == (bool(calls) or "<tool_call>" not in text)
    assert choice.message["content"] == (text if content == "same" else content)
    assert choice.finish_reason == ("tool_calls" if calls else "stop")
    assert answer(text, verdict, "hermes", calls_allowed=False).message == {
        "role": "assistant",
        "content": text,
    }


def _choices() -> list[Choice]:
    call = {
        "id": "call_1",
        "type": "function",
        "function": {"name": "math.gcd", "arguments": '{"a": 12,  "b": "x" }' * 3},
    }
    return [
        Choice({"role": "assistant", "content": "é" * 60 + "\n\n" + "data: [DONE]"}, "length"),
        Choice(
            {"role": "assistant", "content": "thinking", "tool_calls": [call, call]}, "tool_calls"
        ),
    ]


@pytest.mark.parametrize("piece", [1, 7, 64, 10_000])
def test_streamed_chunks_read_back_into_the_same_messages(piece: int) -> None:
    usage = {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}
    data = b"".join(completion_chunks("id", "m", _choices(), usage, include_usage=True))
    reader = StreamAccumulator()
    done = [reader.feed(data[i : i + piece]) for i in range(0, len(data), piece)]
    assert done[-1] and not any(done[:-1]) and reader.errors == []
    assert reader.messages() == [(c.message, c.finish_reason) for c in _choices()]
    assert reader.usage == usage


def test_stream_reader_skips_comments_and_keeps_bad_events() -> None:
    reader = StreamAccumulator()
    reader.feed(b': ping\r\n\r\ndata: not json\n\ndata: {"choices": [{"index": 0, "delta":')
    reader.feed(b' {"content": "hi"}, "finish_reason": "stop"}]}\n\n')
    assert reader.messages() == [({"role": "assistant", "content": "hi"}, "stop")]
    assert reader.errors == ["not json"] and not reader.done


def test_template_messages_give_templates_argument_objects() -> None:
    messages: list[dict[str, Any]] = [
        {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "1", "type": "function", "function": {"name": "f", "arguments": '{"x": 1}'}},
                {"id": "2", "type": "function", "function": {"name": "f", "arguments": "{bad"}},
            ],
        },
    ]
    out = template_messages(messages)
    assert out[0]["content"] == "ab"
    assert [c["function"]["arguments"] for c in out[1]["tool_calls"]] == [{"x": 1}, "{bad"]
    assert messages[1]["tool_calls"][0]["function"]["arguments"] == '{"x": 1}'  # not mutated


def test_conversation_index_follows_answers_whatever_the_json_spacing() -> None:
    index = ConversationIndex(max_entries=3)
    opening = [{"role": "user", "content": "go"}]
    conv = index.find(opening)
    assert index.find(opening) != conv  # nothing registered yet: a new conversation each time
    sent = {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "c1",
                "type": "function",
                "function": {"name": "f", "arguments": '{"a":1,"b":2}'},
            }
        ],
    }
    index.register(conv, opening, [sent])
    back = {
        "role": "assistant",
        "content": "",
        "tool_calls": [  # as LangChain sends it back
            {
                "id": "c1",
                "type": "function",
                "function": {"name": "f", "arguments": '{"b": 2, "a": 1}'},
            }
        ],
    }
    tool = {"role": "tool", "tool_call_id": "c1", "content": "3"}
    assert index.find([*opening, back, tool]) == conv
    other = {**back, "tool_calls": [{**back["tool_calls"][0], "id": "c2"}]}
    assert index.find([*opening, other, tool]) != conv  # another call id: another conversation
    assert index.find([*opening, back, tool], explicit="named") == "named"
    for k in range(3):  # bounded: the oldest entry goes first
        index.register(f"c{k}", [{"role": "user", "content": str(k)}], [{"role": "assistant"}])
    assert index.find([*opening, back, tool]) != conv
