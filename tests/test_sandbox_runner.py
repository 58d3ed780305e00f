"""The mock test runner: its declarative convention, collection, and what it refuses to run."""

from __future__ import annotations

import pytest

from agent_rl.sandbox import run_source, run_tests

WS = {
    "src/app.py": 'TIMEOUT = 30\nNAME = "a\\tb"\n',
    "cfg.json": '{"a": {"b": [1, true, null]}}',
    "dup.json": '{"a": 1, "a": 2}',
    "nan.json": '{"a": NaN}',
}
RUNNER_CASES = [
    ('assert "TIMEOUT = 30" in read("src/app.py")', "passed"),
    ('assert "TIMEOUT = 31" in read("src/app.py")', "failed"),
    ('assert "TIMEOUT = 31" not in read("src/app.py")', "passed"),
    ('assert "x" in read("src/nope.py")', "failed"),
    ("assert 'NAME = \"a\\\\tb\"' in read('src/app.py')", "passed"),
    ('assert read("src/app.py") == "TIMEOUT = 30\\nNAME = \\"a\\\\tb\\"\\n"', "passed"),
    ('assert read("src/app.py") != "TIMEOUT = 30\\n"', "passed"),
    ('assert read("src/app.py").count("=") == 2', "passed"),
    ('assert read("src/app.py").count("=") == 3', "failed"),
    ('assert exists("cfg.json")', "passed"),
    ('assert not exists("cfg.json")', "failed"),
    ('assert json_get("cfg.json", "a", "b", 1) == True', "passed"),
    ('assert json_get("cfg.json", "a", "b", 0) == True', "failed"),  # 1 is not true
    ('assert json_get("cfg.json", "a", "b", 2) == None', "passed"),
    ('assert json_get("cfg.json", "a", "b") == [1.0, True, None]', "passed"),
    ('assert json_get("cfg.json", "a", "c") == 1', "failed"),
    ('assert json_get("src/app.py") == 1', "failed"),  # not JSON
    ('assert json_get("dup.json", "a") == 2', "failed"),  # duplicate keys: not strict JSON
    ('assert json_get("nan.json", "a") != 0', "failed"),  # NaN: not JSON at all
    ('assert json_get("cfg.json", "a") != {"b": [1, True, None]}', "failed"),
    ('assert "x" in read("../etc/passwd")', "failed"),
    ("x = 1", "error"),
    ('assert eval("1")', "error"),
    ('assert "a" in open("src/app.py").read()', "error"),
    ('assert "a" in read("src/app.py"), message', "error"),
    ('"""docstring only"""', "passed"),
]


@pytest.mark.parametrize(("body", "outcome"), RUNNER_CASES)
def test_runner_convention(body: str, outcome: str) -> None:
    report = run_source(f"def test_case():\n    {body}\n", WS)
    assert [r.outcome for r in report.results] == [outcome], report.render()


def test_runner_failure_messages_carry_the_assertion_message() -> None:
    report = run_source('def test_x():\n    assert exists("nope"), "nope is needed"\n', WS)
    assert report.results[0].message == "line 2: nope is needed: nope does not exist"


@pytest.mark.parametrize(
    ("source", "collected", "ok"),
    [
        ("def test_a():\n    pass\n\ndef helper():\n    assert False\n", 1, True),
        ("def test_a(tmp_path):\n    pass\n", 1, False),  # fixtures: an error, not a pass
        ("class TestA:\n    def test_x(self):\n        pass\n", 0, False),
        ("def test_a(:\n", 0, False),
        ("(" * 1000, 0, False),
        ("", 0, False),
    ],
)
def test_runner_collection(source: str, collected: int, ok: bool) -> None:
    report = run_tests({"tests/test_a.py": source, "src/x.py": ""})
    assert len(report.results) == collected and report.ok is ok


def test_runner_collects_only_test_files_under_a_folder() -> None:
    files = {
        "tests/test_a.py": "def test_a():\n    pass\n",
        "tests/b_test.py": "def test_b():\n    pass\n",
        "tests/helpers.py": 'def test_not_collected():\n    assert exists("nope")\n',
        "other/test_c.py": "def test_c():\n    pass\n",
    }
    assert [r.nodeid for r in run_tests(files, "tests").results] == [
        "tests/b_test.py::test_b",
        "tests/test_a.py::test_a",
    ]
    assert [r.outcome for r in run_tests(files, "tests/helpers.py").results] == ["failed"]
