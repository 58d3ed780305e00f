"""Evaluation: Wilson intervals, tallies over verdicts, report.json, the table and the plot."""

from __future__ import annotations

import json
import math

import pytest

from agent_rl.errors import ConfigError
from agent_rl.evaluation.plot import plot_validity
from agent_rl.evaluation.report import CurvePoint, EvalReport, ModelEval, ModeResult, mode_name
from agent_rl.evaluation.states import prompt_key
from agent_rl.evaluation.stats import (
    Z95,
    CallTally,
    EpisodeTally,
    Rate,
    intervals_overlap,
    wilson_interval,
)
from agent_rl.verdicts import CallVerdict, EpisodeVerdict, ErrorEntry, ToolCall

# ---------------------------------------------------------------- Wilson


@pytest.mark.parametrize(
    ("k", "n", "lo", "hi"),
    [
        (0, 10, 0.0, 0.27753),  # upper = z²/(n+z²)
        (10, 10, 0.72247, 1.0),  # lower = n/(n+z²)
        (5, 10, 0.23659, 0.76341),
        (81, 263, 0.25529, 0.36621),
        (9990, 10000, 0.99816, 0.99946),
        (10000, 10000, 0.99962, 1.0),
        (1, 1, 0.20655, 1.0),
    ],
)
def test_wilson_known_values(k: int, n: int, lo: float, hi: float) -> None:
    got = wilson_interval(k, n)
    assert got == pytest.approx((lo, hi), abs=5e-5)


@pytest.mark.parametrize(("k", "n"), [(1, 3), (7, 40), (333, 1000), (9999, 10000), (2, 2000)])
def test_wilson_bounds_solve_the_score_equation(k: int, n: int) -> None:
    """Each bound p satisfies (k/n - p)² = z² p (1 - p) / n — the interval's definition."""
    p_hat = k / n
    for p in wilson_interval(k, n):
        assert (p_hat - p) ** 2 == pytest.approx(Z95**2 * p * (1 - p) / n, rel=1e-9)
    lo, hi = wilson_interval(k, n)
    assert 0.0 < lo < p_hat < hi < 1.0


def test_wilson_narrows_with_more_data_and_handles_no_data() -> None:
    widths = [hi - lo for lo, hi in (wilson_interval(n // 2, n) for n in (10, 100, 1000))]
    assert widths == sorted(widths, reverse=True)
    assert wilson_interval(0, 0) == (0.0, 1.0)


@pytest.mark.parametrize(("k", "n"), [(-1, 5), (6, 5), (0, -1)])
def test_wilson_rejects_impossible_counts(k: int, n: int) -> None:
    with pytest.raises(ValueError, match="successes"):
        wilson_interval(k, n)


@pytest.mark.parametrize(
    ("a", "b", "overlap"),
    [
        ((0.1, 0.2), (0.2, 0.3), True),
        ((0.1, 0.2), (0.21, 0.3), False),
        ((0.0, 1.0), (0.4, 0.5), True),
    ],
)
def test_intervals_overlap(a: tuple[float, float], b: tuple[float, float], overlap: bool) -> None:
    assert intervals_overlap(a, b) is overlap
    assert intervals_overlap(b, a) is overlap


@pytest.mark.parametrize(
    ("a", "b", "above"),
    [
        (Rate(990, 1000), Rate(900, 1000), True),
        (Rate(910, 1000), Rate(900, 1000), False),  # higher but the intervals overlap
        (Rate(900, 1000), Rate(990, 1000), False),
        (Rate(10, 10), Rate(8, 10), False),  # too few calls to tell
    ],
)
def test_rate_above_needs_non_overlapping_intervals(a: Rate, b: Rate, above: bool) -> None:
    assert a.above(b) is above


# ---------------------------------------------------------------- tallies

_CALL = ToolCall("read_file", {"path": "a.py"})


def _bad(stage: str, kind: str) -> CallVerdict:
    return CallVerdict(valid=False, stage=stage, errors=(ErrorEntry(kind, "x"),))  # type: ignore[arg-type]


VERDICTS = [
    CallVerdict(valid=True, call=_CALL),
    CallVerdict(valid=True, final_answer="done"),
    _bad("parse", "trailing_comma"),
    _bad("parse", "truncated"),
    _bad("envelope", "duplicate_key"),
    _bad("tool", "unknown_tool"),
    _bad("arguments", "missing_argument"),
    _bad("state", "file_not_found"),
    _bad("state", "file_not_found"),
]


def test_call_tally_counts_each_stage() -> None:
    tally = CallTally.of(VERDICTS)
    assert (tally.n, tally.valid, tally.final_answers) == (9, 2, 1)
    assert tally.parse_valid == 6  # all but the parse and envelope failures
    assert tally.args_valid == 4  # valid ones + the two state failures
    assert tally.errors == {
        "trailing_comma": 1,
        "truncated": 1,
        "duplicate_key": 1,
        "unknown_tool": 1,
        "missing_argument": 1,
        "file_not_found": 2,
    }
    assert next(iter(tally.error_rates())) == "file_not_found"  # most frequent first
    assert tally.call_valid.ci95 == wilson_interval(2, 9)


def test_call_tally_adds_and_round_trips() -> None:
    a, b = CallTally.of(VERDICTS[:4]), CallTally.of(VERDICTS[4:])
    total = a + b
    assert total == CallTally.of(VERDICTS)
    assert CallTally.from_dict(json.loads(json.dumps(total.to_dict()))) == total


def test_expert_tool_validity_counts_only_valid_calls_of_the_experts_tool() -> None:
    """A call that is valid anywhere (the detour) is fully valid but not on task."""
    run_tests = CallVerdict(valid=True, call=ToolCall("run_tests", {}))
    tally = CallTally()
    tally.add(CallVerdict(valid=True, call=_CALL), expert_tool=_CALL.name)  # on task
    tally.add(run_tests, expert_tool=_CALL.name)  # valid, wrong tool
    tally.add(_bad("state", "file_not_found"), expert_tool=_CALL.name)  # right tool, invalid
    tally.add(run_tests, ("tests",), expert_tool="run_tests")  # on task
    assert (tally.valid, tally.expert_tool_valid) == (3, 2)
    assert tally.expert_tool_valid_rate.rate == pytest.approx(2 / 4)
    assert tally.by_tag["tests"].expert_tool_valid == 1
    assert CallTally.from_dict(json.loads(json.dumps(tally.to_dict()))) == tally


def test_held_out_states_know_the_experts_tool(states) -> None:
    from agent_rl.tasks import load_tasks

    expert = {t.id: [c.name for c in t.expert] for t in load_tasks("test")}
    assert all(s.expert_tool == expert[s.task_id][s.step] for s in states)


def test_call_tally_breaks_validity_down_by_tag() -> None:
    tally = CallTally()
    for i, verdict in enumerate(VERDICTS):
        tally.add(verdict, ("escaping",) if i % 2 else ("long", "edit"))
    assert {t: (c.n, c.valid) for t, c in tally.by_tag.items()} == {
        "long": (5, 1),
        "edit": (5, 1),
        "escaping": (4, 1),
    }
    assert tally.by_tag["escaping"].errors == {"truncated": 1, "unknown_tool": 1,
                                               "file_not_found": 1}  # fmt: skip
    again = CallTally.from_dict(json.loads(json.dumps(tally.to_dict())))
    assert again == tally and (again + again).by_tag["long"].n == 10


def test_episode_tally_counts_long_and_all_valid_episodes() -> None:
    ok, bad = CallVerdict(valid=True, call=_CALL), _bad("parse", "truncated")
    tally = EpisodeTally(min_steps=3)
    tally.add(EpisodeVerdict.of([ok] * 3), success=True)
    tally.add(EpisodeVerdict.of([ok, bad, ok, ok]))
    tally.add(EpisodeVerdict.of([ok, ok]), success=True)
    assert (tally.n, tally.all_valid, tally.n_long, tally.long_all_valid) == (3, 2, 2, 1)
    assert tally.success.rate == pytest.approx(2 / 3)
    assert EpisodeTally.from_dict(tally.to_dict()) == tally
    with pytest.raises(ValueError, match="min_steps"):
        tally + EpisodeTally(min_steps=10)


# ---------------------------------------------------------------- report


def _model(name: str, valid: int, n: int = 1000) -> ModelEval:
    model = ModelEval(name, path=f"runs/x/{name}", train_seconds=12.5)
    for temp in (0.0, 0.7, 1.0):
        calls = CallTally(n=n, parse_valid=n - 1, args_valid=valid + 1, valid=valid)
        calls.errors.update({"file_not_found": 1, "truncated": n - valid - 1} if valid < n else {})
        eps = EpisodeTally(min_steps=10, n=20, all_valid=15, n_long=10, long_all_valid=6)
        model.add(ModeResult(temp, calls, eps, seconds=1.0))
    return model


def _report() -> EvalReport:
    report = EvalReport(config={"grpo_steps": 40, "seed": 0}, policy_lag=0.0)
    for name, valid in (("sft_start", 850), ("sft", 900), ("grpo", 990)):
        report.add(_model(name, valid))
    report.curve = [CurvePoint(20, CallTally(n=500, parse_valid=499, args_valid=480, valid=470))]
    report.train_seconds = {"sft_start": 30.0, "grpo": 60.0, "sft": 60.0}
    return report


@pytest.mark.parametrize(
    ("t", "name"), [(0.0, "greedy"), (0.7, "t0.7"), (1.0, "t1.0"), (2, "t2.0")]
)
def test_mode_names(t: float, name: str) -> None:
    assert mode_name(t) == name


@pytest.mark.parametrize("t", [-0.1, math.nan, math.inf])
def test_mode_name_rejects_bad_temperatures(t: float) -> None:
    with pytest.raises(ConfigError, match="temperature"):
        mode_name(t)


def test_report_json_has_the_documented_keys(tmp_path) -> None:
    path = _report().save(tmp_path / "run" / "report.json")
    data = json.loads(path.read_text())
    for key in ("config", "policy_lag", "train_seconds", "curve"):
        assert key in data
    for name in ("sft_start", "sft", "grpo"):
        entry = data[name]
        for key in ("call_valid_rate", "parse_valid_rate", "episode_valid_rate", "n_calls"):
            assert isinstance(entry[key], (int, float)), key
        lo, hi = entry["call_valid_ci95"]
        assert lo <= entry["call_valid_rate"] <= hi
        assert entry["decoding_headline"] == "t1.0"
        assert set(entry["decoding"]) == {"greedy", "t0.7", "t1.0"}
        assert isinstance(entry["errors_by_kind"], dict)
    assert data["grpo"]["call_valid_rate"] == 0.99
    assert data["grpo_beats_sft"]["call_valid"] and not data["grpo_beats_sft"]["parse_valid"]
    assert set(data["grpo_beats_sft"]) == {"schema_valid", "call_valid", "parse_valid"}
    assert not list(tmp_path.glob("run/*.tmp"))


def test_report_round_trips(tmp_path) -> None:
    report = _report()
    again = EvalReport.load(report.save(tmp_path / "report.json"))
    assert again.to_dict() == report.to_dict()
    assert again.beats("grpo", "sft") and not again.beats("sft", "grpo")


def test_report_keeps_the_handwritten_suite_apart(tmp_path) -> None:
    report = _report()
    for name, valid in (("sft", 300), ("grpo", 200)):
        report.add(_model(name, valid), suite="handwritten")
    data = json.loads(report.save(tmp_path / "report.json").read_text())
    assert data["grpo"]["call_valid_rate"] == 0.99  # the main suite is untouched
    hand = data["handwritten"]
    assert set(hand) == {"sft", "grpo"} and hand["grpo"]["call_valid_rate"] == 0.2
    assert set(hand["grpo"]) == set(data["grpo"])  # the same keys
    again = EvalReport.load(tmp_path / "report.json")
    assert again.to_dict() == report.to_dict()
    assert again.beats("sft", "grpo", suite="handwritten") and again.beats("grpo", "sft")
    assert "grpo" in again.table(suite="handwritten")


@pytest.mark.parametrize(
    ("text", "match"),
    [("{", "cannot read report"), ('{"schema_version": 99}', "schema_version 99")],
)
def test_report_load_names_the_problem(tmp_path, text: str, match: str) -> None:
    path = tmp_path / "report.json"
    path.write_text(text)
    with pytest.raises(ConfigError, match=match):
        EvalReport.load(path)


def test_report_rejects_unknown_metric() -> None:
    with pytest.raises(ConfigError, match="unknown metric"):
        _report().rate("grpo", "vibes")


def test_table_puts_models_side_by_side_per_decoding_mode() -> None:
    text = _report().table()
    blocks = text.split("\n\n")
    assert [b.splitlines()[0] for b in blocks] == [
        "decoding: t1.0 (sampled)",
        "decoding: t0.7 (sampled)",
        "decoding: greedy",
    ]
    rows = blocks[0].splitlines()[3:]
    assert [r.split()[0] for r in rows] == ["sft_start", "sft", "grpo"]
    assert "99.00% [ 98.2,  99.5]" in rows[2]  # Wilson of 990/1000
    assert "truncated (9)" in rows[2]


def test_tag_table_shows_each_model_per_tag() -> None:
    report = _report()
    assert report.tag_table() == ""  # no tags recorded
    report.models["grpo"].modes["t1.0"].calls.by_tag["escaping"] = CallTally(n=40, valid=30)
    lines = report.tag_table().splitlines()
    assert lines[0] == "call validity by task tag (t1.0)"
    assert lines[1].split() == ["tag", "sft_start", "sft", "grpo"]
    assert lines[2].split() == ["escaping", "-", "-", "75.0%", "of", "40"]


# ---------------------------------------------------------------- plot


def test_plot_writes_a_png(tmp_path) -> None:
    path = plot_validity(_report(), tmp_path / "sub" / "validity.png")
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
    assert not list(tmp_path.glob("sub/*.tmp.png"))


def test_plot_rejects_unknown_metric(tmp_path) -> None:
    with pytest.raises(ConfigError, match="metric"):
        plot_validity(_report(), tmp_path / "v.png", metric="episode_valid")


# ---------------------------------------------------------------- held-out states and runs

FORMATS = ("json", "react", "hermes")


@pytest.fixture(scope="module")
def states():
    from agent_rl.evaluation.states import held_out_states

    return held_out_states(FORMATS)


def _oracle(states, corrupt=lambda i, text: text):
    """A policy that writes the expert's call for each held-out prompt (``corrupt`` may break
    some): the scorer, sandbox restore and tally then must agree with what was written."""
    from agent_rl.evaluation.states import prompt_key
    from agent_rl.policies import ScriptedPolicy
    from agent_rl.tasks import load_tasks
    from agent_rl.training.data import expert_steps

    targets = {
        prompt_key(ex.messages): ex.target for ex in expert_steps(load_tasks("test"), FORMATS)
    }
    calls = []

    def write(messages):
        calls.append(1)
        return corrupt(len(calls) - 1, targets[prompt_key(messages)])

    return ScriptedPolicy(write)


def test_held_out_states_cover_every_test_step_in_every_format(states) -> None:
    from agent_rl.tasks import load_tasks

    tests = load_tasks("test")
    assert len(states) == len(FORMATS) * sum(len(t.expert) for t in tests)
    assert {s.task_id for s in states} == {t.id for t in tests}
    assert max(s.step for s in states) >= 10  # long episodes are in the held-out set
    assert {s.fmt for s in states} == set(FORMATS)


def test_held_out_states_never_overlap_training_prompts(states) -> None:
    from agent_rl.evaluation.states import assert_disjoint
    from agent_rl.tasks import load_tasks
    from agent_rl.training.data import training_steps

    train = training_steps(list(FORMATS), tasks=load_tasks("train"))
    assert {s.task_id for s in states}.isdisjoint({ex.task_id for ex in train})
    assert_disjoint([s.messages for s in states], [ex.messages for ex in train])
    with pytest.raises(ConfigError, match="appear in the training data"):
        assert_disjoint([s.messages for s in states[:3]], [states[1].messages])


def test_held_out_states_refuse_training_tasks() -> None:
    from agent_rl.evaluation.states import held_out_states
    from agent_rl.tasks import load_tasks

    with pytest.raises(ConfigError, match="not held out"):
        held_out_states("react", load_tasks("train")[:2])


def test_expert_calls_score_fully_valid_in_their_states(states) -> None:
    from agent_rl.evaluation.runner import evaluate_calls

    tally = evaluate_calls(_oracle(states), states, 2 * len(states) + 5, chunk=100)
    assert (tally.n, tally.valid, tally.errors) == (2 * len(states) + 5, tally.n, {})


def test_broken_calls_are_scored_against_the_restored_state(states) -> None:
    """Every 3rd output loses its last character (a parse or envelope error); every 3rd + 1
    that reads a file reads one that does not exist in that step's workspace (a state error)."""
    from agent_rl.evaluation.runner import evaluate_calls

    def moved(text: str) -> str:
        return text.replace('"path": "', '"path": "no_such_dir/', 1)

    def corrupt(i: int, text: str) -> str:
        if i % 3 == 0:
            return text.rstrip()[:-1]
        return moved(text) if i % 3 == 1 and "read_file" in text else text

    tally = evaluate_calls(_oracle(states, corrupt), states)
    reads = sum(1 for i, s in enumerate(states) if i % 3 == 1 and "read_file" in _expert(s))
    assert reads > 10
    broken = len(range(0, tally.n, 3))
    assert (tally.n, tally.parse_valid, tally.args_valid) == (len(states),) + (
        tally.n - broken,
    ) * 2
    assert tally.valid == tally.n - broken - reads
    assert tally.errors["file_not_found"] == reads
    assert sum(tally.errors.values()) == broken + reads


def _expert(state) -> str:
    from agent_rl.evaluation.states import prompt_key
    from agent_rl.tasks import load_tasks
    from agent_rl.training.data import expert_steps

    for ex in expert_steps([t for t in load_tasks("test") if t.id == state.task_id], [state.fmt]):
        if prompt_key(ex.messages) == prompt_key(state.messages):
            return ex.target
    raise AssertionError("no expert step for this state")


# ---------------------------------------------------------------- a real tiny model


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """The offline tiny model with sharpened random weights, so that its greedy outputs
    differ from prompt to prompt (a fresh init writes the same token everywhere)."""
    import torch

    from agent_rl.models import build_tiny_model
    from agent_rl.policies.hf import load_model

    folder = build_tiny_model(tmp_path_factory.mktemp("tiny"), hidden_size=64, layers=2)
    model, tokenizer = load_model(folder, device="cpu")
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() > 1:
                p.copy_(torch.randn(p.shape, generator=gen) * 0.3)
    return model, tokenizer


def _hf(tiny, **kw):
    from agent_rl.policies import HFPolicy

    return HFPolicy(*tiny, max_new_tokens=12, batch_size=4, **kw)


def _prefix(tiny, batch_size: int = 4, **store):
    from agent_rl.policies import HFPolicy, PrefixDecoder

    decoder = PrefixDecoder(**store)
    return HFPolicy(*tiny, max_new_tokens=12, batch_size=batch_size, decoder=decoder), decoder


def test_prefix_decoder_writes_what_generate_writes(tiny, states) -> None:
    """Greedy: the same text as HFPolicy's default decoder (``model.generate``), for prompts
    of different lengths in one batch and repeated prompts (prefilled once, decoded per row)."""
    picked = [states[i].messages for i in (0, 7, 40, 7, 99, 0)]
    expected = _hf(tiny).generate(picked)
    policy, decoder = _prefix(tiny)
    assert policy.generate(picked) == expected
    assert len(set(expected)) >= 3  # the outputs do depend on the prompt
    assert policy.generate(picked) == expected  # again, every prompt from the prefix store
    starved, store = _prefix(tiny, 3, prefix_store_tokens=1)
    assert starved.generate(picked) == expected  # evicting at once changes nothing
    assert len(store._store) == 1
    small, bounded = _prefix(tiny, 3, prefix_store_bytes=1 << 20)
    assert small.generate(picked) == expected  # a memory bound (a real model's KV is big)
    assert 0 < bounded._stored_bytes <= 1 << 20 or len(bounded._store) == 1
    assert decoder._stored_bytes > 1 << 20  # the 1 MiB bound did evict


def test_prefix_decoder_sampling_is_seeded(tiny, states) -> None:
    from agent_rl.policies import HFPolicy, PrefixDecoder

    picked = [states[3].messages] * 6 + [states[50].messages] * 2
    runs = [
        HFPolicy(*tiny, max_new_tokens=12, do_sample=True, seed=5, decoder=PrefixDecoder())
        for _ in range(2)
    ]
    first, second = (r.generate(picked) for r in runs)
    assert first == second
    assert len(set(first[:6])) > 1  # samples of one prompt differ
    assert runs[0].generate(picked) != first  # the next call draws new samples
    assert [u["prompt_tokens"] for u in runs[0].last_usage][:6] == [
        runs[0].last_usage[0]["prompt_tokens"]
    ] * 6


@pytest.mark.parametrize(("temperature", "top_p"), [(1.0, 1.0), (0.7, 1.0), (2.0, 1.0), (1.0, 0.8)])
def test_next_tokens_samples_from_the_softmax_generate_uses(temperature, top_p) -> None:
    """Each frequency within 5 standard errors of softmax(logits / T), after nucleus top_p
    (the tokens outside the nucleus never come out)."""
    import torch

    from agent_rl.policies.decoding import next_tokens

    logits = torch.tensor([[2.0, 1.0, 0.5, -1.0, 0.0]])
    probs = (logits[0] / temperature).softmax(-1)
    if top_p < 1.0:
        order = probs.argsort(descending=True)
        keep = order[: int((probs[order].cumsum(0) < top_p).sum()) + 1]
        probs = torch.zeros_like(probs).index_put_((keep,), probs[keep])
        probs /= probs.sum()
    torch.manual_seed(0)
    n = 40_000
    counts = torch.bincount(
        next_tokens(logits.expand(n, -1), True, temperature, top_p), minlength=5
    )
    for p, c in zip(probs.tolist(), counts.tolist(), strict=True):
        if p == 0:
            assert c == 0
        else:
            assert abs(c / n - p) < 5 * (p * (1 - p) / n) ** 0.5, (counts, probs)
    assert next_tokens(logits, False).tolist() == [0]  # greedy


def test_evaluate_a_real_model_in_every_decoding_mode(tiny) -> None:
    from agent_rl.evaluation.runner import EvalConfig, evaluate
    from agent_rl.evaluation.states import held_out_states
    from agent_rl.tasks import load_tasks

    tasks = load_tasks("test")[:2]
    config = EvalConfig(
        sampled_calls=12, other_calls=6, episodes=1, max_steps=10, max_new_tokens=8, batch_size=8
    )
    result = evaluate(*tiny, name="tiny", config=config, tasks=tasks,
                      states=held_out_states("react", tasks))  # fmt: skip
    assert list(result.modes) == ["greedy", "t0.7", "t1.0"]
    n_states = sum(len(t.expert) for t in tasks)
    assert [m.calls.n for m in result.modes.values()] == [n_states, 6, 12]
    # an untrained model writes no valid call: each output is a scored, named failure
    for mode in result.modes.values():
        assert mode.calls.valid == 0 and sum(mode.calls.errors.values()) == mode.calls.n
        assert mode.episodes.all_valid == 0
    assert result.modes["greedy"].episodes.n == len(tasks)
    assert result.modes["t1.0"].episodes.n == 1
    assert result.modes["t1.0"].episodes.steps == 10  # ran to max_steps, never stopped


def test_greedy_calls_score_a_seeded_subset_of_distinct_states(tiny) -> None:
    from agent_rl.evaluation.runner import EvalConfig, evaluate
    from agent_rl.evaluation.states import held_out_states
    from agent_rl.tasks import load_tasks

    tasks = load_tasks("test")[:2]
    states = held_out_states("react", tasks)
    config = EvalConfig(temperatures=(0.0,), greedy_calls=3, greedy_episodes=0, max_new_tokens=4)
    result = evaluate(*tiny, name="tiny", config=config, tasks=tasks, states=states)
    assert result.modes["greedy"].calls.n == 3 and result.modes["greedy"].episodes.n == 0
    # more greedy calls than states: each state once (greedy twice would be the same output)
    config = EvalConfig(temperatures=(0.0,), greedy_calls=10**6, greedy_episodes=0,
                        max_new_tokens=4)  # fmt: skip
    result = evaluate(*tiny, name="tiny", config=config, tasks=tasks, states=states)
    assert result.modes["greedy"].calls.n == len(states)


@pytest.mark.parametrize(
    ("argv", "n_params", "expected"),
    [
        ([], None, {"temperatures": (0.0, 0.7, 1.0), "sampled_calls": 10_000, "batch_size": 64}),
        (["--quick"], 1_000_000, {"temperatures": (0.0, 0.7, 1.0), "sampled_calls": 256,
                                  "other_calls": 64, "episodes": 8, "greedy_calls": None,
                                  "greedy_episodes": None, "max_steps": 12, "batch_size": 64}),
        (["--quick"], 134_515_008, {"temperatures": (0.0, 1.0), "sampled_calls": 32,
                                    "greedy_calls": 32, "episodes": 2, "greedy_episodes": 2,
                                    "max_steps": 10, "batch_size": 16}),
        # flags still cap the preset, and named settings win over it
        (["--quick", "--calls", "8", "--episodes", "1", "--batch-size", "4", "--max-steps",
          "11", "--temperatures", "1.0"], 134_515_008,
         {"temperatures": (1.0,), "sampled_calls": 8, "episodes": 1, "greedy_episodes": 1,
          "batch_size": 4, "max_steps": 11}),
    ],
)  # fmt: skip
def test_eval_quick_preset_is_sized_by_the_model(argv, n_params, expected) -> None:
    from agent_rl.cli import build_parser
    from agent_rl.commands.eval import _config

    args = build_parser().parse_args(["eval", "m", *argv])
    config = _config(args, n_params if "--quick" in argv else None)
    assert {k: getattr(config, k) for k in expected} == expected


def test_live_episodes_of_the_expert_are_all_valid_and_solved() -> None:
    from agent_rl.evaluation.runner import evaluate_episodes
    from agent_rl.formats import render_call
    from agent_rl.policies import ScriptedPolicy
    from agent_rl.tasks import load_tasks

    tasks = load_tasks("test")
    by_prompt = {t.prompt: t for t in tasks}

    def expert(messages):  # the task's next expert call
        k = sum(m["role"] == "assistant" for m in messages)
        return render_call(by_prompt[messages[1]["content"]].expert[k], "react")

    tally = evaluate_episodes(ScriptedPolicy(expert), tasks, formats=("react",), max_steps=14)
    assert (tally.n, tally.all_valid, tally.succeeded) == (len(tasks),) * 3
    assert tally.n_long == sum(len(t.expert) >= 10 for t in tasks) > 0
    assert tally.steps == sum(len(t.expert) for t in tasks)


def test_a_final_answer_where_a_call_was_due_is_invalid(states) -> None:
    """As in the GRPO reward: stopping early is not a valid call (kind no_call)."""
    from agent_rl.evaluation.runner import evaluate_calls
    from agent_rl.formats import render_final
    from agent_rl.policies import ScriptedPolicy

    by_prompt = {prompt_key(s.messages): s.fmt for s in states}
    policy = ScriptedPolicy(lambda m: render_final("done", by_prompt[prompt_key(m)]))
    tally = evaluate_calls(policy, states)
    assert (tally.valid, tally.parse_valid, dict(tally.errors)) == (0, 0, {"no_call": len(states)})


def test_a_policy_that_quits_at_once_has_no_valid_episode() -> None:
    """A plain-text reply where a call was due is no_call in episodes too: quitting is never
    an all-valid episode (untouched SmolLM2 once scored 93% "all-valid" episodes this way)."""
    from agent_rl.evaluation.runner import evaluate_episodes
    from agent_rl.formats import render_final
    from agent_rl.policies import ScriptedPolicy
    from agent_rl.tasks import load_tasks

    tasks = load_tasks("test")[:3]
    quitter = ScriptedPolicy(lambda messages: render_final("all done", "react"))
    tally = evaluate_episodes(quitter, tasks, formats=("react",), max_steps=10)
    assert (tally.n, tally.all_valid, tally.succeeded) == (3, 0, 0)
    assert tally.steps == 30  # told "no_call" each time, it never stopped talking


@pytest.mark.parametrize(("n_states", "n_calls"), [(10, 3), (10, 25), (7, 7), (5, None)])
def test_call_order_spreads_calls_evenly_and_at_random(n_states: int, n_calls: int | None) -> None:
    from collections import Counter

    from agent_rl.evaluation.runner import call_order

    order = call_order(n_states, n_calls, seed=1)
    assert len(order) == (n_states if n_calls is None else n_calls)
    counts = Counter(order)
    assert max(counts.values()) - min(counts.values()) <= 1 and set(order) <= set(range(n_states))
    if n_calls is None:
        assert order == list(range(n_states))
    assert call_order(n_states, n_calls, seed=1) == order  # seeded


def test_a_small_call_budget_samples_states_from_every_episode() -> None:
    from agent_rl.evaluation.runner import call_order

    picked = [call_order(200, 20, seed=s) for s in range(5)]
    assert all(max(p) > 100 for p in picked)  # not the first states only
    assert len({tuple(p) for p in picked}) == 5


def test_eval_cli_quick_runs_a_model_folder_by_its_preset(tmp_path, capsys) -> None:
    from agent_rl.cli import main
    from agent_rl.models import build_tiny_model

    folder = build_tiny_model(tmp_path / "tiny", hidden_size=32, layers=2, vocab_size=400)
    out = tmp_path / "eval.json"
    rc = main(["eval", f"t={folder}", "--quick", "--temperatures", "1.0", "--calls", "3",
               "--episodes", "0", "--max-new-tokens", "4", "--families", "1",
               "--out", str(out)])  # fmt: skip
    assert rc == 0
    report = json.loads(out.read_text())
    assert report["config"]["eval"]["sampled_calls"] == 3
    assert report["config"]["eval"]["greedy_calls"] is None  # a tiny model: the tiny preset
    assert report["models"] == ["t"] and report["t"]["n_calls"] == 3
    assert "t1.0" in capsys.readouterr().out
