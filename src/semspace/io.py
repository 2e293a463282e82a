"""Atomic file output and Parquet helpers shared by every stage.

Every output is written to a temporary name in the same folder and renamed into place, so a
killed job never leaves a half-written file that a later run would trust.
"""

from __future__ import annotations

import contextlib
import errno
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


#: numpy's message for a short write (``np.save`` on a full disk), which carries no errno.
_SHORT_WRITE = re.compile(r"\d+ requested and \d+ written")


def _naming(exc: OSError, target: Path) -> OSError:
    """``exc`` naming ``target`` when it names no file: pyarrow's and numpy's write errors
    carry no file name (numpy's short write no errno either), so the CLI's one line could not
    say which output failed. Other errors are returned unchanged."""
    if exc.filename:
        return exc
    code = exc.errno
    if code is None and _SHORT_WRITE.search(str(exc)):
        code = errno.ENOSPC  # a short write: the disk or a quota is full
    if code is None:
        return exc
    return OSError(code, os.strerror(code), str(target))  # the errno's subclass


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
        try:
            yield tmp
        except OSError as exc:
            raise _naming(exc, target) from exc
        # mkstemp creates files 0600; give the result the mode a plain open() would.
        if tmp.exists():
            os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


@contextlib.contextmanager
def atomic_directory(path: str | Path, *, fsync: bool = True) -> Iterator[Path]:
    """Yield a fresh temporary folder beside ``path``; put it in place of ``path`` as a whole if
    the block succeeds, else remove it. An output folder is thus written whole or not at all.

    - At start, temporaries of killed writes of ``path`` are removed (:func:`remove_stale_temps`:
      ``.<name>.tmp-<host>-<pid>-*`` whose writer is dead, and older ``.<name>.<random>[.tmp]``).
    - On success every file and folder of the temporary is fsynced (``fsync=False`` skips that),
      then it replaces ``path`` in one ``renameat2(RENAME_EXCHANGE)`` where the OS has it (Linux),
      else by renaming the old folder aside and the new one in; the old one is then removed.
    - Resume stores meant to outlive a kill (``<out>.partial`` of :mod:`semspace.embed`) are not
      this helper's and are never removed by it.
    """
    target = Path(path)
    tmp = temp_dir_beside(target)
    try:
        try:
            yield tmp
            # mkdtemp makes folders 0700; give the result the mode a plain mkdir() would.
            os.chmod(tmp, 0o777 & ~_umask())
            if fsync:
                fsync_tree(tmp)
        except OSError as exc:
            raise _naming(exc, target) from exc
        _swap_in(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def fsync_tree(root: str | Path) -> None:
    """fsync every file and folder under ``root`` (and ``root`` itself): durable before a rename."""
    root = Path(root)
    for folder, _dirs, files in os.walk(root, topdown=False):
        for name in files:
            file_path = os.path.join(folder, name)
            if os.path.islink(file_path):
                continue
            fd = os.open(file_path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        _fsync_dir(folder)


def _fsync_dir(folder: str | Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:  # a platform without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(a: Path, b: Path) -> bool:
    """Swap ``a`` and ``b`` in one step (Linux renameat2); False where that is not available."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p]
    renameat2.argtypes += [ctypes.c_uint]
    ok = renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0
    return ok  # EINVAL/ENOSYS (file system or kernel without it): the caller falls back


def _swap_in(tmp: Path, target: Path) -> None:
    """Put the folder ``tmp`` at ``target``; an old ``target`` is removed after the swap."""
    if not target.exists() and not target.is_symlink():
        tmp.rename(target)
    elif target.is_dir() and not target.is_symlink() and _exchange(tmp, target):
        shutil.rmtree(tmp)  # now holds the old folder
    else:
        # Old one aside under a temporary name of ours: a kill here leaves it for the next run
        # to remove, and no half-written folder at ``target``.
        aside = Path(tempfile.mkdtemp(prefix=_temp_prefix(target), dir=target.parent))
        aside.rmdir()
        target.rename(aside)
        tmp.rename(target)
        if aside.is_dir() and not aside.is_symlink():
            shutil.rmtree(aside, ignore_errors=True)
        else:
            aside.unlink(missing_ok=True)
    _fsync_dir(target.parent)


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


#: Byte-order marks of the Unicode encodings a researcher's editor may save a text file in.
_BOMS = (
    (b"\xff\xfe\x00\x00", "utf-32-le"),
    (b"\x00\x00\xfe\xff", "utf-32-be"),
    (b"\xff\xfe", "utf-16-le"),
    (b"\xfe\xff", "utf-16-be"),
    (b"\xef\xbb\xbf", "utf-8"),
)


def decode_text(raw: bytes, path: str | Path) -> str:
    """The text of a data file's bytes: UTF-8 (a byte-order mark dropped), or UTF-16/32 when it
    starts with their byte-order mark. Anything else, or NUL bytes (UTF-16 saved without a mark),
    is an :class:`~semspace.errors.InputFormatError` naming the file and line."""
    from semspace.errors import InputFormatError

    encoding = "utf-8"
    for bom, name in _BOMS:
        if raw.startswith(bom):
            raw, encoding = raw[len(bom) :], name
            break
    if encoding == "utf-8" and b"\0" in raw:
        line = raw[: raw.index(b"\0")].count(b"\n") + 1
        raise InputFormatError(
            path, "holds NUL bytes (UTF-16 without a byte-order mark?); save it as UTF-8", line=line
        )
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n" if encoding == "utf-8" else "\n".encode(encoding)) + 1
        raise InputFormatError(
            path, f"not valid {encoding.upper()} text ({exc.reason}); save it as UTF-8", line=line
        ) from None
    if "\0" in text:
        line = text[: text.index("\0")].count("\n") + 1
        raise InputFormatError(
            path, "holds NUL bytes (UTF-16 without a byte-order mark?); save it as UTF-8", line=line
        )
    return text


def read_text_file(path: str | Path) -> str:
    """:func:`decode_text` of the file at ``path``; a missing file is an InputFormatError."""
    from semspace.errors import InputFormatError

    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise InputFormatError(path, "file not found") from None
    except IsADirectoryError:
        raise InputFormatError(path, "a folder where a file is expected") from None
    return decode_text(raw, path)
