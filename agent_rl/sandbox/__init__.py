"""The coding sandbox: mock coding tools over a virtual workspace, and its mock test runner.

- :mod:`._core` — ``CodingSandbox`` (check / step / snapshot / restore) and the tools.
- :mod:`._checks` — the state stage: one check per tool, nothing changed.
- :mod:`._workspace` — the files in a dict, derived folders and sizes, the limits.
- :mod:`._tools` — the ``ToolSpec`` of each tool.
- :mod:`._paths` — how a path is normalised inside the workspace root, or refused.
- :mod:`._runner` — the declarative test convention that ``run_tests`` and task checks read.

Nothing in this package touches the host: no files, processes or sockets.
"""

from __future__ import annotations

from agent_rl.sandbox._core import SNAPSHOT_FORMAT, CodingSandbox
from agent_rl.sandbox._paths import normalize
from agent_rl.sandbox._runner import CaseResult, RunReport, run_source, run_tests
from agent_rl.sandbox._tools import TOOL_NAMES, TOOLS
from agent_rl.sandbox._workspace import MAX_FILE_BYTES, MAX_FILES, MAX_WORKSPACE_BYTES

__all__ = [
    "MAX_FILES",
    "MAX_FILE_BYTES",
    "MAX_WORKSPACE_BYTES",
    "SNAPSHOT_FORMAT",
    "TOOLS",
    "TOOL_NAMES",
    "CaseResult",
    "CodingSandbox",
    "RunReport",
    "normalize",
    "run_source",
    "run_tests",
]
