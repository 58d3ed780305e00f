"""Benchmark: what a training step costs with and without the exact speed-ups of trl's loss.

    OMP_NUM_THREADS=1 python tools/bench_step.py --quick     # ~1-2 min on one core
    OMP_NUM_THREADS=1 python tools/bench_step.py             # 10 GRPO and 10 SFT steps a run

From the shipped start (``tiny-sft``) on the demo's data (N = 300 generated train episodes,
react format) with the demo's GRPO recipe (2 prompts x 8 completions a step, lr 1e-4), side by
side in one process: GRPO with neither speed-up, with ``share_prompt_prefix`` alone, with
``compact_scoring`` alone, with both (the default); SFT (batch 8) without and with
``compact_scoring`` (``agent_rl.training.speedups``). Every run is seeded alike, so each
samples the same completions and must log the same losses step by step: the table gives the
largest difference from the plain run (a speed-up that changed the numbers would show here),
process CPU seconds a step and FLOPs counted a step (``MatmulFlops``: what was computed).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import tempfile
from pathlib import Path
from typing import Any

GRPO = {"learning_rate": 1e-4, "num_generations": 8, "per_device_train_batch_size": 16}
DATA = {"formats": ["react"], "task_split": "none", "families": 300, "data_seed": 0, "seed": 0}
QUIET = {"report_to": [], "disable_tqdm": True, "logging_steps": 1, "save_strategy": "no"}


def _args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--quick", action="store_true", help="4 steps a run")
    p.add_argument("--steps", type=int, help="optimizer steps a run (default 10, quick 4)")
    p.add_argument("--model", default="tiny-sft", help="start checkpoint (name or folder)")
    return p.parse_args()


def _run(kind: str, model: str, steps: int, out: Path, **speedups: bool) -> dict[str, Any]:
    from transformers import set_seed

    from agent_rl.training import train_grpo, train_sft

    set_seed(0)
    train = train_grpo if kind == "grpo" else train_sft
    extra = GRPO if kind == "grpo" else {"per_device_train_batch_size": 8}
    with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
        result = train(model, output_dir=str(out), max_steps=steps, **DATA, **QUIET, **extra,
                       **speedups)  # fmt: skip
    logged = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return {
        "losses": [d["loss"] for d in logged if "loss" in d],
        "cpu": result.train_cpu_seconds / steps,
        "flops": result.train_flops / steps,
    }


def main() -> None:
    args = _args()
    steps = args.steps or (4 if args.quick else 10)
    runs = [
        ("grpo", "neither", {"share_prompt_prefix": False, "compact_scoring": False}),
        ("grpo", "share_prompt_prefix", {"share_prompt_prefix": True, "compact_scoring": False}),
        ("grpo", "compact_scoring", {"share_prompt_prefix": False, "compact_scoring": True}),
        ("grpo", "both (default)", {}),
        ("sft", "neither", {"compact_scoring": False}),
        ("sft", "compact_scoring (default)", {}),
    ]
    print(f"{steps} steps a run, one process, model {args.model}\n")
    print("| run | speed-ups | CPU-s a step | GFLOPs a step | largest loss difference |")
    print("|---|---|---|---|---|")
    plain: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for i, (kind, name, speedups) in enumerate(runs):
            r = _run(kind, args.model, steps, Path(tmp) / str(i), **speedups)
            base = plain.setdefault(kind, r)
            diff = max(abs(a - b) for a, b in zip(r["losses"], base["losses"], strict=True))
            ratio = f" ({base['cpu'] / r['cpu']:.2f}x)" if r is not base else ""
            print(f"| {kind.upper()} | {name} | {r['cpu']:.2f}{ratio} | {r['flops'] / 1e9:.1f} | "
                  f"{diff:.1e} |", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
