"""Provenance for citing: what produced a results folder, written as its ``provenance.json``.

It holds the merged config, the code version (package version, git commit, uncommitted
changes), the library versions, each model's hub id and the commit its revision resolved to, each
dataset's digest, and the download lock file's entries.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import platform
import subprocess
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from semspace import __version__
from semspace.download import (
    RECORD_NAME,
    read_lock,
    read_model_record,
    sha256_file,
    snapshot_commits,
)
from semspace.errors import ConfigError, InputFormatError

PROVENANCE_NAME = "provenance.json"
PROVENANCE_VERSION = 1
#: Libraries whose versions change the numbers; recorded when installed.
PACKAGES = ("torch", "transformers", "huggingface_hub", "numpy", "scipy", "pyarrow", "nltk")
_REPO_DIR = Path(__file__).resolve().parents[2]


def _git(repo_dir: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", "-C", str(repo_dir), *args],
            check=False,
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def code_version(repo_dir: Path | str | None = None) -> dict[str, Any]:
    """Package version, git commit and whether tracked files had uncommitted changes."""
    repo = (Path(repo_dir) if repo_dir is not None else _REPO_DIR).resolve()
    # An installed package may sit inside some other checkout (a venv in a repo): only a git
    # tree whose top is this folder describes this code.
    top = _git(repo, "rev-parse", "--show-toplevel")
    commit = _git(repo, "rev-parse", "HEAD") if top and Path(top).resolve() == repo else None
    changed = _git(repo, "status", "--porcelain", "--untracked-files=no") if commit else None
    return {
        "semspace": __version__,
        "git_commit": commit,
        # None when not a git checkout (an installed wheel): the version is then all we know
        "git_dirty": None if changed is None else bool(changed),
        "git_changed_files": None if changed is None else len(changed.splitlines()),
    }


def environment() -> dict[str, Any]:
    """Python, platform and the versions of the libraries in :data:`PACKAGES` that are present."""
    packages = {}
    for name in PACKAGES:
        try:
            packages[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return {"python": sys.version.split()[0], "platform": platform.platform(), "packages": packages}


def _visible_files(folder: Path) -> list[Path]:
    # Hidden paths are bookkeeping (.sha256, .revision.json, huggingface's .cache/), not data.
    files = [
        p
        for p in folder.rglob("*")
        if p.is_file() and not any(x.startswith(".") for x in p.relative_to(folder).parts)
    ]
    return sorted(files, key=lambda p: p.relative_to(folder).as_posix())


def tree_digest(folder: Path | str, content: bool = True) -> dict[str, Any]:
    """SHA-256 over ``"<sha256>  <relpath>\\n"`` lines of every non-hidden file, sorted by path.

    With ``content=False`` each line is ``"<size>  <relpath>"`` instead: a cheap listing digest
    for folders too large to read (marked ``"kind": "listing"``).
    """
    folder = Path(folder)
    digest, count, total = hashlib.sha256(), 0, 0
    for path in _visible_files(folder):
        rel = path.relative_to(folder)
        size = path.stat().st_size
        first = sha256_file(path) if content else str(size)
        digest.update(f"{first}  {rel.as_posix()}\n".encode())
        count, total = count + 1, total + size
    kind = "content" if content else "listing"
    return {"kind": kind, "sha256": digest.hexdigest(), "files": count, "bytes": total}


def dataset_provenance(folder: Path | str, hash_local: bool = True) -> dict[str, Any]:
    """A dataset folder's digest: its download record (``.sha256``) or a digest of its files."""
    folder = Path(folder)
    if folder.is_file():  # a dataset given as one file (a captions JSON)
        size = folder.stat().st_size
        return {
            "path": str(folder),
            "source": "local",
            "kind": "file",
            "sha256": sha256_file(folder),
            "files": 1,
            "bytes": size,
        }
    record = folder / RECORD_NAME
    if record.is_file():
        downloads = []
        for number, line in enumerate(record.read_text(encoding="utf-8").splitlines(), 1):
            digest, sep, name = line.partition("  ")
            if not sep or len(digest) != 64:
                raise InputFormatError(record, "expected `<sha256>  <filename>`", line=number)
            downloads.append({"filename": name, "sha256": digest})
        return {
            "path": str(folder),
            "source": "download",
            "sha256": sha256_file(record),  # one digest naming every archive fetched
            "downloads": downloads,
        }
    return {"path": str(folder), "source": "local", **tree_digest(folder, content=hash_local)}


def model_provenance(
    folder: Path | str, hub_id: str | None = None, hash_local: bool = True
) -> dict[str, Any]:
    """A model folder's hub id and resolved commit (from :func:`fetch_model`'s record, else the
    hub's local-dir metadata); any other local folder gets a digest of its files instead."""
    folder = Path(folder)
    record = read_model_record(folder)
    if record is not None:
        return {"path": str(folder), "source": "download", **record}
    commits = snapshot_commits(folder)
    if len(commits) == 1:
        return {"path": str(folder), "source": "hub", "hub_id": hub_id, "commit": commits.pop()}
    # No single commit: a copy of unknown origin (or files of several commits mixed), so the
    # content digest is what identifies it; never borrow the lock's commit for it.
    return {
        "path": str(folder),
        "source": "local",
        "hub_id": hub_id,
        "commit": None,
        "digest": tree_digest(folder, content=hash_local),
    }


def _jsonable(value: Any) -> Any:
    # The merged config as JSON; Paths and tuples from Python callers become strings and lists.
    return json.loads(json.dumps(value, default=str))


def build_provenance(
    config: Mapping[str, Any],
    *,
    lock_path: Path | str | None = None,
    model_dirs: Mapping[str, Path | str] | None = None,
    dataset_dirs: Mapping[str, Path | str] | None = None,
    repo_dir: Path | str | None = None,
    hash_local: bool = True,
) -> dict[str, Any]:
    """The provenance record of one experiment: config, code, environment, models, datasets.

    ``model_dirs`` / ``dataset_dirs`` map the config's model / dataset names to their folders;
    a model's hub id is taken from ``config["models"][name]["hub_id"]`` when present.
    """
    models_cfg = config.get("models", {}) if isinstance(config.get("models"), Mapping) else {}
    lock = read_lock(lock_path) if lock_path is not None else None
    models = {}
    for name, folder in (model_dirs or {}).items():
        if not Path(folder).is_dir():
            raise ConfigError(f"models.{name}: folder {folder} does not exist; download it first")
        entry = models_cfg.get(name, {})
        hub_id = entry.get("hub_id") if isinstance(entry, Mapping) else None
        models[name] = model_provenance(folder, hub_id, hash_local)
    datasets = {}
    for name, folder in (dataset_dirs or {}).items():
        if not Path(folder).exists():
            raise ConfigError(f"datasets.{name}: {folder} does not exist; download it first")
        datasets[name] = dataset_provenance(folder, hash_local)
    lock_entry = None
    if lock is not None:
        lock_entry = {"path": str(lock_path), **lock.to_json()}
        if Path(lock_path).is_file():
            lock_entry["sha256"] = sha256_file(lock_path)
    return {
        "provenance_version": PROVENANCE_VERSION,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "code": code_version(repo_dir),
        "environment": environment(),
        "config": _jsonable(dict(config)),
        "models": models,
        "datasets": datasets,
        "lock": lock_entry,
    }


def write_provenance(results_dir: Path | str, provenance: Mapping[str, Any]) -> Path:
    """Write ``results_dir/provenance.json`` atomically (temporary file + rename); its path."""
    results_dir = Path(results_dir)
    results_dir.mkdir(parents=True, exist_ok=True)
    path = results_dir / PROVENANCE_NAME
    tmp = results_dir / f".{PROVENANCE_NAME}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(provenance, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path
