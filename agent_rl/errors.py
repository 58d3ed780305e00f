"""The one exception hierarchy of agent-rl.

Scored model output never raises: a bad tool call is a verdict, not an exception. These errors
are for the *user's* mistakes (a bad config, a missing file, an unreachable endpoint) and for
bugs, each message naming the likely cause and the fix::

    AgentRLError
    ├── ConfigError        bad settings, flags, YAML or dataset columns
    ├── ToolSpecError      a tool or its JSON Schema cannot be used
    ├── SandboxError       misuse of the sandbox API itself (not a bad call from a model)
    ├── StoreError         a trajectory file cannot be read or written
    │   └── CorruptRecordError   a bad line in a trajectory file (names file and line)
    ├── PolicyError        a policy backend failed (model folder, endpoint)
    │   └── EndpointError  an OpenAI-compatible endpoint failed after retries
    └── TrainingError      a training run cannot start or resume
"""

from __future__ import annotations

__all__ = [
    "AgentRLError",
    "ConfigError",
    "CorruptRecordError",
    "EndpointError",
    "PolicyError",
    "SandboxError",
    "StoreError",
    "ToolSpecError",
    "TrainingError",
]


class AgentRLError(Exception):
    """Base class of every error agent-rl raises on purpose."""


class ConfigError(AgentRLError, ValueError):
    """Settings, flags, a YAML file or a dataset that cannot be used as given."""


class ToolSpecError(AgentRLError, ValueError):
    """A tool definition or its argument schema that cannot be used."""


class SandboxError(AgentRLError):
    """The sandbox API was misused by the caller (a model's bad call is an observation)."""


class StoreError(AgentRLError, OSError):
    """A trajectory store that cannot be read or written."""


class CorruptRecordError(StoreError):
    """A line of a trajectory file that is not a valid record."""

    def __init__(self, path: str, line: int, reason: str) -> None:
        self.path, self.line, self.reason = path, line, reason
        super().__init__(
            f"{path}:{line}: not a valid trajectory record ({reason}). "
            "Fix or delete that line, or read with on_error='skip' to skip bad lines."
        )


class PolicyError(AgentRLError):
    """A policy backend could not produce an output."""


class EndpointError(PolicyError):
    """An OpenAI-compatible endpoint failed after all retries."""


class TrainingError(AgentRLError):
    """A training run that cannot start, continue or resume."""
