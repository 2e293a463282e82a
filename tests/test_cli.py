from __future__ import annotations

import subprocess
import sys

import pytest

from semspace.cli import build_parser, main

#: Stage commands that rules call; each must be listed by `semspace --help`.
STAGE_COMMANDS = ["download", "manifest", "resize", "embed", "demo", "wordnet", "vwsd",
                  "captions", "tokensets", "setdist", "mds", "associate"]


def test_help_lists_the_stage_commands() -> None:
    result = subprocess.run([sys.executable, "-m", "semspace", "--help"],
                            capture_output=True, text=True, check=True)
    for command in STAGE_COMMANDS:
        assert command in result.stdout, command


def test_every_command_has_help() -> None:
    parser = build_parser()
    subparsers = next(a for a in parser._actions if a.dest == "command")
    for name, sub in subparsers.choices.items():
        assert sub.format_help(), name


def test_semspace_error_exits_2_with_message(capsys: pytest.CaptureFixture[str], tmp_path) -> None:
    status = main(["manifest", "--format", "no-such-format", "--root", str(tmp_path),
                   "--options", "{}", "--out", str(tmp_path / "m.parquet")])
    assert status == 2
    assert "no-such-format" in capsys.readouterr().err
