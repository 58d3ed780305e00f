"""Episodes -> training data: SFT examples, GRPO step prompts, live-episode seeds.

Every example is one *step*: the exact messages the agent saw before an output (built by
:func:`agent_rl.prompts.build_messages`, the same builder the agent uses), with what the reward
needs to judge a new output at that step travelling as plain columns:

- ``state``: the sandbox snapshot before the step (JSON text; ``""`` when there is none),
- ``tools``: the tools offered, OpenAI form (JSON text), ``fmt``: the call format,
- ``expects_call``: whether a tool call was due (a plain-text reply is then invalid).

Steps come from the *expert* episodes of the tasks (each scripted call run through the sandbox,
so observations are real) and from *recorded* trajectories (state rebuilt with
``Trajectory.state_at``). SFT trains on valid outputs only. This module builds datasets; it
loads no model and scores nothing.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent_rl.errors import ConfigError, StoreError
from agent_rl.verdicts import Messages

if TYPE_CHECKING:
    from datasets import Dataset

    from agent_rl.tasks import Task
    from agent_rl.trajectories import Trajectory
    from agent_rl.verdicts import ToolCall

__all__ = [
    "StepExample",
    "episode_steps",
    "expert_steps",
    "grpo_dataset",
    "live_dataset",
    "recorded_steps",
    "reference_tool",
    "run_tasks",
    "settings_steps",
    "sft_dataset",
    "training_steps",
]


@dataclass(frozen=True, slots=True)
class StepExample:
    """One step of an episode as training data. ``target`` is the valid output to imitate
    (``None`` when the recorded output was invalid)."""

    messages: Messages
    target: str | None
    state: str
    tools: str
    fmt: str
    task_id: str
    step: int
    expects_call: bool = True
    origin: str = "expert"
    episode: str = ""

    def to_row(self) -> dict[str, Any]:
        return {
            "prompt": self.messages,
            "state": self.state,
            "tools": self.tools,
            "fmt": self.fmt,
            "task_id": self.task_id,
            "step": self.step,
            "expects_call": self.expects_call,
            "reference": self.target or "",
        }


def _tools_json(tools: Sequence[Any]) -> str:
    return json.dumps(
        [t.to_openai() if hasattr(t, "to_openai") else t for t in tools], ensure_ascii=False
    )


def _state_json(sandbox: Any) -> str:
    return json.dumps(sandbox.snapshot(), ensure_ascii=False)


def episode_steps(
    episode_id: str,
    prompt: str,
    files: dict[str, str],
    calls: Sequence[ToolCall],
    formats: Sequence[str],
) -> Iterator[StepExample]:
    """Every step of one scripted episode (``calls`` run in a sandbox over ``files``) in every
    format: the real observations and the state before each step."""
    from agent_rl.formats import render_call
    from agent_rl.prompts import build_messages
    from agent_rl.sandbox import CodingSandbox

    for fmt in formats:
        sandbox = CodingSandbox(files)
        tools = _tools_json(sandbox.tools)
        history: list[tuple[str, str]] = []
        for k, call in enumerate(calls):
            messages = build_messages(prompt, history, sandbox.tools, fmt)
            state = _state_json(sandbox)
            target = render_call(call, fmt)
            yield StepExample(
                messages, target, state, tools, fmt, episode_id, k, episode=f"{episode_id}:{fmt}"
            )
            observation = sandbox.step(call)
            if not observation.ok:
                raise ConfigError(
                    f"episode {episode_id}: expert step {k} ({call.name}) is invalid in its own "
                    f"episode: {observation.content[:200]}. Fix its expert solution."
                )
            history.append((target, observation.content))


def expert_steps(tasks: Iterable[Task], formats: Sequence[str]) -> Iterator[StepExample]:
    """Every step of every task's scripted expert episode, in every format, with the real
    observations of the sandbox and its state before each step."""
    for task in tasks:
        yield from episode_steps(task.id, task.prompt, dict(task.files), task.expert, formats)


def _load(source: str | Path | Trajectory) -> Iterator[Trajectory]:
    from agent_rl.trajectories import Trajectory, TrajectoryStore

    if isinstance(source, Trajectory):
        yield source
        return
    path = Path(source)
    if not path.is_file():
        raise ConfigError(
            f"trajectory file {str(path)!r} not found: pass a JSONL file written by "
            "TrajectoryStore (agent-rl record)."
        )
    yield from TrajectoryStore(path).read()


def recorded_steps(sources: Iterable[str | Path | Trajectory]) -> Iterator[StepExample]:
    """Every scored step of recorded trajectories: the exact prompt the model saw, the state
    before it (``""`` when the trajectory has no sandbox snapshot), its output if valid."""
    for traj in (t for source in sources for t in _load(source)):
        tools = _tools_json(traj.tools)
        for k, step in enumerate(traj.steps):
            if step.verdict is None or not step.messages:
                continue
            try:
                state = traj.state_at(k)
                state_text = _state_json(state) if hasattr(state, "snapshot") else ""
            except StoreError:
                state_text = ""
            valid = step.verdict.valid
            yield StepExample(
                messages=list(step.messages),
                target=step.raw_output if valid else None,
                state=state_text,
                tools=tools,
                fmt=traj.format,
                task_id=traj.task.id or traj.id,
                step=k,
                expects_call=step.verdict.call is not None or not valid,
                origin="recorded",
                episode=traj.id,
            )


def run_tasks(
    split: str = "train",
    families: int = 0,
    seed: int = 0,
    files: Sequence[str | Path] = (),
) -> list[Task]:
    """The tasks a run trains on: the hand-written ``split`` (``"none"``: none), ``families``
    generated train-split family instances (seeded: a fixed expert set), and every task file."""
    from agent_rl.tasks import generate_tasks, load_task_file, load_tasks

    tasks = [] if split == "none" else list(load_tasks(split))  # type: ignore[arg-type]
    if families:
        tasks += generate_tasks("train", families, seed=seed)
    for path in files:
        tasks += load_task_file(path)
    return tasks


def training_steps(
    formats: Sequence[str],
    trajectories: Sequence[str | Path | Trajectory] = (),
    tasks: Sequence[Task] | None = None,
) -> list[StepExample]:
    """Expert steps of ``tasks`` (default: the hand-written train split) and recorded steps."""
    tasks = run_tasks() if tasks is None else tasks
    steps = [*expert_steps(tasks, formats), *recorded_steps(trajectories)]
    if not steps:
        raise ConfigError("no training steps: no tasks and no trajectories given.")
    return steps


def settings_steps(settings: Any, tasks: Sequence[Task] | None = None) -> list[StepExample]:
    """The training steps a run's settings (``DataFields``) name: ``tasks`` if given, else
    its hand-written split, generated families and task files; plus its trajectories."""
    from agent_rl.training.config import data_seed

    if tasks is None:
        tasks = run_tasks(
            settings.task_split, settings.families, data_seed(settings), settings.tasks
        )
    return training_steps(settings.formats, settings.trajectories, tasks)


def _dataset(rows: list[dict[str, Any]]) -> Dataset:
    from datasets import Dataset

    return Dataset.from_list(rows)


def sft_dataset(steps: Iterable[StepExample]) -> Dataset:
    """One conversation per episode (``messages`` column, for trl's assistant-only loss): the
    episode up to its last step before the first invalid one, so every assistant turn trained
    on is a valid output. Causal attention makes each turn see exactly its step's prompt, at a
    fraction of the cost of one example per step."""
    episodes: dict[str, list[StepExample]] = {}
    for s in steps:
        episodes.setdefault(s.episode or f"{s.task_id}:{s.fmt}:{s.origin}", []).append(s)
    rows = []
    for group in episodes.values():
        group.sort(key=lambda s: s.step)
        valid = 0
        while valid < len(group) and group[valid].target is not None:
            valid += 1
        if valid:
            last = group[valid - 1]
            rows.append(
                {"messages": [*last.messages, {"role": "assistant", "content": last.target}]}
            )
    if not rows:
        raise ConfigError("no valid steps to imitate: SFT needs expert or valid recorded steps.")
    return _dataset(rows)


def reference_tool(step: StepExample) -> str | None:
    """The tool the step's reference output calls (``None``: no valid reference call)."""
    from agent_rl.training.rewards import score_completion

    if step.target is None:
        return None
    call = score_completion(step.target, step.tools, step.fmt, None, expects_call=False).call
    return None if call is None else call.name


def grpo_dataset(
    steps: Iterable[StepExample],
    *,
    max_prompts: int | None = None,
    seed: int = 0,
    tools: Sequence[str] = (),
) -> Dataset:
    """One row per step prompt with the columns the rewards read (see module docstring);
    ``tools``: keep only steps whose reference calls one of them."""
    rows = [s.to_row() for s in steps if not tools or reference_tool(s) in tools]
    if max_prompts is not None and len(rows) > max_prompts:
        rows = random.Random(seed).sample(rows, max_prompts)
    if not rows:
        raise ConfigError("no step prompts for GRPO: give tasks or recorded trajectories.")
    return _dataset(rows)


def live_dataset(tasks: Sequence[Task], formats: Sequence[str]) -> Dataset:
    """One row per (task, format): the episode's first prompt and what a rollout needs."""
    from agent_rl.prompts import build_messages
    from agent_rl.tasks import make_sandbox

    rows = []
    for task in tasks:
        for fmt in formats:
            sandbox = make_sandbox(task)
            rows.append(
                {
                    "prompt": build_messages(task.prompt, [], sandbox.tools, fmt),
                    "state": _state_json(sandbox),
                    "tools": _tools_json(sandbox.tools),
                    "fmt": fmt,
                    "task_id": task.id,
                    "step": 0,
                    "expects_call": True,
                    "reference": "",
                }
            )
    if not rows:
        raise ConfigError("no tasks for live episodes.")
    return _dataset(rows)
