"""Decoders: how an ``HFPolicy`` turns a batch of prompt token ids into new tokens.

An ``HFPolicy`` owns the model, the chat template, the sampling settings, seeding per call, stop
tokens and text decoding; its ``decoder`` only produces the new token ids of each row:

- :class:`GenerateDecoder` (the default): one left-padded ``model.generate`` call;
- :class:`PrefixDecoder`: built for many samples of long prompts on a CPU (evaluation). A plain
  batched ``model.generate`` pays for those twice: it prefills every row (the same prompt again
  for every sample, left-padded to the longest, which also forces the masked, slowest attention
  path), and its growing KV cache is copied at every new token. ``PrefixDecoder`` instead

  1. prefills each *distinct* prompt alone (no padding: the fast causal attention path), and
     only past its longest prefix already computed — the shared system prompt, the same
     episode's earlier steps, the same prompt in another decoding mode — kept in a bounded store,
  2. lays those caches right-aligned into one preallocated ``StaticCache`` with a row per
     requested output (left slots masked, exactly as left padding would be),
  3. decodes token by token from there, sampling as ``model.generate`` does, and drops finished
     rows from the batch (one rambling sample no longer keeps 63 finished ones decoding).

  Greedy outputs are identical to ``GenerateDecoder``'s (tested); samples come from the same
  distribution (not the same random stream).

:func:`left_padded` is the one place prompts are left-padded for ``model.generate`` (GRPO's live
rollout uses it too). Decoders do not train or change the model.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import Any, Protocol

__all__ = [
    "Decoder",
    "DecodingPolicy",
    "GenerateDecoder",
    "PrefixDecoder",
    "left_padded",
    "next_tokens",
]


class DecodingPolicy(Protocol):
    """What a decoder reads of its policy (an ``HFPolicy``): the model and its settings."""

    model: Any
    pad_id: int
    stop_ids: list[int]
    max_new_tokens: int
    do_sample: bool
    temperature: float
    top_p: float

    def generation_kwargs(self) -> dict[str, Any]: ...


class Decoder(Protocol):
    """Produces the new token ids of each prompt with ``policy``'s model and settings."""

    def decode(self, policy: DecodingPolicy, prompts: Sequence[list[int]]) -> list[list[int]]: ...


def left_padded(prompts: Sequence[list[int]], pad_id: int, device: Any) -> tuple[Any, Any]:
    """``(input_ids, attention_mask)`` of ``prompts`` left-padded to the longest, for
    ``model.generate`` (whose new tokens then start at column ``input_ids.shape[1]``)."""
    import torch

    width = max(len(p) for p in prompts)
    ids = torch.tensor([[pad_id] * (width - len(p)) + list(p) for p in prompts], device=device)
    mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts], device=device)
    return ids, mask


class GenerateDecoder:
    """One batched, left-padded ``model.generate`` call with the policy's settings."""

    def decode(self, policy: DecodingPolicy, prompts: Sequence[list[int]]) -> list[list[int]]:
        import torch

        input_ids, mask = left_padded(prompts, policy.pad_id, policy.model.device)
        with torch.inference_mode():
            out = policy.model.generate(
                input_ids=input_ids, attention_mask=mask, **policy.generation_kwargs()
            )
        return out[:, input_ids.shape[1] :].tolist()


class PrefixDecoder:
    """Each distinct prompt prefilled once (from its longest stored prefix), then decoded from a
    preallocated static cache, finished rows dropped (see the module docstring).

    ``prefix_store_tokens`` and ``prefix_store_bytes`` bound the prompt tokens whose keys and
    values are kept for reuse, and their memory (a real model's cache is ~10x the tiny one's per
    token: SmolLM2-135M keeps 46 KB a token). The store lives as long as the decoder: keep one
    policy across decoding modes by setting its ``do_sample`` / ``temperature``.
    """

    def __init__(
        self, *, prefix_store_tokens: int = 400_000, prefix_store_bytes: int = 2 << 30
    ) -> None:
        self.prefix_store_tokens = prefix_store_tokens
        self.prefix_store_bytes = prefix_store_bytes
        self._store: OrderedDict[tuple[int, ...], list[tuple[Any, Any]]] = OrderedDict()
        self._stored_tokens = 0
        self._stored_bytes = 0

    def decode(self, policy: DecodingPolicy, prompts: Sequence[list[int]]) -> list[list[int]]:
        """New token ids of every row (finished rows end at their stop token)."""
        import torch

        model, device = policy.model, policy.model.device
        n, width = len(prompts), max(len(p) for p in prompts)
        stops = torch.tensor(policy.stop_ids, device=device)
        with torch.inference_mode():
            cache = self._prefill(model, prompts, width, policy.max_new_tokens)
            filled = width - 1  # cache entries per row (right-aligned prompts minus last token)
            mask = torch.zeros(n, width + policy.max_new_tokens, dtype=torch.long, device=device)
            for r, p in enumerate(prompts):
                mask[r, width - len(p) : width] = 1
            token = torch.tensor([p[-1] for p in prompts], device=device)
            position = torch.tensor([len(p) - 1 for p in prompts], device=device)
            rows = torch.arange(n, device=device)  # the original row of each active row
            alive = torch.ones(n, dtype=torch.bool, device=device)
            out: list[list[int]] = [[] for _ in range(n)]
            for _ in range(policy.max_new_tokens):
                mask[:, filled] = 1
                step = model(input_ids=token[:, None], attention_mask=mask[:, : filled + 1],
                             position_ids=position[:, None], cache=cache)  # fmt: skip
                logits = step.logits[:, -1]
                filled += 1
                token = next_tokens(logits, policy.do_sample, policy.temperature, policy.top_p)
                for r, t in zip(rows[alive].tolist(), token[alive].tolist(), strict=True):
                    out[r].append(t)
                alive &= ~torch.isin(token, stops)
                if not alive.any():
                    break
                position = position + 1
                dead = int((~alive).sum())
                if dead and dead >= len(rows) // 4:  # 3. drop finished rows from the batch
                    cache = _keep_rows(
                        cache, alive, filled, model.config, width + policy.max_new_tokens
                    )
                    rows, token, position, mask = (
                        rows[alive],
                        token[alive],
                        position[alive],
                        mask[alive],
                    )
                    alive = alive[alive]
        return out

    def _prefill(self, model: Any, prompts: Sequence[list[int]], width: int, new: int) -> Any:
        """One static-cache row per output, right-aligned, left slots masked, filled from
        the prefix store (each distinct prompt computed once, from its longest known prefix)."""
        from transformers import StaticCache

        rows_of: dict[tuple[int, ...], list[int]] = {}
        for row, ids in enumerate(prompts):
            rows_of.setdefault(tuple(ids[:-1]), []).append(row)
        shared = _common_prefix(list(rows_of))
        if len(shared) >= _MIN_SHARED and len(rows_of) > 1:
            self._kv_of(model, shared)  # e.g. the system prompt: computed once for all rows
        layers: list[tuple[Any, Any]] = []  # per layer: (keys, values) of every row
        for ids, rows in sorted(rows_of.items(), key=lambda item: len(item[0])):
            if not ids:
                continue  # a one-token prompt: nothing to prefill, its slots stay masked
            kv = self._kv_of(model, ids)
            if not layers:
                size = (len(prompts), width - 1)
                layers = [(_zeros(k, *size), _zeros(v, *size)) for k, v in kv]
            for (k, v), (pk, pv) in zip(layers, kv, strict=True):
                k[rows, :, width - 1 - len(ids) :] = pk[0]
                v[rows, :, width - 1 - len(ids) :] = pv[0]
        cache = StaticCache(config=model.config, max_cache_len=width + new)
        for i, (k, v) in enumerate(layers):
            cache.update(k, v, i)
        return cache

    def _kv_of(self, model: Any, ids: tuple[int, ...]) -> list[tuple[Any, Any]]:
        """Keys and values of every layer for the tokens ``ids`` (one row, no padding).

        Computed from the longest stored prefix (a system prompt, an earlier step of the same
        episode, the same prompt in another decoding mode) and stored, least recently used
        entries evicted past ``prefix_store_tokens`` or ``prefix_store_bytes``."""
        import torch
        from transformers import DynamicCache

        store = self._store
        hit = store.get(ids)
        if hit is not None:
            store.move_to_end(ids)
            return hit
        base: tuple[int, ...] = ()
        for key in store:
            if len(base) < len(key) < len(ids) and ids[: len(key)] == key:
                base = key
        cache = DynamicCache()
        for i, (k, v) in enumerate(store[base] if base else ()):
            cache.update(k, v, i)
        rest = torch.tensor([ids[len(base) :]], device=model.device)
        model(input_ids=rest, cache=cache)
        kv = [(layer.keys, layer.values) for layer in cache.layers]
        store[ids] = kv
        self._stored_tokens += len(ids)
        self._stored_bytes += _nbytes(kv)
        while len(store) > 1 and (
            self._stored_tokens > self.prefix_store_tokens
            or self._stored_bytes > self.prefix_store_bytes
        ):
            old, old_kv = store.popitem(last=False)
            self._stored_tokens -= len(old)
            self._stored_bytes -= _nbytes(old_kv)
        return kv


_MIN_SHARED = 32  # a shared prefix worth computing once for a batch (tokens)


def _nbytes(kv: Sequence[tuple[Any, Any]]) -> int:
    """Memory of one stored entry: every layer's keys and values."""
    return sum(t.numel() * t.element_size() for pair in kv for t in pair)


def _common_prefix(keys: Sequence[tuple[int, ...]]) -> tuple[int, ...]:
    """The longest common prefix of token sequences."""
    if not keys:
        return ()
    first, last = min(keys), max(keys)  # the common prefix of all = that of the extremes
    n = next((i for i, (a, b) in enumerate(zip(first, last, strict=False)) if a != b), None)
    return first[: len(first) if n is None else n]


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


def next_tokens(logits: Any, sample: bool, temperature: float = 1.0, top_p: float = 1.0) -> Any:
    """The next token of each row of ``logits``: greedy, or sampled from the distribution
    ``model.generate`` samples from (temperature, then nucleus ``top_p``; no top-k)."""
    import torch

    if not sample:
        return logits.argmax(-1)
    scores = logits.float() / temperature
    if top_p < 1.0:
        ordered, index = scores.sort(descending=False)
        drop = ordered.softmax(-1).cumsum(-1) <= 1 - top_p
        drop[:, -1] = False  # always keep the most likely token
        scores = scores.masked_fill(drop.scatter(1, index, drop), float("-inf"))
    # Gumbel-max: the same distribution as multinomial(softmax(scores)), ~5x cheaper here
    gumbel = -torch.log(-torch.log(torch.rand_like(scores)))
    return (scores + gumbel).argmax(-1)
