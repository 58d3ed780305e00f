"""CodingSandbox: state-stage verdicts, tool results, raw text through the scorer, snapshots."""

from __future__ import annotations

import json

import pytest

from agent_rl import CodingSandbox, SandboxError, Scorer, ToolCall
from agent_rl.sandbox import MAX_FILE_BYTES, TOOL_NAMES

FILES = {
    "src/calc.py": "def add(a, b):\n    return a - b\n\n\ndef sub(a, b):\n    return a - b\n",
    "src/util/__init__.py": "",
    "tests/test_calc.py": (
        "from sandbox_checks import read\n\n\n"
        "def test_add():\n    assert 'return a + b' in read('src/calc.py')\n\n\n"
        "def test_sub():\n    assert 'def sub(a, b):' in read('src/calc.py')\n"
    ),
    "config.json": '{"server": {"port": 8080, "debug": true}}\n',
    "empty.txt": "",
    "notes.md": "no final newline",
}


@pytest.fixture
def box() -> CodingSandbox:
    return CodingSandbox(FILES)


def call(name: str, **arguments: object) -> ToolCall:
    return ToolCall(name, dict(arguments))


# -- the state stage ---------------------------------------------------------------------------

STATE_ERRORS = [
    (call("read_file", path="src/missing.py"), "file_not_found", ("arguments", "path")),
    (call("read_file", path="src"), "is_a_directory", ("arguments", "path")),
    (
        call("read_file", path="src/calc.py", start_line=7),
        "line_out_of_range",
        ("arguments", "start_line"),
    ),
    (
        call("read_file", path="src/calc.py", start_line=1, end_line=7),
        "line_out_of_range",
        ("arguments", "end_line"),
    ),
    (
        call("read_file", path="empty.txt", start_line=1),
        "line_out_of_range",
        ("arguments", "start_line"),
    ),
    (
        call("read_file", path="src/calc.py", start_line=4, end_line=2),
        "invalid_line_range",
        ("arguments", "end_line"),
    ),
    (call("read_file", path="../etc/passwd"), "path_outside_workspace", ("arguments", "path")),
    (call("read_file", path="/etc/passwd"), "path_outside_workspace", ("arguments", "path")),
    (call("read_file", path="src/../../x"), "path_outside_workspace", ("arguments", "path")),
    (call("read_file", path="~/.ssh/id_rsa"), "path_outside_workspace", ("arguments", "path")),
    (call("read_file", path=""), "invalid_path", ("arguments", "path")),
    (call("read_file", path="src/calc.py\x00.txt"), "invalid_path", ("arguments", "path")),
    (call("read_file", path="src\\calc.py"), "invalid_path", ("arguments", "path")),
    (call("read_file", path="C:/x.py"), "invalid_path", ("arguments", "path")),
    (call("write_file", path="src", content="x"), "is_a_directory", ("arguments", "path")),
    (call("write_file", path=".", content="x"), "is_a_directory", ("arguments", "path")),
    (
        call("write_file", path="src/calc.py/x.py", content="x"),
        "not_a_directory",
        ("arguments", "path"),
    ),
    (
        call("write_file", path="big.txt", content="x" * (MAX_FILE_BYTES + 1)),
        "content_too_large",
        ("arguments", "path"),
    ),
    (
        call("write_file", path="big.txt", content="é" * (MAX_FILE_BYTES // 2 + 1)),
        "content_too_large",
        ("arguments", "path"),
    ),
    (
        call("edit_file", path="src/calc.py", old="return a * b", new="x"),
        "old_text_not_found",
        ("arguments", "old"),
    ),
    (
        call("edit_file", path="src/calc.py", old="return a - b", new="x"),
        "old_text_ambiguous",
        ("arguments", "old"),
    ),
    (
        call("edit_file", path="src/calc.py", old="def add", new="def add"),
        "no_op_edit",
        ("arguments", "new"),
    ),
    (call("edit_file", path="nope.py", old="a", new="b"), "file_not_found", ("arguments", "path")),
    (call("edit_file", path="src/util", old="a", new="b"), "is_a_directory", ("arguments", "path")),
    (call("list_dir", path="lib"), "dir_not_found", ("arguments", "path")),
    (call("list_dir", path="notes.md"), "not_a_directory", ("arguments", "path")),
    (call("list_dir", path=".."), "path_outside_workspace", ("arguments", "path")),
    (call("search", query="x", path="lib"), "path_not_found", ("arguments", "path")),
    (call("search", query="x", path="/"), "path_outside_workspace", ("arguments", "path")),
    (call("run_tests", path="tests/test_nope.py"), "path_not_found", ("arguments", "path")),
    (call("delete_file", path="src/calc.py"), "unknown_tool", ()),
]


@pytest.mark.parametrize(
    ("the_call", "kind", "loc"), STATE_ERRORS, ids=[k for _, k, _ in STATE_ERRORS]
)
def test_state_errors_have_their_kind_and_change_nothing(
    box: CodingSandbox, the_call: ToolCall, kind: str, loc: tuple[str, ...]
) -> None:
    before = box.snapshot()
    errors = box.check(the_call)
    assert [(e.type, e.loc) for e in errors] == [(kind, loc)]
    assert errors[0].msg
    obs = box.step(the_call)
    assert not obs.ok and obs.error is not None and obs.error.type == kind
    assert f"[{kind}]" in obs.content
    assert box.snapshot() == before


def test_check_is_empty_for_valid_calls_and_never_mutates(box: CodingSandbox) -> None:
    valid = [
        call("read_file", path="src/calc.py"),
        call("read_file", path="./src//calc.py", start_line=2, end_line=2),
        call("read_file", path="empty.txt"),
        call("write_file", path="new/deep/file.txt", content="x"),
        call("write_file", path="src/calc.py", content=""),
        call("edit_file", path="src/calc.py", old="def add(a, b):\n    return a - b", new="x"),
        call("list_dir"),
        call("list_dir", path="src/"),
        call("search", query="return", path="src", max_results=1),
        call("run_tests"),
        call("run_tests", path="tests/test_calc.py"),
        call("finish", summary="done"),
    ]
    before = box.snapshot()
    for c in valid:
        assert box.check(c) == [], c
    assert box.snapshot() == before


def test_an_ambiguous_edit_names_both_lines(box: CodingSandbox) -> None:
    (entry,) = box.check(call("edit_file", path="src/calc.py", old="return a - b", new="x"))
    assert "lines 2 and 6" in entry.msg


def test_a_missing_file_suggests_the_same_name_elsewhere(box: CodingSandbox) -> None:
    (entry,) = box.check(call("read_file", path="calc.py"))
    assert "src/calc.py" in entry.msg


def test_wrong_argument_types_are_errors_not_exceptions(box: CodingSandbox) -> None:
    bad = [
        call("read_file", path=3),
        call("read_file", path=["a"]),
        call("read_file", path="src/calc.py", start_line="2"),
        call("write_file", path="a.txt", content=None),
        call("edit_file", path="src/calc.py", old="def add", new=1),
        call("search", query=None),
        call("finish"),
        ToolCall("list_dir", "not a dict"),  # type: ignore[arg-type]
    ]
    for c in bad:
        errors = box.check(c)
        assert errors, c
        obs = box.step(c)
        assert not obs.ok and obs.error is not None, c


@pytest.mark.parametrize(
    ("arguments", "kind"),
    [
        ({"path": "a.py"}, "missing_argument"),
        ({"path": "a.py", "content": "x", "mode": "w"}, "unknown_argument"),
        ({"path": "a.py", "content": 3}, "wrong_type"),
    ],
)
def test_step_validates_arguments_against_the_schema(
    box: CodingSandbox, arguments: dict[str, object], kind: str
) -> None:
    obs = box.step(ToolCall("write_file", arguments))
    assert not obs.ok and obs.error is not None and obs.error.type == kind
    assert "a.py" not in box.files


# -- tool results ------------------------------------------------------------------------------


def test_read_file_numbers_lines_and_honours_ranges(box: CodingSandbox) -> None:
    assert box.step(call("read_file", path="src/calc.py", start_line=5, end_line=6)).content == (
        "   5\tdef sub(a, b):\n   6\t    return a - b"
    )
    assert box.step(call("read_file", path="notes.md")).content == "   1\tno final newline"
    assert box.step(call("read_file", path="empty.txt")).content == "empty.txt is empty"
    assert box.step(call("read_file", path="src/calc.py", start_line=6)).content.startswith(
        "   6\t"
    )


def test_write_and_edit_change_exactly_what_they_say(box: CodingSandbox) -> None:
    text = 'path = "C:\\\\tmp"\n\tquote = "\\"" # ünïcödé ✓\n'
    assert box.step(call("write_file", path="pkg/new.py", content=text)).content == (
        "Created pkg/new.py (2 lines)"
    )
    assert box.files["pkg/new.py"] == text
    assert box.step(call("list_dir", path="pkg")).content == "new.py"
    obs = box.step(
        call(
            "edit_file",
            path="src/calc.py",
            old="def add(a, b):\n    return a - b",
            new="def add(a, b):\n    return a + b",
        )
    )
    assert (
        obs.ok
        and obs.content == "Edited src/calc.py. Now:\n   1\tdef add(a, b):\n   2\t    return a + b"
    )
    assert box.files["src/calc.py"].count("return a - b") == 1
    assert (
        box.step(call("write_file", path="notes.md", content="new")).content
        == "Overwrote notes.md (1 lines)"
    )


def test_list_dir_shows_folders_first_with_a_slash(box: CodingSandbox) -> None:
    assert box.step(call("list_dir")).content == ("src/\ntests/\nconfig.json\nempty.txt\nnotes.md")
    assert box.step(call("list_dir", path="src")).content == "util/\ncalc.py"
    assert CodingSandbox({}).step(call("list_dir")).content == ". is empty"


SEARCHES = [
    (
        {"query": "def ", "path": "src"},
        "src/calc.py:1: def add(a, b):\nsrc/calc.py:5: def sub(a, b):\n(2 matches)",
    ),
    (
        {"query": "def test_"},
        "tests/test_calc.py:4: def test_add():\ntests/test_calc.py:8: def test_sub():\n(2 matches)",
    ),
    (
        {"query": "def ", "path": "src/calc.py", "max_results": 1},
        "src/calc.py:1: def add(a, b):\n(showing 1 of 2 matches)",
    ),
    ({"query": "(a+)+$"}, "No matches for '(a+)+$'"),  # plain text, not a regex
    (
        {"query": "a, b):\n"},
        "No matches for 'a, b):\\n' (the query has a newline; search matches within one line)",
    ),
    (
        {"query": '"port": 8080'},
        'config.json:1: {"server": {"port": 8080, "debug": true}}\n(1 matches)',
    ),
]


@pytest.mark.parametrize(("arguments", "expected"), SEARCHES, ids=range(len(SEARCHES)))
def test_search_is_plain_text(
    box: CodingSandbox, arguments: dict[str, object], expected: str
) -> None:
    assert box.step(ToolCall("search", arguments)).content == expected


def test_run_tests_reports_like_pytest(box: CodingSandbox) -> None:
    assert box.step(call("run_tests")).content == (
        "collected 2 tests\n"
        "tests/test_calc.py::test_add FAILED\n"
        "tests/test_calc.py::test_sub PASSED\n"
        "FAILED tests/test_calc.py::test_add - line 5: 'return a + b' not found in src/calc.py\n"
        "1 failed, 1 passed"
    )
    box.step(
        call(
            "edit_file",
            path="src/calc.py",
            old="b):\n    return a - b\n\n",
            new="b):\n    return a + b\n\n",
        )
    )
    assert box.step(call("run_tests", path="tests")).content.endswith("\n2 passed")
    assert box.step(call("run_tests", path="src")).content == "collected 0 tests\nno tests ran"


def test_finish_ends_the_episode(box: CodingSandbox) -> None:
    obs = box.step(call("finish", summary="fixed add"))
    assert obs.ok and obs.done
    assert box.done and box.finish_summary == "fixed add"
    for name in TOOL_NAMES:
        (entry,) = box.check(ToolCall(name, {}))
        assert entry.type == "already_finished"
    assert box.step(call("list_dir")).error.type == "already_finished"  # type: ignore[union-attr]


# -- raw text through the scorer ---------------------------------------------------------------


def test_step_on_raw_text_parses_and_applies(box: CodingSandbox) -> None:
    obs = box.step('{"name": "write_file", "arguments": {"path": "a.txt", "content": "x\\ty"}}')
    assert obs.ok and box.files["a.txt"] == "x\ty"
    assert box.step('{"name": "read_file", "arguments": {"path": "a.txt",}}').error.type == (  # type: ignore[union-attr]
        "trailing_comma"
    )
    assert box.step('{"name": "read_file", "arguments": {"path": "b.txt"}}').error.type == (  # type: ignore[union-attr]
        "file_not_found"
    )
    assert box.step("All done, the bug is fixed.").error.type == "no_tool_call"  # type: ignore[union-attr]
    assert not box.done


def test_the_scorer_reports_sandbox_errors_at_the_state_stage(box: CodingSandbox) -> None:
    scorer = Scorer(box.tools, format="json")
    verdict = scorer.score(
        '{"name": "edit_file", "arguments": '
        '{"path": "src/calc.py", "old": "return a - b", "new": "x"}}',
        state=box,
    )
    assert (verdict.valid, verdict.stage, verdict.kind) == (False, "state", "old_text_ambiguous")
    ok = scorer.score('{"name": "list_dir", "arguments": {"path": "src"}}', state=box)
    assert ok.valid and ok.call == call("list_dir", path="src")


def test_step_rejects_api_misuse() -> None:
    with pytest.raises(SandboxError, match="ToolCall"):
        CodingSandbox({}).step({"name": "list_dir"})  # type: ignore[arg-type]


def test_tools_are_the_seven_closed_schemas(box: CodingSandbox) -> None:
    assert (
        tuple(t.name for t in box.tools)
        == TOOL_NAMES
        == (
            "read_file",
            "write_file",
            "edit_file",
            "list_dir",
            "search",
            "run_tests",
            "finish",
        )
    )
    for tool in box.tools:
        assert tool.parameters["additionalProperties"] is False, tool.name
        assert tool.description


# -- construction, snapshots, the read-only view -----------------------------------------------


@pytest.mark.parametrize(
    ("files", "match"),
    [
        ({"../x": ""}, "outside the workspace"),
        ({"/abs": ""}, "not relative"),
        ({"a": "", "./a": ""}, "both normalise"),
        ({"a": "", "a/b": ""}, "is a file"),
        ({"a": 1}, "str -> str"),
        ({"a\x00": ""}, "non-printable"),
        ({".": ""}, "folder"),
        (["a"], "mapping"),
    ],
)
def test_a_bad_initial_workspace_is_api_misuse(files: object, match: str) -> None:
    with pytest.raises(SandboxError, match=match):
        CodingSandbox(files)  # type: ignore[arg-type]


def test_initial_paths_are_normalised() -> None:
    assert dict(CodingSandbox({"./a//b.txt": "x"}).files) == {"a/b.txt": "x"}


def test_files_is_a_read_only_live_view(box: CodingSandbox) -> None:
    view = box.files
    with pytest.raises(TypeError):
        view["x"] = "y"  # type: ignore[index]
    box.step(call("write_file", path="x", content="y"))
    assert view["x"] == "y"


def test_snapshot_round_trips_through_json_at_any_step(box: CodingSandbox) -> None:
    steps = [
        call("write_file", path="docs/a.md", content='ü\n"q"\\'),
        call("edit_file", path="notes.md", old="final", new="last"),
        call("finish", summary="done"),
    ]
    for c in steps:
        box.step(c)
        snap = json.loads(json.dumps(box.snapshot()))
        again = CodingSandbox.restore(snap)
        assert again.snapshot() == box.snapshot()
        assert again.done == box.done and again.finish_summary == box.finish_summary
        assert again.check(call("list_dir", path="docs")) == box.check(
            call("list_dir", path="docs")
        )


@pytest.mark.parametrize(
    "snapshot",
    [
        {},
        {"files": {}},
        {"format": "agent_rl.sandbox/1", "files": {}, "done": "no", "finish_summary": None},
        {"format": "agent_rl.sandbox/1", "files": [], "done": False, "finish_summary": None},
        {
            "format": "agent_rl.sandbox/1",
            "files": {"../x": ""},
            "done": False,
            "finish_summary": None,
        },
    ],
)
def test_restore_rejects_what_is_not_a_snapshot(snapshot: dict[str, object]) -> None:
    with pytest.raises(SandboxError):
        CodingSandbox.restore(snapshot)


def test_copy_is_independent(box: CodingSandbox) -> None:
    twin = box.copy()
    twin.step(call("write_file", path="src/util/x.py", content="x"))
    twin.step(call("finish", summary="s"))
    assert "src/util/x.py" not in box.files and not box.done
    assert box.check(call("read_file", path="src/util/x.py"))[0].type == "file_not_found"
    assert twin.check(call("list_dir"))[0].type == "already_finished"
