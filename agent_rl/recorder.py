"""``Recorder``: record an episode of *any* agent code as a ``Trajectory`` — no framework needed.

Call ``record_step`` once per model output; the recorder scores the raw text with the real
``Scorer`` (against the episode's state when given), keeps the step, and writes the trajectory
to a ``TrajectoryStore`` when the episode ends — also when the block raises (outcome ``error``;
the exception is re-raised)::

    with Recorder("runs/traj.jsonl", tools=sandbox.tools, format="json", task=task) as rec:
        for _ in range(max_steps):
            text = my_model(messages)
            step = rec.record_step(messages=messages, raw_output=text, state=sandbox)
            obs = sandbox.step(text)            # your own tool execution, after scoring
            rec.observe(obs)                    # (or pass observation= to record_step)
            if obs.done:
                break
            messages += [{"role": "assistant", "content": text},
                         {"role": "user", "content": obs.content}]

It does not run tools, build prompts or repair outputs: it only records and scores what it is
given. LangChain users want ``agent_rl.integrations.langchain.TrajectoryCallback`` instead.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Sequence
from types import TracebackType
from typing import Any, Literal

from agent_rl.formats import Format
from agent_rl.scorer import Scorer
from agent_rl.tool_spec import ToolSpec
from agent_rl.trajectories import Outcome, Step, Trajectory, TrajectoryStore
from agent_rl.trajectories.models import Status
from agent_rl.verdicts import CallState, Observation, ToolCall

__all__ = ["Recorder", "as_tool_specs"]

log = logging.getLogger(__name__)

Snapshot = Literal["first", "every", "none"]


def as_tool_specs(tools: Sequence[Any]) -> list[ToolSpec]:
    """``ToolSpec``s from specs, OpenAI tool dicts, LangChain tools or plain functions."""
    specs = []
    for t in tools:
        if isinstance(t, ToolSpec):
            specs.append(t)
        elif isinstance(t, dict):
            specs.append(ToolSpec.from_openai(t))
        elif hasattr(t, "args_schema") and hasattr(t, "invoke"):
            specs.append(ToolSpec.from_langchain(t))
        elif callable(t):
            specs.append(ToolSpec.from_function(t))
        else:
            raise TypeError(
                f"cannot use {t!r} as a tool: give a ToolSpec, an OpenAI tool dict, a LangChain "
                "tool or a typed Python function"
            )
    return specs


class Recorder:
    """Records one episode. ``store`` may be a ``TrajectoryStore``, a path, or ``None`` (keep
    the trajectory in memory only: ``rec.trajectory``).

    ``snapshot`` says when to keep ``state.snapshot()`` as ``Step.state_before``: on the first
    step that gets a state (default; enough to rebuild every step, see
    ``Trajectory.state_at``), on every step, or never.
    """

    def __init__(
        self,
        store: TrajectoryStore | str | os.PathLike[str] | None = None,
        *,
        tools: Sequence[Any] = (),
        format: Format = "json",
        task: Any = "",
        model: str = "",
        metadata: dict[str, Any] | None = None,
        snapshot: Snapshot = "first",
        source: Literal["agent", "langchain", "recorder", "other"] = "recorder",
    ) -> None:
        if snapshot not in ("first", "every", "none"):
            raise ValueError(f"snapshot={snapshot!r} is not supported. Use first, every or none.")
        specs = as_tool_specs(tools)
        self.store = (
            store if store is None or isinstance(store, TrajectoryStore) else TrajectoryStore(store)
        )
        self.scorer = Scorer(specs, format)
        self.snapshot = snapshot
        self.trajectory = Trajectory(
            task=task,
            tools=[s.to_openai() for s in specs],
            format=format,
            metadata={**(metadata or {}), "source": source, "model": model},
        )
        self.finished = False
        self.written = False
        self._lock = threading.Lock()

    # --- recording ---

    def record_step(
        self,
        *,
        messages: Sequence[dict[str, Any]],
        raw_output: str,
        observation: Observation | str | None = None,
        state: CallState | None = None,
        call: ToolCall | Literal["auto"] | None = "auto",
        started_at: float | None = None,
        latency_s: float | None = None,
        prompt_tokens: int | None = None,
        completion_tokens: int | None = None,
        error: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> Step:
        """Score ``raw_output`` (against ``state`` if given, which is only checked, never
        changed) and keep it as the next step.

        ``call`` is the call your code applied; by default the scored call when it is valid
        (what ``Scorer.score_episode`` would apply), else ``None``. Give ``state`` *before* you
        apply the call, so the verdict and the snapshot describe the state the model saw.
        """
        verdict = self.scorer.score(raw_output, state)
        if isinstance(call, str):  # "auto"
            call = verdict.call if verdict.valid else None
        if isinstance(observation, str):
            observation = Observation(observation)
        with self._lock:
            if self.finished:
                raise RuntimeError("this episode has finished; start a new Recorder for the next")
            steps = self.trajectory.steps
            snap = None
            if state is not None and hasattr(state, "snapshot"):
                first = not any(s.state_before is not None for s in steps)
                if self.snapshot == "every" or (self.snapshot == "first" and first):
                    snap = state.snapshot()
            step = Step(
                index=len(steps),
                messages=list(messages),
                raw_output=raw_output,
                call=call,
                observation=observation,
                verdict=verdict,
                started_at=time.time() if started_at is None else started_at,
                latency_s=latency_s,
                prompt_tokens=prompt_tokens,
                completion_tokens=completion_tokens,
                error=error,
                state_before=snap,
                extra=extra or {},
            )
            steps.append(step)
        return step

    def observe(self, observation: Observation | str, *, error: str | None = None) -> Step:
        """Attach what the last recorded call returned (when you applied it after scoring)."""
        if isinstance(observation, str):
            observation = Observation(observation)
        with self._lock:
            if not self.trajectory.steps:
                raise RuntimeError("observe() needs a step: call record_step() first")
            step = self.trajectory.steps[-1]
            step.observation = observation
            if error is not None:
                step.error = error
        return step

    def finish(
        self,
        status: Status | None = None,
        *,
        success: bool | None = None,
        final_answer: str | None = None,
        error: str | None = None,
    ) -> Trajectory:
        """End the episode and write it (once; a failed write raises ``StoreError`` and may be
        retried by calling ``finish()`` again). Without ``status``: ``final_answer`` when the
        last output was a final answer, else ``finished``."""
        with self._lock:
            if not self.finished:
                self._set_outcome(status, success, final_answer, error)
            if self.store is not None and not self.written:
                self.store.append(self.trajectory)
                self.written = True
        return self.trajectory

    def _set_outcome(
        self,
        status: Status | None,
        success: bool | None,
        final_answer: str | None,
        error: str | None,
    ) -> None:
        last = self.trajectory.steps[-1].verdict if self.trajectory.steps else None
        answer = final_answer if final_answer is not None else last and last.final_answer
        if status is None:
            status = "error" if error else "final_answer" if answer is not None else "finished"
        self.trajectory.outcome = Outcome(
            status=status, success=success, final_answer=answer, error=error
        )
        self.finished = True

    # --- context manager ---

    def __enter__(self) -> Recorder:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None:
            self.finish()
            return
        try:
            self.finish("error", error=f"{type(exc).__name__}: {exc}")
        except Exception as write_error:  # never mask the episode's own exception
            note = f"agent_rl.Recorder could not write the trajectory: {write_error!r}"
            log.error(note)
            if hasattr(exc, "add_note"):
                exc.add_note(note)
