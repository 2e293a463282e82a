"""Image/text pairs of the retrieval datasets (E2): one row per (image or crop, text) pair.

Every reader of a paired dataset (Flickr8k/30k captions, Flickr30k Entities phrases, Visual
Genome regions) returns this table; its image manifest is derived from the same rows, so the
keys of the shared embedding stage and of the pairs always agree.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import pyarrow as pa

from semspace.schemas import MANIFEST

#: One row per pair. ``key`` is the embedded item (an image, or a crop ``image#l,t,r,b``);
#: ``path`` is relative to the dataset root; the box is set for crops (pixels, right/bottom
#: exclusive). ``split`` is train, val or test.
PAIRS = pa.schema(
    [
        pa.field("split", pa.string(), nullable=False),
        pa.field("key", pa.string(), nullable=False),
        pa.field("image", pa.string(), nullable=False),
        pa.field("path", pa.string(), nullable=False),
        pa.field("left", pa.int32()),
        pa.field("top", pa.int32()),
        pa.field("right", pa.int32()),
        pa.field("bottom", pa.int32()),
        pa.field("text", pa.string(), nullable=False),
    ]
)

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class Pair:
    split: str
    image: str
    path: str
    text: str
    box: tuple[int, int, int, int] | None = None

    @property
    def key(self) -> str:
        return crop_key(self.image, self.box)


def crop_key(image: str, box: tuple[int, int, int, int] | None) -> str:
    """``image`` for a whole image, ``image#left,top,right,bottom`` for a crop."""
    if box is None:
        return image
    return f"{image}#{box[0]},{box[1]},{box[2]},{box[3]}"


def pairs_table(pairs: Iterable[Pair]) -> pa.Table:
    rows: dict[str, list] = {name: [] for name in PAIRS.names}
    for pair in pairs:
        box = pair.box or (None, None, None, None)
        rows["split"].append(pair.split)
        rows["key"].append(pair.key)
        rows["image"].append(pair.image)
        rows["path"].append(pair.path)
        for name, value in zip(("left", "top", "right", "bottom"), box, strict=True):
            rows[name].append(value)
        rows["text"].append(pair.text)
    return pa.table(rows, schema=PAIRS)


def manifest_from_pairs(pairs: pa.Table) -> pa.Table:
    """The distinct items of ``pairs`` in first-seen order, as a MANIFEST table."""
    seen: set[str] = set()
    keep: list[int] = []
    for i, key in enumerate(pairs.column("key").to_pylist()):
        if key not in seen:
            seen.add(key)
            keep.append(i)
    return pairs.take(keep).select(MANIFEST.names).cast(MANIFEST)


def union_box(boxes: Iterable[tuple[int, int, int, int]]) -> tuple[int, int, int, int]:
    """The smallest box holding every box (Flickr30k Entities phrases with several boxes)."""
    boxes = list(boxes)
    return (
        min(b[0] for b in boxes),
        min(b[1] for b in boxes),
        max(b[2] for b in boxes),
        max(b[3] for b in boxes),
    )
