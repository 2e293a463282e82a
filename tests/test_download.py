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
from semspace.download import extract, fetch, fetch_model, parse_spec
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


def test_fetch_model_snapshot(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import huggingface_hub

    calls = []

    def fake_snapshot(repo_id, revision, local_dir, allow_patterns):
        calls.append(allow_patterns)
        local = Path(local_dir)
        (local / "config.json").write_text("{}")
        if "*.bin" in allow_patterns:
            (local / "pytorch_model.bin").write_bytes(b"w")
        return str(local)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_snapshot)
    out = fetch_model("org/tiny", "main", tmp_path / "models" / "tiny")
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "pytorch_model.bin"]
    assert "*.safetensors" in calls[0] and calls[1] == ["*.bin"]  # fell back to .bin weights
    assert not (tmp_path / "models" / ".tiny.download").exists()
