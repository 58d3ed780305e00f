"""Copy pretraining (agent_rl.training.copying): the synthetic stream and a real run on a tiny
model: the repeat is the sequence, the loss is on it alone, a run is deterministic and learns."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from agent_rl.errors import ConfigError
from agent_rl.models import build_tiny_model
from agent_rl.tasks._pools import POOLS
from agent_rl.training.copying import (
    CopyConfig,
    copy_accuracy,
    copy_batch,
    copy_example,
    pretrain_copying,
)

SMALL = {"vocab_size": 300, "hidden_size": 32, "layers": 2, "heads": 2}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    corpus = ["read_file src/app.py", "write_file notes/todo.md", "list_dir docs"] * 20
    return build_tiny_model(tmp_path_factory.mktemp("tiny"), corpus, **SMALL)


@pytest.fixture(scope="module")
def tokenizer(tiny: Path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny)


@pytest.mark.parametrize("phase", ["tokens", "mixed"])
def test_the_repeat_is_the_sequence_it_copies(tokenizer, phase: str) -> None:
    rng = random.Random(0)
    filler = list(range(10, 60))
    for _ in range(50):
        ids, start = copy_example(rng, tokenizer, phase=phase, words=POOLS["train"].words,
                                  filler=filler, max_gap=20)  # fmt: skip
        repeat = ids[start:]
        assert len(repeat) >= 1
        assert ids[: len(repeat)] == repeat  # the sequence opens the example ...
        assert start >= len(repeat) + 1  # ... then a newline (and filler) before the repeat
        assert all(3 <= i < len(tokenizer) for i in repeat)  # never a special token


def test_gaps_come_from_the_filler_and_reach_max_gap(tokenizer) -> None:
    rng = random.Random(1)
    filler = list(range(100, 200))
    gaps = []
    for _ in range(200):
        ids, start = copy_example(rng, tokenizer, phase="mixed", words=POOLS["train"].words,
                                  filler=filler, max_gap=30)  # fmt: skip
        gaps.append(start - 2 * len(tokenizer.encode("\n")) - len(ids[start:]))
    assert max(gaps) <= 30 and max(gaps) >= 25 and min(gaps) <= 0


def test_batch_labels_only_the_repeat(tokenizer) -> None:
    examples = [([5, 6, 7, 1, 5, 6, 7], 4), ([8, 9, 1, 8, 9], 3)]
    batch = copy_batch(examples, pad_id=0)
    assert batch["input_ids"].tolist() == [[5, 6, 7, 1, 5, 6, 7], [8, 9, 1, 8, 9, 0, 0]]
    assert batch["labels"].tolist() == [
        [-100, -100, -100, -100, 5, 6, 7],
        [-100, -100, -100, 8, 9, -100, -100],
    ]


def test_bad_settings_are_config_errors(tokenizer) -> None:
    with pytest.raises(ConfigError, match="positive"):
        CopyConfig(learning_rate=0)
    with pytest.raises(ConfigError, match="at least 1"):
        CopyConfig(mixed_batch=0)
    with pytest.raises(ConfigError, match="phase"):
        copy_example(random.Random(0), tokenizer, phase="words", words=["a"])


def test_a_run_learns_to_copy_and_saves_its_record(tiny: Path, tokenizer, tmp_path: Path) -> None:
    from transformers import AutoModelForCausalLM

    # Induction forms in a phase change: at step ~650 for this 2-layer model (measured).
    config = CopyConfig(token_steps=1000, mixed_steps=10, token_batch=16, mixed_batch=4,
                        learning_rate=3e-3, max_gap=40, eval_every=500)  # fmt: skip
    logged: list[str] = []
    record = pretrain_copying(tiny, tmp_path / "a", config, log=logged.append)
    assert json.loads((tmp_path / "a" / "copying.json").read_text()) == record
    assert list(record["curve"]) == ["500", "1000", "1010"] and len(logged) == 3
    assert record["config"]["token_steps"] == 1000

    # The untrained model cannot copy; the trained one copies repeats it never saw.
    rng = random.Random(7)
    probe = [
        copy_batch([copy_example(rng, tokenizer, phase="tokens", words=()) for _ in range(32)], 0)
    ]
    before = copy_accuracy(AutoModelForCausalLM.from_pretrained(tiny), probe)
    after = copy_accuracy(AutoModelForCausalLM.from_pretrained(tmp_path / "a"), probe)
    assert before < 0.1 and after > 0.6, (before, after)


def test_a_run_is_deterministic(tiny: Path, tmp_path: Path) -> None:
    config = CopyConfig(token_steps=20, mixed_steps=20, token_batch=4, mixed_batch=2,
                        max_gap=40, eval_every=10)  # fmt: skip
    first = pretrain_copying(tiny, tmp_path / "a", config, log=lambda _: None)
    again = pretrain_copying(tiny, tmp_path / "b", config, log=lambda _: None)
    assert again["curve"] == first["curve"] and len(first["curve"]) == 4
