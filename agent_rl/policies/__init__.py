"""Policies: the one small interface between the agent loop and a model backend.

A policy turns a batch of conversations (OpenAI chat messages) into raw output texts, one per
conversation, batched where the backend can (``Policy`` in ``base``: ``generate`` for texts,
``complete`` for a ``Completion`` — text and token usage — or the exception of each
conversation). It never parses or repairs what the model wrote: the raw text is what gets
scored and recorded. Backends:

- ``ScriptedPolicy``: replays given outputs (tests, expert data) — no model.
- ``HFPolicy``: a local transformers causal LM, batched (CPU or GPU); its ``decoder``
  (``decoding``) is ``model.generate`` or the prefix-reusing ``PrefixDecoder``.
- ``OpenAIPolicy``: any OpenAI-compatible ``/v1/chat/completions`` endpoint over ``httpx``.

This package is not the agent loop (``agent_rl.agent``) and does not build prompts
(``agent_rl.prompts``).
"""

from __future__ import annotations

from agent_rl.policies.base import Completion, Policy, TextPolicy
from agent_rl.policies.decoding import GenerateDecoder, PrefixDecoder
from agent_rl.policies.hf import HFPolicy
from agent_rl.policies.openai import OpenAIPolicy
from agent_rl.policies.scripted import ScriptedPolicy
from agent_rl.verdicts import Messages

__all__ = [
    "Completion",
    "GenerateDecoder",
    "HFPolicy",
    "Messages",
    "OpenAIPolicy",
    "Policy",
    "PrefixDecoder",
    "ScriptedPolicy",
    "TextPolicy",
]
