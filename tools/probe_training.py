"""Training probes: the exploratory runs of BENCHMARKS.md ("what we tried"), one stage a call.

    python tools/probe_training.py sft BASE OUT --steps 400 --set variants=8
    python tools/probe_training.py grpo START OUT --cpu 500 --set variants=8 --set data_seed=1
    python tools/probe_training.py matched START OUT --cpu 500 --set variants=8 --set data_seed=1
    python tools/probe_training.py eval OUT/final --calls 400 --greedy 100

``BASE`` is a model folder (e.g. ``runs/quick/model`` of ``agent-rl demo --quick``); ``START``
an SFT run folder (its ``final`` is the starting checkpoint). ``grpo`` and ``matched`` both stop
at ``--cpu`` process CPU seconds, so the two arms get the same compute; ``matched`` plans its
schedule as the demo's compute-matched SFT does (``matched_sft_steps``). ``--set`` passes any
``SFTSettings`` / ``GRPOSettings`` field (JSON value, else a string). ``eval`` scores sampled
(T=1.0) and greedy calls on the held-out test states, 95% Wilson intervals. Seeded (seed 0).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def _value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("stage", choices=["sft", "grpo", "matched", "eval"])
    p.add_argument("model", help="model folder (sft, eval) or SFT run folder (grpo, matched)")
    p.add_argument("out", nargs="?", help="output folder (not for eval)")
    p.add_argument("--steps", type=int, default=400, help="sft: steps")
    p.add_argument("--cpu", type=float, default=500.0, help="grpo/matched: CPU-second budget")
    p.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE")
    p.add_argument("--calls", type=int, default=400, help="eval: sampled (T=1.0) calls")
    p.add_argument("--greedy", type=int, default=100, help="eval: greedy calls")
    args = p.parse_args()
    if args.stage != "eval" and not args.out:
        p.error(f"{args.stage} needs an output folder")
    return args


def _eval(path: str, calls: int, greedy: int) -> None:
    from transformers import set_seed

    from agent_rl.evaluation.runner import EvalConfig, evaluate_calls, make_policy
    from agent_rl.evaluation.states import held_out_states
    from agent_rl.policies.hf import load_model
    from agent_rl.tasks import load_tasks

    states = held_out_states(("react",), load_tasks("test"))
    model, tokenizer = load_model(path)
    for temperature, n in ((1.0, calls), (0.0, greedy)):
        if not n:
            continue
        set_seed(0)
        tally = evaluate_calls(make_policy(model, tokenizer, temperature, EvalConfig()), states, n)
        pct = lambda t: f"{100 * t.rate:.1f}% [{100 * t.ci95[0]:.1f}, {100 * t.ci95[1]:.1f}]"  # noqa: E731
        print(
            f"{path} T={temperature} n={n}: valid {pct(tally.call_valid)}, parse "
            f"{pct(tally.parse_valid_rate)}, args {pct(tally.args_valid_rate)}, expert tool "
            f"{pct(tally.expert_tool_valid_rate)}"
        )


def main() -> None:
    args = _args()
    if args.stage == "eval":
        _eval(args.model, args.calls, args.greedy)
        return
    from transformers import set_seed

    from agent_rl.demo import matched_sft_steps
    from agent_rl.training import train_grpo, train_sft
    from agent_rl.training.runs import MetricsLog

    extra = dict(kv.split("=", 1) for kv in args.set)
    settings = {k: _value(v) for k, v in extra.items()}
    common = {"output_dir": args.out, "formats": ["react"], "seed": 0, **settings}
    set_seed(0)
    if args.stage == "sft":
        result = train_sft(args.model, max_steps=args.steps, per_device_train_batch_size=8,
                           **common)  # fmt: skip
    else:
        start = Path(args.model)
        budget = {"max_seconds": args.cpu, "budget_clock": "cpu"}
        if args.stage == "grpo":
            result = train_grpo(start / "final", max_steps=10**6, save_steps=10**6, **budget,
                                **common)  # fmt: skip
        else:
            done = json.loads((start / "train_result.json").read_text())
            planned = matched_sft_steps(done, args.cpu, MetricsLog.read(start))
            result = train_sft(start / "final", max_steps=planned, per_device_train_batch_size=8,
                               **budget, **common)  # fmt: skip
    print(f"{args.stage}: {result.global_step} steps, {result.train_cpu_seconds:.0f} CPU-s -> "
          f"{result.checkpoint}")  # fmt: skip


if __name__ == "__main__":
    main()
