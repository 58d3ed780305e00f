"""Online learning shown: ``demos/online_learning.py`` drives the real ``agent-rl online``
subprocess with our ReAct agent over httpx, SIGKILLs and restarts it mid-run, and nothing the
client was answered is lost while the weights version counts on; and the served-validity
summary and plot it writes (``agent_rl.runtime.online_report``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from agent_rl.runtime.online_report import (
    ServedCall,
    plot_served,
    served_calls,
    summarize,
    version_bins,
)

ROOT = Path(__file__).resolve().parents[1]


def test_served_validity_is_counted_per_window_and_per_version(tmp_path) -> None:
    t0 = 1000.0
    calls = [
        ServedCall("a", t0 + 1, 0, False, "trailing_comma"),
        ServedCall("b", t0 + 5, 0, True, tool="read_file"),
        ServedCall("c", t0 + 12, 1, True),
        ServedCall("d", t0 + 14, 1, None),  # a failed request: counted apart
        ServedCall("e", t0 + 31, 2, True),
    ]
    s = summarize(calls, start=t0, window_s=10)
    assert [(w["valid"], w["calls"], w["failed"]) for w in s["windows"]] == [
        (1, 2, 0),
        (1, 1, 1),
        (0, 0, 0),
        (1, 1, 0),
    ]
    assert [w["versions"] for w in s["windows"]] == [[0], [1], [], [2]]
    assert s["windows"][0]["valid_tools"] == {"read_file": 1}  # what the valid calls call
    assert [(v["version"], v["valid"], v["calls"]) for v in s["versions"]] == [
        (0, 1, 2),
        (1, 1, 1),
        (2, 1, 1),
    ]
    assert s["overall"]["rate"] == 0.75 and s["overall"]["ci95"][0] < 0.75 < s["overall"]["ci95"][1]
    assert s["top_errors"] == {"trailing_comma": 1}
    bins = version_bins(s, max_bins=2)  # v0-v1 merged, then v2
    assert [(b["first"], b["last"], b["valid"], b["calls"]) for b in bins] == [
        (0, 1, 2, 3),
        (2, 2, 1, 1),
    ]
    png = plot_served(s, tmp_path / "p.png", versions_at=[(1, 0), (12, 1)], outages=[(20, 30)])
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="window_s"):
        summarize(calls, start=t0, window_s=0)


@pytest.mark.slow  # a tiny model, two server starts (torch + trl imports), ~1 min of agent: 3-5 min
def test_online_demo_loses_nothing_across_a_kill_and_counts_the_version_on(tmp_path) -> None:
    from agent_rl import TrajectoryStore, render_call
    from agent_rl.models import build_tiny_model
    from agent_rl.tasks import generate_tasks

    corpus = [
        render_call(c, "react") for t in generate_tasks("train", 11, seed=5) for c in t.expert
    ]
    model = build_tiny_model(
        tmp_path / "m", corpus * 3, vocab_size=400, hidden_size=32, layers=1, heads=2
    )
    out = tmp_path / "demo"
    argv = [
        *("--model", str(model), "--out", str(out), "--minutes", "1.2", "--kill-at", "0.6"),
        *("--max-tokens", "24", "--max-steps", "3", "--num-generations", "2"),
        *("--max-prompts", "2", "--max-completion-length", "16", "--interval", "1"),
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, str(ROOT / "demos" / "online_learning.py"), *argv],
        capture_output=True,
        text=True,
        timeout=900,
        env=env,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "SIGKILLed the server" in done.stdout and "server back after" in done.stdout
    report = json.loads((out / "online.json").read_text())
    assert report["failures"] == []

    # nothing lost: every request the client was answered is in the store after the restart
    lines = list(TrajectoryStore(out / "served.jsonl").read())
    recorded = [t.steps[0].extra["request_id"] for t in lines]
    answered = (out / "answered.txt").read_text().split()
    assert answered and set(answered) <= set(recorded)
    requests = report["requests"]
    assert requests["lost"] == 0 and requests["client_answered"] == len(set(answered))
    assert requests["recorded"] == len(set(recorded)) == len(lines)

    # the restarted server serves the newest saved version and counts on from it
    restart = report["restart"]
    before = [t.metadata.extra["weights_version"] for t in lines[: restart["records_before"]]]
    after = [t.metadata.extra["weights_version"] for t in lines[restart["records_before"] :]]
    assert before and after and restart["records_after"] == len(after)
    assert restart["saved_version_at_kill"] >= 1  # an update was saved before the kill
    assert min(after) >= restart["saved_version_at_kill"] >= max(before)
    assert (
        f"resumed weights v{restart['saved_version_at_kill']}" in (out / "server-2.log").read_text()
    )
    assert report["updates"]["count"] >= 1
    # the server was given the agent's tasks and replayed its episodes for their state
    assert "tasks replayed for their state" in (out / "server-1.log").read_text()
    assert report["updates"]["replayed"] >= 1
    assert report["updates"]["replayed"] <= report["updates"]["samples"]
    assert report["policy_lag"]["max"] is not None and report["policy_lag"]["max"] <= 1

    # the JSON and PNG agree with the store
    calls = served_calls(out / "served.jsonl")
    served = report["served"]
    assert sum(w["calls"] + w["failed"] for w in served["windows"]) == len(calls)
    assert sum(v["valid"] for v in served["versions"]) == sum(1 for c in calls if c.valid)
    assert {v["version"] for v in served["versions"]} == {c.version for c in calls}
    assert (out / "online.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    episodes = list(TrajectoryStore(out / "episodes.jsonl").read())  # the client's side
    assert len(episodes) == report["agent"]["episodes"] == len(report["agent"]["per_episode"])
    assert sum(w["episodes"] for w in report["agent"]["windows"]) == len(episodes)
