"""Config and CLI mistakes give one clear line and exit 2 — never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent_rl.cli import main


@pytest.mark.parametrize(
    ("argv", "yaml_text", "expected"),
    [
        (["sft"], "max_steps: [3\n", "not valid YAML at line 2"),
        (["sft"], "max_stpes: 3\n", "max_stpes -> max_steps"),
        (["train"], "learning_rat: 0.1\n", "learning_rat -> learning_rate"),
        (["train"], "formats: [xml]\n", "formats=['xml'] is not supported"),
    ],
)
def test_bad_yaml_config_is_one_clear_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv, yaml_text: str, expected: str
) -> None:
    config = tmp_path / "run.yaml"
    config.write_text(yaml_text)
    code = main([*argv, "--config", str(config), "--output_dir", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2
    assert expected in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_missing_model_folder_is_one_clear_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["sft", "--model", str(tmp_path / "nope"), "--output_dir", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2 and "not found: pass a local path" in err


def test_trajectory_file_with_a_wrong_column_names_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text('{"foo": 1}\n')
    assert main(["score", str(path)]) == 2
    assert f"{path}:1: not a valid trajectory record" in capsys.readouterr().err
