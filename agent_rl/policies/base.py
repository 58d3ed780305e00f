"""What a policy offers: the ``Policy`` protocol, the ``Completion`` it returns, and
``TextPolicy``, the base that derives per-conversation completions from ``generate``.

Data and protocol only: no backend, no prompt building, no parsing of what a model wrote.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from agent_rl.verdicts import Messages

__all__ = ["Completion", "Policy", "TextPolicy"]


@dataclass(frozen=True, slots=True)
class Completion:
    """One raw model output and, when the backend counted them, its token usage."""

    text: str
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


@runtime_checkable
class Policy(Protocol):
    """A model backend: a ``name``, and a batch of conversations in, one output per
    conversation out, in order.

    ``generate(batch) -> texts`` raises ``PolicyError`` (or any exception) when the backend
    fails. ``complete(batch)`` gives one ``Completion`` (text and usage) or the exception that
    stopped that conversation, so one failure does not end the other episodes of a batch; the
    agent calls it. Subclass ``TextPolicy`` to write only ``generate``.
    """

    name: str

    def generate(self, batch: list[Messages]) -> list[str]: ...

    def complete(self, batch: list[Messages]) -> list[Completion | Exception]: ...


class TextPolicy:
    """A policy written as ``generate`` alone: ``complete`` calls ``completions`` (by default
    the texts of ``generate``, without usage) for the whole batch, and when that fails, once per
    conversation, so each gets its own output or exception."""

    name: str = "policy"

    def generate(self, batch: list[Messages]) -> list[str]:
        raise NotImplementedError(f"{type(self).__name__} must implement generate(batch)")

    def completions(self, batch: list[Messages]) -> list[Completion]:
        """One completion per conversation, all or nothing (override to report usage)."""
        return [Completion(text) for text in self.generate(batch)]

    def complete(self, batch: list[Messages]) -> list[Completion | Exception]:
        try:
            return list(self.completions(batch))
        except Exception as exc:
            if len(batch) <= 1:
                return [exc] * len(batch)
        results: list[Completion | Exception] = []
        for messages in batch:
            try:
                results.extend(self.completions([messages]))
            except Exception as one:
                results.append(one)
        return results
