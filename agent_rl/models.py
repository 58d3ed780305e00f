"""The offline default policy: a tokenizer and a tiny causal LM built from the project's own text.

Nothing can come from a model hub on a CI box, so ``build_tiny_model`` makes a checkpoint folder
that every later step (SFT, GRPO, eval, the agent) loads *by path*, exactly like a real one:

- a byte-level BPE tokenizer trained with ``tokenizers`` on our corpus (tool schemas, system
  prompts, expert trajectories rendered in every call format), wrapped as a fast tokenizer with
  Qwen's special tokens and trl's own Qwen2.5 chat template — so trl recognises it (assistant-only
  SFT loss, tool mode, response parsing) and ``hermes`` ``<tool_call>`` blocks are real tokens;
- a small ``Qwen2ForCausalLM`` from a config (a few million parameters; every size is a flag).

It is not a trainer and holds no weights of its own: the same seed and corpus give the same folder.
A real checkpoint (hub name or local path) works wherever a tiny-model path does, and so do the
named offline models (:data:`NAMED_MODELS`, e.g. ``smollm2-135m``: a real instruct model that a
pip package ships as GGUF), found and converted once by :mod:`agent_rl.checkpoints`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

from agent_rl.checkpoints import NAMED_MODELS, named_model_path
from agent_rl.errors import ConfigError

__all__ = [
    "CHAT_TOKENS",
    "NAMED_MODELS",
    "SPECIAL_TOKENS",
    "build_tiny_model",
    "default_corpus",
    "default_phrases",
    "init_like",
    "named_model_path",
]

logger = logging.getLogger(__name__)

#: Control tokens (stripped by ``skip_special_tokens``): end of text / padding, turn delimiters.
SPECIAL_TOKENS: tuple[str, ...] = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")
#: Tool-call markup kept as single tokens but *not* special, as in Qwen's own tokenizer, so a
#: decoded completion still shows them and the strict scorer sees the model's raw text.
CHAT_TOKENS: tuple[str, ...] = (
    "<tool_call>",
    "</tool_call>",
    "<tool_response>",
    "</tool_response>",
)


CORPUS_FAMILY_TASKS = 330
"""Generated train-split family instances in the tokenizer's corpus (30 per family)."""


def default_corpus() -> Iterator[str]:
    """The project's own text, from TRAIN tasks only (test files and the held-out families'
    word pools never shape the tokenizer): each expert episode of the hand-written train tasks
    and of ``CORPUS_FAMILY_TASKS`` generated train family instances, in every format, as the
    agent sees it — system prompt with the tool schemas, task, every expert call and the
    sandbox's real observation of it."""
    from agent_rl.formats import FORMATS, render_call
    from agent_rl.prompts import build_messages
    from agent_rl.tasks import generate_tasks, load_tasks, make_sandbox

    for task in [*load_tasks("train"), *generate_tasks("train", CORPUS_FAMILY_TASKS, seed=0)]:
        for fmt in FORMATS:
            sandbox = make_sandbox(task)
            history = [(render_call(call, fmt), sandbox.step(call).content) for call in task.expert]
            for message in build_messages(task.prompt, history, sandbox.tools, fmt):
                yield f"{message['role']}\n{message['content']}"


def default_phrases() -> list[str]:
    """Lines of the system prompt of every format (at least 8 characters): the text every
    episode's prompt starts with, the same for every task."""
    from agent_rl.formats import FORMATS
    from agent_rl.prompts import system_prompt
    from agent_rl.sandbox import TOOLS

    return sorted(
        {ln for fmt in FORMATS for ln in system_prompt(TOOLS, fmt).split("\n") if len(ln) >= 8}
    )


def build_tiny_model(
    out_dir: str | Path,
    corpus: Iterable[str] | None = None,
    *,
    phrases: Iterable[str] | None = None,
    vocab_size: int = 4096,
    hidden_size: int = 128,
    intermediate_size: int | None = None,
    layers: int = 4,
    heads: int = 4,
    kv_heads: int | None = None,
    max_positions: int = 4096,
    seed: int = 0,
) -> Path:
    """Train a tokenizer on ``corpus`` (default: :func:`default_corpus`), build a small Qwen2
    causal LM with freshly initialised weights, and ``save_pretrained`` both into ``out_dir``.

    ``phrases`` become whole tokens (default: :func:`default_phrases`, the lines of the system
    prompts): every prompt repeats them, so they cost one token each instead of ~950 in all.

    Returns the folder, loadable with ``AutoModelForCausalLM`` / ``AutoTokenizer``.
    Deterministic: the same corpus and seed give byte-identical weights and tokenizer, whatever
    the hash seed, the tokenizers thread count or the corpus order (tested across processes).
    The default corpus is generated from the tasks, prompts and sandbox, so a change to any of
    them changes the vocabulary; the weights depend only on the vocabulary's size and the seed.
    """
    if hidden_size % heads:
        raise ConfigError(
            f"hidden_size={hidden_size} is not supported because it is not divisible by "
            f"heads={heads}. Set hidden_size to a multiple of heads."
        )
    kv_heads = kv_heads or heads
    if heads % kv_heads:
        raise ConfigError(f"heads={heads} must be a multiple of kv_heads={kv_heads}.")
    min_vocab = 256 + len(SPECIAL_TOKENS) + len(CHAT_TOKENS)
    if vocab_size < min_vocab:
        raise ConfigError(
            f"vocab_size={vocab_size} is not supported because a byte-level tokenizer needs "
            f"the 256 bytes plus its special tokens. Set vocab_size >= {min_vocab}."
        )
    out = Path(out_dir)
    texts = [t for t in (default_corpus() if corpus is None else corpus) if t]
    if not texts:
        raise ConfigError("the corpus is empty: pass some text, or let it default to the tasks.")

    lines = sorted({p for p in (default_phrases() if phrases is None else phrases) if p})
    tokenizer = _train_tokenizer(texts, vocab_size, lines)
    model = _init_model(
        tokenizer,
        hidden_size=hidden_size,
        intermediate_size=intermediate_size or 3 * hidden_size,
        layers=layers,
        heads=heads,
        kv_heads=kv_heads,
        max_positions=max_positions,
        seed=seed,
    )
    out.mkdir(parents=True, exist_ok=True)
    tokenizer.save_pretrained(out)
    model.save_pretrained(out)
    n_params = sum(p.numel() for p in model.parameters())
    logger.info("tiny model at %s: %.2fM parameters, vocab %d", out, n_params / 1e6, len(tokenizer))
    return out


def init_like(model_dir: str | Path, out_dir: str | Path, *, seed: int = 0) -> Path:
    """The untrained tiny model that ``model_dir`` (a tiny model, trained or not) started from:
    its tokenizer and sizes, fresh weights from ``seed`` — what :func:`build_tiny_model` made
    with that vocabulary and seed, even after the corpus has changed."""
    from transformers import AutoConfig, AutoTokenizer

    config = AutoConfig.from_pretrained(model_dir)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = _init_model(
        tokenizer,
        hidden_size=config.hidden_size,
        intermediate_size=config.intermediate_size,
        layers=config.num_hidden_layers,
        heads=config.num_attention_heads,
        kv_heads=config.num_key_value_heads,
        max_positions=config.max_position_embeddings,
        seed=seed,
    )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer.save_pretrained(out)
    model.save_pretrained(out)
    return out


def _train_tokenizer(texts: list[str], vocab_size: int, phrases: list[str]):
    from tokenizers import (
        AddedToken,
        Regex,
        Tokenizer,
        decoders,
        models,
        normalizers,
        pre_tokenizers,
        trainers,
    )
    from transformers import PreTrainedTokenizerFast
    from transformers.models.qwen2.tokenization_qwen2 import PRETOKENIZE_REGEX
    from trl.chat_template_utils import qwen2_5_chat_template

    # Qwen2's own pipeline (NFC, its split regex, byte-level): ``AutoTokenizer`` loads a qwen2
    # folder as ``Qwen2Tokenizer``, which rebuilds exactly this around our vocab and merges.
    bpe = Tokenizer(models.BPE())
    bpe.normalizer = normalizers.NFC()
    bpe.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(PRETOKENIZE_REGEX), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    bpe.decoder = decoders.ByteLevel()
    # The phrases' text is cut out of the corpus so BPE spends no merges on it. (Added as tokens
    # before training instead, the trainer counts each phrase as one raw "word" and merges it up
    # character by character, raw spaces and all: 781 of 3,667 entries that no input reaches.)
    if phrases:
        cut = re.compile("|".join(re.escape(p) for p in sorted(phrases, key=len, reverse=True)))
        texts = [cut.sub("\n", t) for t in texts]
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(texts, trainer=trainer, length=len(texts))
    # Not special, so decoding keeps them (the scorer sees the model's raw text).
    bpe.add_tokens(
        [AddedToken(t, special=False, normalized=False) for t in (*phrases, *CHAT_TOKENS)]
    )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        padding_side="left",
        truncation_side="left",
        model_max_length=1 << 20,
        extra_special_tokens={"im_start": "<|im_start|>"},
    )
    # trl's verbatim Qwen2.5 template: trl matches templates by identity to enable its
    # assistant-only SFT loss, prefix-preserving multi-turn GRPO and tool-call parsing.
    tokenizer.chat_template = qwen2_5_chat_template
    return tokenizer


def _init_model(tokenizer, *, hidden_size, intermediate_size, layers, heads, kv_heads,
                max_positions, seed):  # fmt: skip
    import torch
    from transformers import GenerationConfig, Qwen2Config, Qwen2ForCausalLM

    eos = [tokenizer.convert_tokens_to_ids(t) for t in ("<|im_end|>", "<|endoftext|>")]
    config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=intermediate_size,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=kv_heads,
        max_position_embeddings=max_positions,
        max_window_layers=layers,
        tie_word_embeddings=True,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=eos[0],
        dtype="float32",
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = Qwen2ForCausalLM(config)
    pad = tokenizer.pad_token_id
    model.generation_config = GenerationConfig(eos_token_id=eos, pad_token_id=pad)
    return model
