"""``agent-rl score FILE.jsonl``: re-score recorded trajectories with the real scorer.

    agent-rl score runs/expert.jsonl            # table: per-call / per-episode validity, errors
    agent-rl score runs/expert.jsonl --json     # the same as one JSON object, for machines

Each step's raw output is scored again by ``Scorer(tools, format)`` of its trajectory, against
the sandbox state rebuilt from the recorded snapshot (``Step.state_before``) with every valid
call applied in order, exactly as the agent did. Verdicts that differ from the recorded ones
are listed (exit status 1), so a scorer change or a hand-edited file cannot pass unnoticed.
Steps where the policy itself failed (no output) count as failed steps, not as calls.
Exit status: 0 all verdicts agree, 1 some differ, 2 the file cannot be read.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agent_rl.evaluation import CallTally, EpisodeTally
    from agent_rl.scorer import Scorer
    from agent_rl.trajectories import Trajectory
    from agent_rl.verdicts import CallVerdict

__all__ = ["ScoreReport", "add_parser", "rescore", "run", "score_trajectories"]


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "score",
        help="re-score recorded trajectories: per-call and per-episode validity, error kinds",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("file", metavar="FILE.jsonl", help="a trajectory file (agent-rl record)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    p.add_argument(
        "--on-error",
        choices=("raise", "skip"),
        default="raise",
        help="a bad line: stop with an error naming it (default) or skip it and say so",
    )
    p.add_argument("--episodes", type=int, default=20, metavar="N", help="episode rows shown")


def _scorer_for(traj: Trajectory, cache: dict[str, Scorer]) -> Scorer:
    from agent_rl.sandbox import CodingSandbox
    from agent_rl.scorer import Scorer
    from agent_rl.tool_spec import ToolSpec

    key = json.dumps([traj.format, traj.tools], sort_keys=True)
    if key not in cache:
        tools = [ToolSpec.from_openai(t) for t in traj.tools] or CodingSandbox({}).tools
        cache[key] = Scorer(tools, traj.format)
    return cache[key]


def rescore(traj: Trajectory, scorer: Scorer | None = None) -> list[CallVerdict | None]:
    """The verdict of each step's raw output, scored again with state carried as the agent
    carried it (``None`` for a step where the policy produced no output), and by the rule the
    recording used: a plain-text reply is ``no_call`` where the agent expected a call every
    step (``metadata.extra["expect_call"]``, set by ``ReActAgent``)."""
    from agent_rl.sandbox import CodingSandbox

    scorer = scorer or _scorer_for(traj, {})
    expect_call = bool(traj.metadata.extra.get("expect_call", False))
    state: CodingSandbox | None = None
    verdicts: list[CallVerdict | None] = []
    for step in traj.steps:
        if step.state_before is not None:
            state = CodingSandbox.restore(step.state_before)
        if step.verdict is None and step.error:
            verdicts.append(None)
            continue
        verdict = scorer.score(step.raw_output, state, expect_call=expect_call)
        verdicts.append(verdict)
        if state is not None and verdict.valid and verdict.call is not None:
            state.step(verdict.call)
    return verdicts


@dataclass
class ScoreReport:
    """Tallies over re-scored trajectories, and where re-scoring disagreed with the record."""

    calls: CallTally
    episodes: EpisodeTally
    rows: list[dict[str, Any]] = field(default_factory=list)
    mismatches: list[dict[str, Any]] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)
    policy_errors: Counter[str] = field(default_factory=Counter)
    failed_steps: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "calls": self.calls.to_dict(),
            "episodes": self.episodes.to_dict(),
            "statuses": dict(self.statuses),
            "failed_steps": self.failed_steps,
            "policy_errors": dict(self.policy_errors),
            "mismatches": self.mismatches,
            "per_episode": self.rows,
        }

    def table(self, max_rows: int = 20) -> str:
        def pct(rate: Any) -> str:
            if not rate.n:
                return f"{'-':>7}  (0/0)"
            lo, hi = rate.ci95
            return (
                f"{100 * rate.rate:6.1f}%  [{100 * lo:5.1f}, {100 * hi:5.1f}]  ({rate.k}/{rate.n})"
            )

        c, e = self.calls, self.episodes
        lines = [
            f"{'':24}{'rate':>7}   95% Wilson CI",
            f"{'calls valid':24}{pct(c.call_valid)}",
            f"{'calls parse-valid':24}{pct(c.parse_valid_rate)}",
            f"{'calls args-valid':24}{pct(c.args_valid_rate)}",
            f"{'episodes all-valid':24}{pct(e.episode_valid)}",
            f"{'  with >= 10 steps':24}{pct(e.long_episode_valid)}",
            f"{'episodes solved':24}{pct(e.success)}",
            f"endings: {', '.join(f'{k} {v}' for k, v in self.statuses.most_common()) or '-'}"
            + (
                f"; steps where the policy failed: {self.failed_steps}" if self.failed_steps else ""
            ),
        ]
        if self.policy_errors:
            lines += ["", "policy errors (episodes ended by them):"]
            lines += [f"  {n:4}x  {msg[:160]}" for msg, n in self.policy_errors.most_common(5)]
        if c.errors:
            lines += ["", "error kinds (first error of each invalid call):"]
            lines += [
                f"  {kind:28}{n:6}  {100 * n / c.n:5.1f}%" for kind, n in c.errors.most_common()
            ]
        lines += ["", f"{'episode':34}{'steps':>6}{'valid':>8}  {'status':13}success"]
        for row in self.rows[:max_rows]:
            ok = "-" if row["success"] is None else ("yes" if row["success"] else "no")
            rate = row["valid_rate"]
            valid = "-" if rate is None else f"{100 * rate:.0f}%"
            lines.append(f"{row['task'][:33]:34}{row['steps']:6}{valid:>8}  {row['status']:13}{ok}")
        if len(self.rows) > max_rows:
            lines.append(f"  ... {len(self.rows) - max_rows} more (--episodes N, or --json)")
        return "\n".join(lines)


def score_trajectories(trajs: Iterable[Trajectory]) -> ScoreReport:
    """Re-score every trajectory and tally calls and episodes."""
    from agent_rl.evaluation import CallTally, EpisodeTally
    from agent_rl.verdicts import EpisodeVerdict

    report = ScoreReport(CallTally(), EpisodeTally())
    cache: dict[str, Scorer] = {}
    for traj in trajs:
        verdicts = rescore(traj, _scorer_for(traj, cache))
        scored = [v for v in verdicts if v is not None]
        for v in scored:
            report.calls.add(v)
        failed = len(verdicts) - len(scored)
        report.failed_steps += failed
        episode = EpisodeVerdict.of(scored)
        report.episodes.add(episode, bool(traj.outcome.success), all_valid=not failed)
        report.statuses[traj.outcome.status] += 1
        if traj.outcome.status == "error":
            report.policy_errors[traj.outcome.error] += 1
        report.rows.append(
            {
                "id": traj.id,
                "task": traj.task.id or traj.task.prompt[:40],
                "steps": len(traj.steps),
                "valid_rate": episode.valid_rate if scored else None,
                "all_valid": episode.all_valid and not failed,
                "status": traj.outcome.status,
                "success": traj.outcome.success,
                "errors": episode.error_counts,
            }
        )
        for step, new in zip(traj.steps, verdicts, strict=True):
            old = step.verdict
            if (old is None) != (new is None) or (
                old is not None and new is not None and old.to_dict() != new.to_dict()
            ):
                report.mismatches.append(
                    {
                        "trajectory": traj.id,
                        "step": step.index,
                        "recorded": None if old is None else old.to_dict(),
                        "rescored": None if new is None else new.to_dict(),
                    }
                )
    return report


def _describe(verdict: dict[str, Any] | None) -> str:
    if verdict is None:
        return "no verdict"
    if verdict["valid"]:
        return "valid"
    kinds = [e["type"] for e in verdict["errors"]]
    return f"invalid ({verdict['stage']}: {', '.join(kinds) or '?'})"


def run(args: argparse.Namespace) -> int:
    from agent_rl.trajectories import StoreWarning, TrajectoryStore

    store = TrajectoryStore(args.file)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", StoreWarning)
        report = score_trajectories(store.read(on_error=args.on_error))
    for w in caught:
        if not issubclass(w.category, StoreWarning):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    n = report.episodes.n
    if args.json:
        out = {"file": str(args.file), "trajectories": n, "skipped_lines": store.skipped_lines}
        print(json.dumps({**out, **report.to_dict()}, indent=2))
    else:
        for lineno, reason in store.skipped_lines:
            print(f"{args.file}:{lineno}: skipped ({reason})", file=sys.stderr)
        print(f"{args.file}: {n} trajectories, {report.calls.n} scored calls")
        if n:
            print()
            print(report.table(args.episodes))
        print()
        _print_mismatches(report.mismatches, n)
    return 1 if report.mismatches else 0


def _print_mismatches(mismatches: Sequence[dict[str, Any]], n: int) -> None:
    if not mismatches:
        print(f"re-scored verdicts: all match the recorded ones ({n} trajectories)")
        return
    print(f"re-scored verdicts: {len(mismatches)} differ from the recorded ones:")
    for m in mismatches[:20]:
        print(
            f"  {m['trajectory'][:12]} step {m['step']}: recorded {_describe(m['recorded'])}, "
            f"now {_describe(m['rescored'])}"
        )
    if len(mismatches) > 20:
        print(f"  ... {len(mismatches) - 20} more (--json lists all)")
