"""Exact speed-ups of trl's loss on CPU: the same numbers, less work. Not a trainer.

- :func:`share_prompt_prefix` — one forward of a prompt for all completions of its group.
  GRPO scores ``num_generations`` completions of one prompt, and trl's loss runs the model over
  every ``prompt + completion`` row, so the prompt (here ~90% of a row) is computed, and
  back-propagated through, once a completion. The patched backbone (the module trl's fused LM
  head calls) finds rows of a training forward (no cache passed in, none asked for) that begin
  with the same tokens and mask, runs their common prefix once with a key/value cache and only
  the rest of each row on it. Causal attention makes this exact: hidden states, loss and
  gradients are the plain forward's to float rounding. In generation, the prefill of a batch
  in which trl repeats each prompt ``num_generations`` times runs each distinct prompt once and
  copies its cache; the decoding steps go to the original ``forward``.
- :func:`compact_scoring` — trl's fused LM head projects only the positions that carry a label
  on a Triton device, and every position elsewhere (so that tile shapes never change and
  compiled kernels are not rebuilt); on CPU, in eager mode, that is the whole prompt projected
  onto the vocabulary, forward and backward, for nothing. Inside this context it projects only
  the labelled positions on CPU too.

Both are measured in BENCHMARKS.md ("Training step cost": ``tools/bench_step.py``) and
tested in tests/test_speedups.py (same losses and gradients as without them); the FLOPs
counted are the ones spent (:class:`~agent_rl.training.compute.MatmulFlops` counts the fused
head's projection).
"""

from __future__ import annotations

import inspect
import types
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

__all__ = ["compact_scoring", "prefix_groups", "scores_compactly", "share_prompt_prefix"]


@dataclass
class _Group:
    rows: list[int]
    prefix: int  # tokens the rows share (ids and mask), < the row length

    def cost(self, length: int) -> int:
        """Token positions computed: the shared prefix once, then each row's rest."""
        return self.prefix + len(self.rows) * (length - self.prefix)


def _common_prefix(a: Any, b: Any) -> int:
    """Leading positions where two ``(ids, mask)`` rows agree."""
    import torch

    differ = torch.nonzero((a[0] != b[0]) | (a[1] != b[1]))
    return int(differ[0]) if len(differ) else int(a[0].shape[0])


def prefix_groups(input_ids: Any, attention_mask: Any) -> list[tuple[list[int], int]]:
    """Partition the rows of a batch into groups that share a prefix: ``(rows, prefix)``.

    Greedy and cost-based: each row joins the group whose shared prefix it shortens least in
    computed positions (``prefix + rows * (length - prefix)``), or starts its own when that is
    cheaper, so two prompts that share only a system prompt stay apart. A group's prefix is
    shorter than the row, so every row keeps at least one position of its own.
    """
    length = int(input_ids.shape[1])
    rows = [(input_ids[i], attention_mask[i]) for i in range(int(input_ids.shape[0]))]
    groups: list[_Group] = []
    for i, row in enumerate(rows):
        best, best_extra = None, length  # a group of its own costs `length`
        for group in groups:
            shared = min(group.prefix, _common_prefix(rows[group.rows[0]], row), length - 1)
            joined = _Group([*group.rows, i], shared)
            extra = joined.cost(length) - group.cost(length)
            if extra < best_extra:
                best, best_extra = (group, shared), extra
        if best is None:
            groups.append(_Group([i], length - 1))
        else:
            best[0].rows.append(i)
            best[0].prefix = best[1]
    return [(g.rows, g.prefix) for g in groups]


def share_prompt_prefix(model: Any) -> bool:
    """Patch ``model``'s backbone (``model.base_model``, a PEFT model's base included) to
    compute shared prefixes once in training forwards. Returns whether it was patched:
    ``False`` for a backbone that does not take a key/value cache the way transformers'
    decoders do (it is then left as it was). Patching twice is a no-op."""
    if hasattr(model, "get_base_model"):
        model = model.get_base_model()
    backbone = getattr(model, "base_model", None)
    if backbone is None or backbone is model:
        return False
    if getattr(backbone, "_agent_rl_prefix", False):
        return True
    original = backbone.forward
    params = inspect.signature(original).parameters
    cache_arg = next((n for n in ("cache", "past_key_values") if n in params), None)
    if cache_arg is None or "attention_mask" not in params or "use_cache" not in params:
        return False

    def forward(self: Any, input_ids: Any = None, attention_mask: Any = None, **kwargs: Any) -> Any:
        plain = (
            input_ids is None
            or attention_mask is None
            or input_ids.shape[0] < 2
            or kwargs.get("use_cache")
            or kwargs.get(cache_arg) is not None
            or kwargs.get("position_ids") is not None
            or kwargs.get("inputs_embeds") is not None
            or (getattr(self, "gradient_checkpointing", False) and self.training)
        )
        cache = kwargs.get(cache_arg)
        if plain and _fresh_cache(cache, input_ids, attention_mask, kwargs):
            return _deduplicated_prefill(original, input_ids, attention_mask, cache, kwargs)
        groups = [] if plain else prefix_groups(input_ids, attention_mask)
        if plain or len(groups) == input_ids.shape[0]:
            return original(input_ids=input_ids, attention_mask=attention_mask, **kwargs)
        return _grouped_forward(original, cache_arg, input_ids, attention_mask, groups, kwargs)

    backbone.forward = types.MethodType(forward, backbone)
    backbone._agent_rl_prefix = True
    return True


def _fresh_cache(cache: Any, input_ids: Any, attention_mask: Any, kwargs: dict[str, Any]) -> bool:
    """A generation's prefill: an empty cache to fill, 2-D ids and mask of several rows."""
    return (
        bool(kwargs.get("use_cache"))
        and hasattr(cache, "get_seq_length")
        and hasattr(cache, "batch_select_indices")
        and input_ids is not None
        and input_ids.shape[0] > 1
        and attention_mask is not None
        and attention_mask.dim() == 2
        and kwargs.get("inputs_embeds") is None
        and cache.get_seq_length() == 0
    )


def _deduplicated_prefill(
    original: Any, input_ids: Any, attention_mask: Any, cache: Any, kwargs: dict[str, Any]
) -> Any:
    """Prefill each distinct prompt once (trl repeats each ``num_generations`` times), then
    give every row its copy of the cache and of the hidden states."""
    import torch

    positions = kwargs.get("position_ids")
    key = [input_ids, attention_mask]
    if positions is not None and positions.dim() == 2 and positions.shape[0] == input_ids.shape[0]:
        key.append(positions)
    elif positions is not None:
        return original(input_ids=input_ids, attention_mask=attention_mask, **kwargs)
    unique, inverse = torch.unique(torch.cat(key, dim=1), dim=0, return_inverse=True)
    if len(unique) == input_ids.shape[0]:
        return original(input_ids=input_ids, attention_mask=attention_mask, **kwargs)
    rows = torch.arange(input_ids.shape[0], device=input_ids.device)
    first = torch.full((len(unique),), len(rows), dtype=torch.long, device=input_ids.device)
    first.scatter_reduce_(0, inverse, rows, reduce="amin")  # each distinct prompt's first row
    if positions is not None:
        kwargs = {**kwargs, "position_ids": positions[first]}
    out = original(input_ids=input_ids[first], attention_mask=attention_mask[first], **kwargs)
    cache.batch_select_indices(inverse)
    out.last_hidden_state = out.last_hidden_state[inverse]
    return out


def _grouped_forward(
    original: Any,
    cache_arg: str,
    input_ids: Any,
    attention_mask: Any,
    groups: list[tuple[list[int], int]],
    kwargs: dict[str, Any],
) -> Any:
    import torch
    from transformers.modeling_outputs import BaseModelOutputWithPast

    kwargs = {k: v for k, v in kwargs.items() if k not in ("use_cache", "return_dict")}
    alone = [rows[0] for rows, _ in groups if len(rows) == 1]  # one batch for all of them
    shared_groups = [(rows, prefix) for rows, prefix in groups if len(rows) > 1]
    pieces, order = [], []
    for rows, prefix in ([(alone, 0)] if alone else []) + shared_groups:
        index = torch.tensor(rows, device=input_ids.device)
        ids, mask = input_ids[index], attention_mask[index]
        if prefix == 0:
            out = original(input_ids=ids, attention_mask=mask, use_cache=False, **kwargs)
            hidden = out.last_hidden_state
        else:
            head = original(
                input_ids=ids[:1, :prefix], attention_mask=mask[:1, :prefix], use_cache=True,
                **kwargs,
            )  # fmt: skip
            cache = getattr(head, cache_arg)
            cache.batch_repeat_interleave(len(rows))
            tail = original(
                input_ids=ids[:, prefix:], attention_mask=mask, use_cache=True,
                **{cache_arg: cache}, **kwargs,
            )  # fmt: skip
            shared = head.last_hidden_state.expand(len(rows), -1, -1)
            hidden = torch.cat([shared, tail.last_hidden_state], dim=1)
        pieces.append(hidden)
        order.extend(rows)
    inverse = torch.empty(len(order), dtype=torch.long, device=input_ids.device)
    inverse[torch.tensor(order, device=input_ids.device)] = torch.arange(
        len(order), device=input_ids.device
    )
    return BaseModelOutputWithPast(last_hidden_state=torch.cat(pieces)[inverse])


@contextmanager
def compact_scoring() -> Iterator[None]:
    """Inside: trl's fused LM head scores only labelled positions on every device (see the
    module's docstring). trl 1.16 makes that choice in one place, ``trl.trainer.utils``'s
    ``_use_triton``, which its kernels do not use (they keep their own); a trl without it is
    left as it is."""
    import trl.trainer.utils as trl_utils

    original = getattr(trl_utils, "_use_triton", None)
    if original is None:
        yield
        return
    trl_utils._use_triton = lambda device: True
    try:
        yield
    finally:
        trl_utils._use_triton = original


def scores_compactly(device: Any) -> bool:
    """Whether trl's fused LM head projects only labelled positions on ``device`` now."""
    import trl.trainer.utils as trl_utils

    decide = getattr(trl_utils, "_use_triton", None)
    return bool(decide(device)) if decide is not None else False
