"""Exact speed-ups of trl's loss: a shared prompt computed once, only labelled positions scored.
Each must give the plain computation's numbers (hidden states, losses, gradients) and count the
FLOPs it spends."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent_rl.tasks import load_tasks
from agent_rl.training.data import expert_steps
from agent_rl.training.speedups import (
    compact_scoring,
    prefix_groups,
    scores_compactly,
    share_prompt_prefix,
)

SMALL = {"vocab_size": 400, "hidden_size": 32, "layers": 2, "heads": 2, "max_positions": 4096}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from agent_rl.models import build_tiny_model

    corpus = [s.target or "" for s in expert_steps(load_tasks("train")[:4], ["json"])]
    return build_tiny_model(tmp_path_factory.mktemp("tiny"), corpus, **SMALL)


def _batch(prompts: list[int], group: int, completion: int = 12, system: int = 20, seed: int = 0):
    """GRPO's layout: prompts of the given lengths (all starting with the same ``system``
    tokens), left-padded to the longest; ``group`` completions each of random lengths,
    right-padded — rows of one prompt next to each other, as trl repeats them."""
    import torch

    g = torch.Generator().manual_seed(seed)
    width = max(prompts)
    head = torch.randint(3, 400, (system,), generator=g)
    rows, masks = [], []
    for length in prompts:
        prompt = torch.cat([head, torch.randint(3, 400, (length - system,), generator=g)])
        for _ in range(group):
            n = int(torch.randint(1, completion + 1, (), generator=g))
            ids = torch.zeros(width + completion, dtype=torch.long)
            mask = torch.zeros_like(ids)
            ids[width - length : width], mask[width - length : width] = prompt, 1
            ids[width : width + n] = torch.randint(3, 400, (n,), generator=g)
            mask[width : width + n] = 1
            rows.append(ids)
            masks.append(mask)
    return torch.stack(rows), torch.stack(masks)


def test_rows_of_one_prompt_group_together_and_prompts_that_share_a_system_prompt_do_not() -> None:
    import torch

    ids, mask = _batch([40, 40, 33], group=3)
    groups = prefix_groups(ids, mask)
    assert [rows for rows, _ in groups] == [[0, 1, 2], [3, 4, 5], [6, 7, 8]]
    assert all(prefix >= 40 for _, prefix in groups)  # at least the whole (padded) prompt
    # identical rows share all but their last position, so each still has one of its own
    same = ids[:1].repeat(3, 1), mask[:1].repeat(3, 1)
    assert prefix_groups(*same) == [([0, 1, 2], ids.shape[1] - 1)]
    # rows that differ from the first position stay alone
    alone = ids[[0, 3, 6]].clone()
    alone[:, 0] = torch.tensor([5, 6, 7])
    assert [rows for rows, _ in prefix_groups(alone, mask[[0, 3, 6]])] == [[0], [1], [2]]


def test_a_shared_prefix_gives_the_plain_forward_s_hidden_states_and_gradients(tiny: Path) -> None:
    import torch

    from agent_rl.policies.hf import load_model

    ids, mask = _batch([40, 40, 31], group=3)
    ids = torch.cat([ids, ids[:1] + 1, ids[3:4] + 2])  # and two rows alone (run as one batch)
    mask = torch.cat([mask, mask[:1], mask[3:4]])
    model, _ = load_model(tiny)
    weights = torch.randn(*ids.shape, 32, generator=torch.Generator().manual_seed(1))
    keep = mask.bool().clone()
    keep[:, :39] = False  # prompt hidden states feed only their keys/values (and the last one)

    def run():
        model.zero_grad()
        hidden = model.base_model(input_ids=ids, attention_mask=mask, use_cache=False)
        (hidden.last_hidden_state * weights)[keep].sum().backward()
        grads = {n: p.grad.clone() for n, p in model.named_parameters()}
        return hidden.last_hidden_state.detach(), grads

    plain_hidden, plain_grads = run()
    assert share_prompt_prefix(model) is True
    assert share_prompt_prefix(model) is True  # once is enough: not wrapped twice
    shared_hidden, shared_grads = run()
    assert torch.allclose(plain_hidden[keep], shared_hidden[keep], atol=1e-5)
    for name, grad in plain_grads.items():
        assert torch.allclose(grad, shared_grads[name], atol=1e-5, rtol=1e-4), name


def test_generation_gives_the_same_tokens_with_each_repeated_prompt_prefilled_once(
    tiny: Path,
) -> None:
    import torch

    from agent_rl.policies.hf import load_model
    from agent_rl.training.compute import MatmulFlops

    model, _ = load_model(tiny)
    ids, mask = _batch([30, 24], group=3, completion=1)  # 2 prompts, 3 rows each
    ids, mask = ids[:, :30], mask[:, :30]
    kwargs = {"attention_mask": mask, "max_new_tokens": 8, "do_sample": False, "pad_token_id": 0}
    meter = MatmulFlops(model)
    with torch.no_grad():
        before = model.generate(ids, **kwargs)
        spent = meter.total
        meter.total = 0.0
        share_prompt_prefix(model)
        after = model.generate(ids, **kwargs)
    assert torch.equal(after, before)
    # the prefill ran 2 rows instead of 6: 4 rows of 30 positions fewer through every layer
    # below the head (which scores each row's last position either way)
    head = model.get_output_embeddings()
    body = sum(m.in_features * m.out_features for m in model.modules()
               if isinstance(m, torch.nn.Linear) and m is not head)  # fmt: skip
    assert spent - meter.total == 2.0 * body * 4 * 30


def test_a_model_without_a_cache_is_left_as_it_is() -> None:
    import torch

    class Backbone(torch.nn.Module):
        def forward(self, input_ids, attention_mask=None):
            return input_ids

    class Model(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = Backbone()

        @property
        def base_model(self):
            return self.inner

    model = Model()
    forward = model.inner.forward
    assert share_prompt_prefix(model) is False
    assert model.inner.forward == forward


def test_compact_scoring_gives_the_same_log_probs_and_counts_only_labelled_positions(
    tiny: Path,
) -> None:
    import torch
    from trl.trainer.utils import add_fused_lm_head

    from agent_rl.policies.hf import load_model
    from agent_rl.training.compute import MatmulFlops

    model, _ = load_model(tiny)
    add_fused_lm_head(model, outputs=("log_probs", "entropy"))
    ids, mask = _batch([30, 25], group=2)
    labels = ids.masked_fill(mask == 0, -100)
    labels[:, :30] = -100  # completions only, as GRPO scores them
    meter = MatmulFlops(model)
    head = model.get_output_embeddings().weight.numel()
    cpu = torch.device("cpu")

    def score(**kwargs):
        meter.total = 0.0
        with torch.no_grad():
            out = model(input_ids=ids, attention_mask=mask, **kwargs)
        return out, meter.total

    with torch.no_grad():
        meter.total = 0.0
        model.base_model(input_ids=ids, attention_mask=mask, use_cache=False)
        body = meter.total  # the layers before the head, every position
    assert scores_compactly(cpu) is False
    plain, plain_flops = score(labels=labels, fused_lm_head=True)
    with compact_scoring():
        assert scores_compactly(cpu) is True
        compact, compact_flops = score(labels=labels, fused_lm_head=True)
    assert scores_compactly(cpu) is False  # restored on leaving
    labelled = labels[:, 1:] != -100
    assert torch.allclose(plain.log_probs[labelled], compact.log_probs[labelled], atol=1e-5)
    assert torch.allclose(plain.entropy[labelled], compact.entropy[labelled], atol=1e-5)
    # the head projects every position, or only the labelled ones
    assert plain_flops == body + 2.0 * head * labels[:, 1:].numel()
    assert compact_flops == body + 2.0 * head * int(labelled.sum())


@pytest.mark.slow
def test_a_real_grpo_run_is_the_same_with_and_without_the_speedups(
    tiny: Path, tmp_path: Path
) -> None:
    """Same seed, same prompts: the same sampled completions, so the same losses and gradient
    norms step by step; fewer FLOPs counted with the speed-ups, because fewer are spent."""
    from transformers import set_seed

    from agent_rl.training import train_grpo

    steps = list(expert_steps(load_tasks("train")[:3], ["json"]))[:4]
    runs = {}
    for fast in (False, True):
        set_seed(0)
        out = tmp_path / f"fast{fast}"
        result = train_grpo(
            tiny, steps=steps, output_dir=str(out), max_steps=3, num_generations=4,
            per_device_train_batch_size=8, max_completion_length=24, seed=0, report_to=[],
            disable_tqdm=True, logging_steps=1, save_strategy="no",
            share_prompt_prefix=fast, compact_scoring=fast,
        )  # fmt: skip
        logged = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
        runs[fast] = ([(d["loss"], d["grad_norm"]) for d in logged if "loss" in d], result)
    (plain, plain_run), (fast, fast_run) = runs[False], runs[True]
    assert len(plain) == len(fast) == 3
    for (loss, norm), (fast_loss, fast_norm) in zip(plain, fast, strict=True):
        assert fast_loss == pytest.approx(loss, abs=1e-5)
        assert fast_norm == pytest.approx(norm, rel=1e-3, abs=1e-5)
    assert fast_run.train_flops < 0.8 * plain_run.train_flops
