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
    sft/         train_sft from sft_start/final on the same N episodes for GRPO's CPU seconds
                 (compute-matched; its cosine schedule is laid over that budget)
    eval/        one JSON per model and GRPO checkpoint: held-out family instances (test seeds
                 and test word pools), and ``hand-*.json`` on the hand-written test suite
    report.json  the side-by-side results (schema: ``agent_rl.evaluation.report``)
    validity.png schema-valid calls vs GRPO step, SFT levels as lines (validity-full.png: fully
                 valid calls)

Every stage writes its output last and atomically, and a stage whose output exists is skipped:
a killed demo re-run with the same arguments picks up where it stopped (``restart=True`` starts
over). This module wires the library's functions; it trains and scores nothing itself.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

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
        """CI size: from the shipped start (N = 300 expert episodes), 40 GRPO steps against
        the compute-matched SFT, 30 held-out family instances."""
        base = cls(
            name="quick",
            train_episodes=300,
            test_episodes=30,
            handwritten_calls=200,
            sft_steps=150,
            sft={"per_device_train_batch_size": 8},
            grpo_steps=40,
            curve_every=20,
            curve_calls=200,
            base_calls=32,
            eval=EvalConfig(
                sampled_calls=600, other_calls=100, episodes=4, greedy_episodes=3, max_steps=10
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
            grpo_steps=150,  # ~650 CPU-s: on the val split GRPO moved only past ~100 steps
            curve_every=50,
            curve_calls=1000,
            eval=EvalConfig(sampled_calls=10_000, other_calls=1_000, episodes=32, max_steps=12),
        )
        return replace(base, **changes)

    @property
    def run_dir(self) -> Path:
        return Path(self.out) / self.name

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["formats"] = list(self.formats)
        data["eval"] = self.eval.to_dict()
        return data


def _write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)


class _Run:
    """The run folder: its config check, stage skipping and timings."""

    def __init__(self, config: DemoConfig, restart: bool, echo: Callable[[str], None]) -> None:
        self.config, self.dir, self.echo = config, config.run_dir, echo
        stamp = self.dir / "config.json"
        if restart and self.dir.exists():
            if not stamp.is_file():
                raise ConfigError(
                    f"{self.dir} exists but is not a demo run (no config.json), so restart will "
                    "not delete it. Choose another --name or --out."
                )
            shutil.rmtree(self.dir)
        wanted = json.loads(json.dumps(config.to_dict()))
        if stamp.is_file() and json.loads(stamp.read_text()) != wanted:
            raise ConfigError(
                f"{self.dir} holds a demo run with other settings, so its stages cannot be "
                "reused. Pass --restart to start it over, or another --name."
            )
        _write_json(stamp, wanted)
        # Stage seconds of every invocation, so a resumed run still reports the whole run.
        self.timings_path = self.dir / "stage_seconds.json"
        self.timings: dict[str, float] = (
            _read(self.timings_path) if self.timings_path.is_file() else {}
        )

    def stage(self, name: str, output: Path, make: Callable[[], Any]) -> None:
        """Run ``make`` unless ``output`` exists (a finished stage)."""
        if output.exists():
            self.echo(f"[{name}] done already ({output})")
            return
        self.echo(f"[{name}] ...")
        start = time.perf_counter()
        make()
        self.timings[name] = round(time.perf_counter() - start, 1)
        _write_json(self.timings_path, self.timings)
        self.echo(f"[{name}] {self.timings[name]:.0f}s")


def _seed(seed: int) -> None:
    from transformers import set_seed

    set_seed(seed)


def _read(path: Path) -> Any:
    return json.loads(path.read_text())


def _train_result(folder: Path) -> dict[str, Any]:
    return _read(folder / "train_result.json")


def _check_start(config: DemoConfig, start: Path) -> dict[str, Any] | None:
    """The start's recipe (None when it has none), after checking it trained on this config's
    expert set: the compute-matched SFT and GRPO must draw on the episodes the start saw."""
    path = start / "recipe.json"
    if not path.is_file():
        return None
    recipe = _read(path)
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


def run_demo(
    config: DemoConfig, *, restart: bool = False, echo: Callable[[str], None] = print
) -> EvalReport:
    """Run (or finish) the demo in ``config.run_dir``; return the report it wrote."""
    from agent_rl.checkpoints import resolve_model
    from agent_rl.evaluation.runner import evaluate, evaluate_calls, make_policy
    from agent_rl.evaluation.states import held_out_states
    from agent_rl.models import build_tiny_model, init_like
    from agent_rl.policies.hf import load_model
    from agent_rl.tasks import generate_tasks, load_tasks
    from agent_rl.training import train_grpo, train_sft

    start = Path(resolve_model(config.start)) if config.start else None
    recipe = _check_start(config, start) if start else None
    run = _Run(config, restart, echo)
    d, fmts, ev = run.dir, list(config.formats), config.eval

    def build() -> None:
        _seed(config.seed)
        shutil.rmtree(d / "model.tmp", ignore_errors=True)
        if start:
            init_like(start, d / "model.tmp", seed=config.seed)
        else:
            build_tiny_model(d / "model.tmp", hidden_size=config.hidden_size,
                             layers=config.layers, seed=config.seed)  # fmt: skip
        os.replace(d / "model.tmp", d / "model")

    run.stage("model", d / "model" / "config.json", build)

    data = {"task_split": "none", "families": config.train_episodes, "formats": fmts,
            "seed": config.seed, "data_seed": config.seed}  # fmt: skip

    def sft_start() -> None:
        if start is None:
            _seed(config.seed)
            train_sft(str(d / "model"), output_dir=str(d / "sft_start"),
                      max_steps=config.sft_steps, **data, **config.sft)  # fmt: skip
            return
        shutil.rmtree(d / "sft_start", ignore_errors=True)
        shutil.copytree(start, d / "sft_start" / "final")
        recipe_ = recipe or {}
        _write_json(d / "sft_start" / "train_result.json", {
            "global_step": recipe_.get("sft_steps"),
            "train_seconds": recipe_.get("train_seconds") or 0.0,
            "train_cpu_seconds": recipe_.get("train_cpu_seconds") or 0.0,
            "start": config.start,
        })  # fmt: skip

    run.stage("sft_start", d / "sft_start" / "train_result.json", sft_start)

    def grpo() -> None:
        _seed(config.seed)
        settings = {"save_steps": config.curve_every, "save_total_limit": None, **config.grpo}
        train_grpo(str(d / "sft_start" / "final"), output_dir=str(d / "grpo"),
                   max_steps=config.grpo_steps, resume_from_checkpoint="latest", **data,
                   **settings)  # fmt: skip

    run.stage("grpo", d / "grpo" / "train_result.json", grpo)
    grpo_cpu = float(_train_result(d / "grpo")["train_cpu_seconds"])

    def sft_matched() -> None:
        _seed(config.seed)
        shutil.rmtree(d / "sft", ignore_errors=True)  # a killed budgeted run starts over
        # The same compute as GRPO: its process CPU seconds (fair on a shared, noisy box;
        # equal to wall-clock x threads on an idle one) end the run, and the same SFT recipe's
        # cosine schedule is laid over them (max_steps only caps it).
        train_sft(str(d / "sft_start" / "final"), output_dir=str(d / "sft"), max_steps=10**6,
                  max_seconds=grpo_cpu, budget_clock="cpu", **data, **config.sft)  # fmt: skip

    run.stage("sft (compute-matched)", d / "sft" / "train_result.json", sft_matched)

    tasks = generate_tasks("test", config.test_episodes, seed=config.seed)
    states = held_out_states(tuple(fmts), tasks)  # type: ignore[arg-type]
    hand_tasks = load_tasks("test")
    # the hand-written suite (out of distribution); not for the base, which never stops talking
    hand_models = [n for n in MODELS if n != "base"] if config.handwritten_calls else []
    hand_states = held_out_states(tuple(fmts), hand_tasks)  # type: ignore[arg-type]
    folders = {
        "base": d / "model",
        "sft_start": d / "sft_start" / "final",
        "sft": d / "sft" / "final",
        "grpo": d / "grpo" / "final",
    }
    for name in MODELS:
        out = d / "eval" / f"{name}.json"

        def one(name: str = name, out: Path = out) -> None:
            _seed(config.seed)
            cfg = ev
            if name == "base":
                cfg = replace(ev, temperatures=(1.0,), sampled_calls=config.base_calls, episodes=0)
            result = evaluate(str(folders[name]), name=name, config=cfg, states=states, tasks=tasks)
            _write_json(out, result.to_dict())

        run.stage(f"eval {name}", out, one)
        hand = d / "eval" / f"hand-{name}.json"

        def one_hand(name: str = name, out: Path = hand) -> None:
            _seed(config.seed)
            cfg = replace(ev, temperatures=(0.0, 1.0), sampled_calls=config.handwritten_calls,
                          episodes=0, greedy_episodes=0)  # fmt: skip
            result = evaluate(str(folders[name]), name=name, config=cfg, states=hand_states,
                              tasks=hand_tasks)  # fmt: skip
            _write_json(out, result.to_dict())

        if name in hand_models:
            run.stage(f"eval {name} (hand-written)", hand, one_hand)

    checkpoints = sorted(
        (int(p.name.split("-")[1]), p) for p in (d / "grpo").glob("checkpoint-*") if p.is_dir()
    )
    for step, folder in checkpoints:
        out = d / "eval" / f"curve-{step}.json"

        def point(folder: Path = folder, out: Path = out) -> None:
            _seed(config.seed)
            model, tokenizer = load_model(folder)
            policy = make_policy(model, tokenizer, 1.0, ev)
            _write_json(out, evaluate_calls(policy, states, config.curve_calls).to_dict())

        run.stage(f"eval grpo step {step}", out, point)

    report = EvalReport(
        config=config.to_dict() | {"grpo_steps": int(_train_result(d / "grpo")["global_step"])},
        policy_lag=_train_result(d / "grpo").get("policy_lag"),
        train_seconds={
            name: float(_train_result(d / name)["train_seconds"]) for name in MODELS[1:]
        },
    )
    report.config["train_cpu_seconds"] = {
        name: float(_train_result(d / name)["train_cpu_seconds"]) for name in MODELS[1:]
    }
    for name in MODELS:
        model = ModelEval.from_dict(name, _read(d / "eval" / f"{name}.json"))
        model.train_seconds = report.train_seconds.get(name)
        report.add(model)
        if name in hand_models:
            hand = ModelEval.from_dict(name, _read(d / "eval" / f"hand-{name}.json"))
            report.add(hand, suite="handwritten")
    report.curve = [
        CurvePoint(step, CallTally.from_dict(_read(d / "eval" / f"curve-{step}.json")))
        for step, _ in checkpoints
    ]
    if recipe:
        report.config["start_recipe"] = recipe
    report.config["stage_seconds"] = run.timings
    report.config["demo_seconds"] = round(sum(run.timings.values()), 1)
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
