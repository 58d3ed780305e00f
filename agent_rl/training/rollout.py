"""Live multi-step episodes inside GRPO: trl's ``rollout_func``, played in the sandbox.

Why ``rollout_func`` and not trl's ``tools`` / ``environment_factory``: those run trl's own
tool-call loop, which parses each turn with the tokenizer's response parser — a malformed call
silently becomes plain text and the episode just ends, so the verdict we train on would not be
our strict scorer's; they also only speak the chat template's tool format (hermes), not our
``json`` and ``react`` formats. ``rollout_func`` hands us the prompts and the trainer: we
generate every turn with the trainer's *current* weights (on-policy), score its raw text with
:class:`~agent_rl.scorer.Scorer` against the episode's sandbox, apply valid calls, feed back
the same observation messages the agent uses (:mod:`agent_rl.prompts`) — each turn stepped by
the agent's own :func:`~agent_rl.agent.advance`, so a plain-text reply is ``no_call`` and the
episode goes on with the error observation, exactly as in the agent —, and return token ids
with an ``env_mask`` so observation tokens carry no loss.

One completion = one whole episode: model turns and observations, token for token. It ends
when ``finish`` runs, after ``max_episode_steps`` turns, or when ``max_completion_length``
tokens are used. Per-turn verdicts (``turns``) and the task's success check (``success``) go
to the reward functions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from agent_rl.prompts import prompt_key
from agent_rl.training.rewards import score_completion, turn_record

if TYPE_CHECKING:
    from agent_rl.tasks import Task

__all__ = ["LiveRollout"]


@dataclass
class _Episode:
    task: Any
    fmt: str
    sandbox: Any
    tools: str
    prompt_ids: list[int]
    completion_ids: list[int] = field(default_factory=list)
    env_mask: list[int] = field(default_factory=list)
    turns: list[dict[str, Any]] = field(default_factory=list)
    done: bool = False

    @property
    def context(self) -> list[int]:
        return self.prompt_ids + self.completion_ids


class LiveRollout:
    """``rollout_func(prompts, trainer) -> dict`` for trl's ``GRPOTrainer`` over our tasks.

    ``prompts`` arrive already repeated ``num_generations`` times; each one starts its own
    episode, all played in lockstep (one batched ``generate`` per turn).
    """

    def __init__(self, tasks: Sequence[Task], settings: Any) -> None:
        import json

        from agent_rl.prompts import build_messages
        from agent_rl.tasks import make_sandbox

        self.settings = settings
        self._by_prompt: dict[Any, tuple[Any, str]] = {}
        self._tools: dict[str, str] = {}
        for task in tasks:
            tools = make_sandbox(task).tools
            for fmt in settings.formats:
                key = prompt_key(build_messages(task.prompt, [], tools, fmt))
                self._by_prompt[key] = (task, fmt)
                self._tools[fmt] = json.dumps([t.to_openai() for t in tools], ensure_ascii=False)

    # -- trl entry point --------------------------------------------------------------------

    def __call__(self, prompts: list[list[dict[str, Any]]], trainer: Any) -> dict[str, Any]:
        from agent_rl.tasks import make_sandbox

        tokenizer = trainer.processing_class
        episodes = []
        for prompt in prompts:
            found = self._by_prompt.get(prompt_key(prompt))
            if found is None:
                raise ValueError("a live-episode prompt matches no task: build the dataset "
                                 "with agent_rl.training.data.live_dataset")  # fmt: skip
            task, fmt = found
            ids = tokenizer.apply_chat_template(
                prompt, add_generation_prompt=True, tokenize=True, return_dict=True
            )["input_ids"]
            episodes.append(_Episode(task, fmt, make_sandbox(task), self._tools[fmt], list(ids)))
        budget = self.settings.max_completion_length or 1024
        for _ in range(self.settings.max_episode_steps):
            for e in episodes:  # no turn may run past the episode's token budget
                e.done = e.done or len(e.completion_ids) + self.settings.max_turn_tokens > budget
            active = [e for e in episodes if not e.done]
            if not active:
                break
            for episode, new in zip(active, self._generate(trainer, active), strict=True):
                self._play(episode, new, tokenizer, trainer.eos_token_ids, budget)
        return {
            "prompt_ids": [e.prompt_ids for e in episodes],
            "completion_ids": [e.completion_ids for e in episodes],
            "logprobs": None,
            "env_mask": [e.env_mask for e in episodes],
            "turns": [e.turns for e in episodes],
            "success": [self._success(e) for e in episodes],
        }

    # -- one turn ---------------------------------------------------------------------------

    def _generate(self, trainer: Any, active: list[_Episode]) -> list[list[int]]:
        """The next turn of every active episode, sampled with the trainer's current weights
        and its generation settings (``left_padded`` is the policies' own padding)."""
        import torch

        from agent_rl.policies.decoding import left_padded

        s = self.settings
        model = trainer.accelerator.unwrap_model(trainer.model)
        pad = trainer.processing_class.pad_token_id
        input_ids, attention = left_padded([e.context for e in active], pad, model.device)
        was_training = model.training
        model.eval()
        try:
            with torch.no_grad():
                out = model.generate(
                    input_ids=input_ids,
                    attention_mask=attention,
                    max_new_tokens=s.max_turn_tokens,
                    do_sample=True,
                    temperature=s.temperature,
                    top_p=s.top_p,
                    top_k=s.top_k or None,
                    min_p=s.min_p,
                    eos_token_id=trainer.eos_token_ids,
                    pad_token_id=pad,
                )
        finally:
            model.train(was_training)
        return out[:, input_ids.shape[1] :].cpu().tolist()

    def _play(self, episode: _Episode, new: list[int], tokenizer: Any, eos: list[int],
              budget: int) -> None:  # fmt: skip
        from agent_rl.agent import advance
        from agent_rl.prompts import observation_message

        end = next((i for i, t in enumerate(new) if t in eos), None)
        generated = new if end is None else new[: end + 1]
        text = tokenizer.decode(generated if end is None else generated[:-1],
                                skip_special_tokens=True)  # fmt: skip
        verdict = score_completion(text, episode.tools, episode.fmt, episode.sandbox)
        episode.turns.append(turn_record(verdict))
        episode.completion_ids += generated
        episode.env_mask += [1] * len(generated)
        observation, status = advance(episode.sandbox, verdict)
        if status is not None or observation is None:
            episode.done = True
            return
        suffix = _env_suffix(tokenizer, observation_message(observation.content, episode.fmt),
                             closed=end is not None)  # fmt: skip
        if len(episode.completion_ids) + len(suffix) >= budget:
            episode.done = True
            return
        episode.completion_ids += suffix
        episode.env_mask += [0] * len(suffix)

    @staticmethod
    def _success(episode: _Episode) -> bool | None:
        check = getattr(episode.task, "check", None)
        return None if check is None else bool(check(episode.sandbox))


def _env_suffix(tokenizer: Any, message: dict[str, str], *, closed: bool) -> list[int]:
    """Tokens between the end of a model turn and the start of the next one: (end-of-turn if
    the turn was cut off,) the observation message, and the generation prompt."""
    probe = [{"role": "user", "content": "x"}, {"role": "assistant", "content": "y"}]
    base = tokenizer.apply_chat_template(probe, tokenize=False)
    full = tokenizer.apply_chat_template([*probe, message], tokenize=False,
                                         add_generation_prompt=True)  # fmt: skip
    eos = tokenizer.eos_token
    cut = base.rfind(eos) + len(eos)
    text = full[cut:] if closed else eos + full[cut:]
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])
