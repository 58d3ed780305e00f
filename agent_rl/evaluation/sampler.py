"""Fast batched sampling for evaluation: each distinct prompt is prefilled once, then decoded.

Evaluation asks for many outputs of the same long prompts (a ~1,500-token system prompt and
history, a ~50-token call). A plain batched ``model.generate`` pays for that twice on a CPU:
it prefills every row (the same prompt again for every sample, left-padded to the longest,
which also forces the masked, slowest attention path), and its growing KV cache is copied at
every new token. ``PrefixSampler`` instead

1. prefills each *distinct* prompt alone (no padding: the fast causal attention path),
2. lays those caches right-aligned into one preallocated ``StaticCache`` with a row per
   requested output (left slots masked, exactly as left padding would be),
3. lets ``model.generate`` decode from the last prompt token with that cache.

The decoding is the ``HFPolicy``'s own (same sampling settings, stop tokens, seeding per call
and text decoding — it wraps one), so results are those of the policy, only faster. It is a
``Policy`` (``name``, ``generate``) for evaluation; it does not train or change the model.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from agent_rl.errors import PolicyError

__all__ = ["PrefixSampler"]

Messages = list[dict[str, Any]]


class PrefixSampler:
    """A faster ``generate`` for an ``HFPolicy``: prefill each distinct prompt once.

    ``batch_size`` rows are decoded together (default: the policy's); rows of one prompt stay
    adjacent so identical prompts share a single prefill.
    """

    def __init__(self, policy: Any, *, batch_size: int | None = None) -> None:
        for attr in ("model", "tokenizer", "prompt_ids", "stop_ids", "pad_id", "max_new_tokens"):
            if not hasattr(policy, attr):
                raise PolicyError(f"PrefixSampler wraps an HFPolicy; {policy!r} has no {attr!r}")
        self.policy = policy
        self.name = policy.name
        self.batch_size = batch_size or policy.batch_size
        self.last_usage: list[dict[str, int]] = []

    def generate(self, batch: list[Messages]) -> list[str]:
        import torch

        pol = self.policy
        keys: dict[str, int] = {}
        prompts: list[list[int]] = []
        row_prompt: list[int] = []
        for messages in batch:
            text = pol.tokenizer.apply_chat_template(
                messages, tokenize=False, add_generation_prompt=True
            )
            idx = keys.get(text)
            if idx is None:
                idx = keys[text] = len(prompts)
                prompts.append(list(pol.tokenizer(text, add_special_tokens=False)["input_ids"]))
            row_prompt.append(idx)
        limit = getattr(pol.model.config, "max_position_embeddings", None)
        for ids in prompts:
            if limit is not None and len(ids) + pol.max_new_tokens > limit:
                raise PolicyError(
                    f"prompt of {len(ids)} tokens + max_new_tokens={pol.max_new_tokens} exceeds "
                    f"the context of {self.name!r} ({limit} tokens): lower max_new_tokens"
                )
        if pol.seed is not None and pol.do_sample:
            torch.manual_seed(pol.seed + pol._calls)
        pol._calls += 1
        # rows sorted by prompt length, then prompt: similar lengths and shared prefills together
        order = sorted(
            range(len(batch)), key=lambda r: (len(prompts[row_prompt[r]]), row_prompt[r])
        )
        texts: list[str] = [""] * len(batch)
        usage: list[dict[str, int]] = [{} for _ in batch]
        was_training = pol.model.training
        pol.model.eval()
        try:
            for start in range(0, len(order), self.batch_size):
                rows = order[start : start + self.batch_size]
                outs = self._decode_rows(
                    [prompts[row_prompt[r]] for r in rows], [row_prompt[r] for r in rows]
                )
                for r, (text, n) in zip(rows, outs, strict=True):
                    texts[r] = text
                    usage[r] = {
                        "prompt_tokens": len(prompts[row_prompt[r]]),
                        "completion_tokens": n,
                    }
        finally:
            pol.model.train(was_training)
        self.last_usage = usage
        return texts

    def _decode_rows(
        self, prompts: Sequence[list[int]], ids: Sequence[int]
    ) -> list[tuple[str, int]]:
        import torch
        from transformers import DynamicCache, StaticCache

        pol, model = self.policy, self.policy.model
        device = model.device
        width = max(len(p) for p in prompts)  # the last prompt token is decoded by generate
        prefills: dict[int, list[tuple[torch.Tensor, torch.Tensor]]] = {}
        with torch.inference_mode():
            for pid, ids_ in zip(ids, prompts, strict=True):
                if pid in prefills or len(ids_) < 2:
                    continue
                cache = DynamicCache()
                model(input_ids=torch.tensor([ids_[:-1]], device=device), cache=cache,
                      use_cache=True)  # fmt: skip
                prefills[pid] = [(layer.keys, layer.values) for layer in cache.layers]
            n_layers = model.config.num_hidden_layers
            static = StaticCache(config=model.config, max_cache_len=width + pol.max_new_tokens)
            for layer in range(n_layers):
                ref = next(iter(prefills.values()))[layer] if prefills else None
                if ref is None:
                    break
                heads, dim_k, dim_v = ref[0].shape[1], ref[0].shape[-1], ref[1].shape[-1]
                k = torch.zeros(
                    len(prompts), heads, width - 1, dim_k, dtype=ref[0].dtype, device=device
                )
                v = torch.zeros(
                    len(prompts), heads, width - 1, dim_v, dtype=ref[1].dtype, device=device
                )
                for row, (pid, ids_) in enumerate(zip(ids, prompts, strict=True)):
                    if pid in prefills:
                        pk, pv = prefills[pid][layer]
                        k[row, :, width - len(ids_) :] = pk[0]
                        v[row, :, width - len(ids_) :] = pv[0]
                static.update(k, v, layer)
            input_ids = torch.tensor(
                [[pol.pad_id] * (width - len(p)) + p for p in prompts], device=device
            )
            mask = torch.tensor(
                [[0] * (width - len(p)) + [1] * len(p) for p in prompts], device=device
            )
            kwargs: dict[str, Any] = {
                "max_new_tokens": pol.max_new_tokens,
                "do_sample": pol.do_sample,
                "eos_token_id": pol.stop_ids,
                "pad_token_id": pol.pad_id,
            }
            if pol.do_sample:
                kwargs.update(temperature=pol.temperature, top_p=pol.top_p, top_k=0)
            else:
                kwargs.update(temperature=None, top_p=None, top_k=None)
            if prefills:
                kwargs["cache"] = static
            out = model.generate(input_ids=input_ids, attention_mask=mask, **kwargs)
        results = []
        stops = set(pol.stop_ids)
        for row in out[:, width:].tolist():
            cut = next((j for j, t in enumerate(row) if t in stops), len(row))
            n = min(cut + 1, len(row))
            text = pol.tokenizer.decode(row[:cut], skip_special_tokens=True,
                                        clean_up_tokenization_spaces=False)  # fmt: skip
            results.append((text, n))
        return results
