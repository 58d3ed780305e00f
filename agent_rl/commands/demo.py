"""``agent-rl demo``: the whole SFT-vs-GRPO pipeline in one command, offline, on a CPU.

    agent-rl demo --quick            # CI size (14 minutes on 2 cores)
    agent-rl demo                    # the README's run (about half an hour on 2 cores)

Starts from the shipped ``tiny-sft`` (the tiny model after 600 SFT steps on a fixed set of
generated expert episodes; ``--start none`` trains that start here), then trains GRPO and a
compute-matched SFT (the FLOPs GRPO spent, or with ``--match cpu`` its CPU seconds; the same
episodes), evaluates all on held-out family
instances and on the hand-written test suite, prints the tables and writes
``<out>/<name>/report.json`` and ``validity.png``. Re-running the same command resumes:
finished stages are skipped. The work is done by ``agent_rl.demo.run_demo``.
"""

from __future__ import annotations

import argparse
import os

__all__ = ["add_parser", "run"]


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "demo",
        help="tiny model -> SFT -> GRPO vs compute-matched SFT -> eval -> report (one command)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--quick", action="store_true", help="CI size: 14 minutes on 2 cores")
    p.add_argument("--name", help="run folder name (default: 'quick' or 'demo')")
    p.add_argument("--out", default="runs", help="parent folder of the run (default: runs)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--start",
        help="the SFT checkpoint to continue from (default: the shipped tiny-sft); "
        "'none' trains one here for --sft-steps",
    )
    p.add_argument(
        "--episodes",
        type=int,
        help="N, the fixed expert set every arm draws on (default 300; a --start must have been "
        "trained on the same N: its recipe.json is checked)",
    )
    p.add_argument("--grpo-steps", type=int, help="override the preset's GRPO steps")
    p.add_argument("--sft-steps", type=int, help="override the preset's SFT steps")
    p.add_argument("--calls", type=int, help="override the sampled (T=1.0) calls per model")
    p.add_argument(
        "--match",
        choices=["flops", "cpu"],
        default="flops",
        help="the compute-matched SFT spends GRPO's counted FLOPs (default: load does not move "
        "it) or its process CPU seconds (what this machine paid; moves with its load)",
    )
    p.add_argument("--restart", action="store_true", help="delete this run's folder and start over")
    p.add_argument(
        "--workers",
        type=int,
        default=min(2, os.cpu_count() or 1),
        help="stages run side by side in this many processes of one thread each (default: 2 "
        "on 2+ cores; 1 runs everything in this process)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from agent_rl.demo import DemoConfig, run_demo

    changes: dict[str, object] = {"out": args.out, "seed": args.seed, "match": args.match}
    if args.name:
        changes["name"] = args.name
    if args.grpo_steps is not None:
        changes["grpo_steps"] = args.grpo_steps
    if args.episodes is not None:
        changes["train_episodes"] = args.episodes
    if args.start is not None:
        changes["start"] = None if args.start.lower() == "none" else args.start
    if args.sft_steps is not None:
        changes["sft_steps"] = args.sft_steps
    config = DemoConfig.quick(**changes) if args.quick else DemoConfig.full(**changes)
    if args.calls is not None:
        config = replace(config, eval=replace(config.eval, sampled_calls=args.calls))
    report = run_demo(config, restart=args.restart, workers=args.workers)
    for metric, label in (("schema_valid", "schema-valid"), ("call_valid", "fully valid")):
        verdict = "above" if report.beats("grpo", metric=metric, b="sft") else "NOT clearly above"
        grpo, sft = report.rate("grpo", metric), report.rate("sft", metric)
        print(
            f"GRPO {label} calls {100 * grpo.rate:.2f}% are {verdict} the compute-matched SFT's "
            f"{100 * sft.rate:.2f}% (95% Wilson intervals [{100 * grpo.ci95[0]:.2f}, "
            f"{100 * grpo.ci95[1]:.2f}] vs [{100 * sft.ci95[0]:.2f}, {100 * sft.ci95[1]:.2f}])"
        )
    return 0
