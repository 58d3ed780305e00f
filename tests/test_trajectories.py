"""Trajectory models and the JSONL store: round trips, lines that match the declared schema (and
read naturally as JSON), version 1 files, torn and bad lines, concurrent writers, write failures,
``datasets`` loading and state replay at a step."""

from __future__ import annotations

import json
import threading
import warnings
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from agent_rl.errors import CorruptRecordError, StoreError
from agent_rl.sandbox import CodingSandbox
from agent_rl.trajectories import (
    SCHEMA_VERSION,
    Outcome,
    SkippedRecordWarning,
    Step,
    TaskRef,
    TornRecordWarning,
    Trajectory,
    TrajectoryMeta,
    TrajectoryStore,
    encode_line,
    fields,
    schema,
)
from agent_rl.verdicts import CallVerdict, ErrorEntry, Observation, ToolCall

V1_FILE = Path(__file__).parent / "data" / "trajectories_v1.jsonl"
"""Written by the version 1 store (every nested value as JSON text) before version 2."""

READ = ToolCall("read_file", {"path": "src/app.py"})
BAD_ARGS = CallVerdict(
    False,
    "arguments",
    ToolCall("read_file", {"path": 3}),
    (ErrorEntry("wrong_type", "path must be a string", ("arguments", "path")),),
)


def _step(i: int, **kw: Any) -> Step:
    return Step(index=i, **kw)


STEPS: dict[str, Step] = {
    "empty": _step(0),
    "valid_call": _step(
        0,
        messages=[{"role": "system", "content": "tools"}, {"role": "user", "content": "fix it"}],
        raw_output='{"name": "read_file", "arguments": {"path": "src/app.py"}}',
        call=READ,
        observation=Observation("1| x = 1"),
        verdict=CallVerdict(True, None, READ),
        latency_s=0.25,
        prompt_tokens=120,
        completion_tokens=17,
        state_before={"format": 1, "files": {"src/app.py": "x = 1\n"}},
    ),
    "invalid_args": _step(
        3,
        raw_output='{"name": "read_file", "arguments": {"path": 3}}',
        verdict=BAD_ARGS,
        observation=Observation("bad", ok=False, error=BAD_ARGS.errors[0]),
        error="",
    ),
    "final_answer": _step(1, raw_output="done", verdict=CallVerdict(True, final_answer="done")),
    "policy_error": _step(2, error="TimeoutError: endpoint", verdict=None),
    "nested_args": _step(
        0,
        call=ToolCall("write_file", {"path": "a", "content": 'é\n\t"q"', "n": [1, 2.5, None, {}]}),
        extra={"tool_call_id": "call_1", "content": ["block", {"type": "text"}]},
    ),
    "multimodal_messages": _step(
        0, messages=[{"role": "user", "content": [{"type": "text", "text": "hi"}]}]
    ),
    "tool_call_messages": _step(
        0,
        messages=[
            {"role": "user", "content": "fix it"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "read_file", "arguments": '{"path": "a",}'},
                    }
                ],
            },
            {"role": "tool", "content": "1| x", "tool_call_id": "call_1", "name": "read_file"},
            {"role": "assistant", "content": "ok", "refusal": None, "audio": {"id": "a1"}},
        ],
    ),
    "lone_surrogates": _step(
        0, raw_output="bad \udc80 text \ud800", call=ToolCall("x", {"k": "\udfff"})
    ),
    "nul_and_unicode": _step(0, raw_output="a\x00b \u2028 😀"),
}


TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "read_file",
            "description": "Read a file",
            "parameters": {"type": "object", "properties": {"path": {"type": "string"}}},
            "strict": True,
        },
    },
    {"type": "function", "function": {"name": "odd", "parameters": {}, "x-vendor": [1]}},
]


def _traj(steps: list[Step], **kw: Any) -> Trajectory:
    return Trajectory(task={"id": "t1", "prompt": "fix the bug"}, steps=steps, **kw)


@pytest.mark.parametrize("name", list(STEPS))
def test_round_trip_through_the_stored_line(name: str) -> None:
    traj = _traj(
        [STEPS[name]], tools=TOOLS, metadata={"source": "agent", "model": "tiny", "seed": 7}
    )
    line = encode_line(traj)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    back = Trajectory.model_validate_json(line) if name != "lone_surrogates" else None
    if back is None:  # jiter refuses lone-surrogate escapes; the store falls back to json
        back = Trajectory.model_validate(json.loads(line))
    assert back == traj
    assert Trajectory.model_validate(traj.model_dump()) == traj


def _conforms(value: Any, decl: Any, where: str = "line") -> None:
    """Assert a stored value has the declared column type (``None`` fits any column)."""
    if value is None:
        return
    if isinstance(decl, list):
        assert isinstance(value, list), where
        for i, x in enumerate(value):
            _conforms(x, decl[0], f"{where}[{i}]")
    elif isinstance(decl, dict):
        assert isinstance(value, dict), where
        assert set(value) <= set(decl), f"{where}: undeclared keys {set(value) - set(decl)}"
        for k, x in value.items():
            _conforms(x, decl[k], f"{where}.{k}")
    else:
        py = {"string": str, "json": str, "bool": bool, "int64": int, "float64": float}[decl]
        assert type(value) is py or (py is float and type(value) is int), (where, value)
        if decl == "json":
            fields.loads_text(value)  # valid JSON text


def test_every_stored_line_matches_the_declared_schema() -> None:
    """Nulls, free-form dicts and mixed lists never change a column's type."""
    for step in STEPS.values():
        traj = _traj([step], tools=TOOLS, outcome={"status": "error", "success": False})
        _conforms(json.loads(encode_line(traj)), schema.SCHEMA)
        _conforms(json.loads(encode_line(Trajectory(steps=[step]))), schema.SCHEMA)


def test_the_schema_declares_every_model_field() -> None:
    assert list(schema.SCHEMA) == list(Trajectory.model_fields)
    assert list(schema.STEP) == list(Step.model_fields)
    assert list(schema.SCHEMA["task"]) == list(TaskRef.model_fields)
    assert list(schema.SCHEMA["outcome"]) == list(Outcome.model_fields)
    assert list(schema.SCHEMA["metadata"]) == list(TrajectoryMeta.model_fields)


def test_a_stored_line_reads_naturally_as_json() -> None:
    """Fixed shapes are plain JSON (``jq .steps[0].verdict.valid``); only free-form values
    (arguments, snapshots, extra) are JSON text."""
    traj = _traj([STEPS["valid_call"], STEPS["invalid_args"], STEPS["tool_call_messages"]])
    line = json.loads(encode_line(traj))
    step = line["steps"][0]
    assert step["verdict"]["valid"] is True and step["verdict"]["errors"] == []
    assert step["messages"][1] == {"role": "user", "content": "fix it"}
    assert step["call"]["name"] == "read_file"
    assert json.loads(step["call"]["arguments"]) == {"path": "src/app.py"}
    assert step["observation"] == {"content": "1| x = 1", "ok": True, "done": False}
    assert (step["latency_s"], step["prompt_tokens"], step["completion_tokens"]) == (0.25, 120, 17)
    assert json.loads(step["state_before"])["files"] == {"src/app.py": "x = 1\n"}
    err = line["steps"][1]["verdict"]["errors"][0]
    assert (err["type"], json.loads(err["loc"])) == ("wrong_type", ["arguments", "path"])
    msgs = line["steps"][2]["messages"]
    assert msgs[1]["tool_calls"][0]["function"]["arguments"] == '{"path": "a",}'  # raw, as sent
    assert "content" not in msgs[1]  # None is left out (datasets reads it back as null)
    assert msgs[2]["tool_call_id"] == "call_1"
    assert json.loads(msgs[3]["extra"]) == {"audio": {"id": "a1"}}  # undeclared keys
    assert line["outcome"]["success"] is None and line["schema_version"] == 2


def test_version_1_files_still_read() -> None:
    """The fixture was written by the version 1 store; it reads into the current form and its
    records written back are version 2 lines that read back equal."""
    v1_lines = V1_FILE.read_bytes().splitlines()
    assert all(json.loads(x)["schema_version"] == 1 for x in v1_lines)
    assert isinstance(json.loads(v1_lines[1])["steps"][0]["verdict"], str)  # JSON text in v1
    trajs = list(TrajectoryStore(V1_FILE).read())
    assert len(trajs) == len(v1_lines) == 10  # one per version 1 STEPS entry, and "multi"
    by_id = {t.id: t for t in trajs}
    for name, step in STEPS.items():
        if name == "tool_call_messages":  # added with version 2
            continue
        got = by_id[f"v1-{name}"].steps[0]
        assert got.model_dump(exclude={"started_at"}) == step.model_dump(exclude={"started_at"})
    multi = by_id["v1-multi"]
    assert multi.format == "react" and multi.outcome.success is True
    assert multi.tools[0]["function"]["parameters"]["required"] == ["path"]
    assert multi.error_counts == {"wrong_type": 1}
    for t in trajs:
        line = encode_line(t)
        assert json.loads(line)["schema_version"] == SCHEMA_VERSION == 2
        assert Trajectory.model_validate(json.loads(line)) == t


def test_datasets_loads_a_store_whose_first_chunk_is_all_nulls(tmp_path: Path) -> None:
    """``datasets`` types columns from its first chunk: late non-null values must still load."""
    datasets = pytest.importorskip("datasets")
    store = TrajectoryStore(tmp_path / "t.jsonl")
    for i in range(60):
        late = i >= 40
        steps = (
            [STEPS["empty"], STEPS["valid_call"], STEPS["invalid_args"]]
            if late
            else [STEPS["empty"]]
        )
        outcome = {"status": "error", "success": True, "error": "x"} if late else {}
        store.append(_traj(steps, outcome=outcome))
    ds = datasets.load_dataset(
        "json",
        data_files=str(store.path),
        features=TrajectoryStore.features(),
        split="train",
        chunksize=2048,
        cache_dir=str(tmp_path),
    )
    assert ds.num_rows == 60
    row = ds[59]
    assert row["schema_version"] == SCHEMA_VERSION and row["outcome"]["error"] == "x"
    assert row["outcome"]["success"] is True and ds[0]["outcome"]["success"] is None
    assert row["steps"][2]["verdict"]["errors"][0]["type"] == "wrong_type"
    assert row["steps"][1]["latency_s"] == 0.25 and row["steps"][1]["prompt_tokens"] == 120
    assert row["steps"][1]["messages"][1] == {
        "role": "user",
        "content": "fix it",
        "tool_calls": None,
        "tool_call_id": None,
        "name": None,
        "extra": None,
    }
    back = Trajectory.model_validate(row)  # a datasets row is a stored record
    assert back.steps[1].call == READ
    assert back == Trajectory.model_validate_json(store.path.read_bytes().splitlines()[59])


def test_datasets_loads_every_kind_of_step_with_the_declared_features(tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    store = TrajectoryStore(tmp_path / "t.jsonl")
    trajs = [_traj([s], tools=TOOLS) for n, s in STEPS.items() if n != "lone_surrogates"]
    store.extend(trajs)
    ds = datasets.load_dataset(
        "json",
        data_files=str(store.path),
        features=TrajectoryStore.features(),
        split="train",
        cache_dir=str(tmp_path),
    )
    assert [Trajectory.model_validate(row) for row in ds] == trajs


def test_summary_stats() -> None:
    traj = _traj([STEPS["valid_call"], STEPS["invalid_args"], STEPS["final_answer"]])
    assert traj.valid_rate == pytest.approx(2 / 3)
    assert not traj.all_valid
    assert traj.error_counts == {"wrong_type": 1}
    assert traj.summary()["steps"] == 3
    assert _traj([STEPS["valid_call"]]).all_valid
    assert not _traj([STEPS["policy_error"]]).all_valid  # a failed model call is not valid


@pytest.mark.parametrize(
    ("task", "expected"),
    [("free text", ("", "free text")), ({"id": "a", "prompt": "p"}, ("a", "p")), (None, None)],
)
def test_task_forms(task: Any, expected: tuple[str, str] | None) -> None:
    if expected is None:
        with pytest.raises(ValidationError):
            Trajectory(task=task)
        return
    t = Trajectory(task=task).task
    assert (t.id, t.prompt) == expected


def test_metadata_keeps_unknown_keys_in_extra() -> None:
    meta = Trajectory(metadata={"source": "langchain", "model": "gpt", "run": 3}).metadata
    assert (meta.source, meta.model, meta.extra) == ("langchain", "gpt", {"run": 3})


@pytest.mark.parametrize(
    ("record", "match"),
    [
        ({"schema_version": SCHEMA_VERSION + 1}, "upgrade agent-rl"),
        ({"steps": [{"index": -1}]}, "index"),
        ({"steps": [{"index": 0, "call": '{"name": 3}'}]}, "name"),
        ({"format": "xml"}, "format"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_invalid_records_are_refused(record: dict[str, Any], match: str) -> None:
    with pytest.raises(ValidationError, match=match):
        Trajectory.model_validate(record)


def test_unstorable_values_give_a_clear_error(tmp_path: Path) -> None:
    store = TrajectoryStore(tmp_path / "t.jsonl")
    for bad in ({"x": float("nan")}, {"x": object()}):
        with pytest.raises(StoreError, match="cannot be stored as JSON"):
            store.append(_traj([_step(0, extra=bad)]))
    assert not store.path.exists() or store.path.read_bytes() == b""


# --- store ----------------------------------------------------------------------------------


def _fill(store: TrajectoryStore, n: int) -> list[Trajectory]:
    trajs = [_traj([STEPS["valid_call"]], metadata={"i": i}) for i in range(n)]
    for t in trajs:
        store.append(t)
    return trajs


def test_append_and_stream_back(tmp_path: Path) -> None:
    store = TrajectoryStore(tmp_path / "sub" / "t.jsonl", fsync=True)
    trajs = _fill(store, 5)
    assert store.extend(trajs[:2]) == 2
    assert list(store) == trajs + trajs[:2]
    assert store.appended == 7 and store.skipped == 0


def test_concurrent_writers_in_one_process_never_interleave(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    stores = [TrajectoryStore(path), TrajectoryStore(path)]  # two handles, one file lock
    big = "x" * 200_000  # long lines: a torn or interleaved write would show
    per_thread, threads = 25, 8

    def work(k: int) -> None:
        for i in range(per_thread):
            stores[k % 2].append(_traj([_step(0, raw_output=big)], metadata={"k": k, "i": i}))

    pool = [threading.Thread(target=work, args=(k,)) for k in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    got = [(t.metadata.extra["k"], t.metadata.extra["i"]) for t in TrajectoryStore(path)]
    assert sorted(got) == [(k, i) for k in range(threads) for i in range(per_thread)]


def test_torn_last_line_is_skipped_with_a_warning(tmp_path: Path) -> None:
    store = TrajectoryStore(tmp_path / "t.jsonl")
    trajs = _fill(store, 3)
    line = encode_line(trajs[0])
    with open(store.path, "ab") as f:
        f.write(line[: len(line) // 2])  # a crash mid-append
    with pytest.warns(TornRecordWarning, match=r"t.jsonl:4: skipped the last record"):
        assert list(store.read()) == trajs
    assert store.skipped == 1 and store.skipped_lines[0][0] == 4


def test_append_after_a_torn_line_moves_it_aside(tmp_path: Path) -> None:
    store = TrajectoryStore(tmp_path / "t.jsonl")
    trajs = _fill(store, 2)
    torn = encode_line(trajs[0])[:100]
    with open(store.path, "ab") as f:
        f.write(torn)
    fresh = TrajectoryStore(store.path)
    with pytest.warns(TornRecordWarning, match="moved it to"):
        fresh.append(trajs[1])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert list(fresh.read()) == [*trajs, trajs[1]]
    assert (tmp_path / "t.jsonl.torn").read_bytes() == torn + b"\n"


def test_a_whole_last_record_missing_its_newline_is_kept(tmp_path: Path) -> None:
    store = TrajectoryStore(tmp_path / "t.jsonl")
    trajs = _fill(store, 2)
    store.path.write_bytes(store.path.read_bytes()[:-1])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert list(store.read()) == trajs
        TrajectoryStore(store.path).append(trajs[0])
        assert list(store.read()) == [*trajs, trajs[0]]


BAD_LINES = {
    "garbage": b"not json at all\n",
    "truncated_json": b'{"schema_version": 1, "id": "x", "steps": [\n',
    "wrong_schema": b'{"schema_version": 1, "steps": [{"index": "zero"}]}\n',
    "future_version": b'{"schema_version": 99}\n',
    "invalid_utf8": b'{"schema_version": 1, "id": "\xff\xfe"}\n',
    "json_array": b"[1, 2, 3]\n",
}


@pytest.mark.parametrize("name", list(BAD_LINES))
def test_a_bad_line_in_the_middle_names_file_and_line(tmp_path: Path, name: str) -> None:
    store = TrajectoryStore(tmp_path / "t.jsonl")
    trajs = _fill(store, 2)
    with open(store.path, "ab") as f:
        f.write(BAD_LINES[name])
    store.append(trajs[0])
    with pytest.raises(CorruptRecordError, match=r"t\.jsonl:3: not a valid trajectory") as e:
        list(store.read())
    assert (e.value.line, e.value.path) == (3, str(store.path))
    with pytest.warns(SkippedRecordWarning, match=r"t\.jsonl:3: skipped a bad record"):
        assert list(store.read(on_error="skip")) == [*trajs, trajs[0]]
    assert store.skipped == 1


def test_blank_lines_are_ignored(tmp_path: Path) -> None:
    store = TrajectoryStore(tmp_path / "t.jsonl")
    trajs = _fill(store, 1)
    with open(store.path, "ab") as f:
        f.write(b"\n  \n")
    store.append(trajs[0])
    assert list(store) == trajs * 2


def test_reading_a_missing_file_or_a_bad_mode(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="does not exist"):
        list(TrajectoryStore(tmp_path / "nope.jsonl"))
    with pytest.raises(ValueError, match="on_error='ignore' is not supported"):
        list(TrajectoryStore(tmp_path / "nope.jsonl").read(on_error="ignore"))  # type: ignore[arg-type]


def test_writing_to_a_directory_is_a_store_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="could not append"):
        TrajectoryStore(tmp_path).append(_traj([]))


class FlakyWriter:
    """Writes half of the next write, then fails like a full disk; later writes succeed."""

    def __init__(self) -> None:
        self.fail_next = False

    def __call__(self, fd: int, data: bytes) -> int:
        import os

        if self.fail_next:
            self.fail_next = False
            os.write(fd, bytes(data[: len(data) // 2]))
            raise OSError(28, "No space left on device")
        return os.write(fd, data)


def test_a_failed_write_never_glues_onto_the_next_record(tmp_path: Path) -> None:
    writer = FlakyWriter()
    store = TrajectoryStore(tmp_path / "t.jsonl", write=writer)
    trajs = _fill(store, 2)
    writer.fail_next = True
    with pytest.raises(StoreError, match="No space left"):
        store.append(trajs[0])
    with pytest.warns(TornRecordWarning, match="moved it to"):
        store.append(trajs[1])
    assert list(store) == [*trajs, trajs[1]]


# --- state replay ------------------------------------------------------------------------------


def test_state_at_rebuilds_the_sandbox_at_every_step() -> None:
    sandbox = CodingSandbox({"src/app.py": "x = 1\n"})
    calls = [
        ToolCall("read_file", {"path": "src/app.py"}),
        ToolCall("write_file", {"path": "src/new.py", "content": "y = 2\n"}),
        ToolCall("edit_file", {"path": "src/app.py", "old_text": "x = 1", "new_text": "x = 3"}),
        ToolCall("read_file", {"path": "missing.py"}),  # a state error: applied, no change
        ToolCall("edit_file", {"path": "src/new.py", "old_text": "y", "new_text": "z"}),
    ]
    snapshots, steps = [], []
    for i, call in enumerate(calls):
        snapshots.append(sandbox.snapshot())
        obs = sandbox.step(call)
        steps.append(
            Step(index=i, call=call, observation=obs, state_before=snapshots[0] if i == 0 else None)
        )
    snapshots.append(sandbox.snapshot())
    traj = Trajectory.model_validate_json(encode_line(Trajectory(steps=steps)))
    for k in range(len(calls) + 1):
        assert traj.state_at(k, verify=True).snapshot() == snapshots[k]
    with pytest.raises(IndexError):
        traj.state_at(len(calls) + 1)
    with pytest.raises(StoreError, match="no state snapshot"):
        Trajectory(steps=[Step(index=0, call=calls[0])]).state_at(1)
    tampered = traj.model_copy(deep=True)
    tampered.steps[2].observation = Observation("something else")
    with pytest.raises(StoreError, match="replaying step 2 gave a different observation"):
        tampered.state_at(4, verify=True)


@pytest.mark.parametrize(
    "bad",
    [
        {"call": ToolCall("x", "not a dict")},  # type: ignore[arg-type]
        {"verdict": CallVerdict(True, None, ToolCall("x", ["a"]))},  # type: ignore[arg-type]
        {"call": '{"name": "x", "arguments": []}'},
    ],
)
def test_a_step_that_could_not_be_read_back_is_refused_up_front(bad: dict[str, Any]) -> None:
    with pytest.raises(ValidationError, match="arguments"):
        Step(index=0, **bad)
