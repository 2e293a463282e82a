"""Downloads against a local threaded HTTP server that supports (or ignores) Range requests."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import threading
import zipfile
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from semspace.cli import main as cli_main
from semspace.download import (
    DownloadLock,
    LockedFile,
    LockedModel,
    archive_kind,
    extract,
    fetch,
    fetch_dataset,
    fetch_model,
    parse_spec,
    read_lock,
    read_model_record,
    record_file,
    record_model,
)
from semspace.errors import ConfigError, DownloadError, InputFormatError

PAYLOAD = bytes(range(256)) * 40 + b"tail"  # 10,244 bytes


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def zip_bytes(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def tar_bytes(
    members: dict[str, bytes], mode: str = "w:gz", links: dict[str, str] | None = None
) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type = tarfile.SYMTYPE
            info.linkname = target
            tf.addfile(info)
    return buf.getvalue()


@dataclass
class Server:
    url: str
    files: dict[str, bytes] = field(default_factory=dict)
    requests: list[dict] = field(default_factory=list)  # path, range, status, sent
    corrupt: dict[str, int] = field(default_factory=dict)  # path -> responses left to corrupt
    cut: dict[str, int] = field(default_factory=dict)  # path -> responses left to break halfway
    ignore_range: bool = False
    shifted_range: int = 0  # answer a range request with a 206 starting this many bytes early
    ctype: dict[str, str] = field(default_factory=dict)  # path -> Content-Type header


@pytest.fixture()
def server():
    state = Server(url="")

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:  # keep pytest output clean
            pass

        def do_GET(self) -> None:
            data = state.files.get(self.path)
            rng = self.headers.get("Range")
            entry = {"path": self.path, "range": rng, "status": 404, "sent": 0}
            state.requests.append(entry)
            if data is None:
                self.send_error(404)
                return
            start = 0
            if rng and not state.ignore_range:
                start = int(rng.removeprefix("bytes=").split("-")[0])
                if start >= len(data):
                    entry["status"] = 416
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(data)}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
            if start and state.shifted_range:
                start -= state.shifted_range
                state.shifted_range = 0
            body = data[start:]
            if state.corrupt.get(self.path, 0) > 0:
                state.corrupt[self.path] -= 1
                body = bytes([body[0] ^ 0xFF]) + body[1:]
            entry["status"] = 206 if start else 200
            self.send_response(entry["status"])
            if start:
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Accept-Ranges", "bytes")
            if self.path in state.ctype:
                self.send_header("Content-Type", state.ctype[self.path])
            self.end_headers()
            if state.cut.get(self.path, 0) > 0:  # promise everything, send half, hang up
                state.cut[self.path] -= 1
                body = body[: len(body) // 2]
                self.close_connection = True
            entry["sent"] = len(body)  # before writing: the client may check as soon as it has it
            self.wfile.write(body)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    state.files["/data.bin"] = PAYLOAD
    yield state
    httpd.shutdown()
    httpd.server_close()


def test_plain_download_with_checksum(server: Server, tmp_path: Path) -> None:
    dest = tmp_path / "sub" / "data.bin"
    assert fetch(f"{server.url}/data.bin", dest, sha(PAYLOAD), backoff=0) == sha(PAYLOAD)
    assert dest.read_bytes() == PAYLOAD
    assert not dest.with_name("data.bin.part").exists()
    assert [r["range"] for r in server.requests] == [None]
    # present and valid: not fetched again
    fetch(f"{server.url}/data.bin", dest, sha(PAYLOAD), backoff=0)
    assert len(server.requests) == 1


def test_resume_from_part_file(server: Server, tmp_path: Path) -> None:
    dest = tmp_path / "data.bin"
    dest.with_name("data.bin.part").write_bytes(PAYLOAD[:1000])
    fetch(f"{server.url}/data.bin", dest, sha(PAYLOAD), backoff=0)
    assert dest.read_bytes() == PAYLOAD
    assert server.requests == [
        {"path": "/data.bin", "range": "bytes=1000-", "status": 206, "sent": len(PAYLOAD) - 1000}
    ]


def test_resume_after_broken_connection(server: Server, tmp_path: Path) -> None:
    server.cut["/data.bin"] = 1
    dest = tmp_path / "data.bin"
    fetch(f"{server.url}/data.bin", dest, sha(PAYLOAD), backoff=0)
    assert dest.read_bytes() == PAYLOAD
    half = len(PAYLOAD) // 2
    assert [(r["range"], r["sent"]) for r in server.requests] == [
        (None, half),
        (f"bytes={half}-", len(PAYLOAD) - half),
    ]


def test_server_ignoring_range_restarts(server: Server, tmp_path: Path) -> None:
    server.ignore_range = True
    dest = tmp_path / "data.bin"
    dest.with_name("data.bin.part").write_bytes(b"x" * 500)  # would corrupt the file if appended
    fetch(f"{server.url}/data.bin", dest, sha(PAYLOAD), backoff=0)
    assert dest.read_bytes() == PAYLOAD
    assert [(r["status"], r["sent"]) for r in server.requests] == [(200, len(PAYLOAD))]


def test_wrong_range_is_never_spliced(server: Server, tmp_path: Path) -> None:
    server.shifted_range = 10
    dest = tmp_path / "data.bin"
    dest.with_name("data.bin.part").write_bytes(PAYLOAD[:1000])
    fetch(f"{server.url}/data.bin", dest, backoff=0)  # no checksum to catch a bad splice
    assert dest.read_bytes() == PAYLOAD
    assert [(r["range"], r["status"]) for r in server.requests] == [
        ("bytes=1000-", 206),
        (None, 200),
    ]


def test_complete_part_file_gets_416(server: Server, tmp_path: Path) -> None:
    dest = tmp_path / "data.bin"
    dest.with_name("data.bin.part").write_bytes(PAYLOAD)
    fetch(f"{server.url}/data.bin", dest, sha(PAYLOAD), backoff=0)
    assert dest.read_bytes() == PAYLOAD and [r["status"] for r in server.requests] == [416]


def test_corrupt_first_response_retried(server: Server, tmp_path: Path) -> None:
    server.corrupt["/data.bin"] = 1
    dest = tmp_path / "data.bin"
    fetch(f"{server.url}/data.bin", dest, sha(PAYLOAD), backoff=0)
    assert dest.read_bytes() == PAYLOAD
    # the bad copy was deleted, so the retry fetched everything again (no Range)
    assert [(r["range"], r["sent"]) for r in server.requests] == [(None, len(PAYLOAD))] * 2


def test_always_corrupt_raises(server: Server, tmp_path: Path) -> None:
    server.corrupt["/data.bin"] = 100
    dest = tmp_path / "data.bin"
    url = f"{server.url}/data.bin"
    with pytest.raises(DownloadError) as info:
        fetch(url, dest, sha(PAYLOAD), retries=2, backoff=0)
    bad = sha(bytes([PAYLOAD[0] ^ 0xFF]) + PAYLOAD[1:])
    message = str(info.value)
    assert url in message and sha(PAYLOAD) in message and bad in message
    assert len(server.requests) == 3
    assert not dest.exists() and not dest.with_name("data.bin.part").exists()


def test_without_checksum_and_not_found(server: Server, tmp_path: Path) -> None:
    assert fetch(f"{server.url}/data.bin", tmp_path / "a", backoff=0) == sha(PAYLOAD)
    with pytest.raises(DownloadError, match="404"):
        fetch(f"{server.url}/missing.zip", tmp_path / "b", backoff=0)
    assert [r["status"] for r in server.requests] == [200, 404]  # a 404 is not retried


def test_file_url(tmp_path: Path) -> None:
    src = tmp_path / "src.bin"
    src.write_bytes(PAYLOAD)
    dest = tmp_path / "out" / "copy.bin"
    dest.parent.mkdir()
    dest.with_name("copy.bin.part").write_bytes(PAYLOAD[:100])  # resumed by seeking
    assert fetch(src.as_uri(), dest, sha(PAYLOAD), backoff=0) == sha(PAYLOAD)
    assert dest.read_bytes() == PAYLOAD
    with pytest.raises(DownloadError, match="checksum mismatch"):
        fetch(src.as_uri(), tmp_path / "other.bin", "0" * 64, retries=1, backoff=0)


# ---------------------------------------------------------------- archives


def test_extract_zip_and_tar_gz(tmp_path: Path) -> None:
    members = {"top/a.txt": b"alpha", "top/sub/b.txt": b"beta"}
    for name, data in [
        ("x.zip", zip_bytes(members)),
        ("x.tar.gz", tar_bytes(members)),
        ("x.tgz", tar_bytes(members)),
        ("x.tar.bz2", tar_bytes(members, "w:bz2")),
    ]:
        (tmp_path / name).write_bytes(data)
        out = tmp_path / f"out_{name}"
        names = extract(tmp_path / name, out)
        assert set(names) >= set(members)
        assert {
            p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*") if p.is_file()
        } == members


@pytest.mark.parametrize(
    "name,data",
    [
        ("evil.zip", zip_bytes({"ok.txt": b"1", "../escape.txt": b"2"})),
        ("evil.tar.gz", tar_bytes({"ok.txt": b"1", "../escape.txt": b"2"})),
        ("abs.tar", tar_bytes({"/tmp/abs_escape.txt": b"2"}, mode="w")),
        ("link.tar.gz", tar_bytes({"ok.txt": b"1"}, links={"up": "../../etc"})),
    ],
)
def test_traversal_rejected(tmp_path: Path, name: str, data: bytes) -> None:
    (tmp_path / name).write_bytes(data)
    out = tmp_path / "deep" / "out"
    with pytest.raises(InputFormatError, match="outside"):
        extract(tmp_path / name, out)
    assert not (tmp_path / "deep" / "escape.txt").exists()
    assert not any(out.rglob("*"))  # checked before anything was written


# ---------------------------------------------------------------- datasets and models


def test_parse_spec() -> None:
    spec = parse_spec('[{"url": "https://h/x/a.zip?dl=1", "extract": true}]')
    assert spec == [
        {"url": "https://h/x/a.zip?dl=1", "sha256": None, "filename": "a.zip", "extract": True}
    ]
    with pytest.raises(ConfigError):
        parse_spec('[{"url": "https://h/a", "md5": "x"}]')
    with pytest.raises(ConfigError):
        parse_spec('[{"url": "https://h/a"}, {"url": "https://g/a"}]')


def test_fetch_dataset_via_cli(server: Server, tmp_path: Path) -> None:
    archive = zip_bytes({"images/1.jpg": b"one", "images/2.jpg": b"two"})
    server.files["/images.zip"] = archive
    captions = b'{"a": 1}'
    server.files["/captions.json"] = captions

    spec = json.dumps(
        [
            {"url": f"{server.url}/images.zip", "sha256": sha(archive), "extract": True},
            {"url": f"{server.url}/captions.json", "filename": "caps.json"},
        ]
    )
    out = tmp_path / "resources" / "datasets" / "demo"
    assert (
        cli_main(["download", "dataset", "--spec", spec, "--out", str(out), "--backoff", "0"]) == 0
    )
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert files == [".sha256", "caps.json", "images/1.jpg", "images/2.jpg"]
    assert (out / "images" / "2.jpg").read_bytes() == b"two"
    assert (out / ".sha256").read_text().splitlines() == [
        f"{sha(archive)}  images.zip",
        f"{sha(captions)}  caps.json",
    ]
    assert not (out.parent / ".demo.download").exists()
    # a checksum failure stops with status 2 and leaves no dataset folder
    bad = json.dumps([{"url": f"{server.url}/captions.json", "sha256": "0" * 64}])
    out2 = tmp_path / "resources" / "datasets" / "bad"
    assert (
        cli_main(["download", "dataset", "--spec", bad, "--out", str(out2), "--retries", "0"]) == 2
    )
    assert not out2.exists()


COMMIT = "0123456789abcdef0123456789abcdef01234567"
COMMIT2 = "fedcba9876543210fedcba9876543210fedcba98"


class FakeHub:
    """Stands in for huggingface_hub: resolves revisions and writes local_dir metadata."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, commit: str = COMMIT) -> None:
        import huggingface_hub

        self.commit = commit
        self.snapshots: list[tuple[str, list[str]]] = []  # (revision, allow_patterns)
        self.resolved: list[str] = []
        monkeypatch.setattr(huggingface_hub, "snapshot_download", self.snapshot)
        monkeypatch.setattr(huggingface_hub, "model_info", self.model_info)

    def model_info(self, repo_id: str, revision: str) -> object:
        self.resolved.append(revision)
        return type("Info", (), {"sha": self.commit})()

    def snapshot(self, repo_id, revision, local_dir, allow_patterns):
        self.snapshots.append((revision, allow_patterns))
        local = Path(local_dir)
        meta = local / ".cache" / "huggingface" / "download"
        meta.mkdir(parents=True, exist_ok=True)
        files = {"config.json": b"{}"}
        if "*.bin" in allow_patterns:
            files = {"pytorch_model.bin": b"w"}
        for name, data in files.items():
            (local / name).write_bytes(data)
            (meta / f"{name}.metadata").write_text(f"{revision}\netag\n1.0\n")
        return str(local)


def test_fetch_model_snapshot(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    hub = FakeHub(monkeypatch)
    out = fetch_model("org/tiny", "main", tmp_path / "models" / "tiny")
    files = sorted(p.name for p in out.iterdir() if p.is_file())
    assert files == [".revision.json", "config.json", "pytorch_model.bin"]
    assert "*.safetensors" in hub.snapshots[0][1] and hub.snapshots[1][1] == ["*.bin"]
    # both snapshots at the resolved commit, never at the moving branch
    assert [rev for rev, _ in hub.snapshots] == [COMMIT, COMMIT] and hub.resolved == ["main"]
    assert read_model_record(out) == {"hub_id": "org/tiny", "revision": "main", "commit": COMMIT}
    assert not (tmp_path / "models" / ".tiny.download").exists()


def test_model_pinned_by_lock(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import huggingface_hub.constants

    lock = tmp_path / "downloads.lock.json"
    hub = FakeHub(monkeypatch)
    fetch_model("org/tiny", "main", tmp_path / "a", lock=lock)
    assert read_lock(lock).models == {"org/tiny": LockedModel("main", COMMIT)}
    # main moved on and the hub is out of reach: the lock still pins the first commit
    hub.commit = COMMIT2
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub, "model_info", huggingface_hub.hf_api.model_info)
    fetch_model("org/tiny", "main", tmp_path / "b", lock=lock)
    assert hub.snapshots[-1][0] == COMMIT and read_model_record(tmp_path / "b")["commit"] == COMMIT
    # without a pin, offline resolution fails with a message naming the model and the fix
    with pytest.raises(DownloadError, match=r"org/other@main: cannot resolve.*40-hex commit"):
        fetch_model("org/other", "main", tmp_path / "c", lock=lock)
    # a full commit needs no resolution; a changed revision replaces the entry
    fetch_model("org/tiny", COMMIT2, tmp_path / "d", lock=lock)
    assert read_lock(lock).models["org/tiny"] == LockedModel(COMMIT2, COMMIT2)


def test_model_stale_commit_files_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    FakeHub(monkeypatch)
    work = tmp_path / ".tiny.download" / ".cache" / "huggingface" / "download"
    work.mkdir(parents=True)
    (work / "old.safetensors.metadata").write_text(f"{COMMIT2}\netag\n1.0\n")
    with pytest.raises(DownloadError, match=COMMIT2):
        fetch_model("org/tiny", "main", tmp_path / "tiny")
    assert not (tmp_path / "tiny").exists() and not (tmp_path / ".tiny.download").exists()


# ---------------------------------------------------------------- content, not names


def test_archive_kind_from_content(tmp_path: Path) -> None:
    members = {"d/a.txt": b"alpha"}
    cases = {
        "really_zip.tar.gz": (zip_bytes(members), "zip"),
        "really_tgz.zip": (tar_bytes(members), "tar:gz"),
        "uc": (tar_bytes(members, "w:xz"), "tar:xz"),  # a Drive URL's name says nothing
        "plain.bin": (tar_bytes(members, "w"), "tar:"),
        "gnu.tar.bz2": (tar_bytes(members, "w:bz2"), "tar:bz2"),
    }
    for name, (data, kind) in cases.items():
        (tmp_path / name).write_bytes(data)
        assert archive_kind(tmp_path / name) == kind, name
        out = tmp_path / f"out_{name}"
        extract(tmp_path / name, out)
        assert (out / "d" / "a.txt").read_bytes() == b"alpha"
    (tmp_path / "page.zip").write_bytes(b"\n  <!DOCTYPE html><html><body>Virus scan warning")
    with pytest.raises(InputFormatError, match=r"page\.zip: is an HTML page"):
        extract(tmp_path / "page.zip", tmp_path / "o1")
    (tmp_path / "junk.zip").write_bytes(b"not an archive at all")
    with pytest.raises(InputFormatError, match=r"junk\.zip: not a zip"):
        extract(tmp_path / "junk.zip", tmp_path / "o2")


HTML = b"<!DOCTYPE html><html><head><title>Google Drive - Virus scan warning</title></html>"


def test_html_content_type_is_a_failed_download(server: Server, tmp_path: Path) -> None:
    server.files["/uc"] = HTML
    server.ctype["/uc"] = "text/html; charset=utf-8"
    url = f"{server.url}/uc"
    with pytest.raises(DownloadError, match="HTML page") as info:
        fetch(url, tmp_path / "a.zip", retries=3, backoff=0)
    assert url in str(info.value)
    assert len(server.requests) == 1  # the same page would come back: no retries
    assert not (tmp_path / "a.zip").exists() and not (tmp_path / "a.zip.part").exists()
    # an explicitly wanted HTML file is fine
    assert fetch(url, tmp_path / "page.html", allow_html=True, backoff=0) == sha(HTML)


def test_html_body_where_archive_expected(server: Server, tmp_path: Path) -> None:
    server.files["/uc"] = HTML
    server.ctype["/uc"] = "application/octet-stream"  # a server that lies about the type
    url = f"{server.url}/uc"
    with pytest.raises(DownloadError, match="starts like an HTML") as info:
        fetch(url, tmp_path / "a.tar.gz", expect_archive=True, backoff=0)
    assert url in str(info.value) and not (tmp_path / "a.tar.gz.part").exists()
    # the same through a dataset spec marked `extract`: no dataset folder is left behind
    spec = [{"url": url, "filename": "x.tar.gz", "extract": True}]
    with pytest.raises(DownloadError, match=url):
        fetch_dataset(spec, tmp_path / "ds", backoff=0)
    assert not (tmp_path / "ds").exists()


def test_body_shorter_than_content_length_fails(server: Server, tmp_path: Path) -> None:
    server.cut["/data.bin"] = 100  # every answer promises the rest and sends half of it
    url = f"{server.url}/data.bin"
    with pytest.raises(DownloadError, match="Content-Length") as info:
        fetch(url, tmp_path / "data.bin", retries=2, backoff=0)
    assert url in str(info.value) and not (tmp_path / "data.bin").exists()
    assert len(server.requests) == 3


# ---------------------------------------------------------------- lock file


def test_lock_records_first_download_and_checks_later(server: Server, tmp_path: Path) -> None:
    lock = tmp_path / "resources" / "downloads.lock.json"
    url = f"{server.url}/data.bin"
    assert fetch(url, tmp_path / "a.bin", lock=lock, backoff=0) == sha(PAYLOAD)
    raw = json.loads(lock.read_text())
    assert raw == {
        "version": 1,
        "files": {url: {"sha256": sha(PAYLOAD), "size": len(PAYLOAD)}},
        "models": {},
    }
    # an identical later download passes; a published digest is never written to the lock
    fetch(url, tmp_path / "b.bin", lock=lock, backoff=0)
    server.files["/other.bin"] = b"other"
    fetch(f"{server.url}/other.bin", tmp_path / "o.bin", sha(b"other"), lock=lock, backoff=0)
    assert set(read_lock(lock).files) == {url}
    # the source changed (same size): retried as a possibly damaged transfer, then refused
    changed = PAYLOAD[:-4] + b"TAIL"
    server.files["/data.bin"] = changed
    server.requests.clear()
    with pytest.raises(DownloadError) as info:
        fetch(url, tmp_path / "c.bin", lock=lock, retries=1, backoff=0)
    message = str(info.value)
    for needed in (url, str(lock), sha(PAYLOAD), sha(changed), "delete the entry"):
        assert needed in message, needed
    assert len(server.requests) == 2 and not (tmp_path / "c.bin").exists()
    # another size: refused after one request
    server.files["/data.bin"] = PAYLOAD + b"more"
    server.requests.clear()
    with pytest.raises(DownloadError, match="delete the entry"):
        fetch(url, tmp_path / "d.bin", lock=lock, retries=3, backoff=0)
    assert len(server.requests) == 1
    assert read_lock(lock).files[url] == LockedFile(sha(PAYLOAD), len(PAYLOAD))  # unchanged


def test_dataset_via_lock(server: Server, tmp_path: Path) -> None:
    archive = tar_bytes({"d/x.txt": b"x"})
    server.files["/uc"] = archive  # named by the config, content decides how to unpack
    lock = tmp_path / "downloads.lock.json"
    spec = [{"url": f"{server.url}/uc", "filename": "data.zip", "extract": True}]
    out = fetch_dataset(spec, tmp_path / "ds", lock=lock, backoff=0)
    assert (out / "d" / "x.txt").read_bytes() == b"x"
    assert read_lock(lock).files[f"{server.url}/uc"] == LockedFile(sha(archive), len(archive))
    server.files["/uc"] = tar_bytes({"d/x.txt": b"y"})
    with pytest.raises(DownloadError, match="lock file"):
        fetch_dataset(spec, tmp_path / "ds2", lock=lock, retries=0, backoff=0)
    assert not (tmp_path / "ds2").exists()


def test_lock_file_errors_name_the_file(tmp_path: Path) -> None:
    lock = tmp_path / "downloads.lock.json"
    lock.write_text("{not json")
    with pytest.raises(InputFormatError, match=r"downloads\.lock\.json: not valid JSON"):
        read_lock(lock)
    lock.write_text('{"version": 1, "files": {"http://h/a": {"sha256": "ab"}}}')
    with pytest.raises(InputFormatError, match="http://h/a"):
        read_lock(lock)
    assert read_lock(tmp_path / "missing.json") == DownloadLock()


def test_lock_parallel_writers_keep_every_entry(tmp_path: Path) -> None:
    lock = tmp_path / "downloads.lock.json"
    urls = [f"http://h/{i}" for i in range(16)]

    def write(i: int) -> None:
        record_file(lock, urls[i], sha(str(i).encode()), i)
        record_model(lock, f"org/m{i}", "main", f"{i:040x}")

    threads = [threading.Thread(target=write, args=(i,)) for i in range(len(urls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    got = read_lock(lock)
    assert got.files == {u: LockedFile(sha(str(i).encode()), i) for i, u in enumerate(urls)}
    assert len(got.models) == len(urls)
    with pytest.raises(DownloadError, match="pins"):
        record_model(lock, "org/m1", "main", COMMIT)


def test_mirror_url_keeps_host_and_path() -> None:
    from semspace.download import mirror_url

    url = "https://cs.stanford.edu/people/karpathy/deepimagesent/caption_datasets.zip"
    assert mirror_url(url, None) == url
    assert mirror_url(url, "http://127.0.0.1:8000/") == (
        "http://127.0.0.1:8000/cs.stanford.edu/people/karpathy/deepimagesent/caption_datasets.zip"
    )
    with pytest.raises(ConfigError):
        mirror_url("file:///tmp/x.zip", "http://127.0.0.1:8000")
