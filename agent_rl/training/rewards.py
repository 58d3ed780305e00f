"""GRPO reward functions: the strict scorer's verdict on each completion's raw text, as numbers.

Each function follows trl's reward contract exactly: a module-level, picklable callable
``(completions, **kwargs) -> list[float | None]`` whose ``__name__`` becomes the metric
``rewards/<name>/mean``; extra dataset columns arrive as keyword arguments; ``None`` means
"not applicable to this sample". All are binary per call by default:

=====================  ==================================================  ========  =========
reward                 1.0 when                                            recorded  live
=====================  ==================================================  ========  =========
parse_valid            the output's envelope and JSON parse (strict)       per call  turn mean
arguments_valid        ... and the call names a tool with valid arguments  per call  turn mean
state_valid            ... and the call is valid in the episode's state:   per call  turn mean
                       the fully valid call
valid_expert_tool      fully valid *and* the tool the expert called there  per call  None
expert_tool_arguments  the expert's tool with schema-valid arguments       per call  None
expert_tool_parsed     strict JSON naming the expert's tool                per call  None
episode_all_valid      every turn of the episode was fully valid           None      per episode
task_success           the task's own success check passed at the end      None      per episode
=====================  ==================================================  ========  =========

Default weights (``DEFAULT_WEIGHTS``; trl sums the weighted rewards, then normalises within
each group). Recorded steps: ``expert_tool_arguments`` 1.0 and ``valid_expert_tool`` 1.0 — a
schema-valid call of the step's tool earns 1, the same call also valid in the episode's state
2: the schema level the claim is about is the target, and the state level keeps its gradient
(the schema rung alone raised held-out schema validity but let paths drift: fully valid calls
fell by half). Live episodes: ``episode_all_valid`` 1.0. Every setting measured, and what went
wrong with the others (detours such as ``run_tests`` or ``finish`` everywhere, well-formed
calls missing their arguments), is in BENCHMARKS.md ("what we tried").

Where a call was due (every expert step; recorded steps whose output was a call), a plain-text
reply is *not* valid: the scorer calls it a valid final answer, but rewarding it would teach the
model to stop calling tools. It is scored as kind ``no_call`` at stage ``envelope``.

The recorded path scores the completion against the sandbox rebuilt from the ``state`` column
(``CodingSandbox.restore``) with a ``Scorer`` for the ``tools``/``fmt`` columns — never trl's
tool parser, which silently turns a malformed call into plain text. The live path reads the
verdicts the rollout computed on every turn (column ``turns``). One of the functions per batch
(``state_valid``) logs the error breakdown: ``errors/stage/<stage>`` and ``errors/<kind>``
rates among all completions. A scorer bug raises; it is never scored as 0.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from agent_rl.kinds import KNOWN_KINDS, NO_CALL
from agent_rl.scorer import scorer_for
from agent_rl.verdicts import STAGES, CallVerdict

__all__ = [
    "DEFAULT_WEIGHTS",
    "KNOWN_KINDS",
    "LIVE_REWARDS",
    "NO_CALL",
    "RECORDED_REWARDS",
    "arguments_valid",
    "completion_text",
    "episode_all_valid",
    "expert_tool_arguments",
    "expert_tool_parsed",
    "parse_valid",
    "score_completion",
    "state_valid",
    "task_success",
    "turn_record",
    "valid_expert_tool",
]

# Kinds logged every step (0 when absent) so their means are unbiased: every kind agent-rl
# emits (agent_rl.kinds); any other kind is logged when present.
_LOGGED_STAGES = (*STAGES, NO_CALL)


def completion_text(completion: Any) -> str:
    """The raw text of one completion as trl passes it: a string, or a conversational
    completion ``[{"role": "assistant", "content": ...}]``."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list) and completion and isinstance(completion[-1], dict):
        message = completion[-1]
        if message.get("tool_calls"):
            raise ValueError(
                "completion was parsed into tool_calls by the tokenizer's response template, so "
                "its raw text is lost; unset tokenizer.response_template (train_grpo does)"
            )
        return str(message.get("content") or "")
    raise TypeError(f"cannot read a completion of type {type(completion).__name__}")


@lru_cache(maxsize=256)
def _state(state_json: str) -> Any:
    from agent_rl.sandbox import CodingSandbox

    return CodingSandbox.restore(json.loads(state_json))


def score_completion(
    text: str, tools: str, fmt: str, state: str | Any = None, expects_call: bool = True
) -> CallVerdict:
    """The verdict on one raw output, as the reward sees it: ``tools`` is the OpenAI tool list
    as JSON text, ``state`` a sandbox snapshot as JSON text, a live state object (a
    ``CodingSandbox``), or ``None``/``""``: no state check. The scorer's own rule
    (``Scorer.score(expect_call=...)``) with the dataset's columns as arguments."""
    if isinstance(state, str):
        state = _state(state) if state else None
    return scorer_for(tools, fmt).score(text, state, expect_call=expects_call)  # type: ignore[arg-type]


def _level(verdict: CallVerdict | dict[str, Any]) -> int:
    """How far a verdict got: 0 envelope/parse failed, 1 parsed, 2 arguments ok, 3 valid."""
    if isinstance(verdict, dict):
        valid, stage = verdict["valid"], verdict["stage"]
    else:
        valid, stage = verdict.valid, verdict.stage
    if valid:
        return 3
    return {"state": 2, "arguments": 1, "tool": 1}.get(stage or "", 0)


def turn_record(verdict: CallVerdict) -> dict[str, Any]:
    """The small per-turn record a live rollout hands to the rewards (column ``turns``)."""
    return {"valid": verdict.valid, "stage": verdict.stage, "kind": verdict.kind}


def _column(kwargs: dict[str, Any], name: str, n: int, default: Any = None) -> list[Any]:
    value = kwargs.get(name)
    return [default] * n if value is None else list(value)


def _verdicts(completions: Sequence[Any], kwargs: dict[str, Any]) -> list[CallVerdict]:
    n = len(completions)
    tools, fmts = kwargs.get("tools"), kwargs.get("fmt")
    if tools is None or fmts is None:
        raise ValueError(
            "the reward needs the dataset columns 'tools' and 'fmt' (and 'state'); build the "
            "dataset with agent_rl.training.data.grpo_dataset"
        )
    states = _column(kwargs, "state", n)
    expects = _column(kwargs, "expects_call", n, True)
    return [
        score_completion(completion_text(c), t, f, s or None, bool(e))
        for c, t, f, s, e in zip(completions, tools, fmts, states, expects, strict=True)
    ]


def _per_call(completions: Sequence[Any], kwargs: dict[str, Any], level: int) -> list[float | None]:
    turns = kwargs.get("turns")
    if turns is not None:  # live episodes: the share of turns at that level
        return [sum(_level(t) >= level for t in ts) / len(ts) if ts else None for ts in turns]
    return [float(_level(v) >= level) for v in _verdicts(completions, kwargs)]


def _log_breakdown(kinds: list[tuple[str | None, str | None]], kwargs: dict[str, Any]) -> None:
    log = kwargs.get("log_metric")
    if log is None or not kinds:
        return
    n = len(kinds)
    stages = Counter(stage for stage, _ in kinds if stage)
    by_kind = Counter(kind for _, kind in kinds if kind)
    for stage in _LOGGED_STAGES:
        log(f"errors/stage/{stage}", stages.get(stage, 0) / n)
    for kind in sorted(set(KNOWN_KINDS) | set(by_kind)):
        log(f"errors/{kind}", by_kind.get(kind, 0) / n)


def parse_valid(completions: Sequence[Any], **kwargs: Any) -> list[float | None]:
    """1.0 when the output's envelope and strict JSON parse (a call object came out)."""
    return _per_call(completions, kwargs, 1)


def arguments_valid(completions: Sequence[Any], **kwargs: Any) -> list[float | None]:
    """1.0 when the call names a known tool and its arguments match the tool's schema."""
    return _per_call(completions, kwargs, 2)


def state_valid(completions: Sequence[Any], **kwargs: Any) -> list[float | None]:
    """1.0 for a fully valid call: parsed, known tool, valid arguments, valid in the state.

    Also logs the error breakdown of the batch (``errors/stage/*``, ``errors/*``)."""
    turns = kwargs.get("turns")
    if turns is not None:
        flat = [(t["stage"], t["kind"]) for ts in turns for t in ts if not t["valid"]]
        total = sum(len(ts) for ts in turns)
        _log_breakdown(flat + [(None, None)] * (total - len(flat)), kwargs)
        return _per_call(completions, kwargs, 3)
    verdicts = _verdicts(completions, kwargs)
    _log_breakdown([(v.stage, v.kind) for v in verdicts], kwargs)
    return [float(v.valid) for v in verdicts]


@lru_cache(maxsize=4096)
def _reference_tool(reference: str, tools: str, fmt: str) -> str | None:
    verdict = score_completion(reference, tools, fmt, None, expects_call=False)
    return verdict.call.name if verdict.call is not None else None


def _expert_tool_at(
    completions: Sequence[Any], kwargs: dict[str, Any], level: int
) -> list[float | None]:
    """1.0 where the output calls the reference's tool and reaches ``level`` (see ``_level``);
    ``None`` without a reference (live episodes, recorded invalid steps)."""
    n = len(completions)
    references = _column(kwargs, "reference", n, "")
    if kwargs.get("turns") is not None or not any(references):
        return [None] * n
    verdicts = _verdicts(completions, kwargs)
    tools, fmts = kwargs["tools"], kwargs["fmt"]
    return [
        float(_level(v) >= level and v.call is not None and v.call.name == _reference_tool(r, t, f))
        if r
        else None
        for v, r, t, f in zip(verdicts, references, tools, fmts, strict=True)
    ]


def valid_expert_tool(completions: Sequence[Any], **kwargs: Any) -> list[float | None]:
    """1.0 for a fully valid call of the tool the reference (expert) output called at this
    step; ``None`` where there is no reference (live episodes, recorded invalid steps).

    Validity alone is maximised by a trivial call that is valid anywhere (``run_tests`` with no
    arguments): this keeps the model on the call the step needs, so GRPO must make *that*
    call valid — an edit with correctly escaped text, not an easy detour."""
    return _expert_tool_at(completions, kwargs, 3)


def expert_tool_arguments(completions: Sequence[Any], **kwargs: Any) -> list[float | None]:
    """1.0 when the output calls the reference's tool with schema-valid arguments (the state
    check may still fail); ``None`` without a reference. A denser companion of
    ``valid_expert_tool`` (partial credit for a well-formed, correctly escaped call of the
    right tool whose old text or path is wrong)."""
    return _expert_tool_at(completions, kwargs, 2)


def expert_tool_parsed(completions: Sequence[Any], **kwargs: Any) -> list[float | None]:
    """1.0 when the output is strict, well-formed JSON in its envelope and names the
    reference's tool (its arguments may still be wrong); ``None`` without a reference. The
    densest on-task companion: partial credit for closing the JSON of the *right* call, never
    for a call that is easy anywhere."""
    return _expert_tool_at(completions, kwargs, 1)


def episode_all_valid(completions: Sequence[Any], **kwargs: Any) -> list[float | None]:
    """Live episodes: 1.0 when every turn was fully valid; ``None`` on single-step prompts."""
    turns = kwargs.get("turns")
    if turns is None:
        return [None] * len(completions)
    return [float(bool(ts) and all(t["valid"] for t in ts)) for ts in turns]


def task_success(completions: Sequence[Any], **kwargs: Any) -> list[float | None]:
    """Live episodes: 1.0 when the task's success check passed; ``None`` elsewhere."""
    success = kwargs.get("success")
    if success is None:
        return [None] * len(completions)
    return [None if s is None else float(s) for s in success]


RECORDED_REWARDS = (
    parse_valid,
    arguments_valid,
    state_valid,
    valid_expert_tool,
    expert_tool_arguments,
    expert_tool_parsed,
)
LIVE_REWARDS = (parse_valid, arguments_valid, state_valid, episode_all_valid, task_success)
DEFAULT_WEIGHTS: dict[str, tuple[float, ...]] = {
    "recorded": (0.0, 0.0, 0.0, 1.0, 1.0, 0.0),
    "live": (0.0, 0.0, 0.0, 1.0, 0.0),
}
