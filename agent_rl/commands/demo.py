"""``agent-rl demo``: the whole SFT-vs-GRPO pipeline in one command, offline, on a CPU.

    agent-rl demo --quick            # a few minutes: CI size
    agent-rl demo                    # the README's run (about 45 minutes on 2 cores)

Builds the tiny model, trains SFT, then GRPO and a compute-matched SFT (same wall-clock),
evaluates all on held-out test tasks, prints the table and writes ``<out>/<name>/report.json``
and ``validity.png``. Re-running the same command resumes: finished stages are skipped.
The work is done by ``agent_rl.demo.run_demo``.
"""

from __future__ import annotations

import argparse

__all__ = ["add_parser", "run"]


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "demo",
        help="tiny model -> SFT -> GRPO vs compute-matched SFT -> eval -> report (one command)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--quick", action="store_true", help="CI size: a few minutes on 2 cores")
    p.add_argument("--name", help="run folder name (default: 'quick' or 'demo')")
    p.add_argument("--out", default="runs", help="parent folder of the run (default: runs)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--grpo-steps", type=int, help="override the preset's GRPO steps")
    p.add_argument("--sft-steps", type=int, help="override the preset's SFT steps")
    p.add_argument("--calls", type=int, help="override the sampled (T=1.0) calls per model")
    p.add_argument("--restart", action="store_true", help="delete this run's folder and start over")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from agent_rl.demo import DemoConfig, run_demo

    changes: dict[str, object] = {"out": args.out, "seed": args.seed}
    if args.name:
        changes["name"] = args.name
    if args.grpo_steps is not None:
        changes["grpo_steps"] = args.grpo_steps
    if args.sft_steps is not None:
        changes["sft_steps"] = args.sft_steps
    config = DemoConfig.quick(**changes) if args.quick else DemoConfig.full(**changes)
    if args.calls is not None:
        config = replace(config, eval=replace(config.eval, sampled_calls=args.calls))
    report = run_demo(config, restart=args.restart)
    verdict = "above" if report.beats("grpo", "sft") else "NOT clearly above"
    grpo, sft = report.rate("grpo"), report.rate("sft")
    print(
        f"GRPO call validity {100 * grpo.rate:.2f}% is {verdict} compute-matched SFT "
        f"{100 * sft.rate:.2f}% (95% Wilson intervals "
        f"[{100 * grpo.ci95[0]:.1f}, {100 * grpo.ci95[1]:.1f}] vs "
        f"[{100 * sft.ci95[0]:.1f}, {100 * sft.ci95[1]:.1f}])"
    )
    return 0
