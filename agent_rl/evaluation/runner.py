"""Held-out evaluation runs: sample calls on test-episode states, run live test episodes, score.

For one model and each decoding mode (greedy, then sampled at T=0.7 and T=1.0):

1. **calls** — batched generation on the held-out states (:mod:`.states`), each output scored by
   the strict scorer against that step's restored sandbox (checked, never applied); greedy sees
   each state once (or a seeded subset of ``greedy_calls`` states), sampled modes cycle through
   the states up to the requested number of calls;
2. **episodes** — the ReAct agent runs live episodes of the TEST tasks (``max_steps`` ≥ 10)
   with the same decoding. An episode is all-valid when every step's verdict is valid *and* it
   ended with a valid ``finish`` or ran ``min_steps`` (10) valid steps: a plain-text reply is
   ``no_call``, so quitting early is never an all-valid episode.

:func:`quick_config` is the ``--quick`` preset, sized by the model's parameter count. This
module drives a policy and tallies verdicts. It does not train, write files or plot.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from agent_rl.errors import ConfigError
from agent_rl.evaluation.report import DECODING_MODES, ModelEval, ModeResult
from agent_rl.evaluation.states import HeldOutState, held_out_states
from agent_rl.evaluation.stats import CallTally, EpisodeTally

if TYPE_CHECKING:
    from agent_rl.formats import Format
    from agent_rl.tasks import Task

__all__ = [
    "EvalConfig",
    "call_order",
    "evaluate",
    "evaluate_calls",
    "evaluate_episodes",
    "make_policy",
    "quick_config",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class EvalConfig:
    """How much to evaluate and how to decode."""

    formats: tuple[Format, ...] = ("react",)
    """Output formats the model was trained for (``json``, ``react``, ``hermes``); calls and
    episodes are spread evenly over them."""
    temperatures: tuple[float, ...] = DECODING_MODES
    """Decoding modes; 0 is greedy. The highest is the headline (T=1.0)."""
    sampled_calls: int = 10_000
    """Scored calls at the headline temperature (the full run's ≥ 10,000)."""
    other_calls: int = 2_000
    """Scored calls at each other sampled temperature."""
    episodes: int = 64
    """Live episodes per sampled mode."""
    greedy_episodes: int | None = None
    """Live greedy episodes (``None``: each test task once per format)."""
    greedy_calls: int | None = None
    """Greedy calls (``None``: each state once; ``N``: a seeded random subset of ``N`` states,
    each once)."""
    max_steps: int = 12
    """Step limit of a live episode (≥ 10: the compounding case)."""
    max_new_tokens: int = 192
    """Tokens per call; an output cut here is scored as it is (truncated). The longest expert
    call of the test tasks is ~150 tokens with the tiny tokenizer."""
    batch_size: int = 64
    """Conversations per ``model.generate`` call."""
    seed: int = 0

    def __post_init__(self) -> None:
        if self.max_steps < 10:
            raise ConfigError(
                f"max_steps={self.max_steps} is not supported because episode validity is "
                "measured on 10-step and longer episodes. Set max_steps >= 10."
            )
        counts = (self.sampled_calls, self.other_calls, self.episodes, self.greedy_calls or 0)
        if min(counts) < 0 or (self.greedy_episodes or 0) < 0:
            raise ConfigError(
                "sampled_calls, other_calls, episodes, greedy_calls and greedy_episodes must be "
                ">= 0."
            )
        if not self.formats:
            raise ConfigError("formats must name at least one of json, react, hermes.")
        if not self.temperatures or any(t < 0 for t in self.temperatures):
            raise ConfigError("temperatures must be a non-empty list of values >= 0 (0 = greedy).")

    def calls_for(self, temperature: float) -> int | None:
        """Calls to score at ``temperature`` (``None``: each state once)."""
        if temperature == 0:
            return self.greedy_calls
        return self.sampled_calls if temperature == max(self.temperatures) else self.other_calls

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        return {**data, "formats": list(self.formats), "temperatures": list(self.temperatures)}


#: From this many parameters on, :func:`quick_config` sizes a run for a real model on a CPU.
REAL_MODEL_PARAMS = 20_000_000


def quick_config(n_params: int, **fields: Any) -> EvalConfig:
    """The ``--quick`` preset for a model of ``n_params`` parameters (``fields`` override it).

    A from-scratch model of a few million parameters (the tiny default): greedy on every state
    and every test task, 64 calls at T=0.7 and 256 at T=1.0, 8 episodes in each sampled mode.
    A real model (from :data:`REAL_MODEL_PARAMS`; SmolLM2-135M has 134.5M) costs ~100x more
    per token on a CPU and its prompts are ~3x longer (its tokenizer splits the tool specs the
    tiny one has as single tokens), so that preset took over an hour: greedy and T=1.0 only,
    32 greedy states and 32 sampled calls, 2 episodes of at most 10 steps per mode, batches of
    16 (a batch of 64 long prompts needs ~8 GB of static cache).
    """
    if n_params < REAL_MODEL_PARAMS:
        preset: dict[str, Any] = {"sampled_calls": 256, "other_calls": 64, "episodes": 8}
    else:
        preset = {
            "temperatures": (0.0, 1.0),
            "greedy_calls": 32,
            "sampled_calls": 32,
            "other_calls": 0,
            "episodes": 2,
            "greedy_episodes": 2,
            "max_steps": 10,
            "batch_size": 16,
        }
    return EvalConfig(**{**preset, **fields})


def make_policy(model: Any, tokenizer: Any, temperature: float, config: EvalConfig) -> Any:
    """The evaluation policy over an in-memory model: an ``HFPolicy`` with a ``PrefixDecoder``
    (each distinct prompt prefilled once), greedy at 0, else sampled."""
    from agent_rl.policies.decoding import PrefixDecoder
    from agent_rl.policies.hf import HFPolicy

    return HFPolicy(
        model,
        tokenizer,
        do_sample=temperature > 0,
        temperature=temperature if temperature > 0 else 1.0,
        max_new_tokens=config.max_new_tokens,
        batch_size=config.batch_size,
        seed=config.seed,
        decoder=PrefixDecoder(),
    )


def call_order(n_states: int, n_calls: int | None, seed: int = 0) -> list[int]:
    """Which state each of ``n_calls`` calls is sampled on (``None``: each state once, in
    order): whole seeded shuffles of the states, then a seeded random part of one more, so
    every state is used equally often (±1) and a budget smaller than the state count is a
    random sample — not the first states of the first episodes."""
    if n_calls is None:
        return list(range(n_states))
    rng = random.Random(seed)
    order: list[int] = []
    while len(order) < n_calls:
        shuffled = list(range(n_states))
        rng.shuffle(shuffled)
        order += shuffled
    return order[:n_calls]


def evaluate_calls(
    policy: Any,
    states: Sequence[HeldOutState],
    n_calls: int | None = None,
    *,
    chunk: int = 512,
    seed: int = 0,
) -> CallTally:
    """Generate ``n_calls`` outputs over ``states`` (spread by :func:`call_order`; ``None`` =
    each state once) and score each exactly as the GRPO reward does
    (``Scorer.score(..., expect_call=True)``): in its state's format, against its restored
    sandbox, a plain-text reply counting as ``no_call``."""
    from agent_rl.sandbox import CodingSandbox
    from agent_rl.training.rewards import score_completion

    if not states:
        raise ConfigError("no held-out states to evaluate: are there test tasks?")
    order = call_order(len(states), n_calls, seed)
    sandboxes: dict[int, CodingSandbox] = {}
    tally = CallTally()
    for start in range(0, len(order), chunk):
        idx = sorted(order[start : start + chunk])  # one state's samples side by side
        texts = policy.generate([states[i].messages for i in idx])
        for i, text in zip(idx, texts, strict=True):
            box = sandboxes.get(i)
            if box is None:
                box = sandboxes[i] = CodingSandbox.restore(states[i].snapshot)
            # the reward's own verdict: checked (never applied) against the step's state, and
            # a plain-text reply where the expert called a tool is invalid (kind no_call)
            verdict = score_completion(text, states[i].tools, states[i].fmt, box)
            tally.add(verdict, states[i].tags, states[i].expert_tool)
        logger.debug(
            "scored %d/%d calls (%.1f%% valid)", tally.n, len(order), 100 * tally.call_valid.rate
        )
    return tally


def evaluate_episodes(
    policy: Any,
    tasks: Sequence[Task],
    n_episodes: int | None = None,
    *,
    formats: Sequence[Format] = ("react",),
    max_steps: int = 12,
) -> EpisodeTally:
    """Run ``n_episodes`` live episodes (``None``: each task once per format) over ``tasks`` ×
    ``formats`` with the ReAct agent, batched per format; tally all-valid episodes (every step
    valid and the episode finished or ran 10 steps; those of ≥ 10 steps apart) and successes
    (the task's own check)."""
    from agent_rl.agent import ReActAgent

    if not tasks or not formats:
        raise ConfigError("no test tasks (or no formats) to run episodes on")
    pairs = [(fmt, task) for task in tasks for fmt in formats]
    total = len(pairs) if n_episodes is None else n_episodes
    tally = EpisodeTally()
    for fmt in formats:
        batch = [pairs[j % len(pairs)][1] for j in range(total) if pairs[j % len(pairs)][0] == fmt]
        if not batch:
            continue
        agent = ReActAgent(policy, format=fmt, max_steps=max_steps)
        for trajectory in agent.run_many(batch):
            completed = trajectory.outcome.status == "finished" or (
                len(trajectory.steps) >= tally.min_steps
            )
            tally.add(
                trajectory.episode_verdict(),
                success=bool(trajectory.outcome.success),
                all_valid=trajectory.all_valid and completed,
            )
    return tally


def evaluate(
    model: Any,
    tokenizer: Any = None,
    *,
    name: str,
    config: EvalConfig | None = None,
    states: Sequence[HeldOutState] | None = None,
    tasks: Sequence[Task] | None = None,
    path: str | None = None,
) -> ModelEval:
    """Evaluate one model (in memory with its tokenizer, or a folder path) in every decoding
    mode of ``config`` on held-out states and live test episodes."""
    from agent_rl.policies.hf import load_model
    from agent_rl.tasks import load_tasks

    config = config or EvalConfig()
    if tokenizer is None:
        path = path or str(model)
        model, tokenizer = load_model(model)
    tasks = load_tasks("test") if tasks is None else list(tasks)
    states = held_out_states(config.formats, tasks) if states is None else states
    result = ModelEval(name, path=path)
    policy = make_policy(model, tokenizer, 1.0, config)  # one sampler: its prefix store is reused
    for temperature in config.temperatures:
        start = time.perf_counter()
        policy.do_sample, policy.temperature = temperature > 0, temperature or 1.0
        n_calls = config.calls_for(temperature)
        if temperature == 0 and n_calls is not None:
            n_calls = min(n_calls, len(states))  # greedy: a state twice gives the same output
        calls = evaluate_calls(policy, states, n_calls, seed=config.seed)
        episodes = EpisodeTally()
        n_eps = config.greedy_episodes if temperature == 0 else config.episodes
        if n_eps != 0:
            episodes = evaluate_episodes(
                policy, tasks, n_eps, formats=config.formats, max_steps=config.max_steps
            )
        mode = ModeResult(temperature, calls, episodes, time.perf_counter() - start)
        result.add(mode)
        logger.info(
            "eval %s %s: %d calls %.2f%% valid, %d episodes %.1f%% all-valid (%.0fs)",
            name,
            mode.name,
            calls.n,
            100 * calls.call_valid.rate,
            episodes.n,
            100 * episodes.episode_valid.rate,
            mode.seconds,
        )
    return result
