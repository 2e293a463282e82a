"""GPU slots: concurrent processes take distinct devices; one more waits until a slot frees;
every command with runtime flags takes its slot in ``semspace.cli.run_command``."""

from __future__ import annotations

import argparse
import logging
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from semspace.cli import USES_GPU, build_parser
from semspace.devices import (
    acquire_gpu_slot,
    candidate_ids,
    check_gpu_use,
    gpu_count,
    gpu_slot,
    host_lock_dir,
)
from semspace.errors import GpuUnavailableError

# Takes a slot, reports CUDA_VISIBLE_DEVICES in a file, holds the slot until a release file appears.
HOLDER = """
import os, sys, time
from pathlib import Path
from semspace.devices import acquire_gpu_slot
lock_dir, report, release = sys.argv[1:4]
with acquire_gpu_slot(lock_dir, poll_seconds=0.05) as device:
    Path(report).write_text(os.environ.get("CUDA_VISIBLE_DEVICES", "") + "|" + str(device))
    while not Path(release).exists():
        time.sleep(0.02)
"""


def _env(**extra: str) -> dict[str, str]:
    hidden = {"CUDA_VISIBLE_DEVICES", "SLURM_JOB_ID"}
    env = {k: v for k, v in os.environ.items() if k not in hidden}
    env.update(extra)
    return env


def _wait_for(path: Path, timeout: float = 60.0) -> str:
    deadline = time.monotonic() + timeout
    while not path.exists() or not path.read_text():
        assert time.monotonic() < deadline, f"{path} never written"
        time.sleep(0.02)
    return path.read_text()


@pytest.fixture(autouse=True)
def _not_in_slurm(monkeypatch):
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)


def test_concurrent_jobs_get_distinct_devices_and_a_fourth_waits(tmp_path):
    locks = tmp_path / "locks"
    env = _env(SEMSPACE_GPU_COUNT="3")
    procs = []
    try:
        for i in range(4):
            procs.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-c",
                        HOLDER,
                        str(locks),
                        str(tmp_path / f"r{i}"),
                        str(tmp_path / f"go{i}"),
                    ],
                    env=env,
                )
            )
            if i < 3:
                _wait_for(tmp_path / f"r{i}")
        reports = [_wait_for(tmp_path / f"r{i}").split("|") for i in range(3)]
        assert sorted(visible for visible, _ in reports) == ["0", "1", "2"]
        assert all(visible == device for visible, device in reports)
        time.sleep(1.0)
        assert not (tmp_path / "r3").exists(), "a fourth job got a slot while three were held"
        assert procs[3].poll() is None
        (tmp_path / "go1").write_text("")  # release the job holding device reports[1]
        procs[1].wait(timeout=30)
        fourth = _wait_for(tmp_path / "r3").split("|")
        assert fourth[0] == reports[1][0]
    finally:
        for i in range(4):
            (tmp_path / f"go{i}").write_text("")
        for p in procs:
            p.wait(timeout=30)
    assert [p.returncode for p in procs] == [0, 0, 0, 0]


def test_slots_come_from_existing_visible_devices(tmp_path, monkeypatch):
    monkeypatch.setenv("SEMSPACE_GPU_COUNT", "2")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "5,7")
    assert candidate_ids() == ["5", "7"]
    with acquire_gpu_slot(tmp_path) as first:
        assert first == "5" and os.environ["CUDA_VISIBLE_DEVICES"] == "5"
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "5,7"  # restored after the block
    assert (host_lock_dir(tmp_path) / "gpu-5.lock").exists()


def test_no_gpu_means_no_lock(tmp_path, monkeypatch):
    monkeypatch.setenv("SEMSPACE_GPU_COUNT", "0")
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    with acquire_gpu_slot(tmp_path / "locks") as device:
        assert device is None
        assert "CUDA_VISIBLE_DEVICES" not in os.environ
    assert not (tmp_path / "locks").exists()


def test_hidden_devices(monkeypatch):
    monkeypatch.setenv("SEMSPACE_GPU_COUNT", "4")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "-1")
    assert candidate_ids() == []
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert candidate_ids() == []
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    assert candidate_ids() == ["0", "1", "2", "3"]
    assert candidate_ids(n_devices=2) == ["0", "1"]


def test_gpu_count_from_env(monkeypatch):
    monkeypatch.setenv("SEMSPACE_GPU_COUNT", "3")
    assert gpu_count() == 3
    monkeypatch.setenv("SEMSPACE_GPU_COUNT", "three")
    with pytest.raises(ValueError, match="SEMSPACE_GPU_COUNT"):
        gpu_count()


def test_lock_dir_from_env(tmp_path, monkeypatch):
    monkeypatch.setenv("SEMSPACE_GPU_COUNT", "1")
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.setenv("SEMSPACE_GPU_LOCK_DIR", str(tmp_path / "here"))
    with acquire_gpu_slot() as device:
        assert device == "0"
    assert (tmp_path / "here" / socket.gethostname() / "gpu-0.lock").exists()


def test_slurm_job_takes_no_lock_and_keeps_the_schedulers_device(tmp_path, monkeypatch):
    monkeypatch.setenv("SLURM_JOB_ID", "42")
    monkeypatch.setenv("SEMSPACE_GPU_COUNT", "4")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3")
    with acquire_gpu_slot(tmp_path / "locks") as device:
        assert device == "3" and os.environ["CUDA_VISIBLE_DEVICES"] == "3"
    assert not (tmp_path / "locks").exists()
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")  # a SLURM job given no GPU
    with acquire_gpu_slot(tmp_path / "locks") as device:
        assert device is None


def test_a_slot_taken_twice_in_one_process_is_the_same_slot(tmp_path, monkeypatch):
    monkeypatch.setenv("SEMSPACE_GPU_COUNT", "2")
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    with acquire_gpu_slot(tmp_path) as outer:
        # A command's own (older) slot call inside main's slot must not take a second GPU.
        with acquire_gpu_slot(tmp_path, poll_seconds=0.01) as inner:
            assert inner == outer == "0"
        assert os.environ["CUDA_VISIBLE_DEVICES"] == "0"
    with acquire_gpu_slot(tmp_path) as again:
        assert again == "0"  # released: the first free device again


def test_gpu_job_on_the_cpu_warns_or_fails(caplog):
    with caplog.at_level(logging.WARNING, logger="semspace.devices"):
        check_gpu_use("auto", require_gpu=False, have_gpu=False)
    assert "runs on the CPU" in caplog.text
    with pytest.raises(GpuUnavailableError, match="require_gpu"):
        check_gpu_use("auto", require_gpu=True, have_gpu=False)
    with pytest.raises(GpuUnavailableError):
        check_gpu_use("cuda", require_gpu=False, have_gpu=False)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="semspace.devices"):
        check_gpu_use("cpu", require_gpu=True, have_gpu=False)  # asked for the CPU: no word
        check_gpu_use("auto", require_gpu=True, have_gpu=True)
    assert caplog.text == ""


def test_cpu_device_takes_no_slot(tmp_path, monkeypatch):
    monkeypatch.setenv("SEMSPACE_GPU_COUNT", "1")
    monkeypatch.setenv("SEMSPACE_GPU_LOCK_DIR", str(tmp_path / "locks"))
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    with gpu_slot("cpu", require_gpu=True) as device:
        assert device is None and "CUDA_VISIBLE_DEVICES" not in os.environ
    assert not (tmp_path / "locks").exists()


def _leaves(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    """(command path, sub-parser) of every leaf command of the CLI."""
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield path, parser
        return
    for name, child in subs[0].choices.items():
        yield from _leaves(child, (*path, name))


#: Commands that load a model and may run it on CUDA (workflow rules declaring gpu=1).
GPU_COMMANDS = {
    "embed images",
    "associate generate",
    "vwsd score",
    "retrieval texts",
    "retrieval vgg16",
    "retrieval train",
    "softtext classifier",
    "softtext score",
    "syntax finetune",
    "syntax evaluate",
    "syntax relevance",
}

# Runs one CLI command through run_command with a faked CUDA, its body replaced by a holder that
# reports CUDA_VISIBLE_DEVICES and keeps the slot until a release file appears.
COMMAND_HOLDER = """
import argparse, os, sys, time
from pathlib import Path
import semspace.devices
from semspace.cli import build_parser, run_command
semspace.devices._torch_sees_cuda = lambda: True
names, report, release = sys.argv[1].split(), sys.argv[2], sys.argv[3]
parser = build_parser()
for name in names:
    sub = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)][0]
    parser = sub.choices[name]
args = argparse.Namespace(**{a.dest: a.default for a in parser._actions if a.dest != "help"})
vars(args).update(parser._defaults)
def hold(args):
    Path(report).write_text(os.environ.get("CUDA_VISIBLE_DEVICES", "") or "none")
    while not Path(release).exists():
        time.sleep(0.02)
args.func = hold
run_command(args)
"""


def test_every_gpu_command_takes_a_slot_of_its_own(tmp_path):
    gpu_commands = {
        " ".join(path)
        for path, sub in _leaves(build_parser())
        if sub._defaults.get(USES_GPU, False)
    }
    assert GPU_COMMANDS <= gpu_commands, f"no slot for {sorted(GPU_COMMANDS - gpu_commands)}"
    commands = sorted(gpu_commands)
    env = _env(SEMSPACE_GPU_COUNT=str(len(commands)), SEMSPACE_GPU_LOCK_DIR=str(tmp_path / "l"))
    release = tmp_path / "release"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", COMMAND_HOLDER, cmd, str(tmp_path / f"r{i}"), str(release)],
            env=env,
        )
        for i, cmd in enumerate(commands)
    ]
    try:
        devices = {cmd: _wait_for(tmp_path / f"r{i}", 240) for i, cmd in enumerate(commands)}
    finally:
        release.write_text("")
        for p in procs:
            p.wait(timeout=60)
    # All hold a slot at once, so each has its own device out of 0..n-1.
    assert sorted(devices.values(), key=int) == [str(i) for i in range(len(commands))], devices
    assert [p.returncode for p in procs] == [0] * len(commands)
