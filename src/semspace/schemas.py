"""Parquet schemas shared by the stages: defined once, used by writer and reader."""

from __future__ import annotations

import pyarrow as pa

#: One row per image to embed. ``path`` is relative to the dataset root; the optional box
#: (pixels, left/top inclusive, right/bottom exclusive) turns the row into a crop of that image.
MANIFEST = pa.schema(
    [
        pa.field("key", pa.string(), nullable=False),
        pa.field("path", pa.string(), nullable=False),
        pa.field("left", pa.int32()),
        pa.field("top", pa.int32()),
        pa.field("right", pa.int32()),
        pa.field("bottom", pa.int32()),
    ]
)

#: Pre-resized images, encoded, ready for the model's normalisation.
SHARD = pa.schema(
    [
        pa.field("key", pa.string(), nullable=False),
        pa.field("image", pa.binary(), nullable=False),
        pa.field("width", pa.int32(), nullable=False),
        pa.field("height", pa.int32(), nullable=False),
    ]
)

#: Images that could not be used, with the reason; written beside each shard.
SKIPPED = pa.schema(
    [
        pa.field("key", pa.string(), nullable=False),
        pa.field("path", pa.string(), nullable=False),
        pa.field("reason", pa.string(), nullable=False),
    ]
)


def embedding_schema(dim: int) -> pa.Schema:
    """Embeddings: L2-normalised float32 vectors of fixed size ``dim`` with the model id."""
    return pa.schema(
        [
            pa.field("key", pa.string(), nullable=False),
            pa.field("embedding", pa.list_(pa.float32(), dim), nullable=False),
            pa.field("model", pa.string(), nullable=False),
        ]
    )


#: Captions of an image collection in split order (E5): one row per caption.
CAPTIONS = pa.schema(
    [
        pa.field("image", pa.int32(), nullable=False),  # 0..n-1 in the split's order
        pa.field("coco_id", pa.int64()),
        pa.field("caption", pa.int16(), nullable=False),  # index of the caption within its image
        pa.field("text", pa.string(), nullable=False),
    ]
)

#: One token set per image (E5), COCO-tokenised captions or LLM-tokenised associations.
TOKENSETS = pa.schema(
    [
        pa.field("image", pa.int32(), nullable=False),
        pa.field("coco_id", pa.int64()),
        pa.field("tokens", pa.list_(pa.string()), nullable=False),  # sorted, distinct
    ]
)
