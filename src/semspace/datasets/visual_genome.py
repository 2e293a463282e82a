"""Visual Genome region descriptions: region crops paired with their phrases (E2).

Files read as released (v1.2): ``region_descriptions.json`` (a list of
``{"id": image_id, "regions": [{"region_id", "image_id", "phrase", "x", "y", "width",
"height"}]}``), optional ``image_data.json`` (``{"image_id" | "id", "url", "width",
"height"}``: gives each image's folder, ``VG_100K`` or ``VG_100K_2``, and its size), and the
images under ``VG_100K*/<image_id>.jpg``.

The paper's split: images are shuffled and taken whole, first into test until it holds
``test_pairs`` region-phrase pairs (15,000), then into val (``val_pairs``), the rest into
train (at most ``max_train_pairs`` when set). An image is never in two splits.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa

from semspace.datasets.pairs import Pair, manifest_from_pairs, pairs_table
from semspace.errors import InputFormatError
from semspace.io import read_text_file

log = logging.getLogger(__name__)

IMAGE_FOLDERS = ("VG_100K", "VG_100K_2", "images")


def _load_json(path: Path) -> object:
    try:
        return json.loads(read_text_file(path))  # UTF-8 with or without BOM, UTF-16
    except json.JSONDecodeError as exc:
        raise InputFormatError(path, f"not a JSON file: {exc}") from None


def image_paths(
    root: Path, image_data: str | None = "image_data.json"
) -> dict[int, tuple[str, int | None, int | None]]:
    """image id → (path relative to root, width, height) from image_data.json when present."""
    out: dict[int, tuple[str, int | None, int | None]] = {}
    path = root / image_data if image_data else None
    if path is not None and path.is_file():
        data = _load_json(path)
        if not isinstance(data, list):
            raise InputFormatError(path, "expected a list of images")
        for i, entry in enumerate(data):
            image_id = entry.get("image_id", entry.get("id")) if isinstance(entry, dict) else None
            if image_id is None:
                raise InputFormatError(path, f"entry {i} has no image_id")
            url = entry.get("url") or f"{image_id}.jpg"
            parts = url.rstrip("/").split("/")
            rel = (
                "/".join(parts[-2:])
                if len(parts) >= 2 and parts[-2].startswith("VG_100K")
                else None
            )
            if rel is None:
                rel = _find_image(root, int(image_id))
            out[int(image_id)] = (rel, entry.get("width"), entry.get("height"))
    return out


def _find_image(root: Path, image_id: int) -> str:
    for folder in IMAGE_FOLDERS:
        if (root / folder / f"{image_id}.jpg").exists():
            return f"{folder}/{image_id}.jpg"
    return f"{IMAGE_FOLDERS[0]}/{image_id}.jpg"  # missing: counted as skipped by `resize`


def iter_regions(path: Path) -> Iterator[tuple[int, list[dict]]]:
    """(image id, its regions) from region_descriptions.json, checked for the fields we use."""
    data = _load_json(path)
    if not isinstance(data, list):
        raise InputFormatError(path, "expected a list of {id, regions}")
    for i, entry in enumerate(data):
        if not isinstance(entry, dict) or "regions" not in entry:
            raise InputFormatError(path, f"entry {i} has no regions")
        regions = entry["regions"]
        image_id = entry.get("id", entry.get("image_id"))
        if image_id is None and regions:
            image_id = regions[0].get("image_id")
        if image_id is None:
            continue
        for region in regions:
            if not {"phrase", "x", "y", "width", "height"} <= region.keys():
                raise InputFormatError(
                    path, f"entry {i}: a region lacks phrase, x, y, width or height"
                )
        yield int(image_id), regions


def region_box(
    region: dict, width: int | None, height: int | None
) -> tuple[int, int, int, int] | None:
    """(left, top, right, bottom), clipped to the image when its size is known; None if empty."""
    left, top = max(int(region["x"]), 0), max(int(region["y"]), 0)
    right, bottom = (
        int(region["x"]) + int(region["width"]),
        int(region["y"]) + int(region["height"]),
    )
    if width:
        right = min(right, int(width))
    if height:
        bottom = min(bottom, int(height))
    if right <= left or bottom <= top:
        return None
    return left, top, right, bottom


def region_pairs(
    root: Path,
    regions: str = "region_descriptions.json",
    image_data: str | None = "image_data.json",
    test_pairs: int = 15000,
    val_pairs: int = 5000,
    max_train_pairs: int | None = None,
    seed: int = 0,
    splits: list[str] | None = None,
) -> pa.Table:
    """Region crop ↔ phrase pairs, split by image as in the paper (see the module doc)."""
    root = Path(root)
    info = image_paths(root, image_data)
    per_image: dict[int, list[Pair]] = {}
    empty = 0
    for image_id, image_regions in iter_regions(root / regions):
        rel, width, height = info.get(image_id) or (_find_image(root, image_id), None, None)
        seen: set[tuple[str, str]] = set()
        items = per_image.setdefault(image_id, [])
        for region in image_regions:
            text = " ".join(str(region["phrase"]).split())
            box = region_box(region, width, height)
            if box is None or not text:
                empty += 1
                continue
            pair = Pair("", f"{image_id}.jpg", rel, text, box)
            if (pair.key, text.lower()) not in seen:
                seen.add((pair.key, text.lower()))
                items.append(pair)
    if empty:
        log.warning("%s: %d regions with an empty box or phrase left out", root, empty)
    order = np.random.default_rng(seed).permutation(sorted(per_image))
    quota = {"test": test_pairs, "val": val_pairs, "train": max_train_pairs}
    out: dict[str, list[Pair]] = {"test": [], "val": [], "train": []}
    split_names = ["test", "val", "train"]
    current = 0
    for image_id in order:
        while (
            current < 3
            and quota[split_names[current]] is not None
            and len(out[split_names[current]]) >= quota[split_names[current]]
        ):
            current += 1
        if current == 3:
            break
        split = split_names[current]
        room = quota[split]
        items = per_image[int(image_id)]
        if room is not None:
            items = items[: room - len(out[split])]
        out[split] += [Pair(split, p.image, p.path, p.text, p.box) for p in items]
    wanted = splits or ["train", "val", "test"]
    pairs = [p for split in ("train", "val", "test") if split in wanted for p in out[split]]
    log.info(
        "%s: %s pairs",
        root,
        ", ".join(f"{s} {len(out[s])}" for s in ("train", "val", "test")),
    )
    return pairs_table(pairs)


def image_manifest(root: Path, **options: object) -> pa.Table:
    """Manifest of the Visual Genome region crops (format ``visual_genome``)."""
    return manifest_from_pairs(region_pairs(root, **options))  # type: ignore[arg-type]
