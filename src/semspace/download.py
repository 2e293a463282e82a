"""Downloads: resumable, checksummed, atomic; archives extracted safely; hub models snapshotted.

A file is fetched into ``<dest>.part`` (continued with an HTTP ``Range`` request after an
interruption), its SHA-256 checked, and only then renamed onto ``dest``. A dataset is fetched
into ``.<out>.download/`` beside its final folder and renamed at the end, so a killed job leaves
nothing that a later run would trust, and the next run resumes from the partial files.
"""

from __future__ import annotations

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
from collections.abc import Sequence
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


def _attempt_http(url: str, part: Path, timeout: float) -> hashlib._Hash:
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
        length = response.headers.get("Content-Length")
        expected = int(length) if length and length.isdigit() else None
        if status == 206:
            start = _content_range_start(response.headers.get("Content-Range"))
            if not have or start != have:  # not the range we asked for: never splice it in
                part.unlink(missing_ok=True)
                raise _Retry(f"server sent range starting at {start}, asked for {have}")
            mode, start_at = "ab", have
            log.info("%s: resuming at byte %d", url, have)
        else:
            if have:
                log.info("%s: server ignored the range request (HTTP %d); restarting", url, status)
            digest, mode, start_at = hashlib.sha256(), "wb", 0
        total = start_at + expected if expected is not None else None
        bar = _ByteProgress(f"download {part.name.removesuffix('.part')}", total, start_at)
        written = _copy_stream(response, part, mode, digest, bar)
        bar.log()
    if expected is not None and written != expected:
        raise _Retry(f"short read: {written} of {expected} bytes")
    return digest


def fetch(
    url: str,
    dest: Path | str,
    sha256: str | None = None,
    retries: int = 3,
    timeout: float = 60.0,
    backoff: float = 2.0,
) -> str:
    """Download ``url`` (http, https or file) to ``dest``; returns the file's SHA-256.

    Resumes ``<dest>.part`` with a Range request; retries up to ``retries`` times with
    exponential back-off (``backoff`` · 2^k seconds) on network errors and checksum mismatches;
    raises :class:`DownloadError` naming the url (and both digests) when all attempts fail.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    expected = sha256.lower() if sha256 else None
    if dest.exists():
        have = sha256_file(dest)
        if expected is None or have == expected:
            log.info("%s already present (sha256 %s)", dest, have)
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
                _attempt_file(url, part) if scheme == "file" else _attempt_http(url, part, timeout)
            )
        except _Retry as exc:
            last_error = str(exc)
            continue
        got = digest.hexdigest()
        if expected is not None and got != expected:
            last_error = f"checksum mismatch: expected sha256 {expected}, got {got}"
            part.unlink(missing_ok=True)
            continue
        os.replace(part, dest)
        if expected is None:
            log.info("%s: sha256 %s (pin it in the config)", dest.name, got)
        return got
    raise DownloadError(f"{url}: failed after {retries + 1} attempts: {last_error}")


# ---------------------------------------------------------------- archives


def archive_kind(path: Path | str) -> str:
    name = Path(path).name.lower()
    for suffixes, kind in (
        ((".zip",), "zip"),
        ((".tar.gz", ".tgz"), "tar:gz"),
        ((".tar.bz2", ".tbz2", ".tbz"), "tar:bz2"),
        ((".tar.xz", ".txz"), "tar:xz"),
        ((".tar",), "tar:"),
    ):
        if name.endswith(suffixes):
            return kind
    raise InputFormatError(
        path, "unknown archive type; expected .zip, .tar, .tar.gz/.tgz, .tar.bz2, .tar.xz"
    )


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
                            f"link {m.name!r} -> {m.linkname!r} points outside {dest}; refusing to extract",
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
) -> Path:
    """Fetch (and extract) every file of a dataset, then rename the folder onto ``out_dir``.

    Work happens in ``.<name>.download/`` beside ``out_dir`` and survives a killed job, so a
    rerun resumes. Archives marked ``extract`` are unpacked into the folder and then deleted;
    ``out_dir/.sha256`` records the digest of every file fetched.
    """
    entries = parse_spec(spec)
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
            digest = fetch(entry["url"], staging / name, entry["sha256"], retries, timeout, backoff)
            members = extract(staging / name, work)
            log.info("extracted %d members of %s", len(members), name)
            line = f"{digest}  {name}"
            done_marker.write_text(line + "\n")
            (staging / name).unlink()
        else:
            digest = fetch(entry["url"], work / name, entry["sha256"], retries, timeout, backoff)
            line = f"{digest}  {name}"
        record.append(line)
    shutil.rmtree(staging)
    (work / RECORD_NAME).write_text("\n".join(record) + "\n")
    if out_dir.exists():
        shutil.rmtree(out_dir)
    os.replace(work, out_dir)
    log.info("dataset ready in %s (%d downloads)", out_dir, len(entries))
    return out_dir


def fetch_model(
    hub_id: str,
    revision: str,
    out_dir: Path | str,
    patterns: Sequence[str] = MODEL_PATTERNS,
) -> Path:
    """Snapshot a hub model (config, tokenizer, safetensors; ``*.bin`` when there are none)
    into ``.<name>.download/`` and rename it onto ``out_dir``, ready for ``from_pretrained``."""
    from huggingface_hub import snapshot_download

    out_dir = Path(out_dir)
    work = out_dir.with_name(f".{out_dir.name}.download")
    work.mkdir(parents=True, exist_ok=True)
    try:
        snapshot_download(
            repo_id=hub_id, revision=revision, local_dir=work, allow_patterns=list(patterns)
        )
        if not any(work.rglob("*.safetensors")):
            log.info("%s has no safetensors weights; fetching *.bin", hub_id)
            snapshot_download(
                repo_id=hub_id, revision=revision, local_dir=work, allow_patterns=["*.bin"]
            )
    except Exception as exc:  # the hub raises many types; name the model and keep the cause
        raise DownloadError(f"model {hub_id}@{revision}: {type(exc).__name__}: {exc}") from exc
    if not (work / "config.json").exists():
        raise DownloadError(f"model {hub_id}@{revision}: no config.json in the snapshot")
    if out_dir.exists():
        shutil.rmtree(out_dir)
    os.replace(work, out_dir)
    log.info("model %s@%s ready in %s", hub_id, revision, out_dir)
    return out_dir
