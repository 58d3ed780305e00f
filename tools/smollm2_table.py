"""The SmolLM2 table (issue 12): base -> LoRA SFT -> LoRA GRPO against the compute-matched LoRA
SFT, on held-out family instances and on the hand-written test suite. One resumable run:

    python tools/smollm2_table.py run runs/smol            # all stages (skips finished ones)
    python tools/smollm2_table.py table runs/smol          # print the table of what finished

Stages, in order (each writes ``OUT/stages/<stage>.json`` with its CPU and wall seconds when it
finishes, so a killed run picks up at the first unfinished stage; an evaluation also keeps each
finished part in ``OUT/evals/<arm>/<part>.json``):

1. ``base-eval``  — the untouched model (``--model``, default ``smollm2-135m``);
2. ``sft``        — LoRA SFT on a fixed set of ``--n`` train-split family episodes (seed 0,
   ``hermes``) for ``--sft-cpu`` CPU seconds (cosine schedule over the budget);
3. ``grpo``       — LoRA GRPO from the SFT model on the step prompts of the same episodes, for
   ``--grpo-cpu`` CPU seconds (``--generations`` completions of ``--completion`` tokens);
4. ``matched``    — LoRA SFT continued from the SFT model on the same episodes for exactly the CPU
   seconds GRPO's training loop used;
5. ``eval-T1``    — the sampled (T=1.0) parts of the GRPO, matched and SFT evaluations, in that
   order (so a run cut short still has the comparison), then ``eval-greedy`` — the rest.

An evaluation scores, in ``hermes``: greedy calls on ``--calls`` held-out family states (test
split, seed 0) and ``--calls`` sampled (T=1.0) calls on them; the same on the hand-written test
suite (``load_tasks("test")``); and ``--episodes`` greedy live episodes of test-split family tasks.
Schema-valid (arguments valid) and fully valid rates come with 95% Wilson intervals; error kinds
are counted. CPU seconds are this process's (``time.process_time``), wall seconds elapsed.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ARMS = ("base", "sft", "grpo", "matched")
PARTS = ("families-greedy", "families-T1", "hand-greedy", "hand-T1", "episodes")
FORMAT = "hermes"


def _args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("command", choices=["run", "table"])
    p.add_argument("out", type=Path, help="run folder (created; finished stages are kept)")
    p.add_argument("--model", default="smollm2-135m", help="base model: a name or a folder")
    p.add_argument("--n", type=int, default=32, help="train-split family episodes (fixed set)")
    p.add_argument("--sft-cpu", type=float, default=900.0, help="LoRA SFT budget, CPU seconds")
    p.add_argument("--grpo-cpu", type=float, default=900.0, help="LoRA GRPO budget, CPU seconds")
    p.add_argument("--sft-lr", type=float, default=1e-3)
    p.add_argument("--grpo-lr", type=float, default=3e-4)
    p.add_argument("--sft-batch", type=int, default=2, help="episodes per SFT step")
    p.add_argument("--generations", type=int, default=4, help="GRPO completions per prompt")
    p.add_argument("--completion", type=int, default=96, help="GRPO max completion tokens")
    p.add_argument("--calls", type=int, default=40, help="eval: calls per suite and decoding")
    p.add_argument("--episodes", type=int, default=4, help="eval: greedy live episodes")
    p.add_argument("--test", type=int, default=40, help="eval: held-out family instances")
    p.add_argument("--max-new-tokens", type=int, default=128, help="eval: tokens per call")
    p.add_argument("--batch-size", type=int, default=16, help="eval: rows per decode batch")
    return p.parse_args(argv)


def _save(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2))
    tmp.replace(path)  # atomic: a killed run never leaves half a result


def _load(path: Path) -> dict[str, Any] | None:
    return json.loads(path.read_text()) if path.is_file() else None


def _timed(fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    cpu, wall = time.process_time(), time.perf_counter()
    result = fn()
    return {**result, "cpu_s": time.process_time() - cpu, "wall_s": time.perf_counter() - wall}


def _model_of(args: argparse.Namespace, arm: str) -> str:
    return args.model if arm == "base" else str(args.out / arm / "final")


def _evaluate(args: argparse.Namespace, arm: str, parts: tuple[str, ...]) -> list[str]:
    """``parts`` of one arm's evaluation (finished parts are kept, not rerun)."""
    from transformers import set_seed

    from agent_rl.evaluation.runner import (
        EvalConfig,
        call_order,
        evaluate_calls,
        evaluate_episodes,
        make_policy,
    )
    from agent_rl.evaluation.states import held_out_states
    from agent_rl.policies.hf import load_model
    from agent_rl.tasks import generate_tasks, load_tasks

    folder = args.out / "evals" / arm
    todo = [part for part in parts if not (folder / f"{part}.json").is_file()]
    if todo:
        test_tasks = generate_tasks("test", args.test, seed=0)
        suites = {
            "families": held_out_states((FORMAT,), test_tasks),
            "hand": held_out_states((FORMAT,), load_tasks("test")),
        }
        model, tokenizer = load_model(_model_of(args, arm))
        config = EvalConfig(
            formats=(FORMAT,), max_new_tokens=args.max_new_tokens, batch_size=args.batch_size
        )
        policy = make_policy(model, tokenizer, 1.0, config)  # one prefix store for every part
    for part in todo:
        set_seed(0)
        greedy = part.endswith("greedy") or part == "episodes"
        policy.do_sample, policy.temperature = not greedy, 1.0

        def one(part: str = part, greedy: bool = greedy) -> dict[str, Any]:
            if part == "episodes":
                tasks = test_tasks[: args.episodes]
                tally = evaluate_episodes(policy, tasks, None, formats=(FORMAT,), max_steps=10)
                return {"episodes": tally.to_dict()}
            states = suites[part.split("-")[0]]
            if greedy:  # a seeded random subset of the states, each once
                subset = [states[i] for i in call_order(len(states), args.calls, seed=0)]
                return {"calls": evaluate_calls(policy, subset, None).to_dict()}
            return {"calls": evaluate_calls(policy, states, args.calls, seed=0).to_dict()}

        result = _timed(one)
        _save(folder / f"{part}.json", result)
        print(f"  {arm} {part}: {_summary(result)} ({result['cpu_s']:.0f} CPU-s)", flush=True)
    return todo


def _train(args: argparse.Namespace, arm: str) -> dict[str, Any]:
    from transformers import set_seed

    from agent_rl.training import train_grpo, train_sft

    fast = {"report_to": [], "disable_tqdm": True, "logging_steps": 1, "save_strategy": "no"}
    data = {"task_split": "none", "families": args.n, "data_seed": 0, "formats": [FORMAT]}
    common = {"output_dir": str(args.out / arm), "seed": 0, "use_peft": True, **data, **fast}
    budget = {"budget_clock": "cpu", "max_steps": 10**6}
    # one sequence per forward pass (gradients accumulated): a real model's ~2,000-token episode
    # with its 49k-token vocabulary takes GBs; two at once (batch 2) ran out of 24 GB
    one = {"per_device_train_batch_size": 1}
    sft_args = {"learning_rate": args.sft_lr, "gradient_accumulation_steps": args.sft_batch, **one}
    set_seed(0)
    if arm == "sft":
        result = train_sft(args.model, max_seconds=args.sft_cpu, **sft_args, **budget, **common)
    elif arm == "grpo":
        result = train_grpo(
            args.out / "sft" / "final",
            max_seconds=args.grpo_cpu,
            learning_rate=args.grpo_lr,
            num_generations=args.generations,
            gradient_accumulation_steps=args.generations,  # one prompt's group per step
            **one,
            max_completion_length=args.completion,
            **budget,
            **common,
        )
    else:  # matched: the CPU seconds GRPO's training loop used, same episodes, from the SFT
        grpo = _load(args.out / "stages" / "grpo.json") or {}
        seconds = float(grpo["train_cpu_seconds"])
        result = train_sft(
            args.out / "sft" / "final", max_seconds=seconds, **sft_args, **budget, **common
        )
    return {
        "steps": result.global_step,
        "train_cpu_seconds": result.train_cpu_seconds,
        "train_seconds": result.train_seconds,
        "checkpoint": str(result.checkpoint),
        "metrics": result.metrics,
    }


T1_PARTS = ("families-T1", "hand-T1")
GREEDY_PARTS = ("families-greedy", "hand-greedy", "episodes")
TRAINED = ("grpo", "matched", "sft")  # evaluated side by side, the compared arms first
STAGES: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...] = (
    ("base-eval", ("base",), PARTS),
    ("sft", ("sft",), ()),
    ("grpo", ("grpo",), ()),
    ("matched", ("matched",), ()),
    ("eval-T1", TRAINED, T1_PARTS),
    ("eval-greedy", TRAINED, GREEDY_PARTS),
)
"""(stage, arms, evaluation parts): training when there are no parts. The trained arms are
evaluated last, headline (T=1.0) parts first, so a run cut short still compares GRPO with the
matched SFT."""


def _eval_stage(
    args: argparse.Namespace, arms: tuple[str, ...], parts: tuple[str, ...]
) -> dict[str, Any]:
    return {"ran": {arm: _evaluate(args, arm, parts) for arm in arms}}


def run(args: argparse.Namespace) -> None:
    _save(args.out / "settings.json", {k: str(v) for k, v in vars(args).items()})
    for stage, arms, parts in STAGES:
        path = args.out / "stages" / f"{stage}.json"
        if path.is_file():
            print(f"{stage}: done already", flush=True)
            continue
        print(f"{stage}: running", flush=True)
        if parts:
            result = _timed(lambda arms=arms, parts=parts: _eval_stage(args, arms, parts))
        else:
            result = _timed(lambda arm=arms[0]: _train(args, arm))
        _save(path, result)
        print(f"{stage}: {result['cpu_s']:.0f} CPU-s, {result['wall_s']:.0f} s wall", flush=True)
    print(table(args.out))


def _pct(rate: dict[str, Any]) -> str:
    lo, hi = rate["ci95"]
    return f"{100 * rate['rate']:.1f}% [{100 * lo:.0f}, {100 * hi:.0f}]"


def _summary(result: dict[str, Any]) -> str:
    from agent_rl.evaluation.stats import CallTally, EpisodeTally

    if "episodes" in result:
        tally = EpisodeTally.from_dict(result["episodes"])
        return f"{tally.all_valid}/{tally.n} all-valid ({tally.steps} steps)"
    calls = CallTally.from_dict(result["calls"])
    return (
        f"schema-valid {_pct(calls.args_valid_rate.to_dict())}, fully valid "
        f"{_pct(calls.call_valid.to_dict())} (n={calls.n})"
    )


def table(out: Path) -> str:
    """The markdown table of every finished evaluation part (missing ones shown as ``—``)."""
    from collections import Counter

    from agent_rl.evaluation.stats import CallTally, EpisodeTally

    header = (
        "| arm | families T=1.0 schema / fully valid | families greedy | hand-written T=1.0 "
        "| hand-written greedy | episodes all-valid | top error kinds |"
    )
    lines = [header, "|" + "---|" * 7]
    for arm in ARMS:
        cells: list[str] = []
        errors: Counter[str] = Counter()
        for part in ("families-T1", "families-greedy", "hand-T1", "hand-greedy", "episodes"):
            result = _load(out / "evals" / arm / f"{part}.json")
            if result is None:
                cells.append("—")
            elif part == "episodes":
                ep = EpisodeTally.from_dict(result["episodes"])
                cells.append(f"{ep.all_valid}/{ep.n} ({ep.steps} steps)")
            else:
                calls = CallTally.from_dict(result["calls"])
                errors += calls.errors
                cells.append(
                    f"{_pct(calls.args_valid_rate.to_dict())} / {_pct(calls.call_valid.to_dict())}"
                )
        top = ", ".join(f"{k} {v}" for k, v in errors.most_common(3)) or "—"
        lines.append(f"| {arm} | " + " | ".join(cells) + f" | {top} |")
    lines += ["", "| stage | CPU s | wall s | notes |", "|---|---|---|---|"]
    total_cpu = total_wall = 0.0
    for stage, _, _ in STAGES:
        result = _load(out / "stages" / f"{stage}.json")
        if result is None:
            lines.append(f"| {stage} | — | — | not finished |")
            continue
        total_cpu, total_wall = total_cpu + result["cpu_s"], total_wall + result["wall_s"]
        note = ""
        if "steps" in result:
            note = f"{result['steps']} steps, {result['train_cpu_seconds']:.0f} CPU-s training"
        lines.append(f"| {stage} | {result['cpu_s']:.0f} | {result['wall_s']:.0f} | {note} |")
    lines.append(f"| all | {total_cpu:.0f} | {total_wall:.0f} | |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    args = _args(argv)
    if args.command == "run":
        run(args)
    else:
        print(table(args.out))


if __name__ == "__main__":
    main()
