"""Scale out: GRPO data-parallel over 2 CPU processes (``accelerate launch``, gloo) on the real
tiny model, against the same run in 1 process; the DeepSpeed ZeRO-2 accelerate config."""

from __future__ import annotations

import json
import math
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from agent_rl.models import build_tiny_model

ROOT = Path(__file__).resolve().parents[1]
STEPS = 2
TRAIN = [
    "-m", "agent_rl.cli", "train",
    "--max_steps", str(STEPS), "--num_generations", "4", "--per_device_train_batch_size", "4",
    "--formats", "json", "--task_split", "train", "--max_completion_length", "32",
    "--save_strategy", "no", "--report_to", "none", "--logging_steps", "1",
    "--disable_tqdm", "true",
]  # fmt: skip


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run(cmd: list[str], timeout: float = 240) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


def _steps(out: Path) -> list[dict[str, float]]:
    lines = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return [r for r in lines if "reward" in r]  # the step logs (the last line is the summary)


def test_deepspeed_config_is_an_accelerate_config() -> None:
    """The README's ZeRO-2 file (run only on GPUs) is read by accelerate as DeepSpeed stage 2."""
    from accelerate.commands.config.config_args import load_config_from_file
    from accelerate.utils import DistributedType

    config = load_config_from_file(str(ROOT / "configs" / "accelerate" / "deepspeed_zero2.yaml"))
    assert config.distributed_type == DistributedType.DEEPSPEED
    assert config.deepspeed_config["zero_stage"] == 2
    assert (config.num_machines, config.mixed_precision, config.use_cpu) == (1, "bf16", False)


@pytest.mark.slow
def test_grpo_two_cpu_processes_match_one(tmp_path: Path) -> None:
    model = build_tiny_model(tmp_path / "m", hidden_size=32, layers=1, vocab_size=512)
    one, two = tmp_path / "one", tmp_path / "two"
    _run([sys.executable, *TRAIN, "--model", str(model), "--output_dir", str(one)])
    launch = [
        sys.executable, "-m", "accelerate.commands.accelerate_cli", "launch",
        "--multi_gpu", "--num_processes", "2", "--num_machines", "1", "--mixed_precision", "no",
        "--dynamo_backend", "no", "--main_process_port", str(_free_port()),
    ]  # fmt: skip
    _run([*launch, *TRAIN, "--model", str(model), "--output_dir", str(two)])

    runs = [(1, one), (2, two)]
    results = {n: json.loads((d / "train_result.json").read_text()) for n, d in runs}
    assert results[1]["num_processes"] == 1
    assert results[2]["num_processes"] == 2  # one gloo group, not two lone runs
    for n, out in runs:
        assert results[n]["global_step"] == STEPS
        assert (out / "final" / "config.json").is_file()
        logs = _steps(out)
        assert [r["step"] for r in logs] == list(range(1, STEPS + 1))  # rank 0 logs, once
        assert all(r["policy_lag"] == 0 for r in logs)
        for r in logs:
            assert 0.0 <= r["rewards/expert_tool_arguments/mean"] <= 1.0
            assert 0.0 <= r["rewards/valid_expert_tool/mean"] <= 1.0
            assert math.isfinite(r["loss"]) and math.isfinite(r["entropy"])
    # Data-parallel: each optimizer step consumed both processes' prompts (twice the epoch), and
    # the same untrained model gives the same kind of samples (entropy within noise).
    last1, last2 = _steps(one)[-1], _steps(two)[-1]
    # (211 prompts: 2 steps of 2/105 epoch per rank vs 2/211)
    assert last2["epoch"] == pytest.approx(2 * last1["epoch"], rel=0.02)
    # ... and so twice the compute, counted on both ranks and summed in the result
    assert results[2]["train_flops"] == pytest.approx(2 * results[1]["train_flops"], rel=0.35)
    assert abs(last2["entropy"] - last1["entropy"]) < 0.5
