"""The offline tiny model: a real tokenizer and causal LM, loadable by path, deterministic."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import torch

from agent_rl.errors import ConfigError
from agent_rl.models import CHAT_TOKENS, SPECIAL_TOKENS, build_tiny_model, init_like

CORPUS = [
    '{"name": "read_file", "arguments": {"path": "src/app.py"}}',
    'Thought: read it first.\nAction: {"name": "list_dir", "arguments": {"path": "."}}',
    '<tool_call>\n{"name": "edit_file", "arguments": {"path": "a.py", "old_text": "x = 1\\n", '
    '"new_text": "print(\\"hi\\")\\t# tab"}}\n</tool_call>',
    "<tool_response>\ndef add(a, b):\n    return a + b\n</tool_response>",
] * 20
SMALL = {"vocab_size": 400, "hidden_size": 32, "layers": 2, "heads": 2, "max_positions": 512}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny"), CORPUS, **SMALL)


def _digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_loads_by_path_like_a_real_checkpoint(tiny: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny)
    model = AutoModelForCausalLM.from_pretrained(tiny)
    assert type(model).__name__ == "Qwen2ForCausalLM"
    assert model.config.vocab_size == len(tokenizer)
    assert 10_000 < sum(p.numel() for p in model.parameters()) < 1_000_000
    assert tokenizer.eos_token == "<|im_end|>" and tokenizer.pad_token == "<|endoftext|>"
    assert set(model.generation_config.eos_token_id) == {
        tokenizer.convert_tokens_to_ids("<|im_end|>"),
        tokenizer.convert_tokens_to_ids("<|endoftext|>"),
    }
    ids = tokenizer.apply_chat_template(
        [{"role": "user", "content": "list files"}], add_generation_prompt=True, return_dict=True
    )["input_ids"]
    out = model.generate(input_ids=torch.tensor([ids]), max_new_tokens=5, do_sample=False)
    assert out.shape[1] <= len(ids) + 5


def test_same_seed_same_folder_other_seed_other_weights(tiny: Path, tmp_path: Path) -> None:
    again = build_tiny_model(tmp_path / "a", CORPUS, **SMALL)
    other = build_tiny_model(tmp_path / "b", CORPUS, **SMALL, seed=1)
    assert _digest(again) == _digest(tiny)
    assert _digest(other)["model.safetensors"] != _digest(tiny)["model.safetensors"]
    assert _digest(other)["tokenizer.json"] == _digest(tiny)["tokenizer.json"]


def test_init_like_rebuilds_the_untrained_model_a_checkpoint_started_from(
    tiny: Path, tmp_path: Path
) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    trained = AutoModelForCausalLM.from_pretrained(tiny)
    with torch.no_grad():
        for param in trained.parameters():
            param.add_(1.0)  # "training"
    trained.save_pretrained(tmp_path / "trained")
    AutoTokenizer.from_pretrained(tiny).save_pretrained(tmp_path / "trained")
    again = init_like(tmp_path / "trained", tmp_path / "base")
    assert _digest(again)["model.safetensors"] == _digest(tiny)["model.safetensors"]
    a, b = AutoTokenizer.from_pretrained(again), AutoTokenizer.from_pretrained(tiny)
    assert a.get_vocab() == b.get_vocab() and a.chat_template == b.chat_template
    other = init_like(tmp_path / "trained", tmp_path / "other", seed=1)
    assert _digest(other)["model.safetensors"] != _digest(tiny)["model.safetensors"]


@pytest.mark.parametrize("token", SPECIAL_TOKENS + CHAT_TOKENS)
def test_markup_tokens_are_single_tokens(tiny: Path, token: str) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny)
    ids = tokenizer(f"a{token}b", add_special_tokens=False)["input_ids"]
    assert tokenizer.convert_tokens_to_ids(token) in ids
    kept = tokenizer.decode(ids, skip_special_tokens=True)
    # control tokens vanish from decoded text; tool-call markup stays, so the scorer sees it
    assert kept == ("ab" if token in SPECIAL_TOKENS else f"a{token}b")


@pytest.mark.parametrize(
    "text",
    [
        CORPUS[2],
        '{"a": "\\u00e9\\ud83d\\ude00", "b": [1, 2.5e-3, null, true]}',
        "tabs\tand  spaces\n\n\r\nand  unicode: é 日本 🙂",
        "",
    ],
)
def test_encode_decode_round_trip(tiny: Path, text: str) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny)
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    assert tokenizer.decode(ids) == text


def test_trl_recognises_the_chat_template_for_tools(tiny: Path) -> None:
    from transformers import AutoTokenizer
    from trl.chat_template_utils import (
        add_response_schema,
        get_training_chat_template,
        is_chat_template_prefix_preserving,
        supports_tool_calling,
    )

    tokenizer = AutoTokenizer.from_pretrained(tiny)
    assert supports_tool_calling(tokenizer)
    assert is_chat_template_prefix_preserving(tokenizer)
    assert "{%- generation %}" in get_training_chat_template(tokenizer)  # assistant-only SFT
    add_response_schema(tokenizer)  # trl's tool mode parses hermes calls with it
    parsed = tokenizer.parse_response(CORPUS[2] + "<|im_end|>", prefix="")
    call = parsed["tool_calls"][0]["function"]
    assert call["name"] == "edit_file" and call["arguments"]["path"] == "a.py"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"vocab_size": 100}, "vocab_size"),
        ({"hidden_size": 30, "heads": 4}, "divisible"),
        ({"heads": 4, "kv_heads": 3}, "multiple"),
    ],
)
def test_bad_sizes_are_config_errors(tmp_path: Path, kwargs: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        build_tiny_model(tmp_path, CORPUS, **{**SMALL, **kwargs})


def test_empty_corpus_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="corpus is empty"):
        build_tiny_model(tmp_path, ["", ""], **SMALL)


_BUILD = """
import json, sys
from agent_rl.models import build_tiny_model, default_corpus
texts = [t for t in default_corpus()][:240]
if sys.argv[2] == "reversed":
    texts.reverse()
build_tiny_model(sys.argv[1], texts, vocab_size=900, hidden_size=32, layers=1, heads=2,
                 max_positions=256)
"""


def test_the_build_does_not_depend_on_hash_seed_threads_or_corpus_order(tmp_path: Path) -> None:
    """Two processes (other hash seeds, other tokenizers thread counts, the corpus reversed)
    write byte-identical folders; the vocabulary is capped, so merge ties decide its end."""
    import json
    import os
    import subprocess
    import sys

    folders = []
    for i, (hash_seed, threads, order) in enumerate(
        [("1", "1", "forward"), ("2", "3", "reversed")]
    ):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed, "RAYON_NUM_THREADS": threads}
        env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1])
        out = tmp_path / f"m{i}"
        subprocess.run([sys.executable, "-c", _BUILD, str(out), order], env=env, check=True)
        folders.append(out)
    assert _digest(folders[0]) == _digest(folders[1])
    vocab = json.loads((folders[0] / "tokenizer.json").read_text())["model"]["vocab"]
    assert len(vocab) >= 900 - 30  # capped by vocab_size (less the added tokens), not by the corpus
    # the system-prompt phrases are whole tokens that cost no merges: byte-level BPE entries
    # never hold a raw space, and a merge that did would be unreachable
    assert not [t for t in vocab if " " in t]
    from transformers import AutoTokenizer

    from agent_rl.models import default_phrases

    tokenizer = AutoTokenizer.from_pretrained(folders[0])
    for phrase in default_phrases():
        assert len(tokenizer(phrase, add_special_tokens=False)["input_ids"]) == 1, phrase
