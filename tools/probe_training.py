"""Training probes: the exploratory runs of BENCHMARKS.md ("what we tried"), one stage a call.

    python tools/probe_training.py sft BASE OUT --n 300 --steps 300
    python tools/probe_training.py grpo START OUT --n 300 --cpu 600 --set learning_rate=3e-4
    python tools/probe_training.py grpo START OUT --n 300 --max-steps 600 --every 100  # a curve
    python tools/probe_training.py matched START OUT --n 300 --cpu 600
    python tools/probe_training.py matched START OUT --n 300 --flops-of runs/g   # GRPO's FLOPs
    python tools/probe_training.py fresh START OUT --n 300 --cpu 600   # unlimited fresh episodes
    python tools/probe_training.py eval OUT/final --calls 1000 --greedy 1 --hand 400
    python tools/probe_training.py eval OUT/final --split val --test 60 --calls 600  # choosing
    python tools/probe_training.py eval OUT/final --split fit --test 60 --calls 1000  # own data

``BASE`` is a model folder (e.g. ``runs/quick/model`` of ``agent-rl demo --quick``); ``START``
an SFT run folder (its ``final`` is the starting checkpoint). Data: a fixed expert set of ``--n``
generated train family episodes (seed 0), as in the demo; ``fresh`` instead trains SFT on new
episodes (other seeds) for the budget, the reference line. ``grpo``, ``matched`` and ``fresh``
stop at ``--cpu`` process CPU seconds, so the arms get the same compute, or (``--flops-of RUN``)
at the FLOPs another run counted (its ``train_result.json``). ``--set`` passes any
``SFTSettings`` / ``GRPOSettings`` field (JSON value, else a string). ``eval`` scores sampled
(T=1.0) calls on held-out family instances (test seeds and word pools), optionally greedy once
per state (``--greedy 1``) and sampled calls on the hand-written test suite (``--hand``):
schema-valid and fully valid rates with 95% Wilson intervals and the top error kinds.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any


def _value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("stage", choices=["sft", "grpo", "matched", "fresh", "eval"])
    p.add_argument("model", help="model folder (sft, eval) or SFT run folder (the others)")
    p.add_argument("out", nargs="?", help="output folder (not for eval)")
    p.add_argument("--n", type=int, default=300, help="expert episodes in the fixed set")
    p.add_argument("--steps", type=int, default=300, help="sft: steps")
    p.add_argument("--cpu", type=float, default=600.0, help="grpo/matched/fresh: CPU-s budget")
    p.add_argument("--flops-of", help="grpo/matched/fresh: the budget is this run's FLOPs instead")
    p.add_argument(
        "--max-steps",
        type=int,
        help="grpo/matched/fresh: stop at this many steps instead of a budget",
    )
    p.add_argument("--every", type=int, help="grpo: save a checkpoint every K steps (a curve)")
    p.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE")
    p.add_argument("--calls", type=int, default=1000, help="eval: sampled (T=1.0) calls")
    p.add_argument("--greedy", type=int, default=0, help="eval: 1 = each state once, greedy")
    p.add_argument("--hand", type=int, default=0, help="eval: T=1.0 calls, hand-written suite")
    p.add_argument("--test", type=int, default=110, help="eval: held-out family instances")
    p.add_argument(
        "--split",
        choices=["test", "val", "train", "fit"],
        default="test",
        help="eval: 'val' scores validation instances instead (the val split's own word pools, "
        "unseen seeds: tools/train_start.py): for choosing settings without the test split; "
        "'train' fresh train-split instances (the training words, seed 777), 'fit' the first "
        "--test episodes of the fixed expert set itself (seed 0): how far off its data a model is",
    )
    args = p.parse_args()
    if args.stage != "eval" and not args.out:
        p.error(f"{args.stage} needs an output folder")
    return args


def _eval(args: argparse.Namespace) -> None:
    from transformers import set_seed

    from agent_rl.evaluation.runner import EvalConfig, evaluate_calls, make_policy
    from agent_rl.evaluation.states import held_out_states
    from agent_rl.policies.hf import load_model
    from agent_rl.tasks import generate_tasks, load_tasks

    if args.split == "val":
        from train_start import validation_states  # tools/ is on the path of a tools script

        family = validation_states(args.test)
    elif args.split in ("train", "fit"):
        from train_start import scored_states

        seed = 0 if args.split == "fit" else 777
        family = scored_states(generate_tasks("train", args.test, seed=seed))
    else:
        family = held_out_states(("react",), generate_tasks("test", args.test, seed=0))
    hand = held_out_states(("react",), load_tasks("test"))
    model, tokenizer = load_model(args.model)
    suite = f"families ({args.split})"
    runs = [(suite, family, 1.0, args.calls), ("hand-written", hand, 1.0, args.hand)]
    if args.greedy:
        runs.insert(1, (suite, family, 0.0, None))
    for suite, states, temperature, n in runs:
        if n == 0:
            continue
        set_seed(0)
        start = time.perf_counter()
        policy = make_policy(model, tokenizer, temperature, EvalConfig())
        tally = evaluate_calls(policy, states, n)
        pct = lambda r: f"{100 * r.rate:.2f}% [{100 * r.ci95[0]:.2f}, {100 * r.ci95[1]:.2f}]"  # noqa: E731
        print(
            f"{args.model} {suite} T={temperature} n={tally.n}: schema-valid "
            f"{pct(tally.args_valid_rate)}, fully valid {pct(tally.call_valid)}, parse "
            f"{100 * tally.parse_valid_rate.rate:.2f}%, expert tool "
            f"{100 * tally.expert_tool_valid_rate.rate:.1f}% ({time.perf_counter() - start:.0f}s)"
        )
        print(f"    errors: {dict(tally.errors.most_common(8))}", flush=True)


def main() -> None:
    args = _args()
    if args.stage == "eval":
        _eval(args)
        return
    from transformers import set_seed

    from agent_rl.training import train_grpo, train_sft

    settings = {k: _value(v) for k, v in (kv.split("=", 1) for kv in args.set)}
    data = {"task_split": "none", "families": args.n, "data_seed": 0}
    if args.stage == "fresh":  # unlimited fresh episodes: the budget never repeats one
        data = {"task_split": "none", "families": 20 * args.n, "data_seed": 1}
    common = {"output_dir": args.out, "formats": ["react"], "seed": 0, **data, **settings}
    set_seed(0)
    if args.stage == "sft":
        result = train_sft(args.model, max_steps=args.steps, per_device_train_batch_size=8,
                           **common)  # fmt: skip
    else:
        start = Path(args.model) / "final"
        budget: dict[str, Any]
        if args.max_steps:  # a step count instead of a budget
            budget = {"max_steps": args.max_steps}
        elif args.flops_of:
            spent = json.loads((Path(args.flops_of) / "train_result.json").read_text())
            budget = {"max_flops": float(spent["train_flops"]), "max_steps": 10**6}
        else:
            budget = {"max_seconds": args.cpu, "budget_clock": "cpu", "max_steps": 10**6}
        if args.stage == "grpo":
            saving = {"save_steps": args.every or 10**6, "save_total_limit": None}
            result = train_grpo(start, **saving, **budget, **common)
        else:
            result = train_sft(start, per_device_train_batch_size=8, **budget, **common)
    print(f"{args.stage}: {result.global_step} steps, {result.train_cpu_seconds:.0f} CPU-s "
          f"({result.train_seconds:.0f} s), {result.train_flops:.4g} FLOPs "
          f"-> {result.checkpoint}")  # fmt: skip


if __name__ == "__main__":
    main()
