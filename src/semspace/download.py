"""Downloads: resumable, checksummed, atomic; archives extracted safely; hub models snapshotted.

A file is fetched into ``<dest>.part`` (continued with an HTTP ``Range`` request after an
interruption), its size and SHA-256 checked, and only then renamed onto ``dest``. An HTML page
where a file was expected is a failed download. URLs without a published digest have the digest
of their first download recorded in a lock file (``downloads.lock.json``) and checked on every
later download; hub models are pinned there by the commit their revision resolved to. A dataset is
fetched
into ``.<out>.download/`` beside its final folder and renamed at the end, so a killed job leaves
nothing that a later run would trust, and the next run resumes from the partial files.
"""

from __future__ import annotations

import fcntl
import hashlib
import http.client
import json
import logging
import os
import shutil
import tarfile
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from semspace import __version__
from semspace.errors import ConfigError, DownloadError, InputFormatError

log = logging.getLogger(__name__)

CHUNK = 1 << 20
USER_AGENT = f"semspace/{__version__} (+https://github.com/; research pipeline)"
#: The record of what a dataset download fetched: ``<sha256>  <filename>`` per line.
RECORD_NAME = ".sha256"
#: Hub files worth fetching for ``from_pretrained`` (weights as safetensors; ``*.bin`` as fallback).
MODEL_PATTERNS = ("*.json", "*.txt", "*.model", "*.safetensors", "*.tiktoken", "*.py")
#: Written into a model folder: the hub id, requested revision and the commit it resolved to.
MODEL_RECORD_NAME = ".revision.json"
LOCK_VERSION = 1
#: Where the pipeline keeps its lock file (relative to the working directory).
DEFAULT_LOCK = "resources/downloads.lock.json"
_COMMIT_LEN = 40


class _Retry(Exception):
    """A failure worth another attempt (network error, short read, checksum mismatch)."""


class _ByteProgress:
    """Logs bytes done and MB/s at most every ``interval`` seconds."""

    def __init__(
        self, desc: str, total: int | None, start_at: int = 0, interval: float = 10.0
    ) -> None:
        self.desc, self.total, self.interval = desc, total, interval
        self.done = start_at
        self.start_at = start_at
        self.start = self.last = time.monotonic()

    def update(self, n: int) -> None:
        self.done += n
        now = time.monotonic()
        if now - self.last >= self.interval:
            self.last = now
            self.log(now)

    def log(self, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        rate = (self.done - self.start_at) / max(now - self.start, 1e-9)
        total = f"/{self.total / 1e6:.1f}" if self.total else ""
        log.info("%s: %.1f%s MB, %.2f MB/s", self.desc, self.done / 1e6, total, rate / 1e6)


def sha256_file(path: Path | str, chunk: int = CHUNK) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def _hash_prefix(path: Path) -> tuple[hashlib._Hash, int]:
    digest = hashlib.sha256()
    size = 0
    if path.exists():
        with open(path, "rb") as fh:
            while block := fh.read(CHUNK):
                digest.update(block)
                size += len(block)
    return digest, size


def _copy_stream(src: Any, part: Path, mode: str, digest: hashlib._Hash, bar: _ByteProgress) -> int:
    written = 0
    with open(part, mode) as out:
        while True:
            try:
                block = src.read(CHUNK)
            except (http.client.IncompleteRead, OSError) as exc:
                raise _Retry(f"connection broken after {written} bytes: {exc}") from None
            if not block:
                break
            out.write(block)
            digest.update(block)
            written += len(block)
            bar.update(len(block))
    return written


def _attempt_file(url: str, part: Path) -> hashlib._Hash:
    src_path = Path(urllib.request.url2pathname(urllib.parse.urlparse(url).path))
    if not src_path.is_file():
        raise DownloadError(f"{url}: no such file {src_path}")
    digest, have = _hash_prefix(part)
    total = src_path.stat().st_size
    if have > total:
        part.unlink()
        digest, have = hashlib.sha256(), 0
    bar = _ByteProgress(f"copy {src_path.name}", total, have)
    with open(src_path, "rb") as src:
        src.seek(have)
        _copy_stream(src, part, "ab", digest, bar)
    bar.log()
    return digest


def _content_range_start(value: str | None) -> int | None:
    # "bytes 100-199/200" -> 100
    if not value or not value.startswith("bytes "):
        return None
    span = value[6:].split("/")[0]
    if "-" not in span:
        return None
    try:
        return int(span.split("-")[0])
    except ValueError:
        return None


def _html_answer(url: str, what: str) -> DownloadError:
    return DownloadError(
        f"{url}: the server answered with an HTML page ({what}), not the file: a login, quota, "
        "virus-scan or confirmation page (Google Drive does this) or an error page. Open the URL "
        "in a browser and put the direct link in the config, or download by hand and use `path:`"
    )


def _attempt_http(url: str, part: Path, timeout: float, allow_html: bool) -> hashlib._Hash:
    digest, have = _hash_prefix(part)
    headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity"}
    if have:
        headers["Range"] = f"bytes={have}-"
    request = urllib.request.Request(url, headers=headers)
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:  # our part is already complete (or longer than the file)
            total = (exc.headers.get("Content-Range") or "").rpartition("/")[2]
            if total.isdigit() and int(total) == have:
                log.info("%s: partial file already complete (%d bytes)", url, have)
                return digest
            part.unlink()
            raise _Retry("server refused the range; restarting from scratch") from None
        if exc.code in (408, 425, 429) or exc.code >= 500:
            raise _Retry(f"HTTP {exc.code} {exc.reason}") from None
        raise DownloadError(f"{url}: HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise _Retry(f"cannot connect: {exc}") from None
    with response:
        status = response.status
        ctype = (response.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if ctype in ("text/html", "application/xhtml+xml") and not allow_html:
            raise _html_answer(url, f"Content-Type {ctype}")
        length = response.headers.get("Content-Length")
        expected = int(length) if length and length.isdigit() else None
        if status == 206:
            start = _content_range_start(response.headers.get("Content-Range"))
            if not have or start != have:  # not the range we asked for: never splice it in
                part.unlink(missing_ok=True)
                raise _Retry(f"server sent range starting at {start}, asked for {have}")
            mode, start_at = "ab", have
            full = (response.headers.get("Content-Range") or "").rpartition("/")[2]
            expected_total = int(full) if full.isdigit() else None
            log.info("%s: resuming at byte %d", url, have)
        else:
            if have:
                log.info("%s: server ignored the range request (HTTP %d); restarting", url, status)
            digest, mode, start_at = hashlib.sha256(), "wb", 0
            expected_total = expected
        total = start_at + expected if expected is not None else None
        bar = _ByteProgress(f"download {part.name.removesuffix('.part')}", total, start_at)
        written = _copy_stream(response, part, mode, digest, bar)
        bar.log()
    if expected is not None and written != expected:
        raise _Retry(f"short read: {written} of {expected} bytes (Content-Length)")
    if expected_total is not None and start_at + written != expected_total:
        raise _Retry(f"size {start_at + written} differs from the announced {expected_total} bytes")
    return digest


#: How an HTML page starts (after optional BOM and whitespace), lower-cased.
_HTML_STARTS = (b"<!doctype html", b"<html", b"<head")


def looks_like_html(path: Path | str) -> bool:
    """Whether the file starts like an HTML document (``<!DOCTYPE html``, ``<html``, ...)."""
    with open(path, "rb") as fh:
        head = fh.read(512)
    head = head.removeprefix(b"\xef\xbb\xbf").lstrip().lower()
    return head.startswith(_HTML_STARTS)


# ---------------------------------------------------------------- lock file


@dataclass(frozen=True)
class LockedFile:
    """What the first download of a URL without a published digest delivered."""

    sha256: str
    size: int


@dataclass(frozen=True)
class LockedModel:
    """The commit a hub model's requested revision resolved to on its first download."""

    revision: str
    commit: str


@dataclass
class DownloadLock:
    """``downloads.lock.json``: URL -> sha256 + size, hub id -> resolved commit."""

    files: dict[str, LockedFile] = field(default_factory=dict)
    models: dict[str, LockedModel] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "version": LOCK_VERSION,
            "files": {u: asdict(e) for u, e in sorted(self.files.items())},
            "models": {m: asdict(e) for m, e in sorted(self.models.items())},
        }


def _lock_error(path: Path, message: str) -> InputFormatError:
    return InputFormatError(path, f"{message}; fix or delete the file to re-record it")


def read_lock(path: Path | str) -> DownloadLock:
    """The lock file at ``path``; an empty lock when it does not exist yet."""
    path = Path(path)
    if not path.exists():
        return DownloadLock()
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise _lock_error(path, f"not valid JSON ({exc})") from None
    if not isinstance(raw, dict) or raw.get("version") != LOCK_VERSION:
        raise _lock_error(path, f'expected an object with "version": {LOCK_VERSION}')
    lock = DownloadLock()
    files, models = raw.get("files", {}), raw.get("models", {})
    if not (isinstance(files, dict) and isinstance(models, dict)):
        raise _lock_error(path, '"files" and "models" must be objects')
    for url, e in files.items():
        if not (isinstance(e, dict) and isinstance(e.get("sha256"), str)):
            raise _lock_error(path, f"files[{url!r}] needs a string sha256")
        if not isinstance(e.get("size"), int):
            raise _lock_error(path, f"files[{url!r}] needs an integer size")
        lock.files[url] = LockedFile(e["sha256"].lower(), e["size"])
    for hub_id, e in models.items():
        if not (
            isinstance(e, dict) and all(isinstance(e.get(k), str) for k in ("revision", "commit"))
        ):
            raise _lock_error(path, f"models[{hub_id!r}] needs string revision and commit")
        lock.models[hub_id] = LockedModel(e["revision"], e["commit"].lower())
    return lock


def write_lock(path: Path | str, lock: DownloadLock) -> None:
    """Write ``lock`` atomically (temporary file + rename), keys sorted for readable diffs."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(lock.to_json(), indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    # Parallel download jobs share one lock file: serialise read-modify-write with flock.
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(f".{path.name}.flock"), "w") as guard:
        fcntl.flock(guard, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(guard, fcntl.LOCK_UN)


def lock_mismatch(
    url: str, lock_path: Path | str, locked: LockedFile, sha256: str, size: int
) -> str:
    """The message for a download that differs from its lock entry: what, where, what to do."""
    return (
        f"{url}: download has sha256 {sha256} ({size} bytes) but the lock file {lock_path} "
        f"recorded sha256 {locked.sha256} ({locked.size} bytes) on the first download. "
        f"If the source was legitimately updated, delete the entry for this URL from "
        f"{lock_path} and run again; otherwise the source changed under you."
    )


def check_file(lock_path: Path | str, url: str, sha256: str, size: int) -> None:
    """Raise :class:`DownloadError` when the lock has ``url`` with another digest or size."""
    locked = read_lock(lock_path).files.get(url)
    if locked is not None and (locked.sha256, locked.size) != (sha256.lower(), size):
        raise DownloadError(lock_mismatch(url, lock_path, locked, sha256.lower(), size))


def record_file(lock_path: Path | str, url: str, sha256: str, size: int) -> None:
    """Record ``url`` -> digest in the lock (checked against an existing entry first)."""
    lock_path = Path(lock_path)
    with _locked(lock_path):
        lock = read_lock(lock_path)
        entry = LockedFile(sha256.lower(), size)
        old = lock.files.get(url)
        if old == entry:
            return
        if old is not None:
            raise DownloadError(lock_mismatch(url, lock_path, old, entry.sha256, size))
        lock.files[url] = entry
        write_lock(lock_path, lock)
        log.info("%s: recorded sha256 %s in %s", url, entry.sha256, lock_path)


def record_model(lock_path: Path | str, hub_id: str, revision: str, commit: str) -> None:
    """Record the commit ``hub_id@revision`` resolved to (a changed revision replaces it)."""
    lock_path = Path(lock_path)
    with _locked(lock_path):
        lock = read_lock(lock_path)
        entry = LockedModel(revision, commit)
        if lock.models.get(hub_id) == entry:
            return
        old = lock.models.get(hub_id)
        if old is not None and old.revision == revision:
            raise DownloadError(
                f"model {hub_id}@{revision}: resolved to commit {commit} but the lock file "
                f"{lock_path} pins {old.commit}; delete its entry to move to the new commit"
            )
        lock.models[hub_id] = entry
        write_lock(lock_path, lock)
        log.info("model %s@%s: recorded commit %s in %s", hub_id, revision, commit, lock_path)


def fetch(
    url: str,
    dest: Path | str,
    sha256: str | None = None,
    retries: int = 3,
    timeout: float = 60.0,
    backoff: float = 2.0,
    *,
    lock: Path | str | None = None,
    expect_archive: bool = False,
    allow_html: bool = False,
) -> str:
    """Download ``url`` (http, https or file) to ``dest``; returns the file's SHA-256.

    Resumes ``<dest>.part`` with a Range request; retries up to ``retries`` times with
    exponential back-off (``backoff`` · 2^k seconds) on network errors, short bodies and checksum
    mismatches; raises :class:`DownloadError` naming the url (and both digests) when all attempts
    fail. Without ``sha256``, the digest comes from (or is recorded in) the ``lock`` file. An HTML
    answer fails at once unless ``allow_html``; with ``expect_archive`` so does an HTML body.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    published = sha256.lower() if sha256 else None
    locked = read_lock(lock).files.get(url) if lock is not None and published is None else None
    expected = published or (locked.sha256 if locked else None)
    if dest.exists():
        have = sha256_file(dest)
        if expected is None or have == expected:
            log.info("%s already present (sha256 %s)", dest, have)
            if lock is not None and published is None:
                record_file(lock, url, have, dest.stat().st_size)
            return have
        log.warning("%s exists with sha256 %s, not %s: fetching again", dest, have, expected)
        dest.unlink()
    part = dest.with_name(dest.name + ".part")
    scheme = urllib.parse.urlparse(url).scheme
    if scheme not in ("http", "https", "file"):
        raise DownloadError(f"{url}: unsupported scheme {scheme!r}; use http, https or file")
    last_error = ""
    for attempt in range(retries + 1):
        if attempt:
            delay = backoff * 2 ** (attempt - 1)
            log.warning(
                "%s: attempt %d/%d failed (%s); retrying in %.1f s",
                url,
                attempt,
                retries + 1,
                last_error,
                delay,
            )
            time.sleep(delay)
        try:
            digest = (
                _attempt_file(url, part)
                if scheme == "file"
                else _attempt_http(url, part, timeout, allow_html)
            )
        except _Retry as exc:
            last_error = str(exc)
            continue
        if expect_archive and not allow_html and looks_like_html(part):
            part.unlink()  # a web page, not the archive: retrying would fetch the same page
            raise _html_answer(url, "the body starts like an HTML document")
        got, size = digest.hexdigest(), part.stat().st_size
        if expected is not None and got != expected:
            if locked is not None:
                last_error = lock_mismatch(url, lock, locked, got, size)
                if size != locked.size:  # another file, not a damaged transfer: don't refetch
                    part.unlink()
                    raise DownloadError(last_error)
            else:
                last_error = f"checksum mismatch: expected sha256 {expected}, got {got}"
            part.unlink(missing_ok=True)
            continue
        os.replace(part, dest)
        if lock is not None and published is None:
            record_file(lock, url, got, size)
        elif published is None:
            log.info("%s: sha256 %s (pin it in the config)", dest.name, got)
        return got
    raise DownloadError(f"{url}: failed after {retries + 1} attempts: {last_error}")


# ---------------------------------------------------------------- archives


#: (offset, magic bytes, kind): what the file's content says it is.
ARCHIVE_MAGIC = (
    (0, b"PK\x03\x04", "zip"),
    (0, b"PK\x05\x06", "zip"),  # an empty zip
    (0, b"\x1f\x8b", "tar:gz"),
    (0, b"BZh", "tar:bz2"),
    (0, b"\xfd7zXZ\x00", "tar:xz"),
    (257, b"ustar", "tar:"),  # POSIX, GNU and PAX tar headers
)
_NAME_KINDS = (
    ((".zip",), "zip"),
    ((".tar.gz", ".tgz"), "tar:gz"),
    ((".tar.bz2", ".tbz2", ".tbz"), "tar:bz2"),
    ((".tar.xz", ".txz"), "tar:xz"),
    ((".tar",), "tar:"),
)


def sniff_archive(path: Path | str) -> str | None:
    """The archive kind its magic bytes show (``zip``, ``tar:gz|bz2|xz``, ``tar:``), or None."""
    with open(path, "rb") as fh:
        head = fh.read(512)
    for offset, magic, kind in ARCHIVE_MAGIC:
        if head[offset : offset + len(magic)] == magic:
            return kind
    return None


def kind_from_name(path: Path | str) -> str | None:
    """The archive kind the file name suggests, or None."""
    name = Path(path).name.lower()
    return next((kind for suffixes, kind in _NAME_KINDS if name.endswith(suffixes)), None)


def archive_kind(path: Path | str) -> str:
    """The archive kind from the content (magic bytes); the name only breaks no ties."""
    kind = sniff_archive(path)
    if kind is None:
        if looks_like_html(path):
            raise InputFormatError(
                path, "is an HTML page, not an archive: the download fetched a web page"
            )
        with open(path, "rb") as fh:
            head = fh.read(8)
        raise InputFormatError(
            path, f"not a zip, tar, tar.gz, tar.bz2 or tar.xz archive (starts with {head!r})"
        )
    named = kind_from_name(path)
    if named is not None and named != kind:  # content wins: servers and mirrors misname files
        log.warning(
            "%s: named like %s but its content is %s; extracting as %s", path, named, kind, kind
        )
    return kind


def _safe_member(archive: Path, name: str, dest: Path) -> Path:
    pure = PurePosixPath(name.replace("\\", "/"))
    target = (dest / pure).resolve()
    if pure.is_absolute() or ".." in pure.parts or not target.is_relative_to(dest):
        raise InputFormatError(
            archive, f"member {name!r} would be written outside {dest}; refusing to extract"
        )
    return target


def extract(archive: Path | str, dest: Path | str) -> list[str]:
    """Extract a zip/tar(.gz/.bz2/.xz) archive into ``dest``; returns the member names.

    Every member is checked first: absolute paths, ``..``, links leaving ``dest`` and device
    files are refused (:class:`InputFormatError`) before anything is written.
    """
    archive, dest = Path(archive), Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    dest = dest.resolve()
    kind = archive_kind(archive)
    try:
        if kind == "zip":
            with zipfile.ZipFile(archive) as zf:
                names = zf.namelist()
                for name in names:
                    _safe_member(archive, name, dest)
                zf.extractall(dest)
            return names
        with tarfile.open(archive, f"r:{kind.split(':')[1]}" if kind != "tar:" else "r:") as tf:
            members = tf.getmembers()
            for m in members:
                target = _safe_member(archive, m.name, dest)
                if m.issym() or m.islnk():
                    link_base = target.parent if m.issym() else dest
                    link_target = (link_base / m.linkname).resolve()
                    if PurePosixPath(m.linkname).is_absolute() or not link_target.is_relative_to(
                        dest
                    ):
                        raise InputFormatError(
                            archive,
                            f"link {m.name!r} -> {m.linkname!r} points outside {dest}; "
                            "refusing to extract",
                        )
                elif not (m.isfile() or m.isdir()):
                    raise InputFormatError(
                        archive, f"member {m.name!r} is a device or FIFO; refusing to extract"
                    )
            tf.extractall(dest, members=members, filter="data")
            return [m.name for m in members]
    except (zipfile.BadZipFile, tarfile.TarError, EOFError) as exc:
        raise InputFormatError(archive, f"corrupt archive: {exc}") from None


# ---------------------------------------------------------------- datasets and models


def _filename(entry: dict[str, Any]) -> str:
    name = entry.get("filename") or PurePosixPath(urllib.parse.urlparse(entry["url"]).path).name
    if not name or "/" in name or name in (".", ".."):
        raise ConfigError(f"downloads entry for {entry['url']!r} needs a plain `filename`")
    return name


def mirror_url(url: str, mirror: str | None) -> str:
    """``https://host/path`` served by a mirror as ``<mirror>/host/path`` (None: unchanged).

    One base URL stands in for every source (a site mirror, or the rehearsal's loopback server);
    file names still come from the original URL."""
    if not mirror:
        return url
    scheme, sep, rest = url.partition("://")
    if not sep or scheme not in {"http", "https"}:
        raise ConfigError(f"cannot mirror {url!r}: only http(s) URLs have a host to mirror")
    return f"{mirror.rstrip('/')}/{rest}"


def parse_spec(spec: str | Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The config's ``downloads`` list (JSON text or parsed), checked and with defaults filled."""
    if isinstance(spec, str):
        try:
            spec = json.loads(spec)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"download spec is not valid JSON: {exc}") from None
    if not isinstance(spec, list) or not spec:
        raise ConfigError(
            "download spec must be a non-empty list of {url, sha256, filename, extract}"
        )
    entries = []
    for i, entry in enumerate(spec):
        if not isinstance(entry, dict) or "url" not in entry:
            raise ConfigError(f"downloads[{i}] needs a `url`")
        unknown = set(entry) - {"url", "sha256", "filename", "extract"}
        if unknown:
            raise ConfigError(f"downloads[{i}] has unknown keys {sorted(unknown)}")
        entries.append(
            {
                "url": entry["url"],
                "sha256": entry.get("sha256"),
                "filename": _filename(entry),
                "extract": bool(entry.get("extract", False)),
            }
        )
    names = [e["filename"] for e in entries]
    if len(set(names)) != len(names):
        raise ConfigError(f"downloads have clashing filenames: {names}")
    return entries


def fetch_dataset(
    spec: str | Sequence[dict[str, Any]],
    out_dir: Path | str,
    retries: int = 3,
    timeout: float = 60.0,
    backoff: float = 2.0,
    *,
    lock: Path | str | None = None,
    mirror: str | None = None,
) -> Path:
    """Fetch (and extract) every file of a dataset, then rename the folder onto ``out_dir``.

    Work happens in ``.<name>.download/`` beside ``out_dir`` and survives a killed job, so a
    rerun resumes. Archives marked ``extract`` are unpacked into the folder and then deleted;
    ``out_dir/.sha256`` records the digest of every file fetched. Entries without a ``sha256``
    are checked against (or recorded in) the ``lock`` file.
    """
    entries = parse_spec(spec)
    for entry in entries:
        entry["url"] = mirror_url(entry["url"], mirror)
    out_dir = Path(out_dir)
    work = out_dir.with_name(f".{out_dir.name}.download")
    staging = work / ".archives"
    staging.mkdir(parents=True, exist_ok=True)
    record = []
    for entry in entries:
        name = entry["filename"]
        if entry["extract"]:
            done_marker = staging / f"{name}.extracted"
            if done_marker.exists():
                record.append(done_marker.read_text().strip())
                continue
            digest = fetch(
                entry["url"],
                staging / name,
                entry["sha256"],
                retries,
                timeout,
                backoff,
                lock=lock,
                expect_archive=True,
            )
            members = extract(staging / name, work)
            log.info("extracted %d members of %s", len(members), name)
            line = f"{digest}  {name}"
            done_marker.write_text(line + "\n")
            (staging / name).unlink()
        else:
            digest = fetch(
                entry["url"], work / name, entry["sha256"], retries, timeout, backoff, lock=lock
            )
            line = f"{digest}  {name}"
        record.append(line)
    shutil.rmtree(staging)
    (work / RECORD_NAME).write_text("\n".join(record) + "\n")
    if out_dir.exists():
        shutil.rmtree(out_dir)
    os.replace(work, out_dir)
    log.info("dataset ready in %s (%d downloads)", out_dir, len(entries))
    return out_dir


def is_commit(revision: str) -> bool:
    """Whether ``revision`` is a full 40-hex commit sha (already pinned)."""
    return len(revision) == _COMMIT_LEN and all(c in "0123456789abcdef" for c in revision.lower())


def resolve_revision(hub_id: str, revision: str) -> str:
    """The commit sha a branch or tag resolves to now, from the hub's ``model_info``."""
    if is_commit(revision):
        return revision.lower()
    from huggingface_hub import model_info

    try:
        commit = model_info(hub_id, revision=revision).sha
    except Exception as exc:  # offline mode, network, auth: name the model, say what to do
        raise DownloadError(
            f"model {hub_id}@{revision}: cannot resolve the revision to a commit "
            f"({type(exc).__name__}: {exc}); give a 40-hex commit as `revision:` in the config "
            f"or keep the lock file that pinned it"
        ) from exc
    if not commit or not is_commit(commit):
        raise DownloadError(
            f"model {hub_id}@{revision}: the hub returned no commit sha ({commit!r})"
        )
    return commit.lower()


def snapshot_commits(local_dir: Path | str) -> set[str]:
    """The commits huggingface_hub's ``local_dir`` metadata names for the files it fetched."""
    meta = Path(local_dir) / ".cache" / "huggingface" / "download"
    commits = set()
    for path in meta.rglob("*.metadata") if meta.is_dir() else ():
        first = path.read_text(encoding="utf-8", errors="replace").partition("\n")[0].strip()
        if first:
            commits.add(first.lower())
    return commits


def read_model_record(model_dir: Path | str) -> dict[str, str] | None:
    """``{hub_id, revision, commit}`` that :func:`fetch_model` wrote into the folder, or None."""
    path = Path(model_dir) / MODEL_RECORD_NAME
    if not path.exists():
        return None
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InputFormatError(path, f"not valid JSON ({exc}); delete the model folder") from None
    if not isinstance(record, dict) or not {"hub_id", "revision", "commit"} <= set(record):
        raise InputFormatError(path, "needs hub_id, revision and commit; delete the model folder")
    return record


def fetch_model(
    hub_id: str,
    revision: str,
    out_dir: Path | str,
    patterns: Sequence[str] = MODEL_PATTERNS,
    *,
    lock: Path | str | None = None,
) -> Path:
    """Snapshot a hub model (config, tokenizer, safetensors; ``*.bin`` when there are none)
    into ``.<name>.download/`` and rename it onto ``out_dir``, ready for ``from_pretrained``.

    The revision is resolved to a commit first (or taken from the ``lock`` file, which then
    records it) and every file is fetched at that commit; ``out_dir/.revision.json`` names it.
    """
    from huggingface_hub import snapshot_download

    out_dir = Path(out_dir)
    pinned = read_lock(lock).models.get(hub_id) if lock is not None else None
    if pinned is not None and pinned.revision == revision:
        commit = pinned.commit
        log.info("model %s@%s: pinned to commit %s by %s", hub_id, revision, commit, lock)
    else:
        commit = resolve_revision(hub_id, revision)
        log.info("model %s@%s resolved to commit %s", hub_id, revision, commit)
    work = out_dir.with_name(f".{out_dir.name}.download")
    work.mkdir(parents=True, exist_ok=True)
    try:
        snapshot_download(
            repo_id=hub_id, revision=commit, local_dir=work, allow_patterns=list(patterns)
        )
        if not any(work.rglob("*.safetensors")):
            log.info("%s has no safetensors weights; fetching *.bin", hub_id)
            snapshot_download(
                repo_id=hub_id, revision=commit, local_dir=work, allow_patterns=["*.bin"]
            )
    except Exception as exc:  # the hub raises many types; name the model and keep the cause
        raise DownloadError(f"model {hub_id}@{revision}: {type(exc).__name__}: {exc}") from exc
    if not (work / "config.json").exists():
        raise DownloadError(f"model {hub_id}@{revision}: no config.json in the snapshot")
    other = snapshot_commits(work) - {commit}
    if other:  # a stale partial folder from an earlier commit: never mix two commits' files
        shutil.rmtree(work)
        raise DownloadError(
            f"model {hub_id}@{revision}: files from commits {sorted(other)} besides {commit} "
            f"in {work}; removed it, run again"
        )
    record = {"hub_id": hub_id, "revision": revision, "commit": commit}
    (work / MODEL_RECORD_NAME).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    if out_dir.exists():
        shutil.rmtree(out_dir)
    os.replace(work, out_dir)
    if lock is not None:
        record_model(lock, hub_id, revision, commit)
    log.info("model %s@%s (commit %s) ready in %s", hub_id, revision, commit, out_dir)
    return out_dir
