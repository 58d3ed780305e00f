"""SFT vs GRPO on tool-call validity, top to bottom in one file (what ``agent-rl demo`` runs).

    python demos/sft_vs_grpo.py --quick                   # a few minutes on 2 CPU cores
    python demos/sft_vs_grpo.py --grpo_steps 300          # closer to the full demo

Reads like a cleanrl script: one ``Args`` dataclass, then the pipeline in order. Every step is
a library call — nothing here trains, samples or scores by itself:

1. build the offline tiny model (tokenizer + Qwen2 config, random weights);
2. SFT on a fixed set of generated expert episodes (task families) -> ``sft_start``;
3. GRPO from ``sft_start`` on the same episodes' step prompts, strict-scorer reward, on-policy;
4. compute-matched SFT: ``sft_start`` trained further on the same episodes for GRPO's CPU
   seconds (its cosine schedule laid over that budget);
5. evaluate all three on held-out family instances (test seeds and word pools): sampled calls
   (T=1.0) scored against each step's sandbox state, schema-valid and fully valid rates with 95%
   Wilson intervals; print the table, write report.json + a plot.

Unlike ``agent-rl demo`` it does not resume a killed run and evaluates only T=1.0 calls
(no greedy / T=0.7 / live episodes): the shortest honest path to the headline number.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Args:
    out: str = "runs/sft_vs_grpo"
    """where the models, report.json and validity.png go"""
    seed: int = 0
    """seed of model init, training and sampling"""
    quick: bool = False
    """CI size (fewer steps and calls)"""
    fmt: str = "react"
    """call format trained and evaluated: json, react or hermes"""
    episodes: int = 200
    """N: the fixed expert set (generated train-split family episodes) every arm draws on"""
    test_episodes: int = 30
    """held-out family instances evaluated on"""
    sft_steps: int = 150
    """SFT steps to the starting checkpoint"""
    grpo_steps: int = 40
    """GRPO optimizer steps"""
    grpo_lr: float = 3e-4
    """GRPO learning rate"""
    num_generations: int = 8
    """GRPO group size: completions sampled per prompt (2 prompts a step)"""
    eval_calls: int = 2000
    """sampled (T=1.0) held-out calls scored per model"""
    max_new_tokens: int = 256
    """most tokens per evaluated call (a cut-off call is scored as it is: truncated)"""


def parse_args() -> Args:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for f in dataclasses.fields(Args):
        if f.type in ("bool", bool):
            parser.add_argument(f"--{f.name}", action="store_true")
        else:
            kind = type(f.default)
            parser.add_argument(f"--{f.name}", type=kind, default=f.default)
    args = Args(**vars(parser.parse_args()))
    if args.quick:
        args.sft_steps, args.grpo_steps = min(args.sft_steps, 40), min(args.grpo_steps, 10)
        args.eval_calls, args.episodes = min(args.eval_calls, 200), min(args.episodes, 60)
    return args


if __name__ == "__main__":
    args = parse_args()
    from transformers import set_seed

    from agent_rl.evaluation import EvalConfig, EvalReport, ModelEval, ModeResult, plot_validity
    from agent_rl.evaluation.runner import evaluate_calls, make_policy
    from agent_rl.evaluation.states import held_out_states
    from agent_rl.models import build_tiny_model
    from agent_rl.policies.hf import load_model
    from agent_rl.tasks import generate_tasks
    from agent_rl.training import train_grpo, train_sft

    out = Path(args.out)
    set_seed(args.seed)

    # 1. the base model: built offline, loaded by path like any checkpoint
    base = build_tiny_model(out / "model", seed=args.seed)

    # 2. SFT start: imitate the expert's calls of N generated episodes (a fixed expert set)
    data = {"task_split": "none", "families": args.episodes, "formats": [args.fmt],
            "seed": args.seed}  # fmt: skip
    sft_start = train_sft(base, output_dir=str(out / "sft_start"), max_steps=args.sft_steps,
                          per_device_train_batch_size=8, **data)  # fmt: skip
    print(f"sft_start: {sft_start.global_step} steps in {sft_start.train_seconds:.0f}s")

    # 3. GRPO on the same episodes' step prompts: sample a group per prompt; reward 1 for a
    #    schema-valid call of the step's tool, 2 when it is also valid in that state
    grpo = train_grpo(sft_start.checkpoint, output_dir=str(out / "grpo"),
                      max_steps=args.grpo_steps, learning_rate=args.grpo_lr,
                      num_generations=args.num_generations,
                      per_device_train_batch_size=2 * args.num_generations, **data)  # fmt: skip
    print(f"grpo: {grpo.global_step} steps in {grpo.train_seconds:.0f}s, lag {grpo.policy_lag}")

    # 4. compute-matched SFT: the same start and episodes, the same CPU seconds, more imitation
    #    (its cosine schedule is laid over that budget; the budget ends the run)
    sft = train_sft(sft_start.checkpoint, output_dir=str(out / "sft"), max_steps=10**6,
                    max_seconds=grpo.train_cpu_seconds, budget_clock="cpu",
                    per_device_train_batch_size=8, **data)  # fmt: skip
    print(f"sft (compute-matched): {sft.global_step} more steps in {sft.train_seconds:.0f}s")

    # 5. held-out evaluation: test-split family instances only, sampled at T=1.0
    config = EvalConfig(formats=(args.fmt,), temperatures=(1.0,), sampled_calls=args.eval_calls,
                        max_new_tokens=args.max_new_tokens, seed=args.seed)  # fmt: skip
    states = held_out_states(args.fmt, generate_tasks("test", args.test_episodes, args.seed))
    report = EvalReport(policy_lag=grpo.policy_lag, config=dataclasses.asdict(args))
    for name, result in (("sft_start", sft_start), ("sft", sft), ("grpo", grpo)):
        start = time.perf_counter()
        model, tokenizer = load_model(result.checkpoint, device="cpu")
        policy = make_policy(model, tokenizer, 1.0, config)
        calls = evaluate_calls(policy, states, args.eval_calls)
        model_eval = ModelEval(name, path=str(result.checkpoint))
        model_eval.add(ModeResult(1.0, calls, seconds=time.perf_counter() - start))
        report.add(model_eval)
        report.train_seconds[name] = result.train_seconds
    report.config["grpo_steps"] = grpo.global_step

    print(report.table())
    for metric in ("schema_valid", "call_valid"):
        above = report.beats("grpo", "sft", metric)
        print(f"GRPO {metric} above compute-matched SFT (non-overlapping 95% CIs): {above}")
    report.save(out / "report.json")
    plot_validity(report, out / "validity.png", metric="schema_valid")
    print(f"wrote {out / 'report.json'} and {out / 'validity.png'}")
