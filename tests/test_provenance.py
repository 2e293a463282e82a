"""Provenance records checked against digests and git commits computed independently here."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import pytest

from semspace.download import record_file, record_model
from semspace.errors import ConfigError, InputFormatError
from semspace.provenance import (
    build_provenance,
    code_version,
    dataset_provenance,
    tree_digest,
    write_provenance,
)

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True
    ).stdout.strip()


@pytest.fixture()
def repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    (repo / "code.py").write_text("x = 1\n")
    git(repo, "add", "code.py")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "c")
    return repo


def test_code_version_follows_git(repo: Path, tmp_path: Path) -> None:
    got = code_version(repo)
    assert got["git_commit"] == git(repo, "rev-parse", "HEAD") and got["git_dirty"] is False
    (repo / "code.py").write_text("x = 2\n")
    (repo / "untracked.txt").write_text("ignored: not part of the code version")
    assert code_version(repo)["git_dirty"] is True
    assert code_version(repo)["git_changed_files"] == 1
    # a folder inside a checkout is not that checkout's code
    (repo / "sub").mkdir()
    assert code_version(repo / "sub")["git_commit"] is None
    plain = tmp_path / "plain"
    plain.mkdir()
    assert code_version(plain) == {
        "semspace": code_version(plain)["semspace"],
        "git_commit": None,
        "git_dirty": None,
        "git_changed_files": None,
    }


def test_tree_digest_matches_sha256sum_lines(tmp_path: Path) -> None:
    files = {"b/two.txt": b"two", "a.txt": b"one", "b/c/three.bin": bytes(range(256))}
    for rel, data in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(data)
    (tmp_path / ".cache").mkdir()
    (tmp_path / ".cache" / "noise").write_text("hub bookkeeping changes with time")
    lines = "".join(f"{sha(files[rel])}  {rel}\n" for rel in sorted(files))
    got = tree_digest(tmp_path)
    assert got == {"kind": "content", "sha256": sha(lines.encode()), "files": 3, "bytes": 262}
    listing = "".join(f"{len(files[rel])}  {rel}\n" for rel in sorted(files))
    assert tree_digest(tmp_path, content=False)["sha256"] == sha(listing.encode())
    (tmp_path / "a.txt").write_bytes(b"ONE")  # same size, other content
    assert tree_digest(tmp_path)["sha256"] != got["sha256"]
    assert tree_digest(tmp_path, content=False)["sha256"] == sha(listing.encode())


def test_dataset_record_and_bad_record(tmp_path: Path) -> None:
    ds = tmp_path / "ds"
    ds.mkdir()
    record = f"{sha(b'zip')}  images.zip\n{sha(b'caps')}  caps.json\n"
    (ds / ".sha256").write_text(record)
    got = dataset_provenance(ds)
    assert got["source"] == "download" and got["sha256"] == sha(record.encode())
    assert got["downloads"] == [
        {"filename": "images.zip", "sha256": sha(b"zip")},
        {"filename": "caps.json", "sha256": sha(b"caps")},
    ]
    (ds / ".sha256").write_text(record + "garbage line\n")
    with pytest.raises(InputFormatError, match=r"\.sha256:3"):
        dataset_provenance(ds)


def test_build_and_write_provenance(repo: Path, tmp_path: Path) -> None:
    lock = tmp_path / "downloads.lock.json"
    record_file(lock, "http://h/images.zip", sha(b"zip"), 3)
    record_model(lock, "org/clip", "main", COMMIT)
    downloaded = tmp_path / "models" / "clip"  # what fetch_model leaves
    downloaded.mkdir(parents=True)
    (downloaded / "config.json").write_text("{}")
    revision = {"hub_id": "org/clip", "revision": "main", "commit": COMMIT}
    (downloaded / ".revision.json").write_text(json.dumps(revision))
    hub_dir = tmp_path / "models" / "hub"  # a plain huggingface_hub local_dir snapshot
    meta = hub_dir / ".cache" / "huggingface" / "download"
    meta.mkdir(parents=True)
    (hub_dir / "config.json").write_text("{}")
    (meta / "config.json.metadata").write_text(f"{COMMIT}\netag\n1.0\n")
    local = tmp_path / "models" / "mine"  # a hand-made folder: only its content identifies it
    local.mkdir()
    (local / "config.json").write_bytes(b'{"a": 1}')
    ds = tmp_path / "ds"
    ds.mkdir()
    (ds / ".sha256").write_text(f"{sha(b'zip')}  images.zip\n")
    config = {
        "run": "r1",
        "models": {"clip": {"hub_id": "org/clip"}, "hub": {"hub_id": "org/hub"}, "mine": {}},
        "imagespace": {"k": 10, "out": Path("x")},
    }
    prov = build_provenance(
        config,
        lock_path=lock,
        model_dirs={"clip": downloaded, "hub": hub_dir, "mine": local},
        dataset_dirs={"coco": ds},
        repo_dir=repo,
    )
    assert prov["code"]["git_commit"] == git(repo, "rev-parse", "HEAD")
    assert prov["config"] == {**config, "imagespace": {"k": 10, "out": "x"}}
    assert prov["models"]["clip"] == {"path": str(downloaded), "source": "download", **revision}
    assert (
        prov["models"]["hub"]["commit"] == COMMIT and prov["models"]["hub"]["hub_id"] == "org/hub"
    )
    mine = prov["models"]["mine"]
    assert mine["commit"] is None
    config_line = sha(b'{"a": 1}') + "  config.json\n"
    assert mine["digest"]["sha256"] == sha(config_line.encode())
    assert prov["datasets"]["coco"]["downloads"] == [
        {"filename": "images.zip", "sha256": sha(b"zip")}
    ]
    assert prov["lock"]["models"] == {"org/clip": {"revision": "main", "commit": COMMIT}}
    assert prov["lock"]["sha256"] == sha(lock.read_bytes())
    assert "python" in prov["environment"]
    path = write_provenance(tmp_path / "results" / "r1" / "imagespace", prov)
    assert path.name == "provenance.json" and json.loads(path.read_text()) == prov
    assert [p.name for p in path.parent.iterdir()] == ["provenance.json"]  # no temporary left
    with pytest.raises(ConfigError, match=r"models\.gone"):
        build_provenance(config, model_dirs={"gone": tmp_path / "nope"}, repo_dir=repo)


def test_cli_writes_the_record_of_an_experiment(tmp_path) -> None:
    import json

    from semspace.cli import main

    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("{}")
    captions = tmp_path / "captions.json"
    captions.write_text("[]")
    config = {"run": "t", "models": {"clip": {"path": str(model)}}, "datasets": {}}
    (tmp_path / "config.json").write_text(json.dumps(config))
    out = tmp_path / "results"
    status = main(
        [
            "provenance",
            "write",
            "--experiment",
            "vwsd",
            "--config-json",
            str(tmp_path / "config.json"),
            "--lock",
            str(tmp_path / "absent.lock.json"),
            "--model",
            f"clip={model}",
            "--dataset",
            f"coco={captions}",
            "--out",
            str(out),
        ]
    )
    assert status == 0
    record = json.loads((out / "provenance.json").read_text())
    assert record["config"] == config
    import hashlib

    assert record["datasets"]["coco"]["sha256"] == hashlib.sha256(b"[]").hexdigest()
    assert (
        main(
            [
                "provenance",
                "write",
                "--experiment",
                "x",
                "--config-json",
                str(out / "nope"),
                "--out",
                str(out),
            ]
        )
        == 2
    )
