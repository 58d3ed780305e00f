"""``ReActAgent``: runs coding episodes in the sandbox with any policy and records them.

One step of an episode: build the prompt (:mod:`agent_rl.prompts`), ask the policy for the next
output, score the raw text with the strict ``Scorer`` against the sandbox, then

- a valid call is applied (``sandbox.step``) and its observation goes back to the model;
  ``finish`` ends the episode (``finished``);
- a plain-text reply is invalid (``no_call``: a coding episode ends with ``finish``, so a call
  is always due) unless the agent was built with ``expect_call=False``, where a final answer
  ends the episode (``final_answer``);
- an invalid output changes nothing: the model gets an error observation naming what was wrong
  and the episode goes on — a bad rollout is data;
- a policy failure (an endpoint down after its retries, a script run out) ends that episode
  with status ``error`` and the message, recorded as a last step with no verdict.

``max_steps`` outputs end it otherwise. Every step is recorded in a ``Trajectory`` (the exact
messages, the raw output, the applied call, the observation, the verdict, timing — the wall
time of the batched policy call the step was part of —, tokens when the policy's ``Completion``
carries them, and the sandbox snapshot at step 0 so the state can be replayed).
``run_many`` batches the policy across episodes: all live episodes generate together, step by
step. This module does not train and does not write files (``TrajectoryStore`` does).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from agent_rl.errors import ConfigError, PolicyError
from agent_rl.formats import format_instructions
from agent_rl.policies.base import Completion, Policy
from agent_rl.prompts import build_messages, error_observation
from agent_rl.sandbox import CodingSandbox
from agent_rl.scorer import Scorer, scorer_for
from agent_rl.tasks import Task, make_sandbox
from agent_rl.trajectories import Step, TaskRef, Trajectory, TrajectoryMeta
from agent_rl.verdicts import CallVerdict, Observation

if TYPE_CHECKING:
    from agent_rl.formats import Format

__all__ = ["ReActAgent", "StepCallback", "advance"]

logger = logging.getLogger(__name__)

StepCallback = Callable[[Trajectory, Step], None]
Episode = Task | CodingSandbox


@dataclass
class _Live:
    """An episode in progress."""

    task: Task | None
    sandbox: CodingSandbox
    scorer: Scorer
    trajectory: Trajectory
    done: bool = False


def advance(sandbox: CodingSandbox, verdict: CallVerdict) -> tuple[Observation | None, str | None]:
    """One step of an episode, given the scorer's verdict on the model's output: the
    observation the model gets next and the episode's end status (``None``: it goes on).

    A valid call is applied (``sandbox.step``) and ends the episode as ``finished`` when the
    sandbox is done; a valid final answer (only when no call was due) ends it as
    ``final_answer`` with no observation; an invalid output changes nothing and the model is
    told what was wrong. The agent loop and GRPO's live rollout both step episodes with this.
    """
    if verdict.valid and verdict.call is not None:
        observation = sandbox.step(verdict.call)
        return observation, "finished" if observation.done or sandbox.done else None
    if verdict.valid:
        return None, "final_answer"
    entry = verdict.errors[0] if verdict.errors else None
    return Observation(error_observation(verdict), ok=False, error=entry), None


class ReActAgent:
    """A ReAct-style tool-calling agent over ``CodingSandbox`` episodes.

    ``scorer`` defaults to the shared ``scorer_for(sandbox.tools, format)``; pass one to use
    another (its format must be ``format``). ``expect_call`` (default): every step must be a
    tool call — a coding episode ends with ``finish`` —, so a plain-text reply is invalid
    (``no_call``) and the episode goes on; ``expect_call=False`` lets a final answer end it.
    ``metadata`` is stored in every trajectory's metadata.
    """

    def __init__(
        self,
        policy: Policy,
        format: Format = "react",
        max_steps: int = 12,
        scorer: Scorer | None = None,
        *,
        expect_call: bool = True,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        format_instructions(format)  # ConfigError for an unknown format
        if not isinstance(policy, Policy):
            raise ConfigError(
                f"{type(policy).__name__} is not a policy: it needs a name, generate(batch) and "
                "complete(batch). Subclass agent_rl.policies.TextPolicy to write only generate."
            )
        if max_steps < 1:
            raise ConfigError(f"max_steps={max_steps} must be at least 1")
        if scorer is not None and scorer.format != format:
            raise ConfigError(
                f"scorer format {scorer.format!r} is not supported with agent format "
                f"{format!r} because outputs would be scored in another format. Build the "
                f"Scorer with format={format!r}."
            )
        self.policy, self.format, self.max_steps, self.scorer = policy, format, max_steps, scorer
        self.expect_call = expect_call
        self.metadata = dict(metadata or {})

    # --- public ----------------------------------------------------------------------------------
    def run(
        self,
        task: Episode,
        *,
        prompt: str | None = None,
        on_step: StepCallback | None = None,
    ) -> Trajectory:
        """Run one episode of a ``Task`` (or of a bare sandbox with a ``prompt``)."""
        prompts = None if prompt is None else [prompt]
        return self.run_many([task], prompts=prompts, on_step=on_step)[0]

    def run_many(
        self,
        tasks: Sequence[Episode],
        *,
        prompts: Sequence[str] | None = None,
        on_step: StepCallback | None = None,
        on_episode: Callable[[Trajectory], None] | None = None,
    ) -> list[Trajectory]:
        """Run episodes side by side, one batched policy call per step, and return their
        trajectories in the order given. ``on_step(trajectory, step)`` after each recorded step;
        ``on_episode(trajectory)`` as each episode ends (e.g. to append it to a store)."""
        if prompts is not None and len(prompts) != len(tasks):
            raise ConfigError(f"got {len(prompts)} prompts for {len(tasks)} episodes")
        live = [
            self._start(t, None if prompts is None else prompts[i]) for i, t in enumerate(tasks)
        ]
        running = list(live)
        while running:
            batch = [self._messages(ep) for ep in running]
            started = time.time()
            t0 = time.perf_counter()
            outputs = self._complete(batch)
            latency = time.perf_counter() - t0
            for ep, messages, output in zip(running, batch, outputs, strict=True):
                done = isinstance(output, Completion)
                step = Step(
                    index=len(ep.trajectory.steps),
                    messages=messages,
                    started_at=started,
                    latency_s=latency,
                    prompt_tokens=output.prompt_tokens if done else None,
                    completion_tokens=output.completion_tokens if done else None,
                    state_before=ep.sandbox.snapshot() if not ep.trajectory.steps else None,
                )
                self._apply(ep, step, output.text if done else output)
                if on_step is not None:
                    on_step(ep.trajectory, ep.trajectory.steps[-1])
                if ep.done:
                    self._finish(ep)
                    if on_episode is not None:
                        on_episode(ep.trajectory)
            running = [ep for ep in running if not ep.done]
        return [ep.trajectory for ep in live]

    # --- one episode -----------------------------------------------------------------------------
    def _start(self, item: Episode, prompt: str | None) -> _Live:
        if isinstance(item, Task):
            task, sandbox = item, make_sandbox(item)
            ref = TaskRef(id=item.id, prompt=prompt or item.prompt)
        elif isinstance(item, CodingSandbox):
            if not prompt:
                raise ConfigError("run(sandbox) needs prompt=...: the task the agent must solve")
            task, sandbox, ref = None, item, TaskRef(prompt=prompt)
        else:
            raise ConfigError(
                f"ReActAgent runs a Task or a CodingSandbox, not {type(item).__name__}"
            )
        scorer = self.scorer or scorer_for(sandbox.tools, self.format)
        trajectory = Trajectory(
            task=ref,
            tools=list(sandbox.tools),
            format=self.format,
            metadata=TrajectoryMeta(
                source="agent",
                model=str(self.policy.name),
                extra={
                    "policy": type(self.policy).__name__,
                    "max_steps": self.max_steps,
                    "expect_call": self.expect_call,
                    **self.metadata,
                },
            ),
        )
        return _Live(task, sandbox, scorer, trajectory)

    def _messages(self, ep: _Live) -> list[dict[str, Any]]:
        return build_messages(
            ep.trajectory.task.prompt, ep.trajectory.steps, ep.scorer.tools, self.format
        )

    def _apply(self, ep: _Live, step: Step, output: str | Exception) -> None:
        outcome = ep.trajectory.outcome
        if isinstance(output, Exception):
            message = (
                f"{type(output).__name__}: {output}"
                if not isinstance(output, PolicyError)
                else str(output)
            )
            step.error = message
            ep.trajectory.steps.append(step)
            outcome.status, outcome.error, ep.done = "error", message, True
            logger.debug("episode %s ended by a policy error: %s", ep.trajectory.id, message)
            return
        step.raw_output = output
        verdict = ep.scorer.score(output, state=ep.sandbox, expect_call=self.expect_call)
        step.verdict = verdict
        if verdict.valid and verdict.call is not None:
            step.call = verdict.call
        step.observation, status = advance(ep.sandbox, verdict)
        if status == "final_answer":
            outcome.final_answer = verdict.final_answer or ""
        if status is not None:
            outcome.status, ep.done = status, True
        ep.trajectory.steps.append(step)
        if not ep.done and len(ep.trajectory.steps) >= self.max_steps:
            outcome.status, ep.done = "max_steps", True

    def _finish(self, ep: _Live) -> None:
        if ep.task is not None:
            ep.trajectory.outcome.success = bool(ep.task.check(ep.sandbox))

    # --- the policy, one batch -------------------------------------------------------------------
    def _complete(self, batch: list[list[dict[str, Any]]]) -> list[Completion | Exception]:
        """One completion or the exception that stopped it, per conversation (the policy's
        ``complete``); a wrong answer from the policy is an error of every episode in the batch."""
        try:
            outputs: list[Any] = list(self.policy.complete(batch))
        except Exception as exc:  # complete should not raise; if it does, no episode is lost
            return [exc] * len(batch)
        if len(outputs) != len(batch):
            err = PolicyError(
                f"policy {self.policy.name!r} returned {len(outputs)} outputs "
                f"for {len(batch)} conversations"
            )
            return [err] * len(batch)
        return [_checked(o) for o in outputs]


def _checked(output: Any) -> Completion | Exception:
    if isinstance(output, Exception):
        return output
    if isinstance(output, Completion) and isinstance(output.text, str):
        return output
    got = output.text if isinstance(output, Completion) else output
    return PolicyError(f"the policy returned {type(got).__name__}, not text")
