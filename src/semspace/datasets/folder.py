"""A plain folder of images (any layout): the generic ``folder`` dataset format."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pyarrow as pa

from semspace.errors import InputFormatError
from semspace.schemas import MANIFEST

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


def image_manifest(
    root: Path,
    pattern: str = "**/*",
    extensions: Sequence[str] = IMAGE_EXTENSIONS,
) -> pa.Table:
    """Every image file under ``root`` matching ``pattern``; key = its relative POSIX path, sorted."""
    root = Path(root)
    if not root.is_dir():
        raise InputFormatError(root, "dataset folder not found (format 'folder' needs a directory)")
    wanted = {e.lower() if e.startswith(".") else f".{e.lower()}" for e in extensions}
    keys = sorted(
        p.relative_to(root).as_posix()
        for p in root.glob(pattern)
        if p.suffix.lower() in wanted and p.is_file()
    )
    return pa.Table.from_pydict(
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
