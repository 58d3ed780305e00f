"""``agent-rl eval``: held-out tool-call validity of one or more models, side by side.

    agent-rl eval sft=runs/demo/sft grpo=runs/demo/grpo --calls 10000 --out runs/demo/eval.json
    agent-rl eval smollm2-135m lora=runs/sft-lora/final --quick     # a named model, an adapter

Prints the table (one block per decoding mode) and writes ``report.json``-style output with
``--out``. Scores TEST tasks only. The work is done by ``agent_rl.evaluation``.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from agent_rl.evaluation.runner import EvalConfig
from agent_rl.formats import FORMATS

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
    d = EvalConfig()
    p.add_argument(
        "--formats",
        nargs="+",
        default=list(d.formats),
        choices=FORMATS,
        help=f"call formats the models were trained for (default: {' '.join(d.formats)})",
    )
    p.add_argument("--calls", type=int, default=d.sampled_calls, help="sampled calls at T=1.0")
    p.add_argument("--other-calls", type=int, default=d.other_calls, help="at other T")
    p.add_argument("--episodes", type=int, default=d.episodes, help="live episodes per mode")
    p.add_argument(
        "--max-steps", type=int, help=f"episode step limit, >= 10 (default: {d.max_steps})"
    )
    p.add_argument("--max-new-tokens", type=int, default=d.max_new_tokens)
    p.add_argument(
        "--batch-size", type=int, help=f"rows per decoding batch (default: {d.batch_size})"
    )
    p.add_argument(
        "--temperatures",
        type=float,
        nargs="+",
        help="decoding modes, 0 = greedy (default: 0 0.7 1.0)",
    )
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--families", type=int, help="evaluate on N generated test-split instances")
    p.add_argument("--tasks", type=Path, nargs="+", help="evaluate on these task files (JSONL)")
    p.add_argument(
        "--quick",
        action="store_true",
        help="small counts for a smoke run, sized by the largest model (a real model such as "
        "smollm2-135m: greedy and T=1.0, 32 calls each, 2 episodes each, batches of 16)",
    )
    p.add_argument("--out", type=Path, help="write the report JSON here")
    p.add_argument("--plot", type=Path, help="write the validity plot (PNG) here")
    p.set_defaults(func=run)


def _parameters(model: Any) -> int:
    return sum(t.numel() for t in model.parameters())


def _config(args: argparse.Namespace, n_params: int | None) -> EvalConfig:
    """The run's settings: the flags, capped by the ``--quick`` preset of a model of
    ``n_params`` parameters (``None``: not quick)."""
    from agent_rl.evaluation.runner import quick_config

    fields: dict[str, Any] = {
        "formats": tuple(args.formats),
        "max_new_tokens": args.max_new_tokens,
        "seed": args.seed,
    }
    if args.temperatures:
        fields["temperatures"] = tuple(args.temperatures)
    if args.batch_size:
        fields["batch_size"] = args.batch_size
    if args.max_steps:
        fields["max_steps"] = args.max_steps
    counts = {
        "sampled_calls": args.calls,
        "other_calls": args.other_calls,
        "episodes": args.episodes,
    }
    if n_params is None:
        return EvalConfig(**fields, **counts)
    preset = quick_config(n_params, **fields)
    capped = {k: min(v, getattr(preset, k)) for k, v in counts.items()}
    if preset.greedy_episodes is not None:  # the preset's greedy episodes, at most --episodes
        capped["greedy_episodes"] = min(args.episodes, preset.greedy_episodes)
    return quick_config(n_params, **fields, **capped)


def run(args: argparse.Namespace) -> int:
    from agent_rl.checkpoints import load_model
    from agent_rl.evaluation import EvalReport, plot_validity
    from agent_rl.evaluation.runner import evaluate

    loaded: dict[str, tuple[Any, Any]] = {}
    if args.quick:  # every model loaded first: the preset is sized by the largest
        loaded = {path: load_model(path) for _, path in args.models}
    n_params = max((_parameters(m) for m, _ in loaded.values()), default=None)
    config = _config(args, n_params)
    report = EvalReport(config={"eval": config.to_dict()})
    tasks = None
    if args.families or args.tasks:
        from agent_rl.tasks import generate_tasks, load_task_file

        tasks = generate_tasks("test", args.families, seed=args.seed) if args.families else []
        tasks += [t for path in args.tasks or () for t in load_task_file(path)]
    for name, path in args.models:
        model, tokenizer = loaded.get(path, (path, None))
        report.add(evaluate(model, tokenizer, name=name, config=config, tasks=tasks, path=path))
    print(report.table())
    print(report.tag_table())
    if args.out:
        print(f"wrote {report.save(args.out)}")
    if args.plot:
        print(f"wrote {plot_validity(report, args.plot)}")
    return 0
