"""semspace.io: atomic writes, and the temporaries a killed write leaves removed on the next run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from semspace.io import (
    atomic_directory,
    atomic_path,
    remove_stale_temps,
    write_json,
    write_parquet,
)

# A child that starts an atomic write of argv[1] and waits to be killed inside it.
_WRITER = """
import sys, time
from semspace.io import atomic_path
with atomic_path(sys.argv[1], suffix=".png") as tmp:
    tmp.write_bytes(b"half" * 1000)
    print(tmp, flush=True)
    time.sleep(600)
"""


def _temps(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_kill_9_leaves_a_temp_that_the_next_write_removes(tmp_path: Path) -> None:
    out = tmp_path / "plot.png"
    proc = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(out)], stdout=subprocess.PIPE, text=True
    )
    try:
        tmp = Path(proc.stdout.readline().strip())
        assert tmp.exists() and tmp.parent == tmp_path and tmp.name.endswith(".png")
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert not out.exists() and tmp.exists()  # what kill -9 leaves behind
    with atomic_path(out) as new:
        new.write_bytes(b"whole")
    assert out.read_bytes() == b"whole"
    assert _temps(tmp_path) == []


def test_a_live_writers_temp_is_kept(tmp_path: Path) -> None:
    """Another process still writing the same file keeps its temporary."""
    out = tmp_path / "plot.png"
    proc = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(out)], stdout=subprocess.PIPE, text=True
    )
    try:
        tmp = Path(proc.stdout.readline().strip())
        assert remove_stale_temps(out) == []
        assert tmp.exists()
    finally:
        proc.kill()
        proc.wait(timeout=30)
    assert remove_stale_temps(out) == [tmp]


def test_temps_of_older_versions_removed_once_old(tmp_path: Path) -> None:
    out = tmp_path / "table.parquet"
    old_file = tmp_path / ".table.parquet.ab12cd_9.tmp"
    old_dir = tmp_path / ".table.parquet.zz99yy00"
    young = tmp_path / ".table.parquet.qwertyui.tmp.csv"
    unrelated = tmp_path / ".table.parquet.sidecar.json"
    for p in (old_file, young, unrelated):
        p.write_text("x")
    old_dir.mkdir()
    (old_dir / "inner").write_text("x")
    hour_ago = time.time() - 3600
    for p in (old_file, old_dir):
        os.utime(p, (hour_ago, hour_ago))
    write_parquet(pa.table({"a": [1, 2]}), out)
    assert pq.read_table(out)["a"].to_pylist() == [1, 2]
    assert _temps(tmp_path) == sorted([young.name, unrelated.name])


def test_other_targets_temps_are_not_touched(tmp_path: Path) -> None:
    """Only the temporaries of the file being written are looked at."""
    other = tmp_path / ".other.json.tmp-nohost-1-abcdefgh"
    other.write_text("x")
    write_json({"a": 1}, tmp_path / "mine.json")
    assert other.exists()


def test_atomic_dir_replaces_and_cleans(tmp_path: Path) -> None:
    target = tmp_path / "model"
    with atomic_directory(target) as tmp:
        (tmp / "a").write_text("1")
    with pytest.raises(RuntimeError), atomic_directory(target) as tmp:
        (tmp / "a").write_text("2")
        raise RuntimeError("killed")
    assert (target / "a").read_text() == "1"  # the failed write left the old one whole
    assert _temps(tmp_path) == []


def test_atomic_path_keeps_the_mode_of_a_plain_open(tmp_path: Path) -> None:
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    with atomic_path(tmp_path / "atomic.txt") as tmp:
        tmp.write_text("x")
    assert (tmp_path / "atomic.txt").stat().st_mode == plain.stat().st_mode


def test_atomic_directory_swaps_a_whole_folder_in(tmp_path: Path) -> None:
    target = tmp_path / "setdist"
    target.mkdir()
    (target / "old-only").write_text("old")
    (target / "shared").write_text("old")
    with atomic_directory(target) as tmp:
        (tmp / "shared").write_text("new")
        (tmp / "sub").mkdir()
        (tmp / "sub" / "x").write_text("new")
    # Whole: none of the old folder's files survive beside the new ones.
    assert sorted(p.relative_to(target).as_posix() for p in target.rglob("*")) == [
        "shared",
        "sub",
        "sub/x",
    ]
    assert (target / "shared").read_text() == "new"
    assert _temps(tmp_path) == []


def test_atomic_directory_replaces_a_file_at_the_path(tmp_path: Path) -> None:
    target = tmp_path / "out"
    target.write_text("a file from another run")
    with atomic_directory(target) as tmp:
        (tmp / "a").write_text("1")
    assert (target / "a").read_text() == "1"
    assert _temps(tmp_path) == []


def test_atomic_directory_fallback_without_exchange(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import semspace.io as sio

    monkeypatch.setattr(sio, "_exchange", lambda a, b: False)
    target = tmp_path / "out"
    target.mkdir()
    (target / "old").write_text("old")
    with atomic_directory(target) as tmp:
        (tmp / "new").write_text("new")
    assert [p.name for p in target.iterdir()] == ["new"]
    assert _temps(tmp_path) == []


# A child that fills an atomic_directory of argv[1] and waits to be killed inside it.
_DIR_WRITER = """
import sys, time
from semspace.io import atomic_directory
with atomic_directory(sys.argv[1]) as tmp:
    (tmp / "half.bin").write_bytes(b"x" * 10000)
    print(tmp, flush=True)
    time.sleep(600)
"""


def test_kill_9_inside_atomic_directory_leaves_old_output_and_next_run_cleans(
    tmp_path: Path,
) -> None:
    target = tmp_path / "out"
    with atomic_directory(target) as tmp:
        (tmp / "a").write_text("first run")
    child = subprocess.Popen(
        [sys.executable, "-c", _DIR_WRITER, str(target)], stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None
    left = Path(child.stdout.readline().strip())
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert left.is_dir() and left.name.startswith(".out.tmp-")
    assert [p.name for p in target.iterdir()] == ["a"]  # the old output, untouched
    with atomic_directory(target) as tmp:
        assert not left.exists()  # removed at the start of the next write
        (tmp / "b").write_text("second run")
    assert [p.name for p in target.iterdir()] == ["b"]
    assert _temps(tmp_path) == []


def test_fsync_tree_syncs_every_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import semspace.io as sio

    (tmp_path / "d").mkdir()
    for name in ("a", "d/b"):
        (tmp_path / name).write_text(name)
    synced: list[int] = []
    real = os.fsync
    monkeypatch.setattr(sio.os, "fsync", lambda fd: (synced.append(fd), real(fd))[1])
    sio.fsync_tree(tmp_path)
    assert len(synced) == 4  # two files, two folders


def test_a_write_error_without_a_file_name_names_the_target(tmp_path: Path) -> None:
    """pyarrow's write errors carry an errno but no file name; numpy's short write (np.save on a
    full disk) neither: the error raised names the output, so the CLI's one line can."""
    import errno

    target = tmp_path / "out.parquet"
    with pytest.raises(OSError) as info, atomic_path(target):
        raise OSError(errno.ENOSPC, "Error writing bytes to file. Detail: [errno 28] ...")
    assert info.value.errno == errno.ENOSPC and info.value.filename == str(target)
    with pytest.raises(OSError) as info, atomic_path(target):
        raise OSError("90000 requested and 28544 written")
    assert info.value.errno == errno.ENOSPC and info.value.filename == str(target)
    with pytest.raises(OSError) as info, atomic_directory(tmp_path / "folder"):
        raise OSError(errno.EDQUOT, "quota")
    assert info.value.filename == str(tmp_path / "folder")
    with pytest.raises(OSError) as info, atomic_path(target):
        raise OSError("something else")  # no errno, not a short write: left as it is
    assert info.value.errno is None and info.value.filename is None
    assert _temps(tmp_path) == []


def test_atomic_directory_keeps_the_mode_of_a_plain_mkdir(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    with atomic_directory(tmp_path / "atomic") as tmp:
        (tmp / "a").write_text("1")
    assert (tmp_path / "atomic").stat().st_mode == plain.stat().st_mode
