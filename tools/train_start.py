"""Make ``tiny-sft``, the checkpoint the demo starts from: the tiny model SFT'd to its plateau
(on the validation split: 51.0, 74.3, 74.8, 76.5% schema-valid at steps 150-600).

    python tools/train_start.py                       # ~35 minutes on one core
    python tools/train_start.py --work runs/start --steps 600 --n 300
    python tools/train_start.py --work runs/s256 --out runs/tiny-sft-256 --hidden-size 256  # wider

1. ``build_tiny_model`` (seed 0; ``--hidden-size``/``--layers``, 128 and 4 shipped) — the
   untrained base; with ``--copy``, then copy-pretrained
   (:func:`agent_rl.training.copying.pretrain_copying`: it learns to copy from its context);
2. SFT on a FIXED set of N generated train-split family episodes (the demo's expert set:
   ``families=N, data_seed=seed``), a checkpoint every ``--every`` steps;
3. each checkpoint scored on VALIDATION instances — the ``val`` split's own word pools, seeds
   from :data:`VALIDATION_SEED` on, never trained on and not the test split — sampled at
   T=1.0, so the plateau is read off without looking at held-out test data;
4. the final weights and tokenizer copied to ``--out`` (default: the package's
   ``agent_rl/_weights/tiny-sft``) with ``recipe.json``: the settings, CPU seconds and the
   validation curve. The demo checks its own settings against that recipe.

Every stage whose output exists is skipped, so a killed run resumes.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
VALIDATION_SEED = 99
"""Seed of the validation instances (the demo's expert set uses seed 0, ``fresh`` seed 1)."""
KEEP = ("config.json", "generation_config.json", "model.safetensors", "tokenizer.json",
        "tokenizer_config.json", "chat_template.jinja")  # fmt: skip


def validation_states(n: int) -> list[Any]:
    """States of ``n`` instances of the val split (its own word pools: unseen words, like the
    test split's), relabelled held out for :func:`held_out_states`, which refuses other splits."""
    from agent_rl.tasks import generate_tasks

    return scored_states(generate_tasks("val", n, seed=VALIDATION_SEED))


def scored_states(tasks: list[Any]) -> list[Any]:
    """The react states of ``tasks`` of any split, relabelled held out for
    :func:`held_out_states`, which refuses tasks outside the test split."""
    from agent_rl.evaluation.states import held_out_states

    return held_out_states(("react",), [t.model_copy(update={"split": "test"}) for t in tasks])


def validation_rate(folder: Path, states: list[Any], calls: int) -> dict[str, float]:
    """Schema-valid and fully valid rates of ``calls`` sampled (T=1.0) calls over ``states``."""
    from transformers import set_seed

    from agent_rl.evaluation.runner import EvalConfig, evaluate_calls, make_policy
    from agent_rl.policies.hf import load_model

    set_seed(0)
    model, tokenizer = load_model(folder)
    tally = evaluate_calls(make_policy(model, tokenizer, 1.0, EvalConfig()), states, calls)
    return {
        "schema_valid": round(tally.args_valid_rate.rate, 4),
        "call_valid": round(tally.call_valid.rate, 4),
        "n": tally.n,
    }


def _commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True,
                             text=True, check=True)  # fmt: skip
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _copying(model: Path) -> dict[str, Any] | None:
    """The copy pretraining record of the SFT's starting model, if it had one."""
    record = model / "copying.json"
    return json.loads(record.read_text()) if record.is_file() else None


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--work", default="runs/start", help="run folder (model/, sft/, curve.json)")
    p.add_argument("--out", default=str(ROOT / "agent_rl" / "_weights" / "tiny-sft"))
    p.add_argument("--n", type=int, default=300, help="expert episodes in the fixed set")
    p.add_argument("--steps", type=int, default=600, help="SFT steps (cosine schedule)")
    p.add_argument("--every", type=int, default=150, help="checkpoint / validation interval")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--val", type=int, default=60, help="validation instances")
    p.add_argument("--val-calls", type=int, default=400, help="sampled calls per checkpoint")
    p.add_argument(
        "--copy",
        action="store_true",
        help="copy-pretrain the base before SFT (measured worse on val: BENCHMARKS.md)",
    )
    p.add_argument("--lr", type=float, default=3e-3, help="SFT peak learning rate (cosine)")
    p.add_argument("--hidden-size", type=int, default=128, help="the base's width (shipped: 128)")
    p.add_argument("--layers", type=int, default=4, help="the base's layers (shipped: 4)")
    args = p.parse_args()

    from transformers import set_seed

    from agent_rl.models import build_tiny_model
    from agent_rl.training import train_sft

    work = Path(args.work)
    size = {"hidden_size": args.hidden_size, "layers": args.layers}
    settings: dict[str, Any] = {"formats": ["react"], "task_split": "none", "families": args.n,
                                "data_seed": args.seed, "per_device_train_batch_size": 8,
                                "learning_rate": args.lr, "seed": args.seed}  # fmt: skip
    if not (work / "model" / "config.json").is_file():
        if args.copy:
            from agent_rl.training.copying import CopyConfig, pretrain_copying

            if not (work / "base" / "config.json").is_file():
                build_tiny_model(work / "base", seed=args.seed, **size)
            pretrain_copying(work / "base", work / "model", CopyConfig(seed=args.seed))
        else:
            build_tiny_model(work / "model", seed=args.seed, **size)
    if not (work / "sft" / "train_result.json").is_file():
        set_seed(args.seed)
        train_sft(str(work / "model"), output_dir=str(work / "sft"), max_steps=args.steps,
                  save_strategy="steps", save_steps=args.every, save_total_limit=None,
                  **settings)  # fmt: skip
    result = json.loads((work / "sft" / "train_result.json").read_text())

    curve_path = work / "curve.json"
    curve = json.loads(curve_path.read_text()) if curve_path.is_file() else {}
    states = validation_states(args.val)
    points = sorted(int(c.name.split("-")[1]) for c in (work / "sft").glob("checkpoint-*"))
    for step in [*points, args.steps]:
        if str(step) in curve:
            continue
        folder = work / "sft" / ("final" if step == args.steps else f"checkpoint-{step}")
        start = time.perf_counter()
        curve[str(step)] = validation_rate(folder, states, args.val_calls)
        print(f"step {step}: {curve[str(step)]} ({time.perf_counter() - start:.0f}s)", flush=True)
        curve_path.write_text(json.dumps(curve, indent=2) + "\n")

    out = Path(args.out)
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for name in KEEP:
        if (work / "sft" / "final" / name).is_file():
            shutil.copy2(work / "sft" / "final" / name, tmp / name)
    recipe = {
        "about": "the tiny model after SFT on a fixed set of generated family episodes: the "
        "demo's start (tools/train_start.py)",
        "command": " ".join(["python", "tools/train_start.py", *sys.argv[1:]]),
        "commit": _commit(),
        "train_episodes": args.n,
        "seed": args.seed,
        "formats": settings["formats"],
        "copy_pretraining": _copying(work / "model"),
        "sft_steps": args.steps,
        "batch_episodes": settings["per_device_train_batch_size"],
        "learning_rate": args.lr,
        "train_seconds": result.get("train_seconds"),
        "train_cpu_seconds": result.get("train_cpu_seconds"),
        "validation": {
            "instances": args.val,
            "split": "val",
            "seed": VALIDATION_SEED,
            "calls": args.val_calls,
            "temperature": 1.0,
            "curve": curve,
        },
    }
    (tmp / "recipe.json").write_text(json.dumps(recipe, indent=2) + "\n")
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    print(f"wrote {out} ({sum(f.stat().st_size for f in out.iterdir()) / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
