"""The online demo's printout and the client's episodes per window (``demos/online_learning.py``).

Not a library module: what the demo prints; the served-validity summary is
``agent_rl.runtime.online_report``.
"""

from __future__ import annotations

from typing import Any


def _span(versions: list[int]) -> str:
    if not versions:
        return "-"
    return f"v{versions[0]}" if len(versions) == 1 else f"v{versions[0]}-v{versions[-1]}"


def agent_windows(episodes: list[dict[str, Any]], window_s: float) -> list[dict[str, Any]]:
    """The client's episodes per window (by end time): how many, solved, ended by ``finish``."""
    out: dict[int, dict[str, Any]] = {}
    for e in episodes:
        w = out.setdefault(
            int(e["end_s"] // window_s),
            {"start_s": int(e["end_s"] // window_s) * window_s, "episodes": 0, "solved": 0,
             "finished": 0, "steps": 0},
        )  # fmt: skip
        w["episodes"] += 1
        w["solved"] += int(e["solved"])
        w["finished"] += int(e["status"] == "finished")
        w["steps"] += int(e["steps"])
    return [out[k] for k in sorted(out)]


def print_report(report: dict[str, Any]) -> None:
    served = report["served"]
    print(f"\nserved validity per {served['window_s']:g} s window (the server's verdicts):")
    for w in served["windows"]:
        print(
            f"  {w['start_s']:6.0f}-{w['end_s']:<6.0f}s  {w['valid']:4d}/{w['calls']:<4d} "
            f"{100 * w['rate']:5.1f}%  versions {_span(w['versions'])}  {w['valid_tools']}"
        )
    print("per weights version (runs of versions when there are many):")
    for b in served["version_bins"]:
        name = f"v{b['first']}" + (f"-v{b['last']}" if b["last"] != b["first"] else "")
        print(
            f"  {name:<10} {b['valid']:4d}/{b['calls']:<4d} {100 * b['rate']:5.1f}%  "
            f"{b['valid_tools']}"
        )
    print("the agent's episodes per window (client side, by end time):")
    for w in report["agent"]["windows"]:
        print(
            f"  from {w['start_s']:6.0f}s  {w['episodes']:3d} episodes, {w['solved']} solved, "
            f"{w['finished']} ended by finish, {w['steps']} steps"
        )
    r, u, lag = report["requests"], report["updates"], report["policy_lag"]
    print(
        f"updates {u['count']} (last v{u['last_version']}) on {u['samples']} served samples, "
        f"{u['replayed']} replayed on their task's expert path ({u['off_path']} off it left "
        f"out); policy lag mean {lag['mean']} max {lag['max']} {lag['histogram']}"
    )
    print(
        f"requests: {r['client_attempts']} attempts ({r['client_failed_attempts']} failed), "
        f"{r['client_answered']} answered, {r['recorded']} recorded, lost {r['lost']}"
    )
    if "restart" in report:
        s = report["restart"]
        print(
            f"restart: killed at {s['killed_s']}s, back at {s['ready_s']}s; records "
            f"{s['records_before']} before / {s['records_after']} after; versions: "
            f"v{s['max_version_before']} served before, v{s['saved_version_at_kill']} saved, "
            f"v{s['first_version_after']} first after"
        )
