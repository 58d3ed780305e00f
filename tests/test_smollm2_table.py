"""tools/smollm2_table.py's plumbing on a small from-scratch model (the real run takes SmolLM2
and ~90 CPU-minutes): every stage runs for real, writes its CPU and wall seconds, a rerun
resumes (finished stages and evaluation parts are kept, not redone), and the table reads back."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SMALL = {"vocab_size": 400, "hidden_size": 32, "layers": 2, "heads": 2, "max_positions": 4096}


def _tool():
    spec = importlib.util.spec_from_file_location("smollm2_table", ROOT / "tools/smollm2_table.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["smollm2_table"] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from agent_rl.models import build_tiny_model
    from agent_rl.tasks import load_tasks
    from agent_rl.training.data import expert_steps

    corpus = [s.target or "" for s in expert_steps(load_tasks("train")[:4], ["hermes"])]
    return build_tiny_model(tmp_path_factory.mktemp("tiny"), corpus, **SMALL)


@pytest.mark.slow
def test_stages_run_resume_and_tabulate(tiny: Path, tmp_path: Path, capsys) -> None:
    tool = _tool()
    out = tmp_path / "run"
    argv = ["run", str(out), "--model", str(tiny), "--n", "2", "--sft-cpu", "1", "--grpo-cpu",
            "1", "--calls", "2", "--episodes", "1", "--test", "2", "--max-new-tokens", "8",
            "--completion", "8", "--generations", "2"]  # fmt: skip
    tool.main(argv)
    stages = {p.stem: json.loads(p.read_text()) for p in (out / "stages").glob("*.json")}
    assert set(stages) == {name for name, _, _ in tool.STAGES}
    assert all(s["cpu_s"] > 0 and s["wall_s"] > 0 for s in stages.values())
    assert stages["grpo"]["steps"] >= 1 and stages["matched"]["steps"] >= 1
    # the matched arm trained (at least) the CPU seconds GRPO's loop used, from the SFT adapter
    assert stages["matched"]["train_cpu_seconds"] >= stages["grpo"]["train_cpu_seconds"]
    adapter = json.loads((out / "matched/final/adapter_config.json").read_text())
    assert adapter["base_model_name_or_path"] == str((out / "sft/final").resolve())
    for arm in tool.ARMS:
        greedy = json.loads((out / "evals" / arm / "hand-greedy.json").read_text())
        assert greedy["calls"]["n_calls"] == 2
        episodes = json.loads((out / "evals" / arm / "episodes.json").read_text())
        assert episodes["episodes"]["n_episodes"] == 1
    text = capsys.readouterr().out
    assert "| grpo |" in text and "| eval-greedy |" in text

    # a run killed in its evaluations: only the lost part is redone, finished parts are kept
    (out / "stages/eval-T1.json").unlink()
    (out / "stages/eval-greedy.json").unlink()
    (out / "evals/matched/hand-T1.json").unlink()
    kept = (out / "evals/matched/families-T1.json").read_text()
    tool.main(argv)
    text = capsys.readouterr().out
    assert "sft: done already" in text and "eval-T1: running" in text
    rerun = [line.split(":")[0] for line in text.splitlines() if line.startswith("  ")]
    assert rerun == ["  matched hand-T1"]
    assert (out / "evals/matched/families-T1.json").read_text() == kept
    assert (out / "stages/eval-greedy.json").is_file()
    assert tool.table(out).count("—") == 0
