"""The three demo agents run from the command line, print per-step lines and the validity
table, and write trajectories that ``agent-rl score`` reads back with the same verdicts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from agent_rl.cli import main as cli

ROOT = Path(__file__).resolve().parents[1]


def run_demo(name: str, *argv: str) -> str:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = subprocess.run(
        [sys.executable, str(ROOT / "demos" / name), *argv],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=ROOT,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout


def scores_back(path: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    capsys.readouterr()
    assert cli(["score", str(path), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["mismatches"] == []
    return report


def test_scripted_demo_with_corruptions(tmp_path: Path, capsys) -> None:
    out = tmp_path / "s.jsonl"
    text = run_demo(
        "coding_agent_scripted.py", "--tasks", "4", "--corrupt", "0.5", "--out", str(out)
    )
    assert "step  0  " in text and "INVALID" in text and "valid         finish" in text
    assert "calls valid" in text and "episodes solved          100.0%" in text
    report = scores_back(out, capsys)
    assert report["trajectories"] == 4 and 0 < report["calls"]["call_valid"]["rate"] < 1


@pytest.mark.slow  # a fresh interpreter importing torch + transformers: ~20-40 s on 2 cores
def test_hf_demo_with_a_tiny_model(tmp_path: Path, capsys) -> None:
    from agent_rl.formats import render_call
    from agent_rl.models import build_tiny_model
    from agent_rl.tasks import load_tasks

    corpus = [render_call(c, "react") for t in load_tasks("train")[:3] for c in t.expert] * 4
    model = build_tiny_model(tmp_path / "m", corpus, vocab_size=300, hidden_size=32, layers=1,
                             heads=2)  # fmt: skip
    out = tmp_path / "hf.jsonl"
    text = run_demo(
        "coding_agent_hf.py",
        *("--model", str(model), "--tasks", "2", "--max-steps", "2", "--max-new-tokens", "8"),
        *("--out", str(out)),
    )
    assert f"model {model} on cpu" in text and "step  1     " in text and "calls valid" in text
    assert scores_back(out, capsys)["calls"]["n_calls"] == 4


@pytest.fixture
def endpoint() -> Iterator[str]:
    """OpenAI-compatible: answers each conversation with `finish`, after one 500."""
    state = {"hits": 0}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length", 0)))
            state["hits"] += 1
            if state["hits"] == 1:
                self.send_response(500)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            content = 'Action: {"name": "finish", "arguments": {"summary": "done"}}'
            body = json.dumps({"choices": [{"message": {"content": content}}]}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    httpd.shutdown()
    httpd.server_close()


def test_openai_demo_against_a_local_endpoint(endpoint: str, tmp_path: Path, capsys) -> None:
    out = tmp_path / "oa.jsonl"
    text = run_demo(
        "coding_agent_openai.py",
        *("--base-url", endpoint, "--model", "m", "--tasks", "3", "--concurrency", "1"),
        *("--out", str(out)),
    )
    assert f"endpoint {endpoint}/chat/completions" in text
    assert text.count("valid         finish") == 3 and "endings: finished 3" in text
    assert scores_back(out, capsys)["calls"]["call_valid"]["k"] == 3


def test_openai_demo_with_a_dead_endpoint_records_the_error(tmp_path: Path, capsys) -> None:
    out = tmp_path / "dead.jsonl"
    text = run_demo(
        "coding_agent_openai.py",
        *("--base-url", "http://127.0.0.1:9/v1", "--tasks", "2", "--max-retries", "1"),
        *("--out", str(out)),
    )
    assert text.count("POLICY ERROR") == 2 and "endings: error 2" in text
    assert "Connection refused" in text or "ConnectError" in text
    assert scores_back(out, capsys)["statuses"] == {"error": 2}


@pytest.mark.slow  # builds, trains (3 SFT + 2 GRPO steps) and evaluates three tiny models: ~40 s
def test_sft_vs_grpo_script_end_to_end(tmp_path: Path) -> None:
    text = run_demo(
        "sft_vs_grpo.py",
        *("--out", str(tmp_path), "--sft_steps", "3", "--grpo_steps", "2"),
        *("--eval_calls", "16", "--max_new_tokens", "32", "--episodes", "6"),
        *("--test_episodes", "3"),
    )
    assert "grpo: 2 steps" in text and "lag 0" in text
    assert "GRPO schema_valid above compute-matched SFT (non-overlapping 95% CIs):" in text
    report = json.loads((tmp_path / "report.json").read_text())
    for name in ("sft_start", "sft", "grpo"):
        assert report[name]["n_calls"] == 16 and "schema_valid_rate" in report[name]
    sft = json.loads((tmp_path / "sft" / "train_result.json").read_text())
    assert sft["global_step"] >= 1  # the compute-matched SFT trained within GRPO's CPU seconds
    assert (tmp_path / "validity.png").read_bytes()[:4] == b"\x89PNG"
