"""``agent-rl record`` then ``agent-rl score``: the verdicts read back are the recorded ones.

Runs the real CLI in-process (``agent_rl.cli.main``) over the real task suite, sandbox and
scorer, with the expert replay, scripted malformed outputs, an OpenAI-compatible server on
127.0.0.1 and a tiny transformers model; then the clear errors (exit status 2).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from agent_rl.cli import main
from agent_rl.commands.score import rescore
from agent_rl.formats import render_call
from agent_rl.tasks import load_tasks
from agent_rl.trajectories import TrajectoryStore


def score_json(path: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, dict]:
    capsys.readouterr()
    rc = main(["score", str(path), "--json", *extra])
    return rc, json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("fmt", ["react", "json", "hermes"])
def test_record_expert_then_score_reads_back_the_same_verdicts(tmp_path, capsys, fmt) -> None:
    out = tmp_path / "expert.jsonl"
    rc = main(["record", "--split", "train", "--tasks", "5", "--format", fmt, "--out", str(out)])
    printed = capsys.readouterr().out
    assert rc == 0 and f"wrote 5 trajectories to {out}" in printed
    assert "calls valid" in printed and "episodes all-valid" in printed

    trajs = list(TrajectoryStore(out).read())
    tasks = load_tasks("train")[:5]
    assert [t.task.id for t in trajs] == [t.id for t in tasks]
    assert all(t.outcome.status == "finished" and t.outcome.success for t in trajs)
    for traj in trajs:
        assert rescore(traj) == [s.verdict for s in traj.steps]

    rc, report = score_json(out, capsys)
    n_calls = sum(len(t.expert) for t in tasks)
    assert rc == 0 and report["mismatches"] == [] and report["trajectories"] == 5
    assert report["calls"]["n_calls"] == n_calls and report["calls"]["call_valid"]["k"] == n_calls
    assert report["episodes"]["episode_valid"]["k"] == 5
    assert report["statuses"] == {"finished": 5}


MALFORMED = [
    [
        'Action: {"name": "list_dir", "arguments": {"path": ".",}}',  # trailing_comma
        'Action: {"name": "list_dir", "arguments": {"path": NaN}}',  # NaN
        'Action: {"name": "list_dir", "name": "read_file", "arguments": {}}',  # duplicate_key
        'Action: {"name": "read_file", "arguments": {"path": "missing.py"}}',  # file_not_found
        'Action: {"name": "list_dir", "arguments": {"path": "."}}',  # valid
        "Final Answer: gave up",  # no_call: a coding episode ends with finish
    ],
    [
        'Action: {"name": "write_file", "arguments": {"path": "a.txt", "content": 7}}',
        'Action: {"name": "finish", "arguments": {"summary": "done"',  # truncated
        'Action: {"name": "finish", "arguments": {"summary": "done"}}',
    ],
]


def test_scripted_malformed_outputs_score_back_with_their_error_kinds(tmp_path, capsys) -> None:
    script = tmp_path / "script.json"
    script.write_text(json.dumps(MALFORMED))
    out = tmp_path / "bad.jsonl"
    assert main(["record", "--script", str(script), "--split", "test", "--out", str(out)]) == 0
    order = {t.id: i for i, t in enumerate(load_tasks("test"))}  # the file is in finish order
    trajs = sorted(TrajectoryStore(out).read(), key=lambda t: order[t.task.id])
    assert [len(t.steps) for t in trajs] == [6, 3]
    assert [s.raw_output for t in trajs for s in t.steps] == [o for ep in MALFORMED for o in ep]
    assert [t.outcome.status for t in trajs] == ["max_steps", "finished"]
    assert trajs[0].metadata.extra["expect_call"] is True

    rc, report = score_json(out, capsys)
    assert rc == 0 and report["mismatches"] == []
    kinds = report["calls"]["errors_by_kind"]
    assert kinds == {
        "trailing_comma": 1,
        report_kind(trajs, 0, 1): 1,
        "duplicate_key": 1,
        "file_not_found": 1,
        "wrong_type": 1,
        "truncated": 1,
        "no_call": 1,
    }
    assert report["calls"]["n_calls"] == 9 and report["calls"]["call_valid"]["k"] == 2
    assert [r["all_valid"] for r in report["per_episode"]] == [False, False]

    capsys.readouterr()
    assert main(["score", str(out)]) == 0
    table = capsys.readouterr().out
    assert "trailing_comma" in table and "re-scored verdicts: all match" in table


def report_kind(trajs: list[Any], episode: int, step: int) -> str:
    kind = trajs[episode].steps[step].verdict.kind
    assert kind is not None and "nan" in kind.lower()
    return kind


def test_score_reports_verdicts_that_differ_from_the_record(tmp_path, capsys) -> None:
    out = tmp_path / "t.jsonl"
    assert main(["record", "--tasks", "2", "--out", str(out)]) == 0
    lines = out.read_text().splitlines()
    record = json.loads(lines[1])
    verdict = record["steps"][0]["verdict"]
    verdict.update(
        valid=False, stage="parse", errors=[{"type": "truncated", "msg": "x", "loc": "[]"}]
    )
    lines[1] = json.dumps(record)
    out.write_text("\n".join(lines) + "\n")

    rc, report = score_json(out, capsys)
    assert rc == 1 and len(report["mismatches"]) == 1
    (m,) = report["mismatches"]
    assert m["step"] == 0 and m["recorded"]["stage"] == "parse" and m["rescored"]["valid"]
    capsys.readouterr()
    assert main(["score", str(out)]) == 1
    assert "1 differ from the recorded ones" in capsys.readouterr().out


def test_score_bad_lines_raise_or_are_skipped_and_said(tmp_path, capsys) -> None:
    out = tmp_path / "t.jsonl"
    assert main(["record", "--tasks", "3", "--out", str(out)]) == 0
    lines = out.read_text().splitlines()
    lines[1] = '{"schema_version": 1, "steps": "oops"}'
    out.write_text("\n".join(lines) + "\n")
    capsys.readouterr()
    assert main(["score", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"{out}:2: not a valid trajectory record" in err and err.count("\n") == 1
    rc, report = score_json(out, capsys, "--on-error", "skip")
    assert rc == 0 and report["trajectories"] == 2 and report["skipped_lines"][0][0] == 2


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["score", "{tmp}/missing.jsonl"], "does not exist; check the path"),
        (["score", "{tmp}"], "cannot read trajectory file"),
        (["record", "--policy", "hf"], "--policy hf needs --model"),
        (["record", "--policy", "openai", "--model", "m"], "needs --base-url"),
        (["record", "--base-url", "http://x/v1"], "--base-url is only used with --policy openai"),
        (["record", "--model", "m"], "--model is not used with --policy scripted"),
        (["record", "--policy", "hf", "--script", "s.json", "--model", "m"], "--script is only"),
        (["record", "--script", "{tmp}/nope.json"], "--script {tmp}/nope.json: cannot read"),
        (
            ["record", "--policy", "openai", "--model", "m", "--base-url", "localhost:8000"],
            "is not an http(s) URL with a host",
        ),
        (["record", "--policy", "hf", "--model", "{tmp}/no-model"], "not found: pass a local"),
        (["record", "--policy", "hf", "--model", "{tmp}"], "has no config.json"),
        (
            ["record", "--policy", "openai", "--model", "m", "--base-url", "http://127.0.0.1:9",
             "--max-retries", "0", "--tasks", "2"],
            "every episode of the first batch failed in the policy",
        ),
    ],
)  # fmt: skip
def test_clear_one_line_errors_exit_2(tmp_path, capsys, argv, message) -> None:
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    if argv[0] == "record":
        argv += ["--out", str(tmp_path / "out.jsonl")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message.replace("{tmp}", str(tmp_path)) in err
    assert err.count("\n") == 1 and err.startswith(f"agent-rl {argv[0]}: error: ")


@pytest.mark.parametrize(
    "argv",
    [["record", "--tasks", "0"], ["record", "--policy", "gpt"], ["record", "--format", "xml"]],
)
def test_bad_flags_are_argparse_errors(argv, capsys) -> None:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2 and "error: argument" in capsys.readouterr().err


# --- the other policies through the CLI ------------------------------------------------------


@pytest.fixture
def server() -> Iterator[str]:
    """An OpenAI-compatible server that always lists the workspace."""
    body = {
        "choices": [
            {"message": {"role": "assistant", "content": render_call_list_dir()}, "index": 0}
        ],
        "usage": {"prompt_tokens": 100, "completion_tokens": 12},
    }

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length", 0)))
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    httpd.shutdown()
    httpd.server_close()


def render_call_list_dir() -> str:
    from agent_rl.verdicts import ToolCall

    return render_call(ToolCall("list_dir", {"path": "."}), "react")


def test_record_with_an_openai_endpoint_then_score(server: str, tmp_path, capsys) -> None:
    out = tmp_path / "oa.jsonl"
    argv = ["record", "--policy", "openai", "--model", "m", "--base-url", server]
    assert main([*argv, "--tasks", "3", "--max-steps", "2", "--out", str(out)]) == 0
    trajs = list(TrajectoryStore(out).read())
    assert [t.outcome.status for t in trajs] == ["max_steps"] * 3
    assert all(s.prompt_tokens == 100 and s.completion_tokens == 12 for t in trajs for s in t.steps)
    assert {t.metadata.model for t in trajs} == {"openai:m"}
    rc, report = score_json(out, capsys)
    valid = report["calls"]["call_valid"]
    assert rc == 0 and (valid["k"], valid["n"]) == (6, 6) and report["mismatches"] == []


def test_record_with_a_tiny_hf_model_then_score(tmp_path, capsys) -> None:
    from agent_rl.models import build_tiny_model

    corpus = [render_call(c, "json") for t in load_tasks("train")[:3] for c in t.expert] * 4
    model = build_tiny_model(tmp_path / "m", corpus, vocab_size=300, hidden_size=32, layers=1,
                             heads=2)  # fmt: skip
    out = tmp_path / "hf.jsonl"
    argv = ["record", "--policy", "hf", "--model", str(model), "--format", "json"]
    argv += ["--tasks", "2", "--max-steps", "2", "--max-new-tokens", "8", "--out", str(out)]
    assert main([*argv, "--temperature", "1.0"]) == 0
    trajs = list(TrajectoryStore(out).read())
    assert len(trajs) == 2 and all(len(t.steps) >= 1 for t in trajs)
    assert all(s.verdict is not None for t in trajs for s in t.steps)
    rc, report = score_json(out, capsys)
    assert rc == 0 and report["mismatches"] == []
    assert report["calls"]["n_calls"] == sum(len(t.steps) for t in trajs)
