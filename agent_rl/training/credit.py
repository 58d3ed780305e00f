"""Error-located credit for GRPO: the verifier says *where* a call went wrong, so the
advantage lands there. Not a trainer, not a reward.

trl's GRPO gives every token of a completion its sequence's advantage. A call that is right up
to one unescaped quote is pushed down whole — its correct prefix, which the valid calls of the
group share, as hard as the quote — and the one wrong token gets the same small share of the
gradient as a hundred right ones. The strict scorer knows where the first error is (a parse
error's character, the unknown key, the argument object closing without a required key, the
value of a path that does not exist), so with :func:`locate_credit` a completion whose error is
located gets its advantage split there:

- advantage < 0: only the tokens from the error on carry it; the prefix before gets 0;
- advantage > 0 (better than its group, with an error of its own — a schema-valid call with a
  wrong path among unparseable ones): only the prefix before the error carries it.

Completions without a located error (valid, a plain-text reply where a call was due, a call of
another tool than the expert's) keep trl's per-sequence advantage on every token. trl is wired,
not subclassed: its loss takes advantages of shape ``(batch, tokens)``, and the trainer
instance's ``_generate_and_score_completions`` is wrapped to return them. Recorded steps only
(``source="recorded"``): the rows carry the ``tools``/``fmt``/``state`` columns the rewards score
with, and a completion is one call.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from agent_rl.formats import extract
from agent_rl.verdicts import CallVerdict

__all__ = ["error_offset", "locate_credit", "split_advantages", "token_at"]


def _skip_value(text: str, i: int) -> int:
    """Index just past the JSON value starting at ``text[i]`` (strict JSON assumed)."""
    if text[i] == '"':
        i += 1
        while text[i] != '"':
            i += 2 if text[i] == "\\" else 1
        return i + 1
    if text[i] in "{[":
        depth = 0
        while True:
            c = text[i]
            if c == '"':
                i = _skip_value(text, i)
                continue
            depth += (c in "{[") - (c in "}]")
            i += 1
            if depth == 0:
                return i
    while i < len(text) and text[i] not in ",}] \t\r\n":
        i += 1
    return i


def _members(text: str, i: int) -> tuple[list[tuple[str, int, int]], int]:
    """The members of the JSON object whose ``{`` is at ``text[i]``: ``(key, key_at, value_at)``
    each, and the index of its closing ``}``."""
    import json

    members: list[tuple[str, int, int]] = []
    i += 1
    while True:
        while text[i] in " \t\r\n,":
            i += 1
        if text[i] == "}":
            return members, i
        key_end = _skip_value(text, i)
        key = json.loads(text[i:key_end])
        j = key_end
        while text[j] in " \t\r\n:":
            j += 1
        members.append((key, i, j))
        i = _skip_value(text, j)


def error_offset(text: str, verdict: CallVerdict, fmt: str) -> int | None:
    """The character of ``text`` where ``verdict``'s first error begins, or ``None`` when it has
    none or no place: a parse or envelope error's own ``("char", n)`` (for a string that ends
    early at an unescaped quote, that quote); for an argument ``key``,
    the key (unknown, or given twice: its second time), the closing ``}`` of the arguments
    (a required key missing) or the key's value (a wrong type, a path that does not exist, text
    to replace that is not there); an unknown tool's name."""
    if verdict.valid or not verdict.errors:
        return None
    error = verdict.errors[0]
    loc = error.loc
    if len(loc) == 2 and loc[0] == "char" and isinstance(loc[1], int):
        if error.type == "unescaped_quote" and text[loc[1] : loc[1] + 1] == '"':
            try:  # the diagnosis points at the string; the wrong token is the quote ending it
                return _skip_value(text, loc[1]) - 1
            except IndexError:
                return loc[1]
        return loc[1]
    found = extract(text, fmt)  # type: ignore[arg-type]
    if found.json_text is None or not loc:
        return None
    try:
        call, close = _members(found.json_text, found.json_text.index("{"))
        where = {key: value_at for key, _, value_at in call}
        if loc == ("name",) and "name" in where:
            return found.offset + where["name"] + 1
        if loc[0] != "arguments" or len(loc) < 2 or "arguments" not in where:
            return None
        args, close = _members(found.json_text, where["arguments"])
        hits = [(key_at, value_at) for key, key_at, value_at in args if key == loc[1]]
        if not hits:  # a required key missing: the object closed where it was due
            return found.offset + close
        if error.type == "duplicate_key":
            return found.offset + hits[-1][0] + 1
        if error.type == "unknown_argument":
            return found.offset + hits[0][0] + 1
        value_at = hits[0][1]
        return found.offset + value_at + (found.json_text[value_at] == '"')
    except (IndexError, ValueError):  # not the strict JSON the scorer passed: no place
        return None


def token_at(decode: Callable[[Sequence[int]], str], ids: Sequence[int], char: int) -> int:
    """Index of the token of ``ids`` whose text covers character ``char`` of ``decode(ids)``:
    the first ``k`` with ``len(decode(ids[:k + 1])) > char`` (binary search; ``len(ids)`` when
    the text is shorter)."""
    lo, hi = 0, len(ids)
    while lo < hi:
        mid = (lo + hi) // 2
        if len(decode(ids[: mid + 1])) > char:
            hi = mid
        else:
            lo = mid + 1
    return lo


def split_advantages(
    advantages: Any, errors_at: Sequence[int | None], width: int, mode: str = "suffix"
) -> Any:
    """Per-token advantages ``(rows, width)`` from per-row ``advantages``: a row whose error
    starts at token ``e`` keeps a negative advantage on tokens ``e:`` only (``mode="token"``:
    on token ``e`` only) and a positive one on ``:e`` only; a row with ``None`` keeps its
    advantage on every token."""
    import os

    mode = os.environ.get("AGENT_RL_CREDIT_MODE", mode)  # EXPERIMENT
    per_token = advantages.unsqueeze(1).repeat(1, width)
    for row, at in enumerate(errors_at):
        if at is None or mode == "identity":
            continue
        if mode == "boost":  # EXPERIMENT: trl's advantage everywhere, 4x more at the error
            if advantages[row] < 0 and at < width:
                per_token[row, at] *= 5
            continue
        if advantages[row] < 0:
            per_token[row, :at] = 0
            if mode in ("token", "token_all"):
                per_token[row, at + 1 :] = 0
        elif advantages[row] > 0 and mode not in ("suffix_all", "token_all"):
            per_token[row, at:] = 0
    return per_token


def _row_error(row: Mapping[str, Any], text: str, score: Callable[..., CallVerdict]) -> int | None:
    import os

    fmt = str(row["fmt"])
    expects = bool(row.get("expects_call", True))
    verdict = score(text, row["tools"], fmt, row.get("state") or None, expects)
    if verdict.stage == "state" and os.environ.get("AGENT_RL_CREDIT_STATE") != "1":  # EXPERIMENT
        return None
    return error_offset(text, verdict, fmt)


def locate_credit(trainer: Any) -> None:
    """Wrap ``trainer._generate_and_score_completions`` (a trl ``GRPOTrainer`` on recorded
    steps) so that training batches carry per-token advantages split at each completion's first
    error (:func:`split_advantages`). The rows are scored again with the reward's own scorer
    (cached; a few ms a batch); evaluation batches are left as trl makes them."""
    from agent_rl.training.rewards import score_completion

    original = trainer._generate_and_score_completions
    tokenizer = trainer.processing_class

    def decode(ids: Sequence[int]) -> str:
        return tokenizer.decode(list(ids), skip_special_tokens=True)

    def generate_and_score(inputs: list[dict[str, Any]]) -> dict[str, Any]:
        out = original(inputs)
        advantages = out["advantages"]
        if not trainer.model.training or advantages.dim() != 1:
            return out
        ids, mask = out["completion_ids"], out["completion_mask"]
        errors_at: list[int | None] = []
        for row, advantage in enumerate(advantages.tolist()):
            tokens = ids[row][mask[row].bool()].tolist()
            if advantage == 0 or not tokens:
                errors_at.append(None)
                continue
            text = decode(tokens)
            char = _row_error(inputs[row], text, score_completion)
            errors_at.append(None if char is None else token_at(decode, tokens, char))
        out["advantages"] = split_advantages(advantages, errors_at, ids.shape[1])
        return out

    trainer._generate_and_score_completions = generate_and_score
