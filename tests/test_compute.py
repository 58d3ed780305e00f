"""What a run spends: FLOPs counted at the linear layers, and budgets of seconds or FLOPs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from agent_rl.errors import ConfigError
from agent_rl.tasks import load_tasks
from agent_rl.training.compute import MatmulFlops, StopAtBudget
from agent_rl.training.data import expert_steps

SMALL = {"vocab_size": 400, "hidden_size": 32, "layers": 2, "heads": 2, "max_positions": 4096}
QUIET = {"report_to": [], "disable_tqdm": True, "logging_steps": 1, "formats": ["json"]}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from agent_rl.models import build_tiny_model

    corpus = [s.target or "" for s in expert_steps(load_tasks("train")[:4], ["json"])]
    return build_tiny_model(tmp_path_factory.mktemp("tiny"), corpus, **SMALL)


def _linear_sizes(model) -> int:
    import torch

    return sum(m.in_features * m.out_features for m in model.modules()
               if isinstance(m, torch.nn.Linear))  # fmt: skip


def test_flops_are_counted_at_every_linear_layer_forward_and_backward(tiny: Path) -> None:
    """2·rows·in·out a linear layer's forward; a trained layer's backward twice that again
    (the input's and the weight's gradients); a frozen one's only the input's."""
    import torch

    from agent_rl.policies.hf import load_model

    model, _ = load_model(tiny)
    per_row = 2 * _linear_sizes(model)
    assert model.get_output_embeddings().weight is model.get_input_embeddings().weight  # tied
    ids = torch.randint(0, 400, (3, 17))
    meter = MatmulFlops(model)
    with torch.no_grad():
        model(input_ids=ids)
    assert meter.total == per_row * 3 * 17  # generation/scoring: forward only
    meter.total = 0.0
    model(input_ids=ids).logits.sum().backward()
    assert meter.total == 3 * per_row * 3 * 17  # training: forward + backward
    for p in model.parameters():
        p.requires_grad_(False)
    meter.total = 0.0
    model(input_ids=ids)
    assert meter.total == per_row * 3 * 17  # nothing needs a gradient: forward only
    meter.detach()
    model(input_ids=ids)
    assert meter.total == per_row * 3 * 17  # detached: no longer counting


def test_a_budget_needs_a_known_clock_and_a_flops_budget_its_meter() -> None:
    with pytest.raises(ValueError, match="clock"):
        StopAtBudget(1.0, "gpu")
    with pytest.raises(ValueError, match="meter"):
        StopAtBudget(1.0, "flops")


def test_one_budget_at_a_time_and_a_positive_one() -> None:
    from agent_rl.training import SFTSettings

    with pytest.raises(ConfigError, match="one budget"):
        SFTSettings(output_dir="x", max_seconds=10.0, max_flops=1e9)
    with pytest.raises(ConfigError, match="max_flops"):
        SFTSettings(output_dir="x", max_flops=0.0)


@pytest.mark.slow
def test_a_flops_budget_ends_sft_at_the_first_step_that_spends_it(
    tiny: Path, tmp_path: Path
) -> None:
    """Deterministic, unlike seconds: planned between the FLOPs of step 1 and step 2 of the
    same seeded run, the budget ends that run exactly at step 2, having spent step 2's."""
    from agent_rl.training import train_sft

    def sft(name: str, **budget: float) -> object:
        return train_sft(str(tiny), output_dir=str(tmp_path / name), task_split="train",
                         per_device_train_batch_size=2, save_strategy="no", **QUIET,
                         **budget)  # type: ignore[arg-type]  # fmt: skip

    one, two = sft("one", max_steps=1), sft("two", max_steps=2)
    assert 0 < one.train_flops < two.train_flops  # type: ignore[attr-defined]
    budget = (one.train_flops + two.train_flops) / 2  # type: ignore[attr-defined]
    ended = sft("budget", max_steps=10**6, max_flops=budget)
    assert ended.global_step == 2  # type: ignore[attr-defined]
    assert ended.train_flops == two.train_flops  # type: ignore[attr-defined]
    saved = json.loads((tmp_path / "budget" / "train_result.json").read_text())
    assert saved["train_flops"] == two.train_flops  # type: ignore[attr-defined]


@pytest.mark.slow
def test_a_resumed_grpo_run_counts_the_whole_run(tiny: Path, tmp_path: Path) -> None:
    """A run resumed from its checkpoint reports the whole run's FLOPs — exactly the count of
    the run that never stopped (the RNG is restored too, so it samples the same completions):
    the count travels with the checkpoint."""
    from agent_rl.training import train_grpo

    steps = list(expert_steps(load_tasks("train")[:1], ["json"]))[:2]

    def grpo(out: Path, resume: bool = False) -> object:
        return train_grpo(str(tiny), steps=steps, output_dir=str(out), max_steps=2,
                          num_generations=2, per_device_train_batch_size=2,
                          max_completion_length=8, save_steps=1, save_total_limit=None,
                          resume_from_checkpoint="latest" if resume else None,
                          **QUIET)  # type: ignore[arg-type]  # fmt: skip

    straight = grpo(tmp_path / "straight")
    saved = json.loads((tmp_path / "straight" / "checkpoint-1" / "flops.json").read_text())
    assert 0 < saved["flops"] < straight.train_flops  # type: ignore[attr-defined]
    resumed_dir = tmp_path / "resumed"
    shutil.copytree(tmp_path / "straight" / "checkpoint-1", resumed_dir / "checkpoint-1")
    resumed = grpo(resumed_dir, resume=True)
    assert resumed.global_step == 2  # type: ignore[attr-defined]
    assert resumed.train_flops == straight.train_flops  # type: ignore[attr-defined]
    assert resumed.train_flops > 1.5 * saved["flops"]  # type: ignore[attr-defined]


@pytest.mark.slow
def test_a_kl_reference_models_forward_is_counted(tiny: Path, tmp_path: Path) -> None:
    """With ``beta > 0`` trl scores every completion under a separate reference model too:
    that forward is compute the run spent, so one step costs more than the same step without."""
    from agent_rl.training import train_grpo

    steps = list(expert_steps(load_tasks("train")[:1], ["json"]))[:1]

    def flops(beta: float) -> float:
        return train_grpo(str(tiny), steps=steps, output_dir=str(tmp_path / str(beta)),
                          max_steps=1, num_generations=2, per_device_train_batch_size=2,
                          max_completion_length=8, save_strategy="no", beta=beta,
                          **QUIET).train_flops  # type: ignore[arg-type]  # fmt: skip

    without, with_ref = flops(0.0), flops(0.04)
    assert without > 0 and with_ref > without
