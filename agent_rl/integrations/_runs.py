"""Run-tree bookkeeping for ``TrajectoryCallback``: the root run of every run, and the open
episode (its steps so far) of every root run.

Plain data over run ids: no LangChain and no locking (the callback holds its lock around every
call). Not here: reading LangChain objects (``_lc_output``) or scoring (``langchain``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from agent_rl.trajectories import Outcome, Step, Trajectory
from agent_rl.verdicts import Observation

__all__ = ["Episode", "RunTree"]


@dataclass
class Episode:
    """The steps recorded so far under one root run."""

    root: UUID
    name: str
    task: str = ""
    model: str = ""
    tools: list[dict[str, Any]] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)
    by_call_id: dict[str, int] = field(default_factory=dict)
    runs: set[UUID] = field(default_factory=set)

    def add(self, step: Step, call_id: str | None = None) -> None:
        step.index = len(self.steps)
        if call_id is not None:
            self.by_call_id[call_id] = step.index  # a reused id points at its latest call
        self.steps.append(step)

    def step_for_tool(self, call_id: Any, name: str) -> Step:
        """The step whose call a tool run executes: by tool call id, else the first call to
        that tool without a run yet, else a new step (a tool no model call asked for)."""
        idx = self.by_call_id.get(call_id) if isinstance(call_id, str) else None
        if idx is None:
            idx = next(
                (
                    i
                    for i, s in enumerate(self.steps)
                    if s.call is not None and s.call.name == name and "tool_input" not in s.extra
                ),
                None,
            )
        if idx is None:
            self.add(Step(index=0, extra={"unprompted": True, "tool": name}))
            idx = len(self.steps) - 1
        return self.steps[idx]

    def backfill(self, answers: list[tuple[str, Observation]]) -> None:
        """Observations the framework wrote itself (an unknown tool, a refused malformed call),
        seen as tool messages in the next prompt, for the calls no tool run answered."""
        for call_id, obs in answers:
            idx = self.by_call_id.get(call_id)
            if idx is not None and self.steps[idx].observation is None:
                self.steps[idx].observation = obs

    def to_trajectory(self, fmt: str, error: BaseException | None) -> Trajectory:
        last = self.steps[-1].verdict if self.steps else None
        if error is not None:
            status = "max_steps" if type(error).__name__ == "GraphRecursionError" else "error"
            outcome = Outcome(status=status, error=f"{type(error).__name__}: {error}")
        elif last is not None and last.final_answer is not None:
            outcome = Outcome(status="final_answer", final_answer=last.final_answer)
        else:
            outcome = Outcome(status="finished")
        return Trajectory(
            task=self.task,
            tools=self.tools,
            format=fmt,
            steps=self.steps,
            outcome=outcome,
            metadata={
                "source": "langchain",
                "model": self.model,
                "root_run_id": str(self.root),
                "run_name": self.name,
            },
        )


class RunTree:
    """Maps each run to its root run; one open ``Episode`` per root."""

    def __init__(self) -> None:
        self._root_of: dict[UUID, UUID] = {}
        self.episodes: dict[UUID, Episode] = {}

    def enter(self, run_id: UUID, parent_run_id: UUID | None, name: str) -> Episode:
        """The episode a starting run belongs to; a run without a known parent starts one."""
        root = None if parent_run_id is None else self._root_of.get(parent_run_id)
        if root is None or root not in self.episodes:
            root = run_id
            self.episodes[root] = Episode(root, name)
        self._root_of[run_id] = root
        ep = self.episodes[root]
        ep.runs.add(run_id)
        return ep

    def episode_of(self, run_id: UUID) -> Episode | None:
        root = self._root_of.get(run_id)
        return None if root is None else self.episodes.get(root)

    def leave(self, run_id: UUID) -> Episode | None:
        """A run ended. Returns its episode, closed, when it was the root run."""
        root = self._root_of.pop(run_id, None)
        if root != run_id or root not in self.episodes:
            return None
        ep = self.episodes.pop(root)
        for r in ep.runs:
            self._root_of.pop(r, None)
        return ep
