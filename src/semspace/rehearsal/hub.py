"""A loopback, read-only Hugging Face Hub for model folders (what snapshot_download uses).

Layout: ``<root>/<owner>/<name>/<files>``; each repository has one commit, a digest of its files,
which every revision (``main``, a tag, the commit itself) resolves to. Endpoints, as
huggingface_hub 2.x calls them:

* ``GET /api/models/{repo}[/revision/{rev}]``: ``id``, ``sha``, ``siblings``;
* ``GET /api/models/{repo}/tree/{rev}[/{path}]``: files (``oid``, ``size``, ``lfs`` for weights);
* ``HEAD``/``GET /{repo}/resolve/{rev}/{file}``: the file, with ``ETag``, ``X-Repo-Commit`` and,
  for weights, ``X-Linked-Etag``/``X-Linked-Size`` as the hub sends for LFS files; ``Range`` works.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from functools import cached_property
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

#: Files the hub stores through LFS (their ETag is the SHA-256 of the content).
LFS_SUFFIXES = (".safetensors", ".bin", ".pt", ".h5", ".msgpack", ".model")
LFS_POINTER_SIZE = 134


@dataclass(frozen=True)
class RepoFile:
    path: str
    size: int
    oid: str  # git blob sha1, or the LFS sha256
    lfs: bool


def git_blob_sha1(data: bytes) -> str:
    """The object id git gives a file's content (what the hub reports for non-LFS files)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def scan_repo(folder: Path) -> list[RepoFile]:
    """Every file of a repository folder (hidden ones left out), sorted by path."""
    files = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        rel = path.relative_to(folder).as_posix()
        if any(part.startswith(".") for part in rel.split("/")):
            continue
        data = path.read_bytes()
        lfs = rel.endswith(LFS_SUFFIXES)
        oid = hashlib.sha256(data).hexdigest() if lfs else git_blob_sha1(data)
        files.append(RepoFile(rel, len(data), oid, lfs))
    return files


def repo_commit(repo_id: str, files: list[RepoFile]) -> str:
    """A 40-hex commit id that changes whenever any file does."""
    text = repo_id + "\n" + "".join(f"{f.path} {f.oid}\n" for f in files)
    return hashlib.sha1(text.encode()).hexdigest()


@dataclass
class Repo:
    repo_id: str
    folder: Path

    @cached_property
    def files(self) -> dict[str, RepoFile]:
        return {f.path: f for f in scan_repo(self.folder)}

    @cached_property
    def commit(self) -> str:
        return repo_commit(self.repo_id, list(self.files.values()))

    def info(self) -> dict[str, Any]:
        return {
            "id": self.repo_id,
            "modelId": self.repo_id,
            "sha": self.commit,
            "private": False,
            "gated": False,
            "disabled": False,
            "siblings": [{"rfilename": p} for p in self.files],
            "tags": [],
        }

    def tree(self, prefix: str) -> list[dict[str, Any]]:
        out = []
        for f in self.files.values():
            if prefix and not f.path.startswith(prefix.rstrip("/") + "/"):
                continue
            entry: dict[str, Any] = {"type": "file", "path": f.path, "size": f.size, "oid": f.oid}
            if f.lfs:
                entry["lfs"] = {"oid": f.oid, "size": f.size, "pointerSize": LFS_POINTER_SIZE}
            out.append(entry)
        return out


def find_repos(root: Path) -> dict[str, Repo]:
    """``owner/name`` -> repository, for every ``<root>/<owner>/<name>/config.json``."""
    return {
        f"{c.parent.parent.name}/{c.parent.name}": Repo(
            f"{c.parent.parent.name}/{c.parent.name}", c.parent
        )
        for c in sorted(Path(root).glob("*/*/config.json"))
    }


_API = re.compile(r"^/api/models/([^/]+/[^/]+)(?:/(revision|tree)/([^/]+)(?:/(.*))?)?$")
_RESOLVE = re.compile(r"^/([^/]+/[^/]+)/resolve/([^/]+)/(.+)$")


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """``bytes=a-b`` / ``bytes=a-`` -> (first, last) inclusive; None for no or an unusable range."""
    m = re.fullmatch(r"bytes=(\d*)-(\d*)", header or "")
    if not m or (not m.group(1) and not m.group(2)):
        return None
    if not m.group(1):  # suffix range: the last n bytes
        n = int(m.group(2))
        return max(size - n, 0), size - 1
    first = int(m.group(1))
    last = int(m.group(2)) if m.group(2) else size - 1
    return first, min(last, size - 1)


class HubHandler(BaseHTTPRequestHandler):
    """Request handler; ``server.repos`` maps ``owner/name`` to :class:`Repo`."""

    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the workflow's own logs say what was fetched

    def _send(self, code: int, body: bytes, headers: dict[str, str], head: bool) -> None:
        self.send_response(code)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def _error(self, code: int, message: str, kind: str, head: bool) -> None:
        body = json.dumps({"error": message}).encode()
        self._send(code, body, {"Content-Type": "application/json", "X-Error-Code": kind}, head)

    def _json(self, obj: Any, head: bool) -> None:
        self._send(200, json.dumps(obj).encode(), {"Content-Type": "application/json"}, head)

    def _repo(self, repo_id: str, revision: str | None, head: bool) -> Repo | None:
        repo = self.server.repos.get(repo_id)  # type: ignore[attr-defined]
        if repo is None:
            self._error(404, f"Repository {repo_id} not found", "RepoNotFound", head)
            return None
        if revision is not None and revision not in {"main", repo.commit}:
            self._error(404, f"Invalid rev id: {revision}", "RevisionNotFound", head)
            return None
        return repo

    def _handle(self, head: bool) -> None:
        path = unquote(urlsplit(self.path).path)
        if m := _API.match(path):
            repo_id, kind, revision, sub = m.groups()
            repo = self._repo(repo_id, revision, head)
            if repo is not None:
                self._json(repo.tree(sub or "") if kind == "tree" else repo.info(), head)
            return
        if m := _RESOLVE.match(path):
            repo_id, revision, filename = m.groups()
            repo = self._repo(repo_id, revision, head)
            if repo is None:
                return
            entry = repo.files.get(filename)
            if entry is None:
                self._error(404, f"{filename} not in {repo_id}", "EntryNotFound", head)
                return
            self._file(repo, entry, head)
            return
        self._error(404, f"no such endpoint: {path}", "NotFound", head)

    def _file(self, repo: Repo, entry: RepoFile, head: bool) -> None:
        data = (repo.folder / entry.path).read_bytes()
        headers = {
            "Content-Type": "application/octet-stream",
            "ETag": f'"{entry.oid}"',
            "X-Repo-Commit": repo.commit,
            "Accept-Ranges": "bytes",
        }
        if entry.lfs:
            headers["X-Linked-Etag"] = f'"{entry.oid}"'
            headers["X-Linked-Size"] = str(entry.size)
        span = parse_range(self.headers.get("Range"), len(data))
        if span is not None and span[0] < len(data):
            first, last = span
            headers["Content-Range"] = f"bytes {first}-{last}/{len(data)}"
            self._send(206, data[first : last + 1], headers, head)
        else:
            self._send(200, data, headers, head)

    def do_GET(self) -> None:
        self._handle(head=False)

    def do_HEAD(self) -> None:
        self._handle(head=True)
