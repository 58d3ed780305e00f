"""Error-located credit: the scorer's first error found in the raw text, mapped to its token, and
trl's GRPO advantages split there — on the real scorer, tokenizer and GRPOTrainer."""

# ruff: noqa: E501
from __future__ import annotations

import json

import pytest

from agent_rl.sandbox import CodingSandbox
from agent_rl.training.credit import error_offset, split_advantages, token_at
from agent_rl.training.rewards import score_completion

TOOLS = json.dumps(
    [
        {
            "type": "function",
            "function": {
                "name": name,
                "description": name,
                "parameters": {
                    "type": "object",
                    "properties": {key: {"type": kind} for key, kind in props.items()},
                    "required": required,
                },
            },
        }
        for name, props, required in (
            ("read_file", {"path": "string", "start_line": "integer"}, ["path"]),
            (
                "edit_file",
                {"path": "string", "old": "string", "new": "string"},
                ["path", "old", "new"],
            ),
        )
    ]
)
BOX = CodingSandbox({"a.py": "x = 1\n"})
CALL = 'Action: {"name": "%s", "arguments": {%s}}'


@pytest.mark.parametrize(
    ("arguments", "tool", "kind", "at"),
    [
        ('"path": "b.py"', "read_file", "file_not_found", 'b.py"}}'),
        ('"path": "a.py", "path": "a.py"', "read_file", "duplicate_key", 'path": "a.py"}}'),
        ('"path": "a.py", "new": "x"', "read_file", "unknown_argument", 'new": "x"}}'),
        ('"path": "a.py", "old": "x = 1"', "edit_file", "missing_argument", "}}"),
        ('"path": "a.py", "old": "x = 2", "new": "y"', "edit_file", "old_text_not_found", 'x = 2", "new": "y"}}'),
        ('"path": "a.py", "start_line": "2"', "read_file", "wrong_type", '2"}}'),
        ('"path": "a.py"', "reed_file", "unknown_tool", 'reed_file", "arguments": {"path": "a.py"}}'),
        ('"path": "a\\\\b\\"c"d.py"', "read_file", "unescaped_quote", '"d.py"}}'),
        ('"path": "a.py", ', "read_file", "trailing_comma", ", }}"),
    ],
)  # fmt: skip
def test_the_first_error_is_found_where_the_call_went_wrong(
    arguments: str, tool: str, kind: str, at: str
) -> None:
    text = CALL % (tool, arguments)
    verdict = score_completion(text, TOOLS, "react", BOX)
    assert verdict.kind == kind
    offset = error_offset(text, verdict, "react")
    assert offset is not None and text[offset:] == at


def test_a_valid_call_or_an_error_without_a_place_has_no_offset() -> None:
    valid = CALL % ("read_file", '"path": "a.py"')
    assert error_offset(valid, score_completion(valid, TOOLS, "react", BOX), "react") is None
    prose = "The file is fine."  # a plain-text reply where a call was due: the whole reply
    verdict = score_completion(prose, TOOLS, "react", BOX)
    assert not verdict.valid and error_offset(prose, verdict, "react") in (None, 0)


def test_the_character_maps_to_the_token_that_writes_it() -> None:
    from agent_rl.checkpoints import load_model

    _, tokenizer = load_model("tiny-sft")
    text = CALL % ("edit_file", '"path": "src/é.py", "old": "C:\\\\temp", "new": "a \\"q\\""')
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]

    def decode(part: list[int]) -> str:
        return tokenizer.decode(part, skip_special_tokens=True)

    assert decode(ids) == text
    for char in range(len(text)):
        k = token_at(decode, ids, char)
        assert len(decode(ids[:k])) <= char < len(decode(ids[: k + 1]))
    assert token_at(decode, ids, len(text)) == len(ids)


def test_advantages_split_at_the_error_blame_after_credit_before() -> None:
    import torch

    advantages = torch.tensor([-1.0, 2.0, -0.5, 0.0])
    per_token = split_advantages(advantages, [2, 3, None, 1], width=5)
    assert per_token.tolist() == [
        [0, 0, -1, -1, -1],  # worse than its group: blamed from its error on
        [2, 2, 2, 0, 0],  # better, with an error of its own: credited up to it
        [-0.5] * 5,  # no located error: trl's advantage on every token
        [0] * 5,
    ]


@pytest.mark.slow
def test_a_real_grpo_trainer_gets_advantages_split_at_each_completion_s_error(tmp_path) -> None:
    """trl's own ``_generate_and_score_completions`` on the shipped start and held-in family
    steps, wrapped: each row's advantage sits exactly on the tokens the scorer's first error
    (found again here, independently) says."""
    from transformers import set_seed
    from trl import GRPOTrainer

    from agent_rl.checkpoints import load_model
    from agent_rl.tasks import generate_tasks
    from agent_rl.training.config import GRPOSettings
    from agent_rl.training.credit import locate_credit
    from agent_rl.training.data import expert_steps, grpo_dataset
    from agent_rl.training.rewards import DEFAULT_WEIGHTS, RECORDED_REWARDS

    set_seed(0)
    model, tokenizer = load_model("tiny-sft")
    steps = [s for s in expert_steps(generate_tasks("train", 6, seed=3), ["react"])][:12]
    dataset = grpo_dataset(steps, seed=0)
    args = GRPOSettings(
        output_dir=str(tmp_path), num_generations=8, per_device_train_batch_size=16,
        max_completion_length=96, report_to=[], reward_weights=list(DEFAULT_WEIGHTS["recorded"]),
        error_credit=True,
    )  # fmt: skip
    trainer = GRPOTrainer(
        model=model, reward_funcs=list(RECORDED_REWARDS), args=args, train_dataset=dataset,
        processing_class=tokenizer,
    )  # fmt: skip
    locate_credit(trainer)
    trainer.model.train()
    rows = [dataset[i] for i in range(6) for _ in range(8)]
    out = trainer._generate_and_score_completions(rows)
    per_token, ids, mask = out["advantages"], out["completion_ids"], out["completion_mask"]
    assert per_token.shape == ids.shape
    split = 0
    for row, inputs in enumerate(rows):
        tokens = ids[row][mask[row].bool()].tolist()
        text = tokenizer.decode(tokens, skip_special_tokens=True)
        verdict = score_completion(text, inputs["tools"], inputs["fmt"], inputs["state"] or None)
        values = per_token[row][: len(tokens)]
        nonzero = values.nonzero().flatten().tolist()
        char = None if verdict.stage == "state" else error_offset(text, verdict, inputs["fmt"])
        if not nonzero:
            continue
        sign = float(values[nonzero[0]])
        assert all(float(v) == sign for v in values[nonzero])  # one advantage, on a span
        if char is None:
            assert nonzero == list(range(len(tokens)))
            continue
        decode = lambda part: tokenizer.decode(part, skip_special_tokens=True)  # noqa: E731
        at = token_at(decode, tokens, char)
        assert nonzero == (list(range(at, len(tokens))) if sign < 0 else list(range(at)))
        split += 1
    assert split >= 4  # the start makes located errors in a batch of 48 calls
