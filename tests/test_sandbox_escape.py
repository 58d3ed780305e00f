"""Escape attempts: hostile paths, huge writes, pathological searches and test files.

Everything must stay inside the virtual workspace with a state-stage error, and nothing may
touch the host: the episodes below run with every file, process and socket entry point
patched to raise, and again in a fresh interpreter under an audit hook that records any
``open``, ``os.*``, ``subprocess.*`` or ``socket.*`` event.
"""

from __future__ import annotations

import builtins
import io
import json
import os
import posixpath
import shutil
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent_rl import CodingSandbox, ToolCall
from agent_rl.sandbox import MAX_FILE_BYTES, MAX_FILES, MAX_WORKSPACE_BYTES, normalize

OUTSIDE = [
    "../../etc/passwd",
    "/etc/passwd",
    "//etc/passwd",
    "/",
    "a/../../b",
    "src/../../../etc/shadow",
    "..",
    "../",
    "~",
    "~root/.bashrc",
    "./../x",
]
INVALID = [
    "",
    "etc/passwd\x00.txt",
    "\x00",
    "C:\\Windows\\system.ini",
    "C:/Windows/system.ini",
    "c:relative",
    "\\\\server\\share\\x",
    "..\\..\\etc\\passwd",
    "a" * 5000,
    "a/" + "b" * 300,
    "src/\u202egnp.exe",  # right-to-left override
    "zero\u200bwidth",
    "\ud800",  # lone surrogate
    "new\nline",
    "tab\there",
    "\x1b[31mred",
]
# Odd but legal names: they stay inside the root and simply do not exist (never a host read).
INSIDE = [
    ".//etc//passwd",
    "%2e%2e/etc/passwd",
    "..%2fetc%2fpasswd",
    "\u2025/etc/passwd",  # two-dot leader
    "\uff0e\uff0e/etc/passwd",  # fullwidth dots
    "link -> /etc/passwd",
    "proc/self/environ",
    "...",
    "secret.txt",
]
PATH_TOOLS = {
    "read_file": {},
    "write_file": {"content": "pwned"},
    "edit_file": {"old": "a", "new": "b"},
    "list_dir": {},
    "search": {"query": "root"},
    "run_tests": {},
}
FILES = {"src/app.py": "print('hi')\n", "tests/test_app.py": "def test_a():\n    pass\n"}


def hostile_calls() -> list[tuple[ToolCall, str]]:
    cases = []
    for tool, extra in PATH_TOOLS.items():
        cases += [(ToolCall(tool, {"path": p, **extra}), "path_outside_workspace") for p in OUTSIDE]
        cases += [(ToolCall(tool, {"path": p, **extra}), "invalid_path") for p in INVALID]
    return cases


@pytest.mark.parametrize(("call", "kind"), hostile_calls(), ids=lambda v: ascii(v)[:40])
def test_hostile_paths_are_state_errors(call: ToolCall, kind: str) -> None:
    box = CodingSandbox(FILES)
    (entry,) = box.check(call)
    assert entry.type == kind and entry.loc == ("arguments", "path")
    obs = box.step(call)
    assert not obs.ok and obs.error == entry
    assert dict(box.files) == FILES


@pytest.mark.parametrize("path", INSIDE)
def test_odd_names_stay_inside_the_workspace(path: str) -> None:
    box = CodingSandbox(FILES)
    assert box.check(ToolCall("read_file", {"path": path}))[0].type == "file_not_found"
    assert box.step(ToolCall("write_file", {"path": path, "content": "virtual"})).ok
    key = posixpath.normpath(path)
    assert box.files[key] == "virtual"
    assert box.step(ToolCall("read_file", {"path": path})).content == "   1\tvirtual"


@settings(max_examples=300, deadline=None)
@given(
    st.text(max_size=60)
    | st.lists(st.sampled_from(["..", ".", "a", "/", "\\", "~", ""])).map("/".join)
)
def test_any_path_normalises_inside_the_root_or_is_refused(path: str) -> None:
    key = normalize(path)
    if isinstance(key, str):
        assert not key.startswith(("/", "../", "~")) and key != ".."
        assert posixpath.normpath(key) == key
        assert key.isprintable() and "\\" not in key
    box = CodingSandbox(FILES)
    for tool, extra in PATH_TOOLS.items():
        box.check(ToolCall(tool, {"path": path, **extra}))  # never raises
    assert dict(box.files) == FILES


# -- size limits -------------------------------------------------------------------------------


def test_a_100_mb_write_is_refused_and_stores_nothing() -> None:
    box = CodingSandbox(FILES)
    huge = "x" * 100_000_000
    obs = box.step(ToolCall("write_file", {"path": "big.bin", "content": huge}))
    assert obs.error is not None and obs.error.type == "content_too_large"
    assert f"{MAX_FILE_BYTES:,}" in obs.error.msg
    assert "big.bin" not in box.files
    del huge


def test_an_edit_cannot_grow_a_file_past_the_limit() -> None:
    box = CodingSandbox({"a.txt": "x" * (MAX_FILE_BYTES - 10) + "END"})
    (entry,) = box.check(ToolCall("edit_file", {"path": "a.txt", "old": "END", "new": "y" * 20}))
    assert entry.type == "content_too_large"


def test_the_workspace_has_a_total_limit() -> None:
    box = CodingSandbox({})
    chunk = "x" * MAX_FILE_BYTES
    for i in range(MAX_WORKSPACE_BYTES // MAX_FILE_BYTES):
        assert box.step(ToolCall("write_file", {"path": f"f{i}", "content": chunk})).ok
    obs = box.step(ToolCall("write_file", {"path": "one-more", "content": "x"}))
    assert obs.error is not None and obs.error.type == "content_too_large"
    # overwriting an existing file with the same size is still fine
    assert box.step(ToolCall("write_file", {"path": "f0", "content": "y" * MAX_FILE_BYTES})).ok


def test_the_number_of_files_is_bounded() -> None:
    box = CodingSandbox({f"d/{i}": "" for i in range(MAX_FILES)})
    obs = box.step(ToolCall("write_file", {"path": "d/extra", "content": ""}))
    assert obs.error is not None and obs.error.type == "too_many_files"
    assert box.step(ToolCall("write_file", {"path": "d/0", "content": "still writable"})).ok


def test_observations_stay_bounded_on_huge_files() -> None:
    box = CodingSandbox(
        {
            "many.txt": "line\n" * 3000,
            "wide.txt": ("w" * 5000 + "\n") * 150,
            "one.txt": "z" * 999_000,
        }
    )
    many = box.step(ToolCall("read_file", {"path": "many.txt"})).content
    assert many.count("\n") == 2000
    assert many.endswith("... truncated at line 2000 of 3000; go on with start_line=2001")
    assert box.step(
        ToolCall("read_file", {"path": "many.txt", "start_line": 2001})
    ).content.endswith("3000\tline")
    for args in ({"path": "wide.txt"}, {"path": "one.txt"}, {"query": "w"}, {"query": "z"}):
        tool = "search" if "query" in args else "read_file"
        obs = box.step(ToolCall(tool, {**args, "max_results": 50} if tool == "search" else args))
        assert obs.ok and len(obs.content) < 110_000, (args, len(obs.content))
    wide = box.step(ToolCall("read_file", {"path": "wide.txt"})).content
    assert "truncated at line 50 of 150; go on with start_line=51" in wide


# -- pathological search and test files --------------------------------------------------------


def test_search_treats_regex_syntax_as_text_and_stays_linear() -> None:
    box = CodingSandbox({"big.txt": "a" * 1_000_000, "lines.txt": "x" * 500 + "\n" * 100_000})
    queries = ["(a+)+$", "(a|aa)*c", "a" * 10_000 + "b", ".*" * 500, "[", "\\"]
    for q in queries:
        assert box.step(ToolCall("search", {"query": q})).content.startswith("No matches")
    out = box.step(ToolCall("search", {"query": "x", "max_results": 50})).content.split("\n")
    assert out[0] == "lines.txt:1: " + "x" * 200 + "…" and out[-1] == "(1 matches)"


HOSTILE_TESTS = {
    "tests/test_evil.py": textwrap.dedent(
        """
        import os
        os.system("touch pwned-module")
        open("pwned-open", "w").write("x")

        def test_system():
            assert __import__("os").system("touch pwned-test") == 0

        def test_read_host():
            assert "root:" in read("/etc/passwd")

        def test_exists_host():
            assert exists("../../etc/passwd")

        def test_open():
            assert "x" in open("/etc/passwd").read()
        """
    ),
    "tests/test_nested.py": "def test_x():\n    assert " + "(" * 100_000 + ")" * 100_000 + "\n",
    "tests/test_deep_json.py": 'def test_j():\n    assert json_get("deep.json") == 1\n',
    "tests/test_chain.py": "def test_x():\n    assert x" + " + x" * 50_000 + "\n",
    "deep.json": "[" * 100_000 + "]" * 100_000,
}


def test_hostile_test_files_are_read_never_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    box = CodingSandbox(HOSTILE_TESTS)
    report = box.step(ToolCall("run_tests", {})).content
    assert "tests/test_evil.py::test_system ERROR" in report
    assert "tests/test_evil.py::test_read_host FAILED" in report
    assert "tests/test_evil.py::test_exists_host FAILED" in report
    assert "tests/test_evil.py::test_open ERROR" in report
    assert "tests/test_deep_json.py::test_j FAILED" in report and "not strict JSON" in report
    assert "ERROR collecting tests/test_nested.py" in report
    assert os.listdir(tmp_path) == []


# -- no host side effect, ever -----------------------------------------------------------------


def full_episode(box: CodingSandbox) -> list[bool]:
    """Every tool, valid and hostile, through ToolCalls and raw text; returns each ``ok``."""
    calls: list[ToolCall | str] = [
        ToolCall("list_dir", {}),
        ToolCall("read_file", {"path": "src/app.py"}),
        ToolCall("read_file", {"path": "secret.txt"}),
        ToolCall("write_file", {"path": "secret.txt", "content": "virtual"}),
        ToolCall("edit_file", {"path": "src/app.py", "old": "hi", "new": "hello"}),
        ToolCall("search", {"query": "hello"}),
        ToolCall("run_tests", {}),
        '{"name": "read_file", "arguments": {"path": "src/app.py"}}',
        '{"name": "read_file", "arguments": {"path": "../../etc/passwd"}}',
        '{"name": "write_file", "arguments": {"path": "/tmp/pwned", "content": "x"}}',
        '{"name": "run_tests", "arguments": {"path": "tests", "x": 1}}',
    ]
    for tool, extra in PATH_TOOLS.items():
        calls += [ToolCall(tool, {"path": p, **extra}) for p in OUTSIDE[:4] + INVALID[:6]]
    oks = [box.step(c).ok for c in calls]
    again = CodingSandbox.restore(json.loads(json.dumps(box.snapshot()))).copy()
    oks.append(again.step(ToolCall("finish", {"summary": "done"})).done)
    return oks


EXPECTED_OKS = [True] * 2 + [False] + [True] * 5 + [False] * 3 + [False] * 60 + [True]


def test_full_episode_with_host_access_patched_to_raise(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "secret.txt").write_text("host secret")
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "app.py").write_text("host code")
    monkeypatch.chdir(tmp_path)
    full_episode(CodingSandbox(FILES))  # warm up lazy imports and caches before patching
    touched: list[str] = []

    def forbid(name: str):
        def raiser(*args: object, **kwargs: object) -> None:
            touched.append(name)
            raise AssertionError(f"the sandbox touched the host: {name}{args!r:.80}")

        return raiser

    targets = [
        (builtins, "open"), (io, "open"), (os, "open"), (os, "listdir"), (os, "scandir"),
        (os, "stat"), (os, "lstat"), (os, "mkdir"), (os, "makedirs"), (os, "remove"),
        (os, "unlink"), (os, "rename"), (os, "replace"), (os, "rmdir"), (os, "chdir"),
        (os, "system"), (os, "popen"), (os, "symlink"), (os, "readlink"), (os, "walk"),
        (subprocess, "Popen"), (subprocess, "run"), (socket, "socket"),
        (socket, "create_connection"), (shutil, "rmtree"), (shutil, "copyfile"),
    ]  # fmt: skip
    with pytest.MonkeyPatch.context() as patched:
        for module, name in targets:
            patched.setattr(module, name, forbid(f"{module.__name__}.{name}"))
        box = CodingSandbox(FILES)
        oks = full_episode(box)
    assert touched == []
    assert oks == EXPECTED_OKS
    assert box.files["secret.txt"] == "virtual" and box.files["src/app.py"] == "print('hello')\n"
    assert os.getcwd() == str(tmp_path)
    assert sorted(os.listdir(tmp_path)) == ["secret.txt", "src"]
    assert (tmp_path / "secret.txt").read_text() == "host secret"
    assert (tmp_path / "src" / "app.py").read_text() == "host code"


AUDITED = textwrap.dedent(
    """
    import json, os, sys
    sys.path[:0] = {paths!r}
    from test_sandbox_escape import FILES, full_episode
    from agent_rl import CodingSandbox

    full_episode(CodingSandbox(FILES))  # warm up: lazy imports may read module files
    PREFIXES = ("open", "os.", "subprocess.", "socket.", "shutil.", "exec", "ctypes.", "import")
    seen = []
    active = [True]

    def hook(event, args):
        if active[0] and event.startswith(PREFIXES):
            seen.append(event + " " + repr(args)[:100])

    sys.addaudithook(hook)
    oks = full_episode(CodingSandbox(FILES))
    active[0] = False
    print(json.dumps({{"events": seen, "oks": oks, "cwd": os.getcwd()}}))
    """
)


def test_full_episode_under_an_audit_hook_in_a_fresh_interpreter(tmp_path: Path) -> None:
    here = str(Path(__file__).parent)
    script = AUDITED.format(paths=[here, *sys.path])
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path, timeout=120
    )
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["events"] == []
    assert result["oks"] == EXPECTED_OKS
    assert result["cwd"] == str(tmp_path) and os.listdir(tmp_path) == []
