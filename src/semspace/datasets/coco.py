"""MS-COCO captions in the Karpathy split (E5): two real formats, one captions table.

* Karpathy's ``dataset_coco.json``: ``{"images": [{"split", "cocoid", "filename",
  "sentences": [{"raw", "tokens", ...}]}, ...]}``; one split is kept.
* The BLIP/ALBEF list: ``[{"image": "val2014/COCO_val2014_000000391895.jpg",
  "caption": [...]}, ...]`` (test/val files); the training file's one-caption-per-row form
  (``"caption": "..."``) is grouped by image in order of first appearance.

The split's order is kept: image index 0..n-1 follows the file.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pyarrow as pa

from semspace.errors import InputFormatError
from semspace.schemas import CAPTIONS

_COCO_ID = re.compile(r"(\d+)\.(?:jpe?g|png)$", re.IGNORECASE)


def coco_id_from_name(name: str) -> int | None:
    """``val2014/COCO_val2014_000000391895.jpg`` → 391895; None when the name has no id."""
    match = _COCO_ID.search(name)
    return int(match.group(1)) if match else None


def find_captions_file(path: str | Path, file: str = "dataset_coco.json") -> Path:
    """``path`` itself, or, for a folder (an unpacked caption_datasets.zip), the ``file`` inside it."""
    path = Path(path)
    if not path.is_dir():
        return path
    found = sorted(path.rglob(file))
    if not found:
        raise InputFormatError(path, f"folder holds no {file}; set the dataset option `file`")
    return found[0]


def read_captions(path: str | Path, split: str = "test", file: str = "dataset_coco.json") -> pa.Table:
    """Captions of a Karpathy (``split`` kept) or BLIP/ALBEF file as a :data:`CAPTIONS` table.

    ``path`` may be a folder holding ``file`` (Karpathy's caption_datasets.zip, unpacked).
    """
    path = find_captions_file(path, file)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputFormatError(path, "file not found; point the dataset's `path` at the captions JSON") from None
    except UnicodeDecodeError as exc:
        raise InputFormatError(path, f"not UTF-8 text ({exc.reason})") from None
    except json.JSONDecodeError as exc:
        raise InputFormatError(path, f"not valid JSON: {exc.msg}", line=exc.lineno) from None
    if isinstance(data, dict) and "images" in data:
        images = _karpathy_images(path, data["images"], split)
    elif isinstance(data, list):
        images = _blip_images(path, data)
    else:
        raise InputFormatError(
            path, "expected Karpathy's {'images': [...]} or a BLIP/ALBEF list of {'image', 'caption'}"
        )
    if not images:
        raise InputFormatError(path, f"no images found (split {split!r})")
    rows: dict[str, list[Any]] = {"image": [], "coco_id": [], "caption": [], "text": []}
    for index, (coco_id, texts) in enumerate(images):
        for caption, text in enumerate(texts):
            rows["image"].append(index)
            rows["coco_id"].append(coco_id)
            rows["caption"].append(caption)
            rows["text"].append(text)
    return pa.table(rows, schema=CAPTIONS)


def _karpathy_images(path: Path, entries: Any, split: str) -> list[tuple[int | None, list[str]]]:
    if not isinstance(entries, list):
        raise InputFormatError(path, "'images' must be a list")
    images = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or "sentences" not in entry:
            raise InputFormatError(path, f"images[{i}] has no 'sentences'")
        if entry.get("split") != split:
            continue
        texts = []
        for j, sentence in enumerate(entry["sentences"]):
            raw = sentence.get("raw") if isinstance(sentence, dict) else None
            tokens = sentence.get("tokens") if isinstance(sentence, dict) else None
            if raw is None and isinstance(tokens, list) and all(isinstance(t, str) for t in tokens):
                raw = " ".join(tokens)
            if not isinstance(raw, str):
                raise InputFormatError(path, f"images[{i}].sentences[{j}] has no 'raw' text")
            texts.append(raw)
        coco_id = entry.get("cocoid")
        if coco_id is None:
            coco_id = coco_id_from_name(str(entry.get("filename", "")))
        images.append((None if coco_id is None else int(coco_id), texts))
    return images


def _blip_images(path: Path, entries: list[Any]) -> list[tuple[int | None, list[str]]]:
    order: dict[str, int] = {}
    images: list[tuple[int | None, list[str]]] = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or "image" not in entry or "caption" not in entry:
            raise InputFormatError(path, f"entry [{i}] needs 'image' and 'caption'")
        name, caption = str(entry["image"]), entry["caption"]
        texts = [caption] if isinstance(caption, str) else caption
        if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
            raise InputFormatError(path, f"entry [{i}] ('{name}'): 'caption' must be a string or a list of strings")
        if name not in order:
            order[name] = len(images)
            images.append((coco_id_from_name(name), []))
        images[order[name]][1].extend(texts)
    return images
