"""``agent-rl online MODEL``: serve a model and learn from what it serves (GRPO, weights swapped).

    agent-rl online runs/sft/final --store runs/online.jsonl --output_dir runs/online --port 8000

Serves ``MODEL`` like ``agent-rl serve`` while a background thread runs one GRPO update (trl's
GRPOTrainer, rewards from the strict scorer against each request's tools) on the freshest served
steps not learned from yet, then swaps the new weights into the serving policy. Each served
sample is recorded with the weights version that produced it; only samples at most
``--max-lag`` versions old are trained on (default 1), and each update logs its policy lag
(also a line of ``OUTPUT_DIR/updates.jsonl``).

Restarts resume: each new version is saved to ``--output_dir`` (``weights-v<N>/`` and
``latest.json``, written atomically) before it serves, and a server started again on the same
``--output_dir`` serves the newest saved version and counts on from it, whether it was stopped
or killed. ``--fresh`` starts from ``MODEL`` at version 0 instead. The work is done by
``agent_rl.runtime.online.OnlineLearner``.

``--tasks FILE`` (JSONL, as ``agent-rl tasks generate`` writes it): the tasks the clients run.
A served conversation whose first user message is one of their prompts, and whose observations
a replay in that task's sandbox reproduces, is learned from with the episode's state (validity
in the workspace) and, while it follows the task's expert, the expert's tool at that step.
"""

from __future__ import annotations

import argparse

from agent_rl.commands.serve import add_serve_flags, need_runtime

__all__ = ["add_parser", "run"]


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "online",
        help="serve a model and train it with GRPO on what it serves",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_serve_flags(p)
    p.add_argument(
        "--output_dir", default="runs/online", help="saved versions, update log, trainer logs"
    )
    p.add_argument(
        "--fresh",
        action="store_true",
        help="start from MODEL at version 0 even when --output_dir holds saved versions",
    )
    p.add_argument(
        "--tasks",
        metavar="FILE.jsonl",
        help="the tasks the clients run: their served episodes are scored in the sandbox state",
    )
    p.add_argument("--max-lag", type=int, default=1, help="oldest weights version to learn from")
    p.add_argument("--max-prompts", type=int, default=8, help="served steps per update")
    p.add_argument("--interval", type=float, default=5.0, help="seconds between store checks")
    p.add_argument("--learning_rate", type=float, default=1e-5)
    p.add_argument("--num_generations", type=int, default=4, help="completions per prompt")
    p.add_argument(
        "--max_completion_length", type=int, default=64, help="tokens per sampled completion"
    )


def run(args: argparse.Namespace) -> int:
    need_runtime()
    import threading

    from agent_rl.errors import ConfigError
    from agent_rl.policies import HFPolicy
    from agent_rl.runtime import ServedPolicy, create_serve_app
    from agent_rl.runtime.online import OnlineLearner, resume
    from agent_rl.runtime.server import run_foreground
    from agent_rl.tasks import load_task_file

    if not args.store:
        raise ConfigError("online learning needs --store: it learns from the recorded requests")
    tasks = load_task_file(args.tasks) if args.tasks else []
    model, saved = (args.model, None) if args.fresh else resume(args.output_dir, args.model)
    policy = HFPolicy(model, device=args.device, max_new_tokens=args.max_tokens)
    served = ServedPolicy(
        policy,
        name=args.name or args.model,
        max_tokens=args.max_tokens,
        weights_version=saved.version if saved else 0,
        template_tools=args.template_tools,
    )
    learner = OnlineLearner(
        served,
        args.store,
        args.output_dir,
        max_lag=args.max_lag,
        max_prompts=args.max_prompts,
        learned=saved.learned if saved else None,
        tasks=tasks,
        learning_rate=args.learning_rate,
        num_generations=args.num_generations,
        max_completion_length=args.max_completion_length,
    )
    stop = threading.Event()
    thread = threading.Thread(target=learner.run, args=(stop, args.interval), daemon=True)
    thread.start()
    start = f"resumed weights v{saved.version} from {saved.path}" if saved else "weights v0"
    print(
        f"serving {served.name!r} on http://{args.host}:{args.port}/v1 ({start}), learning "
        f"from {args.store} (max lag {args.max_lag}"
        + (f"; {len(tasks)} tasks replayed for their state)" if tasks else ")"),
        flush=True,
    )
    try:
        run_foreground(
            create_serve_app(served, store=args.store, format=args.format), args.host, args.port
        )
    finally:
        stop.set()
        thread.join(60)
    lags = [u.max_lag for u in learner.updates]
    print(
        f"{len(learner.updates)} updates, weights v{served.weights_version}, "
        f"policy lag max {max(lags, default=0)}"
    )
    return 0
