"""Policies: ScriptedPolicy replays per episode; HFPolicy generates with a real tiny model."""

from __future__ import annotations

from pathlib import Path
from unittest.mock import patch

import pytest

from agent_rl.errors import PolicyError
from agent_rl.policies import HFPolicy, Policy, ScriptedPolicy


def _conv(task: str, *turns: str) -> list[dict[str, str]]:
    messages = [{"role": "system", "content": "sys"}, {"role": "user", "content": task}]
    for t in turns:
        messages += [{"role": "assistant", "content": t}, {"role": "user", "content": "obs"}]
    return messages


# --- ScriptedPolicy --------------------------------------------------------------------------


def test_scripted_is_a_policy() -> None:
    assert isinstance(ScriptedPolicy([["a"]]), Policy)


def test_scripted_replays_each_episode_in_any_batch_order() -> None:
    policy = ScriptedPolicy([["a1", "a2", "a3"], ["b1", "b2"], ["c1"]])
    assert policy.generate([_conv("A"), _conv("B"), _conv("C")]) == ["a1", "b1", "c1"]
    # episodes continue out of order and with one finished (C)
    assert policy.generate([_conv("B", "b1"), _conv("A", "a1")]) == ["b2", "a2"]
    assert policy.generate([_conv("A", "a1", "a2")]) == ["a3"]


def test_scripted_same_task_twice_keeps_scripts_apart() -> None:
    policy = ScriptedPolicy([["x", "x-then"], ["y", "y-then"]])
    assert policy.generate([_conv("T"), _conv("T")]) == ["x", "y"]
    assert policy.generate([_conv("T", "y"), _conv("T", "x")]) == ["y-then", "x-then"]


def test_scripted_replays_malformed_text_verbatim() -> None:
    bad = ['Action: {"name": "read_file", "arguments": {"path": "a.py",}}', "", "\x00\ud800 "]
    policy = ScriptedPolicy(bad)
    assert policy.generate([_conv("T")]) == [bad[0]]
    assert policy.generate([_conv("T", bad[0])]) == [bad[1]]
    assert policy.generate([_conv("T", bad[0], bad[1])]) == [bad[2]]


def test_scripted_callable_sees_the_messages() -> None:
    policy = ScriptedPolicy(lambda messages: f"{len(messages)}:{messages[-1]['content']}")
    assert policy.generate([_conv("T"), _conv("U", "x")]) == ["2:T", "4:obs"]


@pytest.mark.parametrize(
    ("scripts", "batches", "match"),
    [
        ([["a"]], [[_conv("T")], [_conv("T", "a")]], "script 0 has 1 outputs"),
        ([["a"]], [[_conv("T")], [_conv("U")]], "all 1 scripts are in use"),
        ([["a", "b"]], [[_conv("T")], [_conv("OTHER", "a")]], "does not continue"),
    ],
)
def test_scripted_clear_errors(scripts, batches, match) -> None:
    policy = ScriptedPolicy(scripts)
    with pytest.raises(PolicyError, match=match):
        for batch in batches:
            policy.generate(batch)


def test_scripted_reset_starts_over() -> None:
    policy = ScriptedPolicy([["a"]])
    assert policy.generate([_conv("T")]) == ["a"]
    policy.reset()
    assert policy.generate([_conv("T")]) == ["a"]


def test_scripted_rejects_a_bare_string() -> None:
    with pytest.raises(TypeError, match="not a single string"):
        ScriptedPolicy("abc")


# --- HFPolicy with a real tiny model ---------------------------------------------------------

CORPUS = [
    'Thought: read it first.\nAction: {"name": "read_file", "arguments": {"path": "a.py"}}',
    "<tool_call>\n" + '{"name": "finish", "arguments": {"summary": "done"}}' + "\n</tool_call>",
    "Observation: def add(a, b):\n    return a - b\n",
] * 20


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from agent_rl.models import build_tiny_model

    out = tmp_path_factory.mktemp("tiny")
    return build_tiny_model(
        out, CORPUS, vocab_size=320, hidden_size=32, layers=1, heads=2, max_positions=512
    )


@pytest.fixture(scope="module")
def hf(tiny_model_dir: Path) -> HFPolicy:
    return HFPolicy(str(tiny_model_dir), max_new_tokens=12, batch_size=4)


def test_hf_is_a_policy_on_cpu(hf: HFPolicy) -> None:
    assert isinstance(hf, Policy)
    assert hf.model.device.type == "cpu"
    assert hf.name.endswith(Path(hf.name).name)


def test_hf_prompt_is_the_chat_template_with_a_generation_prompt(hf: HFPolicy) -> None:
    text = hf.tokenizer.decode(hf.prompt_ids(_conv("fix add")))
    assert text.startswith("<|im_start|>system\nsys<|im_end|>\n<|im_start|>user\nfix add")
    assert text.endswith("<|im_start|>assistant\n")


def test_hf_batched_greedy_equals_one_by_one(hf: HFPolicy) -> None:
    batch = [_conv("a"), _conv("a much longer task prompt " * 5, "x"), _conv("b")]
    together = hf.generate(batch)
    assert [u["prompt_tokens"] for u in hf.last_usage] == [len(hf.prompt_ids(c)) for c in batch]
    alone = [hf.generate([c])[0] for c in batch]
    assert together == alone


def test_hf_decodes_only_new_tokens_cut_at_stop_exactly(hf: HFPolicy) -> None:
    """Scripted completion tokens: the text is kept byte for byte (spaces, <tool_call> markup)
    up to <|im_end|>; nothing after it and nothing of the prompt leaks in."""
    import torch

    tok = hf.tokenizer
    wanted = '  <tool_call>\n{"name" : "finish",}\n</tool_call>  '
    body = tok.encode(wanted, add_special_tokens=False)
    tail = [
        *body,
        tok.convert_tokens_to_ids("<|im_end|>"),
        *tok.encode("LEAK", add_special_tokens=False),
    ]

    def fake_generate(input_ids, attention_mask, **kwargs):
        assert kwargs["eos_token_id"] == hf.stop_ids
        assert int(attention_mask[0, 0]) == 0  # left padding on the shorter row
        new = torch.tensor([tail] * input_ids.shape[0])
        return torch.cat([input_ids, new], dim=1)

    with patch.object(hf.model, "generate", side_effect=fake_generate):
        out = hf.generate([_conv("short"), _conv("a longer prompt than the first one")])
    assert out == [wanted, wanted]
    assert hf.last_usage[0]["completion_tokens"] == len(body) + 1  # up to and incl. the stop


def test_hf_sampling_is_reproducible_with_a_seed(tiny_model_dir: Path) -> None:
    def run(seed: int) -> list[str]:
        policy = HFPolicy(str(tiny_model_dir), max_new_tokens=10, do_sample=True, seed=seed)
        return policy.generate([_conv("t")] * 3) + policy.generate([_conv("t")])

    first = run(1)
    assert first == run(1)
    assert first != run(2)


def test_hf_restores_training_flag_and_accepts_an_in_memory_model(hf: HFPolicy) -> None:
    policy = HFPolicy(hf.model, hf.tokenizer, max_new_tokens=4)
    hf.model.train()
    try:
        policy.generate([_conv("t")])
        assert hf.model.training
    finally:
        hf.model.eval()


def test_hf_context_overflow_is_a_clear_error(hf: HFPolicy) -> None:
    with pytest.raises(PolicyError, match="exceeds the context"):
        hf.generate([_conv("word " * 600)])


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda d: str(d / "missing"), "not found: pass a local path to a saved model"),
        (lambda d: "./no/such/model", "not found: pass a local path"),
        (lambda d: "nobody-org/no-such-model-h6", "or a hub name on a machine with network"),
        (lambda d: str(d), "has no config.json"),
    ],
)
def test_hf_missing_model_folder_is_a_clear_error(tmp_path: Path, make, match) -> None:
    with pytest.raises(PolicyError, match=match):
        HFPolicy(make(tmp_path))


def test_hf_corrupt_weights_are_a_clear_error(tiny_model_dir: Path, tmp_path: Path) -> None:
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(tiny_model_dir, broken)
    for weights in broken.glob("*.safetensors"):
        weights.write_bytes(b"\x00garbage")
    with pytest.raises(PolicyError, match="cannot be loaded"):
        HFPolicy(str(broken))


def test_hf_needs_a_tokenizer_with_an_in_memory_model(hf: HFPolicy) -> None:
    with pytest.raises(PolicyError, match="pass the tokenizer"):
        HFPolicy(hf.model)
