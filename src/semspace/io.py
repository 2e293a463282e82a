"""Atomic file output and Parquet helpers shared by every stage.

Every output is written to a temporary name in the same folder and renamed into place, so a
killed job never leaves a half-written file that a later run would trust.
"""

from __future__ import annotations

import contextlib
import glob
import json
import logging
import os
import re
import shutil
import socket
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

log = logging.getLogger(__name__)


#: A temporary file or folder left by an older version (no owner in its name) is stale after this.
_LEGACY_STALE_S = 600.0


def _temp_prefix(target: Path) -> str:
    """``.<name>.tmp-<host>-<pid>-``: who made a temporary, so the next run can tell it is stale."""
    return f".{target.name}.tmp-{socket.gethostname()}-{os.getpid()}-"


def _owner_alive(host: str, pid: int) -> bool:
    if host != socket.gethostname():
        return True  # another machine's: cannot tell, keep it
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temps(path: str | Path) -> list[Path]:
    """Remove the temporaries of ``path``'s atomic writes whose writer is dead (kill -9).

    Ours are ``.<name>.tmp-<host>-<pid>-<random>[suffix]``: removed when that process is gone on
    this host. Those of older versions (``.<name>.<random>.tmp[suffix]``, ``.<name>.<random>``
    folders) are removed once ten minutes old. Returns what was removed.
    """
    target = Path(path)
    if not target.parent.is_dir():
        return []
    ours = re.compile(rf"^\.{re.escape(target.name)}\.tmp-(?P<host>.+)-(?P<pid>\d+)-[a-z0-9_]{{8}}")
    legacy = re.compile(rf"^\.{re.escape(target.name)}\.[a-z0-9_]{{8}}(\.tmp.*)?$")
    removed = []
    now = time.time()
    for entry in target.parent.glob(f".{glob.escape(target.name)}.*"):
        m = ours.match(entry.name)
        if m:
            stale = not _owner_alive(m["host"], int(m["pid"]))
        elif legacy.match(entry.name):
            try:
                stale = now - entry.lstat().st_mtime > _LEGACY_STALE_S
            except FileNotFoundError:
                continue
        else:
            continue
        if not stale:
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
        removed.append(entry)
    if removed:
        log.info("removed %d temporary files of killed writes of %s", len(removed), target)
    return removed


def temp_dir_beside(path: str | Path) -> Path:
    """A fresh temporary folder beside ``path`` (stale ones of killed runs removed first)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(target)
    return Path(tempfile.mkdtemp(prefix=_temp_prefix(target), dir=target.parent))


@contextlib.contextmanager
def atomic_path(path: str | Path, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` if the block succeeds.

    Temporaries that killed runs left for ``path`` are removed first (:func:`remove_stale_temps`).
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(target)
    fd, tmp_name = tempfile.mkstemp(prefix=_temp_prefix(target), suffix=suffix, dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        # mkstemp creates files 0600; give the result the mode a plain open() would.
        if tmp.exists():
            os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


@contextlib.contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """Yield a fresh temporary folder beside ``path``; swap it in for ``path`` if the block
    succeeds.

    For outputs that are folders (save_pretrained models): a killed job leaves no half-made folder.
    """
    target = Path(path)
    tmp = temp_dir_beside(target)
    try:
        yield tmp
        if target.exists():
            shutil.rmtree(target)
        tmp.rename(target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_parquet(table: pa.Table, path: str | Path, schema: pa.Schema | None = None) -> None:
    """Write ``table`` atomically, cast to ``schema`` when one is given."""
    if schema is not None:
        table = table.select(schema.names).cast(schema)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)


def write_json(obj: Any, path: str | Path) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=False, ensure_ascii=False) + "\n")


def write_text(text: str, path: str | Path) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def read_json(path: str | Path) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))
