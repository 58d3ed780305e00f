"""Recorded agent episodes: ``Step``/``Trajectory`` models and the JSONL ``TrajectoryStore``.

``schema`` declares the stored shape of a line (its Arrow schema), ``fields`` the codecs;
``models`` holds the data (and how the sandbox state at a step is rebuilt); ``store`` holds the
append-only file and its crash guarantees. ``models`` and ``store`` are re-exported here.
"""

from __future__ import annotations

from agent_rl.trajectories.models import (
    SCHEMA_VERSION,
    Outcome,
    Step,
    TaskRef,
    Trajectory,
    TrajectoryMeta,
)
from agent_rl.trajectories.store import (
    SkippedRecordWarning,
    StoreWarning,
    TornRecordWarning,
    TrajectoryStore,
    encode_line,
)

__all__ = [
    "SCHEMA_VERSION",
    "Outcome",
    "SkippedRecordWarning",
    "Step",
    "StoreWarning",
    "TaskRef",
    "TornRecordWarning",
    "Trajectory",
    "TrajectoryMeta",
    "TrajectoryStore",
    "encode_line",
]
