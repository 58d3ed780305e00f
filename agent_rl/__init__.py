"""agent-rl: make LLM agents emit tool calls that are completely correct.

Data flows one way through the modules (each imports only from those before it)::

    verdicts/errors → strict_json → kinds → tool_spec → formats → scorer → sandbox → tasks
      → trajectories → recorder → checkpoints → policies → agent → integrations → models
      → training → evaluation → demo → runtime (serve, proxy, online) → commands → cli

Names are imported lazily so that ``import agent_rl`` (and the scorer) never pulls in torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> module that defines it
_LAZY: dict[str, str] = {
    "AgentRLError": "agent_rl.errors",
    "BackgroundServer": "agent_rl.runtime",
    "CallState": "agent_rl.verdicts",
    "CallVerdict": "agent_rl.verdicts",
    "CodingSandbox": "agent_rl.sandbox",
    "ConfigError": "agent_rl.errors",
    "CorruptRecordError": "agent_rl.errors",
    "DemoConfig": "agent_rl.demo",
    "EndpointError": "agent_rl.errors",
    "EpisodeVerdict": "agent_rl.verdicts",
    "ErrorEntry": "agent_rl.verdicts",
    "EvalConfig": "agent_rl.evaluation",
    "FAMILIES": "agent_rl.tasks",
    "EvalReport": "agent_rl.evaluation",
    "GRPOSettings": "agent_rl.training",
    "HFPolicy": "agent_rl.policies",
    "JsonVerdict": "agent_rl.strict_json",
    "NAMED_MODELS": "agent_rl.checkpoints",
    "SHIPPED_MODELS": "agent_rl.checkpoints",
    "Observation": "agent_rl.verdicts",
    "OnlineLearner": "agent_rl.runtime.online",
    "OpenAIPolicy": "agent_rl.policies",
    "Policy": "agent_rl.policies",
    "PolicyError": "agent_rl.errors",
    "ReActAgent": "agent_rl.agent",
    "Recorder": "agent_rl.recorder",
    "SFTSettings": "agent_rl.training",
    "SandboxError": "agent_rl.errors",
    "Scorer": "agent_rl.scorer",
    "ScriptedPolicy": "agent_rl.policies",
    "ServedPolicy": "agent_rl.runtime",
    "Step": "agent_rl.trajectories",
    "StoreError": "agent_rl.errors",
    "StrictJsonError": "agent_rl.strict_json",
    "Task": "agent_rl.tasks",
    "ToolCall": "agent_rl.verdicts",
    "ToolSpec": "agent_rl.tool_spec",
    "ToolSpecError": "agent_rl.errors",
    "TrainResult": "agent_rl.training",
    "TrainingError": "agent_rl.errors",
    "Trajectory": "agent_rl.trajectories",
    "TrajectoryCallback": "agent_rl.integrations.langchain",
    "TrajectoryStore": "agent_rl.trajectories",
    "build_tiny_model": "agent_rl.models",
    "create_proxy_app": "agent_rl.runtime",
    "create_serve_app": "agent_rl.runtime",
    "evaluate": "agent_rl.evaluation",
    "format_instructions": "agent_rl.formats",
    "generate_tasks": "agent_rl.tasks",
    "load_task_file": "agent_rl.tasks",
    "load_model": "agent_rl.checkpoints",
    "load_tasks": "agent_rl.tasks",
    "loads_strict": "agent_rl.strict_json",
    "make_sandbox": "agent_rl.tasks",
    "parse_json": "agent_rl.strict_json",
    "plot_validity": "agent_rl.evaluation",
    "render_call": "agent_rl.formats",
    "render_final": "agent_rl.formats",
    "run_demo": "agent_rl.demo",
    "save_task_file": "agent_rl.tasks",
    "train_grpo": "agent_rl.training",
    "train_sft": "agent_rl.training",
    "wilson_interval": "agent_rl.evaluation",
}

__all__ = sorted(_LAZY)  # computed; a test checks it is sorted and importable


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'agent_rl' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from agent_rl.errors import *  # noqa: F403
    from agent_rl.verdicts import *  # noqa: F403
