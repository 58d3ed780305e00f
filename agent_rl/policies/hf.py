"""``HFPolicy``: a local transformers causal LM as a policy, batched over episodes.

Applies the tokenizer's chat template, left-pads the batch, runs one ``model.generate`` per
chunk of ``batch_size`` conversations and decodes only the new tokens, cut at the first stop
token (EOS or ``<|im_end|>``). Special tokens are dropped; the text is otherwise exactly what
the model produced — no stripping, no repair. CPU by default, CUDA when present.

This module is not a trainer and does not change the model it is given (its training flag and
the tokenizer's settings are restored after each call). torch and transformers are imported
only when a policy is built, so ``import agent_rl.policies`` stays light.
"""

from __future__ import annotations

import os
from typing import Any

from agent_rl.checkpoints import load_model
from agent_rl.errors import PolicyError
from agent_rl.policies.base import Completion, TextPolicy
from agent_rl.policies.decoding import Decoder, GenerateDecoder
from agent_rl.verdicts import Messages

__all__ = ["HFPolicy", "load_model"]

STOP_TOKENS = ("<|im_end|>", "<|endoftext|>", "<|eot_id|>")


class HFPolicy(TextPolicy):
    """A transformers causal LM behind the ``Policy`` interface.

    ``model_or_path`` is an in-memory model (then pass ``tokenizer``) or anything
    :func:`~agent_rl.checkpoints.load_model` takes: a folder, an adapter folder, a named
    offline model (``smollm2-135m``) or a hub name.
    Greedy by default; ``do_sample=True`` with ``temperature``/``top_p`` samples, reproducibly
    when ``seed`` is set (call ``n`` is seeded with ``seed + n``). ``decoder`` makes the new
    tokens (:mod:`agent_rl.policies.decoding`): ``model.generate`` by default, or
    ``PrefixDecoder()`` for many samples of long prompts (evaluation).
    """

    def __init__(
        self,
        model_or_path: Any,
        tokenizer: Any = None,
        *,
        max_new_tokens: int = 256,
        temperature: float = 1.0,
        top_p: float = 1.0,
        do_sample: bool = False,
        seed: int | None = 0,
        device: str | None = None,
        batch_size: int = 8,
        name: str | None = None,
        decoder: Decoder | None = None,
    ) -> None:
        if max_new_tokens < 1 or batch_size < 1:
            raise PolicyError("HFPolicy: max_new_tokens and batch_size must be at least 1")
        if do_sample and temperature <= 0:
            raise PolicyError(
                "HFPolicy: temperature <= 0 is not supported with do_sample=True because it "
                "divides the logits. Set do_sample=False for greedy decoding instead."
            )
        if isinstance(model_or_path, str | os.PathLike):
            self.model, loaded_tok = load_model(model_or_path, device)
            self.tokenizer = tokenizer if tokenizer is not None else loaded_tok
            self.name = name or str(model_or_path)
        else:
            if tokenizer is None:
                raise PolicyError("HFPolicy(model, tokenizer): pass the tokenizer with a model")
            self.model, self.tokenizer = model_or_path, tokenizer
            if device is not None:
                self.model.to(device)
            self.name = name or str(getattr(model_or_path, "name_or_path", "") or "hf-model")
        if getattr(self.tokenizer, "chat_template", None) is None:
            raise PolicyError(
                f"tokenizer of {self.name!r} has no chat template: set tokenizer.chat_template "
                "(a Jinja template) or use a chat model"
            )
        self.max_new_tokens, self.temperature, self.top_p = max_new_tokens, temperature, top_p
        self.do_sample, self.seed, self.batch_size = do_sample, seed, batch_size
        self.decoder: Decoder = decoder if decoder is not None else GenerateDecoder()
        self.stop_ids = self._stop_ids()
        pad = self.tokenizer.pad_token_id
        self.pad_id = int(pad if pad is not None else self.stop_ids[0])
        self.last_usage: list[dict[str, int]] = []
        self._calls = 0

    def _stop_ids(self) -> list[int]:
        ids: list[int] = []
        candidates: list[Any] = [self.tokenizer.eos_token_id]
        gen_eos = getattr(getattr(self.model, "generation_config", None), "eos_token_id", None)
        candidates += gen_eos if isinstance(gen_eos, list) else [gen_eos]
        vocab = self.tokenizer.get_vocab()
        candidates += [vocab.get(tok) for tok in STOP_TOKENS]
        for i in candidates:
            if i is not None and int(i) not in ids:
                ids.append(int(i))
        if not ids:
            raise PolicyError(f"tokenizer of {self.name!r} has no EOS token to stop generation at")
        return ids

    def prompt_ids(
        self, messages: Messages, tools: list[dict[str, Any]] | None = None
    ) -> list[int]:
        """The token ids the model sees for one conversation (chat template + generation prompt;
        ``tools``, OpenAI function-tool dicts, go to the template as its ``tools``)."""
        text = self.tokenizer.apply_chat_template(
            messages, tools=tools or None, tokenize=False, add_generation_prompt=True
        )
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def generate(
        self, batch: list[Messages], tools: list[dict[str, Any]] | None = None
    ) -> list[str]:
        return [c.text for c in self.completions(batch, tools)]

    def completions(
        self, batch: list[Messages], tools: list[dict[str, Any]] | None = None
    ) -> list[Completion]:
        """The whole batch's completions with their token counts (also kept in ``last_usage``);
        ``tools`` go to the chat template (see :meth:`prompt_ids`)."""
        import torch

        prompts = [self.prompt_ids(messages, tools) for messages in batch]
        limit = getattr(self.model.config, "max_position_embeddings", None)
        for ids in prompts:
            if limit is not None and len(ids) + self.max_new_tokens > limit:
                raise PolicyError(
                    f"prompt of {len(ids)} tokens + max_new_tokens={self.max_new_tokens} exceeds "
                    f"the context of {self.name!r} ({limit} tokens): lower max_steps or "
                    "max_new_tokens"
                )
        if self.seed is not None and self.do_sample:
            torch.manual_seed(self.seed + self._calls)
        self._calls += 1
        order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
        texts: list[str] = [""] * len(prompts)
        usage: list[dict[str, int]] = [{} for _ in prompts]
        was_training = self.model.training
        self.model.eval()
        try:
            for start in range(0, len(order), self.batch_size):
                chunk = order[start : start + self.batch_size]
                outputs = self._decode_new(self.decoder.decode(self, [prompts[i] for i in chunk]))
                for i, (text, n) in zip(chunk, outputs, strict=True):
                    texts[i] = text
                    usage[i] = {"prompt_tokens": len(prompts[i]), "completion_tokens": n}
        finally:
            self.model.train(was_training)
        self.last_usage = usage
        return [
            Completion(text, u["prompt_tokens"], u["completion_tokens"])
            for text, u in zip(texts, usage, strict=True)
        ]

    def generation_kwargs(self) -> dict[str, Any]:
        """``model.generate`` settings of this policy: length, sampling, stop and pad ids."""
        kwargs: dict[str, Any] = {
            "max_new_tokens": self.max_new_tokens,
            "do_sample": self.do_sample,
            "eos_token_id": self.stop_ids,
            "pad_token_id": self.pad_id,
        }
        if self.do_sample:
            kwargs.update(temperature=self.temperature, top_p=self.top_p, top_k=0)
        else:
            kwargs.update(temperature=None, top_p=None, top_k=None)
        return kwargs

    def _decode_new(self, rows: list[list[int]]) -> list[tuple[str, int]]:
        """``(text, tokens generated)`` of each row of new token ids, cut at the first stop."""
        results = []
        stops = set(self.stop_ids)
        for row in rows:
            cut = next((j for j, t in enumerate(row) if t in stops), len(row))
            n = min(cut + 1, len(row))  # the stop token counts as generated
            text = self.tokenizer.decode(
                row[:cut], skip_special_tokens=True, clean_up_tokenization_spaces=False
            )
            results.append((text, n))
        return results
