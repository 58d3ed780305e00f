"""Training: reward functions against the real scorer, and real tiny trl steps (SFT, GRPO on
recorded steps and on live episodes, resume after kill -9)."""

from __future__ import annotations

import json
import os
import pickle
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from unittest.mock import patch

import pytest

from agent_rl.errors import ConfigError, TrainingError
from agent_rl.tasks import load_tasks
from agent_rl.training import rewards
from agent_rl.training.data import expert_steps, grpo_dataset, sft_dataset
from agent_rl.training.rewards import (
    DEFAULT_WEIGHTS,
    LIVE_REWARDS,
    RECORDED_REWARDS,
    episode_all_valid,
    parse_valid,
    state_valid,
    task_success,
)

ROOT = Path(__file__).resolve().parents[1]
SMALL = {"vocab_size": 400, "hidden_size": 32, "layers": 2, "heads": 2, "max_positions": 4096}
FAST = {  # CPU settings for a real step in seconds
    "report_to": [],
    "disable_tqdm": True,
    "logging_steps": 1,
    "save_strategy": "no",
}


def _edit_step(fmt: str = "json"):
    """The first expert step that edits a file (so state validity is meaningful)."""
    for step in expert_steps(load_tasks("train"), [fmt]):
        if '"edit_file"' in (step.target or ""):
            return step
    raise AssertionError("no edit step in the train tasks")


def _call(fmt: str, name: str, arguments: dict) -> str:
    from agent_rl.formats import render_call

    return render_call({"name": name, "arguments": arguments}, fmt)


def _completions(fmt: str) -> dict[str, tuple[str, tuple[float, ...]]]:
    """Scripted outputs at the edit step: text and expected rewards (parse, arguments, state,
    valid expert tool, expert tool arguments)."""
    step = _edit_step(fmt)
    call = json.loads(step.target[step.target.index("{") : step.target.rindex("}") + 1])
    args = call["arguments"]
    return {
        # parse, arguments, state, valid_expert_tool, expert_tool_arguments, expert_tool_parsed
        "valid": (step.target, (1, 1, 1, 1, 1, 1)),
        "truncated": (step.target[: len(step.target) // 2], (0, 0, 0, 0, 0, 0)),
        "trailing_comma": (step.target.replace('"}}', '",}}', 1), (0, 0, 0, 0, 0, 0)),
        "unknown_tool": (_call(fmt, "edit_files", args), (1, 0, 0, 0, 0, 0)),
        "missing_argument": (
            _call(fmt, "edit_file", {"path": args["path"]}),
            (1, 0, 0, 0, 0, 1),
        ),
        "file_not_found": (
            _call(fmt, "edit_file", {**args, "path": "nope/missing.py"}),
            (1, 1, 0, 0, 1, 1),
        ),
        "valid_detour": (
            _call(fmt, "run_tests", {}),
            (1, 1, 1, 0, 0, 0),
        ),  # valid, not the step's call: no on-task reward at any level
        "prose": ("I would now edit the file.", (0, 0, 0, 0, 0, 0)),  # a call was due: no_call
    }


# --- reward functions: the contract and the scorer's verdicts ---------------------------------


@pytest.mark.parametrize(
    "func", sorted(set(LIVE_REWARDS) | set(RECORDED_REWARDS), key=lambda f: f.__name__)
)
def test_rewards_are_picklable_module_level_functions(func) -> None:
    assert func.__module__ == rewards.__name__
    assert getattr(rewards, func.__name__) is func
    assert pickle.loads(pickle.dumps(func)) is func


@pytest.mark.parametrize("fmt", ["json", "react", "hermes"])
@pytest.mark.parametrize("case", list(_completions("json")))
def test_recorded_rewards_equal_the_scorer_verdicts(fmt: str, case: str) -> None:
    from agent_rl.sandbox import CodingSandbox
    from agent_rl.scorer import Scorer

    step = _edit_step(fmt)
    text, expected = _completions(fmt)[case]
    columns = {
        "tools": [step.tools],
        "fmt": [fmt],
        "state": [step.state],
        "expects_call": [True],
        "reference": [step.target],
    }
    logged: dict[str, float] = {}
    got = tuple(
        f([[{"role": "assistant", "content": text}]], log_metric=logged.__setitem__, **columns)[0]
        for f in RECORDED_REWARDS
    )
    assert got == expected
    verdict = Scorer(CodingSandbox.restore(json.loads(step.state)).tools, fmt).score(
        text, CodingSandbox.restore(json.loads(step.state))
    )
    assert got[2] == (1.0 if verdict.valid and verdict.call is not None else 0.0)
    assert got[3] == (
        got[2] if verdict.call is None else got[2] * (verdict.call.name == "edit_file")
    )
    assert episode_all_valid([text], **columns) == [None]
    assert task_success([text], **columns) == [None]
    assert logged["errors/stage/parse"] + logged["errors/stage/envelope"] == 1 - expected[0]


def test_a_missing_state_column_means_no_state_check() -> None:
    step = _edit_step()
    text = _completions("json")["file_not_found"][0]
    columns = {"tools": [step.tools], "fmt": ["json"], "state": [""], "expects_call": [True]}
    assert state_valid([text], **columns) == [1.0]


def test_rewards_without_the_columns_say_how_to_build_them() -> None:
    with pytest.raises(ValueError, match="grpo_dataset"):
        parse_valid(['{"name": "finish", "arguments": {}}'])


@pytest.mark.parametrize(
    ("turns", "expected"),
    [
        ([(True, None), (True, None)], (1.0, 1.0, 1.0, 1.0)),
        ([(True, None), (False, "state")], (1.0, 1.0, 0.5, 0.0)),
        (
            [(False, "parse"), (False, "arguments"), (True, None), (True, None)],
            (0.75, 0.5, 0.5, 0.0),
        ),
    ],
)
def test_live_rewards_read_every_turn(turns, expected) -> None:
    records = [[{"valid": v, "stage": s, "kind": None if v else "x"} for v, s in turns]]
    got = tuple(f(["episode"], turns=records)[0] for f in LIVE_REWARDS[:4])
    assert got == expected
    assert task_success(["episode"], turns=records, success=[True]) == [1.0]


# --- datasets ----------------------------------------------------------------------------------


def test_sft_rows_are_whole_episodes_cut_before_the_first_invalid_step() -> None:
    from dataclasses import replace

    steps = list(expert_steps(load_tasks("train")[:2], ["react"]))
    rows = sft_dataset(steps)
    assert len(rows) == 2
    first = [s for s in steps if s.task_id == steps[0].task_id]
    assert rows[0]["messages"][:-1] == first[-1].messages
    broken = [replace(s, target=None) if s.step == 2 else s for s in first]
    (cut,) = sft_dataset(broken)["messages"]
    assert cut[:-1] == first[1].messages and cut[-1]["content"] == first[1].target


def test_grpo_rows_carry_the_state_and_the_reference() -> None:
    steps = list(expert_steps(load_tasks("train")[:1], ["hermes"]))
    rows = grpo_dataset(steps)
    assert len(rows) == len(steps)
    assert rows[1]["prompt"] == steps[1].messages
    assert json.loads(rows[1]["state"]) == json.loads(steps[1].state)
    assert rows[1]["reference"] == steps[1].target and rows[1]["fmt"] == "hermes"


def test_hard_prompts_keep_only_the_chosen_tools() -> None:
    steps = list(expert_steps(load_tasks("train")[:6], ["json"]))
    rows = grpo_dataset(steps, tools=["edit_file", "write_file"])
    assert 0 < len(rows) < len(steps)
    assert all('"edit_file"' in r or '"write_file"' in r for r in rows["reference"])


def test_run_tasks_is_a_fixed_seeded_expert_set_from_every_source(tmp_path: Path) -> None:
    from agent_rl.tasks import generate_tasks, save_task_file
    from agent_rl.training.config import SFTSettings
    from agent_rl.training.data import run_tasks, settings_steps

    fams = run_tasks("none", 12, seed=3)
    assert [t.id for t in fams] == [t.id for t in run_tasks("none", 12, seed=3)]
    assert [t.id for t in fams] != [t.id for t in run_tasks("none", 12, seed=4)]
    assert all(t.split == "train" and t.id.startswith("fam/") for t in fams)
    path = tmp_path / "mine.jsonl"
    save_task_file(generate_tasks("train", 2, seed=9), path)
    both = run_tasks("train", 12, seed=3, files=[path])
    assert len(both) == len(load_tasks("train")) + 12 + 2
    settings = SFTSettings(
        output_dir=str(tmp_path / "o"), task_split="none", families=5, tasks=[str(path)],
        formats=["json"], data_seed=2,
    )  # fmt: skip
    steps = settings_steps(settings)
    episodes = {s.task_id for s in steps}
    assert len(episodes) == 7 and {t.id for t in run_tasks("none", 5, seed=2)} <= episodes
    with pytest.raises(ConfigError, match="families=-1"):
        SFTSettings(output_dir=str(tmp_path), families=-1)


def test_settings_declare_the_data_fields_once() -> None:
    from dataclasses import fields

    from agent_rl.training.config import DataFields, GRPOSettings, SFTSettings

    shared = {f.name for f in fields(DataFields)}
    assert {"families", "tasks", "task_split", "formats", "max_seconds", "max_flops"} <= shared
    for cls in (SFTSettings, GRPOSettings):
        assert issubclass(cls, DataFields) and shared <= {f.name for f in fields(cls)}
        assert not shared & set(vars(cls).get("__annotations__", {}))  # not re-declared


# --- real tiny training steps ------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from agent_rl.models import build_tiny_model

    corpus = [s.target or "" for s in expert_steps(load_tasks("train")[:4], ["json", "hermes"])]
    return build_tiny_model(tmp_path_factory.mktemp("tiny"), corpus, **SMALL)


def _load(path: Path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    return AutoModelForCausalLM.from_pretrained(path), AutoTokenizer.from_pretrained(path)


def _scripted_generate(model, tokenizer, texts: list[str]):
    """A ``generate`` that returns the prompt followed by the next scripted text each call."""
    import torch

    queue = list(texts)

    def generate(input_ids, attention_mask=None, **kwargs):
        rows = []
        for _ in range(input_ids.shape[0]):
            ids = tokenizer(queue.pop(0), add_special_tokens=False)["input_ids"]
            rows.append([*ids, tokenizer.eos_token_id])
        width = max(map(len, rows))
        pad = tokenizer.pad_token_id
        new = torch.tensor([r + [pad] * (width - len(r)) for r in rows])
        return torch.cat([input_ids, new.to(input_ids.device)], dim=1)

    return patch.object(model, "generate", side_effect=generate)


@pytest.mark.slow
def test_a_real_sft_run_saves_a_loadable_checkpoint(tiny: Path, tmp_path: Path) -> None:
    from agent_rl.training import train_sft

    result = train_sft(
        tiny,
        tasks=load_tasks("train")[:2],
        output_dir=str(tmp_path),
        max_steps=2,
        per_device_train_batch_size=2,
        formats=["json"],
        **FAST,
    )
    assert result.global_step == 2 and result.checkpoint == tmp_path / "final"
    model, _ = _load(result.checkpoint)
    assert type(model).__name__ == "Qwen2ForCausalLM"
    logged = [json.loads(line) for line in result.metrics_file.read_text().splitlines()]
    assert [row["step"] for row in logged if "loss" in row] == [1, 2]
    assert all(row["loss"] > 0 for row in logged if "loss" in row)


@pytest.mark.slow
def test_sft_stops_at_its_time_budget(tiny: Path, tmp_path: Path) -> None:
    from agent_rl.training import train_sft

    result = train_sft(
        tiny,
        tasks=load_tasks("train")[:2],
        output_dir=str(tmp_path),
        max_steps=10_000,
        max_seconds=2.0,
        per_device_train_batch_size=1,
        formats=["json"],
        **FAST,
    )
    assert 1 <= result.global_step < 10_000
    assert 2.0 <= result.train_seconds < 30


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["json", "hermes"])
def test_a_real_grpo_step_rewards_scripted_completions_by_verdict(
    tiny: Path, tmp_path: Path, fmt: str
) -> None:
    from agent_rl.training import train_grpo

    cases = _completions(fmt)
    texts = [text for text, _ in cases.values()]
    expected = [e for _, e in cases.values()]
    model, tokenizer = _load(tiny)
    with _scripted_generate(model, tokenizer, texts) as generate:
        result = train_grpo(
            (model, tokenizer),
            steps=[_edit_step(fmt)],
            output_dir=str(tmp_path),
            max_steps=1,
            num_generations=8,
            per_device_train_batch_size=8,
            max_completion_length=200,
            **FAST,
        )
    assert generate.call_count == 1 and result.global_step == 1 and result.policy_lag == 0
    m = result.metrics
    names = [f.__name__ for f in RECORDED_REWARDS]
    for i, name in enumerate(names):
        assert m[f"rewards/{name}/mean"] == pytest.approx(sum(e[i] for e in expected) / 8)
    weights = DEFAULT_WEIGHTS["recorded"]  # the reward trl optimises: the weighted sum
    assert m["reward"] == pytest.approx(
        sum(w * e[i] for e in expected for i, w in enumerate(weights)) / 8
    )
    assert m["errors/stage/parse"] + m["errors/stage/envelope"] == pytest.approx(3 / 8)
    assert m["errors/no_call"] == pytest.approx(1 / 8)
    assert m["errors/unknown_tool"] == pytest.approx(1 / 8)
    assert m["errors/file_not_found"] == pytest.approx(1 / 8)
    assert m["policy_lag"] == 0


@pytest.mark.slow
def test_a_real_grpo_step_on_live_episodes(tiny: Path, tmp_path: Path) -> None:
    from agent_rl.formats import render_call
    from agent_rl.training import train_grpo

    task = next(t for t in load_tasks("train") if len(t.expert) >= 3)
    good = [render_call(c, "react") for c in task.expert[:2]]
    bad = render_call({"name": "read_file", "arguments": {"path": "no/such_file.py"}}, "react")
    # Two episodes in lockstep: turn 1 both good; turn 2: one good, one bad.
    script = [good[0], good[0], good[1], bad]
    model, tokenizer = _load(tiny)
    with _scripted_generate(model, tokenizer, script) as generate:
        result = train_grpo(
            (model, tokenizer),
            tasks=[task],
            source="live",
            formats=["react"],
            output_dir=str(tmp_path),
            max_steps=1,
            num_generations=2,
            per_device_train_batch_size=2,
            max_episode_steps=2,
            max_completion_length=2048,
            **FAST,
        )
    assert generate.call_count == 2 and result.global_step == 1
    m = result.metrics
    assert m["rewards/episode_all_valid/mean"] == pytest.approx(0.5)
    assert m["rewards/state_valid/mean"] == pytest.approx(0.75)
    assert m["rewards/task_success/mean"] == 0.0
    assert m["errors/file_not_found"] == pytest.approx(1 / 4)


_RESUMABLE = textwrap.dedent(
    """
    import sys
    from agent_rl.tasks import load_tasks
    from agent_rl.training import train_grpo
    from agent_rl.training.data import expert_steps

    model, out, resume = sys.argv[1], sys.argv[2], sys.argv[3] == "resume"
    extra = []
    if resume:
        from transformers import TrainerCallback

        class Probe(TrainerCallback):
            def on_step_begin(self, args, state, control, optimizer=None, **kw):
                if not hasattr(self, "seen"):
                    self.seen = state.global_step
                    import torch
                    torch.save(optimizer.state_dict(), out + "/probe_optimizer.pt")
                    open(out + "/probe_step", "w").write(str(state.global_step))

        extra = [Probe()]
    steps = list(expert_steps(load_tasks("train")[:1], ["json"]))[:2]
    train_grpo(model, steps=steps, output_dir=out, max_steps=6, num_generations=2,
               per_device_train_batch_size=2, max_completion_length=8, save_steps=1,
               save_total_limit=None, report_to=[], disable_tqdm=True, logging_steps=1,
               resume_from_checkpoint="latest" if resume else None, callbacks=extra,
               learning_rate=1e-3)
    """
)


@pytest.mark.slow
def test_a_run_killed_mid_way_resumes_with_its_step_and_optimizer_state(
    tiny: Path, tmp_path: Path
) -> None:
    import torch

    from agent_rl.training.runs import last_complete_checkpoint

    script = tmp_path / "run.py"
    script.write_text(_RESUMABLE)
    out = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, str(script), str(tiny), str(out), "fresh"], env=env)
    deadline = time.monotonic() + 120
    while not (out / "checkpoint-2" / "trainer_state.json").exists():
        assert proc.poll() is None, "the run ended before its second checkpoint"
        assert time.monotonic() < deadline, "no checkpoint after 120 s"
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (out / "final").exists()

    last = last_complete_checkpoint(out)
    assert last is not None
    step = int(last.name.split("-")[1])
    assert 2 <= step < 6
    saved = torch.load(last / "optimizer.pt", weights_only=True)
    done = subprocess.run(
        [sys.executable, str(script), str(tiny), str(out), "resume"], env=env, timeout=180
    )
    assert done.returncode == 0
    assert int((out / "probe_step").read_text()) == step
    resumed = torch.load(out / "probe_optimizer.pt", weights_only=True)
    assert resumed["state"].keys() == saved["state"].keys()
    for key, value in saved["state"].items():
        assert int(resumed["state"][key]["step"]) == int(value["step"]) == step
        assert torch.equal(resumed["state"][key]["exp_avg"], value["exp_avg"])
        assert torch.equal(resumed["state"][key]["exp_avg_sq"], value["exp_avg_sq"])
    state = json.loads((out / "checkpoint-6" / "trainer_state.json").read_text())
    assert state["global_step"] == 6 and (out / "final" / "config.json").is_file()


def test_a_torn_checkpoint_is_skipped_when_resuming(tmp_path: Path) -> None:
    from agent_rl.training.runs import resolve_resume

    (tmp_path / "checkpoint-2").mkdir()
    (tmp_path / "checkpoint-2" / "trainer_state.json").write_text("{}")
    (tmp_path / "checkpoint-3").mkdir()  # killed while saving: no trainer_state.json
    assert resolve_resume("latest", tmp_path) == str(tmp_path / "checkpoint-2")
    assert resolve_resume(None, tmp_path) is None
    assert resolve_resume("latest", tmp_path / "none") is None
    with pytest.raises(TrainingError, match="not a complete checkpoint"):
        resolve_resume(str(tmp_path / "checkpoint-3"), tmp_path)


# --- configuration -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (["--formats", "json", "xml"], "formats"),
        (["--source", "replay"], "source"),
        (["--num_generaitons", "4"], "num_generations"),
        (["--budget_clock", "gpu"], "budget_clock"),
    ],
)
def test_bad_settings_name_the_field_and_the_fix(argv: list[str], match: str) -> None:
    from agent_rl.training.config import GRPOSettings, parse_settings

    with pytest.raises(ConfigError, match=match):
        parse_settings(GRPOSettings, argv)


def test_yaml_settings_with_a_typo_are_a_config_error(tmp_path: Path) -> None:
    from agent_rl.training.config import SFTSettings, parse_settings

    good = tmp_path / "good.yaml"
    good.write_text("learning_rate: 0.001\nmax_steps: 7\nformats: [hermes]\n")
    (settings,) = parse_settings(SFTSettings, ["--config", str(good), "--max_steps", "9"])
    assert (settings.learning_rate, settings.max_steps, settings.formats) == (1e-3, 9, ["hermes"])
    bad = tmp_path / "bad.yaml"
    bad.write_text("learnin_rate: 0.001\n")
    with pytest.raises(ConfigError, match="learning_rate"):
        parse_settings(SFTSettings, ["--config", str(bad)])


def test_default_grpo_settings_are_on_policy_on_cpu() -> None:
    from agent_rl.training.config import GRPOSettings, policy_lag

    s = GRPOSettings(output_dir="unused")
    assert (s.num_iterations, s.steps_per_generation, s.gradient_accumulation_steps) == (1, 1, 1)
    assert policy_lag(s) == 0 and s.bf16 is False and s.gradient_checkpointing is False
    assert policy_lag(GRPOSettings(output_dir="unused", steps_per_generation=4)) == 3
    assert policy_lag(GRPOSettings(output_dir="unused", num_iterations=2)) == 1


def test_settings_and_overrides_together_are_refused() -> None:
    from agent_rl.training import GRPOSettings, train_grpo

    with pytest.raises(ConfigError, match="settings"):
        train_grpo("unused", GRPOSettings(output_dir="unused"), max_steps=3)


def test_metrics_log_reads_back_what_a_killed_run_left(tmp_path) -> None:
    from agent_rl.training.runs import MetricsLog

    assert MetricsLog.read(tmp_path) == []
    (tmp_path / "metrics.jsonl").write_text('{"step": 10, "cpu_s": 1.5}\n{"step": 20, "cpu')
    assert MetricsLog.read(tmp_path) == [{"step": 10, "cpu_s": 1.5}]
