"""A plain folder of images (any layout): the generic ``folder`` dataset format.

Symlinked folders are followed (a dataset assembled from links is common); a link back to a
folder on its own path (a loop), a dangling link and hidden or metadata entries (``.*``,
``__MACOSX``: a macOS zip's ``._x.jpg`` files are not images) are left out, counted and logged,
and the counts travel in the manifest's schema metadata under ``left_out``.
"""

from __future__ import annotations

import fnmatch
import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path

import pyarrow as pa

from semspace.errors import InputFormatError
from semspace.schemas import MANIFEST

log = logging.getLogger(__name__)

#: File name endings taken as images (compared case-insensitively).
IMAGE_EXTENSIONS = (
    ".jpg",
    ".jpeg",
    ".png",
    ".gif",
    ".bmp",
    ".tif",
    ".tiff",
    ".webp",
    ".mpo",
    ".ppm",
    ".pgm",
)

#: Reasons an entry under the root is left out of the manifest, as counted in ``left_out``.
LEFT_OUT = ("symlink_loop", "broken_link", "unreadable_dir", "hidden", "name_not_utf8")

#: Folders of metadata that copies of a dataset carry (macOS zips, thumbnails): never entered.
#: Names starting with "." are not entered either (``._x.jpg`` AppleDouble files look like
#: images by their name, ``.thumbnails/`` holds small copies).
METADATA_FOLDERS = frozenset({"__MACOSX"})


def _hidden(name: str) -> bool:
    return name.startswith(".") or name in METADATA_FOLDERS


def glob_match(rel: str, pattern: str) -> bool:
    """Whether the POSIX relative path ``rel`` matches ``pattern`` as ``Path.glob`` would.

    Segments are matched with ``fnmatch`` (case-sensitive); ``**`` matches any number of them.
    """

    def match(parts: list[str], pats: list[str]) -> bool:
        if not pats:
            return not parts
        if pats[0] == "**":
            return any(match(parts[i:], pats[1:]) for i in range(len(parts) + 1))
        return bool(parts) and fnmatch.fnmatchcase(parts[0], pats[0]) and match(parts[1:], pats[1:])

    return match(rel.split("/"), [p for p in pattern.split("/") if p not in ("", ".")])


def walk_files(root: Path) -> tuple[list[str], dict[str, int]]:
    """Relative POSIX paths of every file under ``root``, following symlinked folders.

    A folder whose real identity is already on the path from ``root`` (a loop) is not entered;
    it, dangling links, folders that cannot be listed, hidden or metadata entries (names
    starting with ".", ``__MACOSX``) and names that are not UTF-8 are counted by reason instead.
    """
    files: list[str] = []
    left_out = dict.fromkeys(LEFT_OUT, 0)

    def visit(folder: Path, rel: str, ancestors: frozenset[tuple[int, int]]) -> None:
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError as exc:
            left_out["unreadable_dir"] += 1
            log.warning("cannot list %s: %s", folder, exc)
            return
        for entry in entries:
            child_rel = f"{rel}/{entry.name}" if rel else entry.name
            if _hidden(entry.name):
                left_out["hidden"] += 1
                log.debug("left out %s: a hidden or metadata entry", child_rel)
                continue
            try:
                entry.name.encode("utf-8")
            except UnicodeEncodeError:  # bytes of another encoding (an old Latin-1 archive)
                left_out["name_not_utf8"] += 1
                log.warning(
                    "left out %r: its name is not UTF-8 (rename it, e.g. convmv -f latin1 -t utf8)",
                    os.fsencode(entry.path),
                )
                continue
            try:
                st = os.stat(entry.path)  # follows links
            except OSError:
                left_out["broken_link"] += 1
                log.warning("left out %s: a dangling link", child_rel)
                continue
            if entry.is_dir(follow_symlinks=True):
                ident = (st.st_dev, st.st_ino)
                if ident in ancestors:
                    left_out["symlink_loop"] += 1
                    log.warning("left out %s: a link back to a folder above it", child_rel)
                    continue
                visit(Path(entry.path), child_rel, ancestors | {ident})
            elif entry.is_file(follow_symlinks=True):
                files.append(child_rel)

    top = root.stat()
    visit(root, "", frozenset({(top.st_dev, top.st_ino)}))
    return files, {k: v for k, v in left_out.items() if v}


def image_manifest(
    root: Path,
    pattern: str = "**/*",
    extensions: Sequence[str] = IMAGE_EXTENSIONS,
) -> pa.Table:
    """Every image file under ``root`` matching ``pattern``; key = its relative POSIX path, sorted.

    What was left out (symlink loops, dangling links) is logged and counted in the schema
    metadata key ``left_out`` (JSON, reason → count).
    """
    root = Path(root)
    if not root.is_dir():
        raise InputFormatError(root, "dataset folder not found (format 'folder' needs a directory)")
    wanted = {e.lower() if e.startswith(".") else f".{e.lower()}" for e in extensions}
    files, left_out = walk_files(root)
    keys = sorted(
        rel
        for rel in files
        if os.path.splitext(rel)[1].lower() in wanted and glob_match(rel, pattern)
    )
    if left_out:
        log.warning("%s: left out of the manifest: %s", root, left_out)
    table = pa.Table.from_pydict(
        {
            "key": keys,
            "path": keys,
            "left": [None] * len(keys),
            "top": [None] * len(keys),
            "right": [None] * len(keys),
            "bottom": [None] * len(keys),
        },
        schema=MANIFEST,
    )
    return table.replace_schema_metadata(
        {**(MANIFEST.metadata or {}), b"left_out": json.dumps(left_out).encode()}
    )
