from __future__ import annotations

import subprocess
import sys

import pytest

from semspace.cli import build_parser, main

#: Stage commands that rules call; each must be listed by `semspace --help`.
STAGE_COMMANDS = [
    "download",
    "images",
    "embed",
    "demo",
    "wordnet",
    "vwsd",
    "imagespace",
    "associate",
]


def test_help_lists_the_stage_commands() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "semspace", "--help"], capture_output=True, text=True, check=True
    )
    for command in STAGE_COMMANDS:
        assert command in result.stdout, command


def test_every_command_has_help() -> None:
    parser = build_parser()
    subparsers = next(a for a in parser._actions if a.dest == "command")
    for name, sub in subparsers.choices.items():
        assert sub.format_help(), name


def test_semspace_error_exits_2_with_message(capsys: pytest.CaptureFixture[str], tmp_path) -> None:
    status = main(
        [
            "images",
            "manifest",
            "--format",
            "no-such-format",
            "--root",
            str(tmp_path),
            "--options",
            "{}",
            "--out",
            str(tmp_path / "m.parquet"),
        ]
    )
    assert status == 2
    assert "no-such-format" in capsys.readouterr().err


def _leaf_parsers(parser, path=()):
    subs = [a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction"]
    if not subs:
        yield path, parser
        return
    for name, sub in subs[0].choices.items():
        yield from _leaf_parsers(sub, path + (name,))


def test_every_option_has_help_text() -> None:
    missing = [
        f"semspace {' '.join(path)} {action.option_strings[-1]}"
        for path, leaf in _leaf_parsers(build_parser())
        for action in leaf._actions
        if action.option_strings and action.help is None
    ]
    assert not missing, missing


def _rules_and_commands():
    """(rule name, `semspace` words of its shell) for every rule of workflow/rules/*.smk."""
    import re
    from pathlib import Path

    rules_dir = Path(__file__).resolve().parents[1] / "workflow" / "rules"
    for smk in sorted(rules_dir.glob("*.smk")):
        text = smk.read_text()
        blocks = re.split(r"^(?:rule|checkpoint) ", text, flags=re.MULTILINE)[1:]
        for block in blocks:
            name = block.split(":", 1)[0].strip()
            shell = re.search(r'shell:\s*\n\s*"semspace ([a-z0-9-]+)(?: ([a-z0-9-]+))?', block)
            if shell:
                yield name, [w for w in shell.groups() if w]


def test_every_rule_is_named_after_its_command() -> None:
    pairs = list(_rules_and_commands())
    assert len(pairs) > 40
    parser_commands = {path for path, _ in _leaf_parsers(build_parser())}
    for name, words in pairs:
        assert tuple(words) in parser_commands, (name, words)
        prefix = "_".join(w.replace("-", "_") for w in words)
        assert name == prefix or name.startswith(prefix + "_"), (name, words)


def test_full_disk_is_one_line_exit_2(monkeypatch, capsys, tmp_path) -> None:
    import errno

    from semspace import cli

    def full(args):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "out.parquet"))

    monkeypatch.setattr(cli, "run_command", full)
    status = main(
        [
            "images",
            "manifest",
            "--format",
            "folder",
            "--root",
            str(tmp_path),
            "--out",
            str(tmp_path / "out.parquet"),
        ]
    )
    err = capsys.readouterr().err
    assert status == 2
    assert "out.parquet: No space left on device" in err and "Traceback" not in err


def test_command_line_is_logged_first(caplog, tmp_path) -> None:
    import logging

    with caplog.at_level(logging.INFO, logger="semspace"):
        main(
            [
                "images",
                "manifest",
                "--format",
                "nope",
                "--root",
                str(tmp_path),
                "--out",
                str(tmp_path / "m.parquet"),
            ]
        )
    assert caplog.records[0].getMessage().startswith("semspace images manifest --format nope")
