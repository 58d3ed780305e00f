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

It *is* an ``HFPolicy`` — same arguments, prompts, sampling settings, seeding per call, stop
tokens and text decoding — with only its batch step replaced, so its outputs are the policy's
(greedy: identical), only faster. It does not train or change the model.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from agent_rl.policies.hf import HFPolicy

__all__ = ["PrefixSampler"]


class PrefixSampler(HFPolicy):
    """An ``HFPolicy`` (same arguments, same outputs) whose batches prefill each distinct
    prompt once and decode from a preallocated static cache."""

    def _generate(self, prompts: Sequence[list[int]]) -> list[tuple[str, int]]:
        import torch
        from transformers import DynamicCache, StaticCache

        model, device = self.model, self.model.device
        width = max(len(p) for p in prompts)  # the last prompt token is decoded by generate
        rows_of: dict[tuple[int, ...], list[int]] = {}
        for row, ids in enumerate(prompts):
            rows_of.setdefault(tuple(ids), []).append(row)
        kwargs = self._generation_kwargs()
        with torch.inference_mode():
            layers: list[tuple[Any, Any]] = []  # per layer: (keys, values) of every row
            for ids, rows in rows_of.items():
                if len(ids) < 2:
                    continue  # nothing to prefill: its masked cache slots stay zero
                # 1. each distinct prompt alone: no padding, the fast causal attention path
                cache = DynamicCache()
                model(input_ids=torch.tensor([ids[:-1]], device=device), cache=cache)
                if not layers:  # 2. one cache row per output, right-aligned, left slots masked
                    n = len(prompts)
                    layers = [
                        (_rows(c.keys, n, width - 1), _rows(c.values, n, width - 1))
                        for c in cache.layers
                    ]
                for (k, v), layer in zip(layers, cache.layers, strict=True):
                    k[rows, :, width - len(ids) :] = layer.keys[0]
                    v[rows, :, width - len(ids) :] = layer.values[0]
            if layers:
                static = StaticCache(config=model.config, max_cache_len=width + self.max_new_tokens)
                for i, (k, v) in enumerate(layers):
                    static.update(k, v, i)
                kwargs["cache"] = static
            input_ids = torch.tensor(
                [[self.pad_id] * (width - len(p)) + p for p in prompts], device=device
            )
            mask = torch.tensor(
                [[0] * (width - len(p)) + [1] * len(p) for p in prompts], device=device
            )
            # 3. generate decodes from the last prompt token on, positions from the mask
            out = model.generate(input_ids=input_ids, attention_mask=mask, **kwargs)
        return self._decode_new(out[:, width:].tolist())


def _rows(like: Any, n: int, length: int) -> Any:
    """Zeros shaped ``(n, heads, length, head_dim)`` like a one-row cache tensor."""
    return like.new_zeros(n, like.shape[1], length, like.shape[-1])
