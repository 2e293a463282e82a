"""GPU slots: concurrent processes take distinct devices; one more waits until a slot frees."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from semspace.devices import acquire_gpu_slot, candidate_ids, gpu_count

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
    env = {k: v for k, v in os.environ.items() if k != "CUDA_VISIBLE_DEVICES"}
    env.update(extra)
    return env


def _wait_for(path: Path, timeout: float = 60.0) -> str:
    deadline = time.monotonic() + timeout
    while not path.exists() or not path.read_text():
        assert time.monotonic() < deadline, f"{path} never written"
        time.sleep(0.02)
    return path.read_text()


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
    assert (tmp_path / "gpu-5.lock").exists()


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
    assert (tmp_path / "here" / "gpu-0.lock").exists()
