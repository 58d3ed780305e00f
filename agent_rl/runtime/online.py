"""``agent-rl online``: learn from what is served — GRPO on the freshest served prompts, the new
weights swapped into the serving policy after each update.

:class:`OnlineLearner` owns a copy of the served model. Each :meth:`~OnlineLearner.update`:

1. reads the served steps from the store and keeps those produced by weights at most
   ``max_lag`` versions old (default 1), the newest ``max_prompts`` of them;
2. rebuilds each step's prompt exactly as the served model saw it (the chat template, with the
   request's tools unless they were served outside it) and runs one GRPO step on all of them
   (``num_generations`` completions each) with trl's ``GRPOTrainer`` through
   :func:`agent_rl.training.train_grpo` — the completions are sampled from the learner's
   current weights and scored by the strict scorer against the request's tools
   (:data:`ONLINE_REWARDS`). Given the ``tasks`` its clients run, a served
   conversation that is one of their episodes is replayed in the task's sandbox
   (``runtime.replay``), and while the episode follows the task's expert (detours that change
   no file included) its completions are rewarded as offline GRPO rewards them: the expert's
   tool at that step with valid arguments, and that call valid in the episode's state.
   Replayed steps off the expert's path are not learned from: validity alone is won by a call
   that is valid anywhere (``run_tests``, reading the same file again — both measured,
   BENCHMARKS.md), which is all that traffic of unknown tasks can be rewarded for;
3. saves the new weights with their version in ``output_dir`` (``runtime.online_state``: a
   folder renamed into place, then ``latest.json`` replaced atomically) and only then loads them
   into the served policy between requests (``ServedPolicy.swap_weights``), so every later
   sample is recorded with the new version and every version that served is on disk: a server
   killed at any moment and restarted on the same ``output_dir`` serves the newest saved
   version and counts on from it (:func:`resume`).

The policy lag of each update is reported: for every served sample trained on, how many versions
older than the weights it updates the sample's weights were; each update is also a line of
``output_dir/updates.jsonl``. Samples older than ``max_lag`` versions are never trained on
(they stay in the store, scored, for evaluation and offline training). Not here: serving
(``runtime.serve``), the GRPO machinery (``agent_rl.training``).
"""

from __future__ import annotations

import copy
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent_rl.errors import ConfigError
from agent_rl.formats import render_call
from agent_rl.policies import HFPolicy
from agent_rl.runtime.online_state import SavedWeights, latest_weights, log_update, save_weights
from agent_rl.runtime.replay import TaskReplayer
from agent_rl.runtime.serve import ServedPolicy, template_messages
from agent_rl.tasks import Task
from agent_rl.training import TrainResult, train_grpo
from agent_rl.training.data import StepExample
from agent_rl.training.rewards import arguments_valid, expert_tool_arguments, valid_expert_tool
from agent_rl.trajectories import Step, Trajectory, TrajectoryStore

__all__ = ["ONLINE_REWARDS", "OnlineLearner", "OnlineUpdate", "resume", "unknown_task_valid"]

log = logging.getLogger(__name__)

DEFAULTS: dict[str, Any] = {  # one small on-policy GRPO update per call, CPU-friendly
    "max_steps": 1,
    "num_generations": 2,
    "max_completion_length": 64,
    "report_to": [],
    "disable_tqdm": True,
    "logging_steps": 1,
    "save_strategy": "no",
}


def unknown_task_valid(completions: Sequence[Any], **kwargs: Any) -> list[float | None]:
    """Schema validity (``arguments_valid``) for served steps of no known task's episode;
    ``None`` where the step has the expert's call as its reference (the expert rewards score
    those)."""
    valid = arguments_valid(completions, **kwargs)
    references = kwargs.get("reference") or [""] * len(completions)
    return [None if r else v for v, r in zip(valid, references, strict=True)]


ONLINE_REWARDS: tuple[Callable[..., list[float | None]], ...] = (
    unknown_task_valid,
    expert_tool_arguments,
    valid_expert_tool,
)
"""Summed with weight 1: a replayed step on the expert's path scores the expert's tool with
schema-valid arguments + that call valid in the episode's state (0-2, the offline default); any
other step schema validity (0-1). Every completion of one prompt gets the same terms, so the
group-relative advantages compare like with like."""


@dataclass
class OnlineUpdate:
    """One update: the version it produced, the served samples it used and their lag."""

    version: int
    samples: int
    lags: list[int] = field(default_factory=list)
    result: TrainResult | None = None
    replayed: int = 0
    """Samples replayed in their task's episode on the expert's path (scored against the
    expert's call, in the episode's state)."""
    off_path: int = 0
    """Fresh served steps of a known task's episode off the expert's path: not learned from."""

    @property
    def max_lag(self) -> int:
        return max(self.lags, default=0)


def resume(output_dir: str | os.PathLike[str], model: str) -> tuple[str, SavedWeights | None]:
    """The model to serve: the newest version saved in ``output_dir`` (with its version and the
    samples it learned from), else ``model`` itself at version 0."""
    saved = latest_weights(output_dir)
    return (str(saved.path), saved) if saved is not None else (model, None)


class OnlineLearner:
    """GRPO on served traffic; ``settings`` are ``GRPOSettings`` fields (``output_dir`` too).

    ``learned``: samples already learned from (``SavedWeights.learned``, when resuming);
    ``tasks``: the tasks the clients run, whose served episodes are replayed for their state."""

    def __init__(
        self,
        served: ServedPolicy,
        store: str | os.PathLike[str],
        output_dir: str | os.PathLike[str],
        *,
        max_lag: int = 1,
        max_prompts: int = 8,
        reward_funcs: Sequence[Callable[..., list[float | None]]] = ONLINE_REWARDS,
        learned: dict[str, int] | None = None,
        tasks: Sequence[Task] = (),
        **settings: Any,
    ) -> None:
        if not isinstance(served.policy, HFPolicy):
            raise ConfigError(
                "online learning is not supported for this policy because only a local model "
                "can be trained. Serve an HFPolicy instead."
            )
        if max_lag < 0 or max_prompts < 1:
            raise ConfigError("OnlineLearner: max_lag must be >= 0 and max_prompts >= 1")
        self.served, self.store = served, Path(store)
        self.output_dir = Path(output_dir)
        self.max_lag, self.max_prompts = max_lag, max_prompts
        self.reward_funcs = list(reward_funcs)
        self.settings = {**DEFAULTS, "reward_weights": [1.0] * len(self.reward_funcs), **settings}
        policy = served.policy
        with served.lock:  # a consistent copy, not one taken mid-swap
            self.model = copy.deepcopy(policy.model).to("cpu")
        self.served_tokenizer = policy.tokenizer  # saved with each version, as served
        self.tokenizer = copy.deepcopy(policy.tokenizer)  # trl changes its settings
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.replayer = TaskReplayer(tasks) if tasks else None
        self.updates: list[OnlineUpdate] = []
        self.off_path = 0
        """Replayed steps off the expert's path the last ``fresh_steps`` left out."""
        self._used: dict[str, int] = dict(learned or {})  # learned from once: key -> version

    def fresh_steps(self) -> tuple[list[StepExample], list[int], list[str]]:
        """The newest served steps not learned from yet and at most ``max_lag`` versions old,
        as GRPO prompts, with the weights version and a key of each; steps that replay in a
        known task's episode off its expert's path are left out (``off_path`` counts them)."""
        self.off_path = 0
        if not self.store.is_file():
            return [], [], []
        current = self.served.weights_version
        found: list[tuple[Trajectory, Step, int, str]] = []
        for traj in TrajectoryStore(self.store).read(on_error="skip"):
            for i, step in enumerate(traj.steps):
                version = step.extra.get("weights_version")
                key = f"{traj.id}:{i}"
                if step.verdict is None or not step.messages or not isinstance(version, int):
                    continue
                if not 0 <= current - version <= self.max_lag or key in self._used:
                    continue  # too old (or from a later run's numbering), or learned from
                found.append((traj, step, version, key))
        picked: list[tuple[StepExample, int, str]] = []
        for traj, step, version, key in reversed(found):  # newest first
            example = self._example(traj, step)
            if example is None:
                self.off_path += 1
                continue
            picked.append((example, version, key))
            if len(picked) == self.max_prompts:
                break
        picked.reverse()
        return [e for e, _, _ in picked], [v for _, v, _ in picked], [k for _, _, k in picked]

    def _example(self, traj: Trajectory, step: Step) -> StepExample | None:
        """A served step as a GRPO prompt: the text the served model saw; the episode's state and
        the expert's call as the reference where the step replays in one of ``tasks`` on the
        expert's path (``None`` off it)."""
        replayed = self.replayer.replay(step.messages, traj.format) if self.replayer else None
        if replayed is not None and replayed.expert_call is None:
            return None
        prompt = self.tokenizer.apply_chat_template(
            template_messages(list(step.messages)),
            tools=(traj.tools or None) if self.served.template_tools else None,
            tokenize=False,
            add_generation_prompt=True,
        )
        expert = replayed.expert_call if replayed else None
        return StepExample(
            messages=prompt,  # type: ignore[arg-type]  # a text prompt, as served
            target=render_call(expert, traj.format) if expert else None,  # the reference
            state=replayed.state_json if replayed else "",
            tools=json.dumps(traj.tools, ensure_ascii=False),
            fmt=traj.format,
            task_id=replayed.task.id
            if replayed
            else str(traj.metadata.extra.get("conversation_id", traj.id)),
            step=step.index,
            expects_call=bool(traj.tools),
            origin="served",
        )

    def update(self) -> OnlineUpdate | None:
        """One GRPO update on the freshest served steps, saved, then swapped in (``None``:
        nothing fresh to learn from yet)."""
        steps, versions, keys = self.fresh_steps()
        if not steps:
            return None
        started = time.time()
        base = self.served.weights_version
        self._used.update(zip(keys, versions, strict=True))
        # every fresh prompt in the one step: trl's batch counts completions, not prompts
        batch = int(self.settings["num_generations"]) * len(steps)
        result = train_grpo(
            (self.model, self.tokenizer),
            steps=steps,
            reward_funcs=self.reward_funcs,
            output_dir=str(self.output_dir),
            **{**self.settings, "per_device_train_batch_size": batch},
        )
        version = base + 1
        oldest = version - self.max_lag  # a restart needs only the keys it could learn again
        self._used = {k: v for k, v in self._used.items() if v >= oldest}
        save_weights(self.output_dir, self.model, self.served_tokenizer, version, self._used)
        self.served.swap_weights(self.model.state_dict(), version=version)
        done = OnlineUpdate(
            version,
            len(steps),
            [base - v for v in versions],
            result,
            replayed=sum(s.target is not None for s in steps),
            off_path=self.off_path,
        )
        self.updates.append(done)
        reward = result.metrics.get("reward") if result is not None else None
        log_update(
            self.output_dir,
            {
                "version": version,
                "samples": len(steps),
                "lags": done.lags,
                "replayed": done.replayed,
                "off_path": done.off_path,
                "reward": reward,
                "started_at": started,
                "finished_at": time.time(),
            },
        )
        log.info(
            "online update -> weights v%d on %d served prompts (%d replayed on the expert's path, "
            "%d off it left out), policy lag <= %d",
            version,
            len(steps),
            done.replayed,
            done.off_path,
            done.max_lag,
        )
        return done

    def run(self, stop: threading.Event, interval: float = 5.0) -> None:
        """Update whenever fresh steps are there, until ``stop`` is set (for a thread)."""
        while not stop.is_set():
            try:
                if self.update() is None:
                    stop.wait(interval)
            except Exception:  # a failed update must not stop serving; it is logged
                log.exception("online update failed; serving goes on with the current weights")
                stop.wait(interval)
