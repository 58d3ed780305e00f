"""Copy pretraining: the tiny model learns to copy from its context before it sees an episode.

SFT'd from random weights, the tiny model memorises its expert episodes and writes names from
memory, not from the prompt: on unseen words most of its calls name a file that does not exist
(BENCHMARKS.md). A real model brings copying from pretraining (induction heads). This gives the
tiny model that skill in minutes of CPU on a synthetic stream: a sequence, some filler, the same
sequence again, with the loss on the repeat only, which can be predicted only by finding it in
the context.

Two phases, measured on the 1.4M-parameter model (BENCHMARKS.md "Copy pretraining"):

1. ``token_steps`` on random token sequences (8-40 tokens) repeated at once: induction forms in
   a phase change (copy accuracy 18% at step 500, 71% at 1,000, 98.5% at 1,500; batch 32);
2. ``mixed_steps`` on half random sequences (a few distinct tokens repeated inside, so one token
   of lookback is not enough), half lists of paths made of train-split words, with 0 to
   ``max_gap`` tokens of the project's own text (:func:`agent_rl.models.default_corpus`) between
   the two copies, so copying works across the distances of a real prompt.

Accuracy is read on val-split words (never trained on; not the test split). Plain torch on
purpose: a synthetic stream, not episodes (SFT on episodes is trl's, in :mod:`.sft`). Not a
general pretraining library; deterministic for a seed.

Measured: the skill forms (96.6% of a val-word path list copied across 300 tokens), but SFT
from it is *worse* on unseen words than SFT from random weights (copy run-aways: calls that
copy a span of context until the string breaks), so the shipped ``tiny-sft`` does not use it
(``tools/train_start.py --copy`` makes one that does; BENCHMARKS.md "Copy pretraining").
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from itertools import islice
from pathlib import Path
from typing import Any

from agent_rl.errors import ConfigError

__all__ = ["CopyConfig", "copy_accuracy", "copy_batch", "copy_example", "pretrain_copying"]

_FIRST_TOKEN = 3
"""Ids below this are the special tokens (end of text, turn delimiters): never in a sequence."""


@dataclass(frozen=True)
class CopyConfig:
    """Copy pretraining settings (the defaults are the measured recipe)."""

    token_steps: int = 1500
    mixed_steps: int = 1500
    token_batch: int = 32
    mixed_batch: int = 8
    learning_rate: float = 1e-3
    max_gap: int = 300
    eval_every: int = 250
    seed: int = 0

    def __post_init__(self) -> None:
        if min(self.token_steps, self.mixed_steps, self.max_gap) < 0:
            raise ConfigError("token_steps, mixed_steps and max_gap must be 0 or more.")
        if min(self.token_batch, self.mixed_batch, self.eval_every) < 1:
            raise ConfigError("token_batch, mixed_batch and eval_every must be at least 1.")
        if not self.learning_rate > 0:
            raise ConfigError(f"learning_rate={self.learning_rate} must be positive.")


def _paths(rng: random.Random, words: Sequence[str]) -> str:
    from agent_rl.tasks._pools import _TEXT_EXT, DIRS

    n = rng.randint(2, 7)
    return " ".join(
        f"{rng.choice(DIRS)}/{rng.choice(words)}_{rng.choice(words)}{rng.choice(_TEXT_EXT)}"
        for _ in range(n)
    )


def copy_example(
    rng: random.Random,
    tokenizer: Any,
    *,
    phase: str,
    words: Sequence[str],
    filler: Sequence[int] = (),
    max_gap: int = 0,
) -> tuple[list[int], int]:
    """One example: ``(ids, start)`` where ``ids[start:]`` repeats a sequence earlier in ``ids``.

    ``phase="tokens"``: random ids repeated at once; ``"mixed"``: random ids with repeats inside
    or a list of paths from ``words``, then 0..``max_gap`` tokens of ``filler`` and a newline.
    """
    newline = tokenizer.encode("\n")
    vocab = len(tokenizer)
    if phase == "tokens":
        seq = [rng.randrange(_FIRST_TOKEN, vocab) for _ in range(rng.randint(8, 40))]
        return [*seq, *newline, *seq], len(seq) + len(newline)
    if phase != "mixed":
        raise ConfigError(f"phase={phase!r} is not one of 'tokens', 'mixed'.")
    if rng.random() < 0.5:
        alphabet = rng.sample(range(_FIRST_TOKEN, vocab), rng.randint(4, 40))
        seq = [rng.choice(alphabet) for _ in range(rng.randint(8, 40))]
    else:
        seq = tokenizer.encode(_paths(rng, words))
    gap = rng.randint(0, max_gap) if max_gap and len(filler) > max_gap else 0
    offset = rng.randrange(0, len(filler) - gap) if gap else 0
    first = [*seq, *newline, *filler[offset : offset + gap], *(newline if gap else [])]
    return [*first, *seq], len(first)


def copy_batch(examples: Sequence[tuple[list[int], int]], pad_id: int) -> dict[str, Any]:
    """Right-padded ``input_ids`` and ``labels`` (-100 except on each repeat)."""
    import torch

    width = max(len(ids) for ids, _ in examples)
    input_ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    labels = torch.full((len(examples), width), -100, dtype=torch.long)
    for row, (ids, start) in enumerate(examples):
        input_ids[row, : len(ids)] = torch.tensor(ids)
        labels[row, start : len(ids)] = torch.tensor(ids[start:])
    return {"input_ids": input_ids, "labels": labels}


def copy_accuracy(model: Any, batches: Sequence[dict[str, Any]]) -> float:
    """Share of repeat tokens (after each repeat's first) the model predicts exactly (argmax)."""
    import torch

    right = total = 0
    was_training = model.training
    model.eval()
    with torch.no_grad():
        for batch in batches:
            labels = batch["labels"]
            guess = model(input_ids=batch["input_ids"]).logits[:, :-1].argmax(-1)
            target = labels[:, 1:]
            # The first token of a repeat cannot be known before it starts: not counted.
            scored = (target != -100) & (labels[:, :-1] != -100)
            right += int(((guess == target) & scored).sum())
            total += int(scored.sum())
    model.train(was_training)
    return right / max(total, 1)


def pretrain_copying(
    model_dir: str | Path,
    out_dir: str | Path,
    config: CopyConfig = CopyConfig(),
    *,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Copy-pretrain the causal LM in ``model_dir`` and save it (and its tokenizer) to
    ``out_dir`` with ``copying.json``: the config, CPU seconds and the accuracy curve on
    val-split words (0-gap and ``max_gap``-gap repeats). Returns that record."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from agent_rl.models import default_corpus
    from agent_rl.tasks._pools import POOLS

    torch.manual_seed(config.seed)
    rng = random.Random(f"copying|{config.seed}")
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    model.train()
    filler = tokenizer.encode(" ".join(islice(default_corpus(), 200)))
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0

    def example(r: random.Random, phase: str, words: Sequence[str]) -> tuple[list[int], int]:
        return copy_example(r, tokenizer, phase=phase, words=words, filler=filler,
                            max_gap=config.max_gap)  # fmt: skip

    def batches(phase: str, words: Sequence[str], size: int, count: int, r: random.Random):
        return [copy_batch([example(r, phase, words) for _ in range(size)], pad)
                for _ in range(count)]  # fmt: skip

    held_out = random.Random(f"copying-eval|{config.seed}")
    probes = {
        "tokens": batches("tokens", POOLS["val"].words, 32, 2, held_out),
        "mixed": batches("mixed", POOLS["val"].words, 32, 2, held_out),
    }
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=0.0)
    curve: dict[str, dict[str, float]] = {}
    start = time.process_time()
    plan = [("tokens", config.token_batch)] * config.token_steps
    plan += [("mixed", config.mixed_batch)] * config.mixed_steps
    for step, (phase, size) in enumerate(plan, 1):
        (batch,) = batches(phase, POOLS["train"].words, size, 1, rng)
        loss = model(**batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad()
        if step % config.eval_every == 0 or step == len(plan):
            point = {name: round(copy_accuracy(model, b), 4) for name, b in probes.items()}
            curve[str(step)] = {**point, "loss": round(loss.item(), 4)}
            log(f"copying step {step} ({phase}): {curve[str(step)]} "
                f"[{time.process_time() - start:.0f} CPU-s]")  # fmt: skip
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    record = {"config": asdict(config), "cpu_seconds": round(time.process_time() - start, 1),
              "curve": curve}  # fmt: skip
    (out / "copying.json").write_text(json.dumps(record, indent=2) + "\n")
    return record
