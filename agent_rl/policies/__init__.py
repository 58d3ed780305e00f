"""Policies: the one small interface between the agent loop and a model backend.

A policy turns a batch of conversations (OpenAI chat messages) into raw output texts, one per
conversation, batched where the backend can. It never parses or repairs what the model wrote:
the raw text is what gets scored and recorded. Backends:

- ``ScriptedPolicy``: replays given outputs (tests, expert data) — no model.
- ``HFPolicy``: a local transformers causal LM, batched ``model.generate`` (CPU or GPU).
- ``OpenAIPolicy``: any OpenAI-compatible ``/v1/chat/completions`` endpoint over ``httpx``.

This package is not the agent loop (``agent_rl.agent``) and does not build prompts
(``agent_rl.prompts``).
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from agent_rl.policies.hf import HFPolicy
from agent_rl.policies.openai import OpenAIPolicy
from agent_rl.policies.scripted import ScriptedPolicy

__all__ = ["HFPolicy", "Messages", "OpenAIPolicy", "Policy", "ScriptedPolicy"]

Messages = list[dict[str, Any]]


@runtime_checkable
class Policy(Protocol):
    """Anything with a ``name`` and ``generate(batch) -> texts`` is a policy.

    ``generate`` gets one message list per live episode and returns one raw text for each, in
    order. It raises ``PolicyError`` (or any exception) when the backend fails; the agent turns
    that into an ``error`` outcome of the affected trajectories, never a lost episode.

    A backend may also offer ``generate_each(batch) -> list[str | Exception]`` to report
    failures per conversation; the agent uses it when present so one failure does not end the
    other episodes of the batch.
    """

    name: str

    def generate(self, batch: list[Messages]) -> list[str]: ...
