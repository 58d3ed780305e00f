"""Fast batched sampling for evaluation: each distinct prompt is prefilled once, then decoded.

Evaluation asks for many outputs of the same long prompts (a ~1,500-token system prompt and
history, a ~50-token call). A plain batched ``model.generate`` pays for that twice on a CPU:
it prefills every row (the same prompt again for every sample, left-padded to the longest,
which also forces the masked, slowest attention path), and its growing KV cache is copied at
every new token. ``PrefixSampler`` instead

1. prefills each *distinct* prompt alone (no padding: the fast causal attention path),
2. lays those caches right-aligned into one preallocated ``StaticCache`` with a row per
   requested output (left slots masked, exactly as left padding would be),
3. decodes token by token from there, sampling as ``model.generate`` does, and drops finished
   rows from the batch (one rambling sample no longer keeps 63 finished ones decoding).

It *is* an ``HFPolicy`` — same arguments, prompts, sampling settings, seeding per call, stop
tokens and text decoding — with only its batch step replaced: greedy outputs are identical to
the policy's, samples come from the same distribution (not the same random stream). It does
not train or change the model.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from agent_rl.policies.hf import HFPolicy

__all__ = ["PrefixSampler"]


class PrefixSampler(HFPolicy):
    """An ``HFPolicy`` (same arguments, same outputs) whose batches prefill each distinct
    prompt once and decode from a preallocated static cache, dropping finished rows."""

    def _generate(self, prompts: Sequence[list[int]]) -> list[tuple[str, int]]:
        import torch

        model, device = self.model, self.model.device
        n, width = len(prompts), max(len(p) for p in prompts)
        stops = torch.tensor(self.stop_ids, device=device)
        with torch.inference_mode():
            cache = self._prefill(prompts, width)
            filled = width - 1  # cache entries per row (right-aligned prompts minus last token)
            mask = torch.zeros(n, width + self.max_new_tokens, dtype=torch.long, device=device)
            for r, p in enumerate(prompts):
                mask[r, width - len(p) : width] = 1
            token = torch.tensor([p[-1] for p in prompts], device=device)
            position = torch.tensor([len(p) - 1 for p in prompts], device=device)
            rows = torch.arange(n, device=device)  # the original row of each active row
            alive = torch.ones(n, dtype=torch.bool, device=device)
            out: list[list[int]] = [[] for _ in range(n)]
            for _ in range(self.max_new_tokens):
                mask[:, filled] = 1
                step = model(input_ids=token[:, None], attention_mask=mask[:, : filled + 1],
                             position_ids=position[:, None], cache=cache)  # fmt: skip
                logits = step.logits[:, -1]
                filled += 1
                token = self._pick(logits)
                for r, t in zip(rows[alive].tolist(), token[alive].tolist(), strict=True):
                    out[r].append(t)
                alive &= ~torch.isin(token, stops)
                if not alive.any():
                    break
                position = position + 1
                dead = int((~alive).sum())
                if dead and dead >= len(rows) // 4:  # 3. drop finished rows from the batch
                    cache = _keep_rows(
                        cache, alive, filled, model.config, width + self.max_new_tokens
                    )
                    rows, token, position, mask = (
                        rows[alive],
                        token[alive],
                        position[alive],
                        mask[alive],
                    )
                    alive = alive[alive]
        return self._decode_new(out)

    def _prefill(self, prompts: Sequence[list[int]], width: int) -> Any:
        """1. each distinct prompt alone (no padding: the fast causal attention path), then
        2. one static-cache row per output, right-aligned, left slots masked."""
        import torch
        from transformers import DynamicCache, StaticCache

        rows_of: dict[tuple[int, ...], list[int]] = {}
        for row, ids in enumerate(prompts):
            rows_of.setdefault(tuple(ids), []).append(row)
        layers: list[tuple[Any, Any]] = []  # per layer: (keys, values) of every row
        for ids, rows in rows_of.items():
            if len(ids) < 2:
                continue  # nothing to prefill: its masked cache slots stay zero
            one = DynamicCache()
            self.model(input_ids=torch.tensor([ids[:-1]], device=self.model.device), cache=one)
            if not layers:
                size = (len(prompts), width - 1)
                layers = [(_zeros(c.keys, *size), _zeros(c.values, *size)) for c in one.layers]
            for (k, v), layer in zip(layers, one.layers, strict=True):
                k[rows, :, width - len(ids) :] = layer.keys[0]
                v[rows, :, width - len(ids) :] = layer.values[0]
        cache = StaticCache(config=self.model.config, max_cache_len=width + self.max_new_tokens)
        if not layers:  # every prompt is one token long
            return cache
        for i, (k, v) in enumerate(layers):
            cache.update(k, v, i)
        return cache

    def _pick(self, logits: Any) -> Any:
        """The next token of each row: greedy, or sampled as ``model.generate`` samples
        (temperature, then nucleus ``top_p``; no top-k)."""
        import torch

        if not self.do_sample:
            return logits.argmax(-1)
        scores = logits.float() / self.temperature
        if self.top_p < 1.0:
            ordered, index = scores.sort(descending=False)
            cumulative = ordered.softmax(-1).cumsum(-1)
            drop = cumulative <= 1 - self.top_p
            drop[:, -1] = False  # always keep the most likely token
            scores = scores.masked_fill(drop.scatter(1, index, drop), float("-inf"))
        return torch.multinomial(scores.softmax(-1), 1)[:, 0]


def _zeros(like: Any, n: int, length: int) -> Any:
    """Zeros shaped ``(n, heads, length, head_dim)`` like a one-row cache tensor."""
    return like.new_zeros(n, like.shape[1], length, like.shape[-1])


def _keep_rows(cache: Any, keep: Any, filled: int, config: Any, max_len: int) -> Any:
    """A new static cache holding only the ``keep`` rows of ``cache`` (their ``filled``
    entries)."""
    from transformers import StaticCache

    smaller = StaticCache(config=config, max_cache_len=max_len)
    for i, layer in enumerate(cache.layers):
        smaller.update(layer.keys[keep, :, :filled], layer.values[keep, :, :filled], i)
    return smaller
