"""The agent runtime: serve a policy, or capture any agent's traffic, over the OpenAI wire format.

- ``serve``: a policy behind ``/v1/chat/completions`` (``create_serve_app``, ``ServedPolicy``);
- ``proxy``: forwards to any OpenAI-compatible upstream unchanged and records it
  (``create_proxy_app``);
- ``capture``: the scored trajectory line per request and ``conversations`` to read them back;
- ``wire``: request/response shapes, SSE chunks, error bodies; ``server``: running an app.

This layer sits above policies and training; nothing below imports it. FastAPI and uvicorn are
needed here only (the ``serve`` extra).
"""

from __future__ import annotations

from agent_rl.runtime.capture import Capture, conversations
from agent_rl.runtime.proxy import create_proxy_app
from agent_rl.runtime.serve import ServedPolicy, create_serve_app
from agent_rl.runtime.server import BackgroundServer

__all__ = [
    "BackgroundServer",
    "Capture",
    "ServedPolicy",
    "conversations",
    "create_proxy_app",
    "create_serve_app",
]
