"""The one-command demo: tiny model → SFT → GRPO vs compute-matched SFT → held-out eval → report.

``run_demo(DemoConfig.quick())`` (``agent-rl demo --quick``) and ``DemoConfig.full()``
(``agent-rl demo``) run, offline on a CPU, in ``<out>/<name>/``::

    model/       the base model, random weights (the start's tokenizer and sizes)
    sft_start/   the start: the tiny model SFT'd (600 steps) on a FIXED set of N generated
                 family episodes — the shipped ``tiny-sft`` (``tools/train_start.py`` made it,
                 its recipe.json says how; the config's N and seed must match it), or, with
                 ``start=None``, train_sft here on the base for ``sft_steps``
    grpo/        train_grpo from sft_start/final on the step prompts of the same N episodes
                 (no new expert data), checkpoint-K every curve_every steps
    sft/         train_sft from sft_start/final on the same N episodes for GRPO's compute
                 (compute-matched: the FLOPs its linear layers spent, forward and backward,
                 generation included — not moved by load; ``match="cpu"``: its CPU
                 seconds instead); its cosine schedule is laid over that budget
    eval/        one JSON per model and GRPO checkpoint: held-out family instances (test seeds
                 and test word pools), and ``hand-*.json`` on the hand-written test suite
    report.json  the side-by-side results (schema: ``agent_rl.evaluation.report``)
    validity.png schema-valid calls vs GRPO step, SFT levels as lines (validity-full.png: fully
                 valid calls)

Every stage writes its output last and atomically, and a stage whose output exists is skipped:
a killed demo re-run with the same arguments picks up where it stopped (``restart=True`` starts
over). With ``workers=2`` (the CLI's default on 2+ cores) independent stages run side by side in
worker processes (``agent_rl.demo_run``): the wall clock of two cores, the numbers of one
process. This module wires the library's functions; it trains and scores nothing itself.
"""

from __future__ import annotations

import functools
import logging
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from agent_rl.demo_run import Job, RunFolder, read_json, seed_all, train_result, write_json
from agent_rl.demo_run import workers as run_workers
from agent_rl.errors import ConfigError
from agent_rl.evaluation.plot import plot_validity
from agent_rl.evaluation.report import CurvePoint, EvalReport, ModelEval
from agent_rl.evaluation.runner import EvalConfig
from agent_rl.evaluation.stats import CallTally

__all__ = ["DemoConfig", "run_demo"]

logger = logging.getLogger(__name__)

MODELS = ("base", "sft_start", "sft", "grpo")


@dataclass(frozen=True)
class DemoConfig:
    """Everything the demo does, in one place (``quick()`` / ``full()`` are the presets)."""

    name: str = "demo"
    """Run folder name under ``out``."""
    out: str = "runs"
    """Parent folder of the run."""
    seed: int = 0
    formats: tuple[str, ...] = ("react",)
    """Call formats trained and evaluated."""
    start: str | None = "tiny-sft"
    """The SFT checkpoint GRPO and the compute-matched SFT continue from: a model name or
    folder (its ``recipe.json``, when it has one, must name this config's N, seed and
    formats), or None to build the base and SFT it here for ``sft_steps``."""
    hidden_size: int = 128
    """Base model sizes (``start=None`` only; otherwise the start's)."""
    layers: int = 4
    train_episodes: int = 300
    """N: the fixed expert set — generated train-split family episodes SFT, GRPO and the
    compute-matched SFT all draw on (GRPO adds no expert data: it generates its own)."""
    test_episodes: int = 110
    """Held-out family instances (test seeds, test word pools) evaluated on."""
    handwritten_calls: int = 1000
    """Sampled (T=1.0) calls per model on the hand-written test suite (0: skip it)."""
    sft_steps: int = 150
    """SFT steps to the starting checkpoint (``start=None`` only)."""
    sft: dict[str, Any] = field(default_factory=dict)
    """Extra ``SFTSettings`` fields for both SFT runs."""
    match: str = "flops"
    """What the compute-matched SFT gets as much of as GRPO spent: ``flops`` (counted at the
    model's linear layers; speed and load do not move it) or ``cpu`` (process
    CPU seconds: what a user's machine pays, but it moves with the load on that machine)."""
    grpo_steps: int = 300
    grpo: dict[str, Any] = field(
        default_factory=lambda: {
            "learning_rate": 1e-4,
            "num_generations": 8,
            "per_device_train_batch_size": 16,
        }
    )
    """Extra ``GRPOSettings`` fields: 2 prompts × 8 generations a step, lr 1e-4 — chosen on the
    val split from the shipped start (lr 3e-4 lost 7.7 points there, 1e-4 2.7: BENCHMARKS.md)."""
    curve_every: int = 50
    """GRPO checkpoint interval: one point of the validity curve each."""
    curve_calls: int = 1000
    """Sampled (T=1.0) calls scored per curve point."""
    base_calls: int = 200
    """Sampled calls for the untrained base model (no episodes: it never stops talking)."""
    eval: EvalConfig = field(default_factory=EvalConfig)

    @classmethod
    def quick(cls, **changes: Any) -> DemoConfig:
        """CI size: from the shipped start (N = 300 expert episodes), 300 GRPO steps against
        the compute-matched SFT, 2,000 sampled calls a model on 30 held-out family instances."""
        base = cls(
            name="quick",
            train_episodes=300,
            test_episodes=30,
            handwritten_calls=200,
            sft_steps=150,
            sft={"per_device_train_batch_size": 8},
            grpo_steps=300,  # on the val split GRPO's schema validity rose to step ~300
            curve_every=60,
            curve_calls=200,
            base_calls=32,
            eval=EvalConfig(
                sampled_calls=2000, other_calls=100, episodes=4, greedy_episodes=3, max_steps=10
            ),
        )
        return replace(base, **changes)

    @classmethod
    def full(cls, **changes: Any) -> DemoConfig:
        """The README's run: ≥ 10,000 sampled calls per model on 110 held-out instances."""
        base = cls(
            name="demo",
            train_episodes=300,
            test_episodes=110,
            handwritten_calls=2000,
            sft_steps=300,
            sft={"per_device_train_batch_size": 8},
            grpo_steps=400,  # val split (1 x 16 a step): 79.9/80.5/85.3/85.7/84.6% at 100-500
            curve_every=100,
            curve_calls=1000,
            eval=EvalConfig(sampled_calls=10_000, other_calls=1_000, episodes=32, max_steps=12),
        )
        return replace(base, **changes)

    def __post_init__(self) -> None:
        if self.match not in ("flops", "cpu"):
            raise ConfigError(f"match={self.match!r}: the SFT arm matches GRPO's 'flops' or 'cpu'")

    @property
    def run_dir(self) -> Path:
        return Path(self.out) / self.name

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["formats"] = list(self.formats)
        data["eval"] = self.eval.to_dict()
        return data


def _check_start(config: DemoConfig, start: Path) -> dict[str, Any] | None:
    """The start's recipe (None when it has none), after checking it trained on this config's
    expert set: the compute-matched SFT and GRPO must draw on the episodes the start saw."""
    path = start / "recipe.json"
    if not path.is_file():
        return None
    recipe = read_json(path)
    wanted = {"train_episodes": config.train_episodes, "seed": config.seed,
              "formats": list(config.formats)}  # fmt: skip
    differ = {k: (recipe.get(k), v) for k, v in wanted.items() if recipe.get(k) != v}
    if differ:
        raise ConfigError(
            f"the start {config.start!r} was trained on another expert set than this demo's "
            f"(recipe vs config: {differ}); set the config to match, or start=None "
            "(--start none) to SFT a start here"
        )
    return recipe


def _folders(d: Path) -> dict[str, Path]:
    return {
        "base": d / "model",
        "sft_start": d / "sft_start" / "final",
        "sft": d / "sft" / "final",
        "grpo": d / "grpo" / "final",
    }


def _data(config: DemoConfig) -> dict[str, Any]:
    """The training data every arm draws on: the fixed expert set of N family episodes."""
    return {"task_split": "none", "families": config.train_episodes,
            "formats": list(config.formats), "seed": config.seed,
            "data_seed": config.seed}  # fmt: skip


@functools.lru_cache(maxsize=2)
def _held_out(test_episodes: int, seed: int, formats: tuple[str, ...]) -> tuple[Any, ...]:
    """The held-out family instances and hand-written tasks with their states (built once a
    process)."""
    from agent_rl.evaluation.states import held_out_states
    from agent_rl.tasks import generate_tasks, load_tasks

    tasks = generate_tasks("test", test_episodes, seed=seed)
    hand_tasks = load_tasks("test")
    return (tasks, held_out_states(formats, tasks), hand_tasks,  # type: ignore[arg-type]
            held_out_states(formats, hand_tasks))  # type: ignore[arg-type]  # fmt: skip


def _job(config: DemoConfig, kind: str, arg: Any, threads: int | None = None) -> float:
    """One stage: ``grpo``, ``sft`` (compute-matched), ``eval``/``hand`` (a model, by name) or
    ``curve`` (a GRPO step); its seconds. In a worker process ``threads`` pins torch's."""
    from agent_rl.evaluation.runner import evaluate, evaluate_calls, make_policy
    from agent_rl.policies.hf import load_model
    from agent_rl.training import train_grpo, train_sft

    if threads is not None:
        import torch

        torch.set_num_threads(threads)
    began = time.perf_counter()
    seed_all(config.seed)
    d, ev = config.run_dir, config.eval
    if kind == "grpo":
        settings = {"save_steps": config.curve_every, "save_total_limit": None, **config.grpo}
        train_grpo(str(d / "sft_start" / "final"), output_dir=str(d / "grpo"),
                   max_steps=config.grpo_steps, resume_from_checkpoint="latest",
                   **_data(config), **settings)  # fmt: skip
    elif kind == "sft":
        shutil.rmtree(d / "sft", ignore_errors=True)  # a killed budgeted run starts over
        # The same compute as GRPO ends the run, and the same SFT recipe's cosine schedule is
        # laid over it (max_steps only caps it): GRPO's counted FLOPs, or its process CPU
        # seconds (equal to wall-clock x threads on an idle box, but they move with its load).
        grpo = train_result(d / "grpo")
        budget = (
            {"max_flops": float(grpo["train_flops"])}
            if config.match == "flops"
            else {"max_seconds": float(grpo["train_cpu_seconds"]), "budget_clock": "cpu"}
        )
        train_sft(str(d / "sft_start" / "final"), output_dir=str(d / "sft"), max_steps=10**6,
                  **budget, **_data(config), **config.sft)  # fmt: skip
    else:
        tasks, states, hand_tasks, hand_states = _held_out(
            config.test_episodes, config.seed, tuple(config.formats)
        )
        if kind == "eval":
            cfg = ev
            if arg == "base":  # no episodes: it never stops talking
                cfg = replace(ev, temperatures=(1.0,), sampled_calls=config.base_calls, episodes=0)
            result = evaluate(str(_folders(d)[arg]), name=arg, config=cfg, states=states,
                              tasks=tasks)  # fmt: skip
            write_json(d / "eval" / f"{arg}.json", result.to_dict())
        elif kind == "hand":
            cfg = replace(ev, temperatures=(0.0, 1.0), sampled_calls=config.handwritten_calls,
                          episodes=0, greedy_episodes=0)  # fmt: skip
            result = evaluate(str(_folders(d)[arg]), name=arg, config=cfg, states=hand_states,
                              tasks=hand_tasks)  # fmt: skip
            write_json(d / "eval" / f"hand-{arg}.json", result.to_dict())
        else:
            model, tokenizer = load_model(d / "grpo" / f"checkpoint-{arg}")
            policy = make_policy(model, tokenizer, 1.0, ev)
            tally = evaluate_calls(policy, states, config.curve_calls)
            write_json(d / "eval" / f"curve-{arg}.json", tally.to_dict())
    return time.perf_counter() - began


def run_demo(
    config: DemoConfig,
    *,
    restart: bool = False,
    echo: Callable[[str], None] = print,
    workers: int = 1,
) -> EvalReport:
    """Run (or finish) the demo in ``config.run_dir``; return the report it wrote.

    ``workers`` > 1 runs independent stages side by side in that many worker processes of
    one torch thread each (``agent-rl demo`` uses 2 on a 2-core machine): GRPO beside the
    start's evaluations, the compute-matched SFT beside GRPO's, then the SFT's two. The arms
    still train one after the other — the SFT's budget is GRPO's CPU seconds — and every
    stage computes exactly what it computes in one process."""
    from agent_rl.checkpoints import resolve_model
    from agent_rl.models import build_tiny_model, init_like
    from agent_rl.training import train_sft

    if workers < 1:
        raise ConfigError(f"workers={workers}: give 1 (stages in this process) or more")
    start = Path(resolve_model(config.start)) if config.start else None
    recipe = _check_start(config, start) if start else None
    run = RunFolder(config, restart, echo)
    d = run.dir

    def build() -> None:
        seed_all(config.seed)
        shutil.rmtree(d / "model.tmp", ignore_errors=True)
        if start:
            init_like(start, d / "model.tmp", seed=config.seed)
        else:
            build_tiny_model(d / "model.tmp", hidden_size=config.hidden_size,
                             layers=config.layers, seed=config.seed)  # fmt: skip
        os.replace(d / "model.tmp", d / "model")

    run.stage("model", d / "model" / "config.json", build)

    def sft_start() -> None:
        if start is None:
            seed_all(config.seed)
            train_sft(str(d / "model"), output_dir=str(d / "sft_start"),
                      max_steps=config.sft_steps, **_data(config), **config.sft)  # fmt: skip
            return
        shutil.rmtree(d / "sft_start", ignore_errors=True)
        shutil.copytree(start, d / "sft_start" / "final")
        recipe_ = recipe or {}
        write_json(d / "sft_start" / "train_result.json", {
            "global_step": recipe_.get("sft_steps"),
            "train_seconds": recipe_.get("train_seconds") or 0.0,
            "train_cpu_seconds": recipe_.get("train_cpu_seconds") or 0.0,
            "start": config.start,
        })  # fmt: skip

    run.stage("sft_start", d / "sft_start" / "train_result.json", sft_start)

    # the hand-written suite (out of distribution); not for the base, which never stops talking
    hand_models = [n for n in MODELS if n != "base"] if config.handwritten_calls else []

    def evals(*names: str) -> list[Job]:
        jobs = [Job(f"eval {n}", d / "eval" / f"{n}.json", "eval", n) for n in names]
        return jobs + [
            Job(f"eval {n} (hand-written)", d / "eval" / f"hand-{n}.json", "hand", n)
            for n in names
            if n in hand_models
        ]

    with run_workers(workers) as pool:
        run.phase(pool, [Job("grpo", d / "grpo" / "train_result.json", "grpo"),
                         *evals("base", "sft_start")], _job)  # fmt: skip
        checkpoints = sorted(
            int(p.name.split("-")[1]) for p in (d / "grpo").glob("checkpoint-*") if p.is_dir()
        )
        curve = [Job(f"eval grpo step {k}", d / "eval" / f"curve-{k}.json", "curve", k)
                 for k in checkpoints]  # fmt: skip
        run.phase(pool, [Job("sft (compute-matched)", d / "sft" / "train_result.json", "sft"),
                         *evals("grpo"), *curve], _job)  # fmt: skip
        run.phase(pool, evals("sft"), _job)

    report = EvalReport(
        config=config.to_dict() | {"grpo_steps": int(train_result(d / "grpo")["global_step"])},
        policy_lag=train_result(d / "grpo").get("policy_lag"),
        train_seconds={name: float(train_result(d / name)["train_seconds"]) for name in MODELS[1:]},
    )
    for key in ("train_cpu_seconds", "train_flops"):
        report.config[key] = {
            name: float(train_result(d / name).get(key) or 0.0) for name in MODELS[1:]
        }
    for name in MODELS:
        model = ModelEval.from_dict(name, read_json(d / "eval" / f"{name}.json"))
        model.train_seconds = report.train_seconds.get(name)
        report.add(model)
        if name in hand_models:
            hand = ModelEval.from_dict(name, read_json(d / "eval" / f"hand-{name}.json"))
            report.add(hand, suite="handwritten")
    report.curve = [
        CurvePoint(step, CallTally.from_dict(read_json(d / "eval" / f"curve-{step}.json")))
        for step in checkpoints
    ]
    if recipe:
        report.config["start_recipe"] = recipe
    report.config["stage_seconds"] = run.timings
    report.config["demo_seconds"] = round(sum(run.timings.values()), 1)
    report.config["wall_seconds"] = run.wall
    report.save(d / "report.json")
    plot_validity(report, d / "validity.png", metric="schema_valid")
    plot_validity(report, d / "validity-full.png", metric="call_valid")
    echo(report.table())
    echo(report.tag_table())
    if report.handwritten:
        echo("hand-written test suite (out of distribution):")
        echo(report.table(suite="handwritten"))
    echo(f"wrote {d / 'report.json'}, {d / 'validity.png'} and {d / 'validity-full.png'}")
    return report
