"""``agent-rl eval``: held-out tool-call validity of one or more models, side by side.

    agent-rl eval sft=runs/demo/sft grpo=runs/demo/grpo --calls 10000 --out runs/demo/eval.json
    agent-rl eval smollm2-135m lora=runs/sft-lora/final --quick     # a named model, an adapter

Prints the table (one block per decoding mode) and writes ``report.json``-style output with
``--out``. Scores TEST tasks only. The work is done by ``agent_rl.evaluation``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

__all__ = ["add_parser", "run"]


def _model_arg(text: str) -> tuple[str, str]:
    name, sep, path = text.partition("=")
    if not sep:
        path = name
        name = Path(path.rstrip("/")).name or path
    if not name or not path:
        raise argparse.ArgumentTypeError(f"{text!r}: expected NAME=PATH or PATH")
    return name, path


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "eval",
        help="held-out validity of models (per call and per episode, 95%% Wilson intervals)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "models",
        nargs="+",
        type=_model_arg,
        metavar="[NAME=]PATH",
        help="saved model folders, LoRA adapter folders, named offline models (smollm2-135m) "
        "or hub names, each optionally named",
    )
    p.add_argument(
        "--formats",
        nargs="+",
        default=["react"],
        choices=("json", "react", "hermes"),
        help="call formats the models were trained for (default: react)",
    )
    p.add_argument("--calls", type=int, default=10_000, help="sampled calls at T=1.0 per model")
    p.add_argument("--other-calls", type=int, default=2_000, help="sampled calls at T=0.7")
    p.add_argument("--episodes", type=int, default=64, help="live episodes per sampled mode")
    p.add_argument("--max-steps", type=int, default=12, help="live episode step limit (>= 10)")
    p.add_argument("--max-new-tokens", type=int, default=192)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument(
        "--temperatures",
        type=float,
        nargs="+",
        default=[0.0, 0.7, 1.0],
        help="decoding modes, 0 = greedy (default: 0 0.7 1.0)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true", help="small counts for a smoke run")
    p.add_argument("--out", type=Path, help="write the report JSON here")
    p.add_argument("--plot", type=Path, help="write the validity plot (PNG) here")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from agent_rl.evaluation import EvalReport, plot_validity
    from agent_rl.evaluation.runner import EvalConfig, evaluate

    quick = args.quick
    config = EvalConfig(
        formats=tuple(args.formats),
        temperatures=tuple(args.temperatures),
        sampled_calls=min(args.calls, 256) if quick else args.calls,
        other_calls=min(args.other_calls, 64) if quick else args.other_calls,
        episodes=min(args.episodes, 8) if quick else args.episodes,
        max_steps=args.max_steps,
        max_new_tokens=args.max_new_tokens,
        batch_size=args.batch_size,
        seed=args.seed,
    )
    report = EvalReport(config={"eval": config.to_dict()})
    for name, path in args.models:
        report.add(evaluate(path, name=name, config=config))
    print(report.table())
    print(report.tag_table())
    if args.out:
        print(f"wrote {report.save(args.out)}")
    if args.plot:
        print(f"wrote {plot_validity(report, args.plot)}")
    return 0
