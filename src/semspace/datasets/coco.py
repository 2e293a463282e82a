"""MS-COCO captions in the Karpathy split (E5): two real formats, one captions table.

* Karpathy's ``dataset_coco.json``: ``{"images": [{"split", "cocoid", "filename",
  "sentences": [{"raw", "tokens", ...}]}, ...]}``; one split (or a list of splits) is kept.
* The BLIP/ALBEF list: ``[{"image": "val2014/COCO_val2014_000000391895.jpg",
  "caption": [...]}, ...]`` (test/val files); the training file's one-caption-per-row form
  (``"caption": "..."``) is grouped by image in order of first appearance.

The split's order is kept: image index 0..n-1 follows the file. When every kept sentence of a
Karpathy file carries its ``tokens`` list (the tokenised arrays distributed with MS-COCO, which
the paper used), the table has a ``tokens`` column too (:data:`CAPTIONS_WITH_TOKENS`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa

from semspace.datasets.karpathy import is_karpathy, karpathy_images, read_json
from semspace.errors import InputFormatError
from semspace.schemas import CAPTIONS

#: :data:`CAPTIONS` plus each caption's Karpathy ``tokens`` (when the source carries them).
CAPTIONS_WITH_TOKENS = pa.schema(
    [*CAPTIONS, pa.field("tokens", pa.list_(pa.string()), nullable=False)]
)

#: One image: its COCO id, its captions' texts and, where the file has them, their tokens.
_Image = tuple[int | None, list[str], list[list[str]] | None]

log = logging.getLogger(__name__)

_COCO_ID = re.compile(r"(\d+)\.(?:jpe?g|png)$", re.IGNORECASE)


def coco_id_from_name(name: str) -> int | None:
    """``val2014/COCO_val2014_000000391895.jpg`` → 391895; None when the name has no id."""
    match = _COCO_ID.search(name)
    return int(match.group(1)) if match else None


def find_captions_file(path: str | Path, file: str = "dataset_coco.json") -> Path:
    """``path`` itself, or, for a folder (an unpacked caption_datasets.zip), the ``file`` inside
    it."""
    path = Path(path)
    if not path.is_dir():
        return path
    found = sorted(path.rglob(file))
    if not found:
        raise InputFormatError(path, f"folder holds no {file}; set the dataset option `file`")
    return found[0]


def read_captions(
    path: str | Path, split: str | Sequence[str] = "test", file: str = "dataset_coco.json"
) -> pa.Table:
    """Captions of a Karpathy (``split`` kept; several splits are pooled in the file's order) or
    BLIP/ALBEF file as a :data:`CAPTIONS` table.

    ``path`` may be a folder holding ``file`` (Karpathy's caption_datasets.zip, unpacked). When
    every kept Karpathy sentence has ``tokens``, the result is a :data:`CAPTIONS_WITH_TOKENS` table.
    """
    path = find_captions_file(path, file)
    data = read_json(path)
    if is_karpathy(data):
        images = _karpathy_images(path, data, split)
    elif isinstance(data, list):
        images = _blip_images(path, data)
    else:
        raise InputFormatError(
            path,
            "expected Karpathy's {'images': [...]} or a BLIP/ALBEF list of {'image', 'caption'}",
        )
    if not images:
        raise InputFormatError(path, f"no images found (split {split!r})")
    images = _with_captions(path, images)
    with_tokens = all(tokens is not None for _, _, tokens in images)
    rows: dict[str, list[Any]] = {"image": [], "coco_id": [], "caption": [], "text": []}
    if with_tokens:
        rows["tokens"] = []
    for index, (coco_id, texts, tokens) in enumerate(images):
        for caption, text in enumerate(texts):
            rows["image"].append(index)
            rows["coco_id"].append(coco_id)
            rows["caption"].append(caption)
            rows["text"].append(text)
            if with_tokens:
                rows["tokens"].append(tokens[caption])  # type: ignore[index]
    return pa.table(rows, schema=CAPTIONS_WITH_TOKENS if with_tokens else CAPTIONS)


def _with_captions(path: Path, images: list[_Image]) -> list[_Image]:
    """The images that have a caption; those without one are left out and counted in the log
    (they have no tokens, so no set, and would leave a gap in the image index 0..n-1)."""
    kept = [image for image in images if image[1]]
    if not kept:
        raise InputFormatError(path, f"none of its {len(images)} images has a caption")
    empty = [image[0] for image in images if not image[1]]
    if empty:
        shown = ", ".join(str(i) for i in empty[:5]) + (", ..." if len(empty) > 5 else "")
        log.warning(
            "%s: %d of %d images have no caption and are left out (coco ids %s)",
            path,
            len(empty),
            len(images),
            shown,
        )
    return kept


def captions_schema(table: pa.Table) -> pa.Schema:
    """The schema to write a captions table with: keeps the ``tokens`` column when it has one."""
    return CAPTIONS_WITH_TOKENS if "tokens" in table.column_names else CAPTIONS


def _karpathy_images(path: Path, data: Any, split: str | Sequence[str]) -> list[_Image]:
    splits = {split} if isinstance(split, str) else set(split)
    images = []
    for i, entry in enumerate(karpathy_images(path, data)):
        if entry.get("split") not in splits:
            continue
        texts: list[str] = []
        token_lists: list[list[str]] | None = []
        for j, sentence in enumerate(entry["sentences"]):
            raw = sentence.get("raw") if isinstance(sentence, dict) else None
            tokens = sentence.get("tokens") if isinstance(sentence, dict) else None
            if tokens is not None and not (
                isinstance(tokens, list) and all(isinstance(t, str) for t in tokens)
            ):
                raise InputFormatError(
                    path, f"images[{i}].sentences[{j}].tokens must be a list of strings"
                )
            if raw is None and tokens is not None:
                raw = " ".join(tokens)
            if not isinstance(raw, str):
                raise InputFormatError(path, f"images[{i}].sentences[{j}] has no 'raw' text")
            texts.append(raw)
            # one sentence without tokens and the whole table falls back to the tokeniser
            token_lists = None if tokens is None or token_lists is None else [*token_lists, tokens]
        coco_id = entry.get("cocoid")
        if coco_id is None:
            coco_id = coco_id_from_name(str(entry.get("filename", "")))
        images.append((None if coco_id is None else int(coco_id), texts, token_lists))
    return images


def _blip_images(path: Path, entries: list[Any]) -> list[_Image]:
    order: dict[str, int] = {}
    images: list[_Image] = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or "image" not in entry or "caption" not in entry:
            raise InputFormatError(path, f"entry [{i}] needs 'image' and 'caption'")
        name, caption = str(entry["image"]), entry["caption"]
        texts = [caption] if isinstance(caption, str) else caption
        if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
            raise InputFormatError(
                path, f"entry [{i}] ('{name}'): 'caption' must be a string or a list of strings"
            )
        if name not in order:
            order[name] = len(images)
            images.append((coco_id_from_name(name), [], None))
        images[order[name]][1].extend(texts)
    return images
