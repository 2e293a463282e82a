"""Karpathy's caption files (``dataset_coco.json``, ``dataset_flickr8k.json``,
``dataset_flickr30k.json``): the one reader of their JSON, used by the COCO (E5) and Flickr (E2)
readers. ``{"images": [{"filename", "split", "sentences": [{"raw", "tokens"}, ...]}, ...]}``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from semspace.errors import InputFormatError
from semspace.io import decode_text


def read_json(path: str | Path) -> Any:
    """The parsed JSON of a caption file; a missing, non-UTF-8 or invalid file names itself
    (and the line of a JSON error)."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise InputFormatError(
            path, "file not found; point the dataset's `path` at the captions JSON"
        ) from None
    try:
        return json.loads(decode_text(raw, path))  # UTF-8 with or without BOM, UTF-16
    except json.JSONDecodeError as exc:
        raise InputFormatError(path, f"not valid JSON: {exc.msg}", line=exc.lineno) from None


def is_karpathy(data: Any) -> bool:
    """Whether parsed JSON has the Karpathy layout (a dict with ``images``)."""
    return isinstance(data, dict) and "images" in data


def karpathy_images(
    path: str | Path, data: Any, required: Sequence[str] = ("sentences",)
) -> list[dict[str, Any]]:
    """The ``images`` list of parsed Karpathy JSON, each entry checked to hold ``required``."""
    if not is_karpathy(data):
        raise InputFormatError(path, 'expected {"images": [...]} (Karpathy caption format)')
    images = data["images"]
    if not isinstance(images, list):
        raise InputFormatError(path, "'images' must be a list")
    for i, entry in enumerate(images):
        missing = [k for k in required if not isinstance(entry, dict) or k not in entry]
        if missing:
            raise InputFormatError(path, f"images[{i}] lacks {', '.join(missing)}")
        if not isinstance(entry["sentences"], list):
            raise InputFormatError(path, f"images[{i}].sentences must be a list")
    return images
