"""E2 retrieval: paired features of a dataset, and sentence/image retrieval metrics by cosine.

Ranks are 1-based and ties count against the query (a candidate scoring *equal* to the
correct one is ranked before it), so constant or collapsed embeddings never look good.

* Sentence retrieval (image → text): an image's rank is that of its best-ranked caption among
  all captions of the fold; its other captions do not count against it.
* Image retrieval (text → image): a caption's rank is that of its image among the fold's images.

R@K is the percentage of queries with rank ≤ K; Med r the median rank (the mean of the two
middle ranks for an even count). Folds are consecutive blocks of ``fold_size`` images in
dataset order, each with all captions of its images; the figures are averaged over folds.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from semspace.datasets.pairs import PAIRS
from semspace.errors import ConfigError, SemspaceError

if TYPE_CHECKING:
    from semspace.embed import Clip, TextEmbeddingCache

log = logging.getLogger(__name__)

KS = (1, 5, 10)
DIRECTIONS = ("sentence", "image")  # sentence retrieval = image → text; image = text → image


def items_schema(dim: int) -> pa.Schema:
    """One row per embedded item (image or crop) of a paired dataset."""
    return pa.schema(
        [
            pa.field("key", pa.string(), nullable=False),
            pa.field("split", pa.string(), nullable=False),
            pa.field("embedding", pa.list_(pa.float32(), dim), nullable=False),
        ]
    )


def captions_schema(dim: int) -> pa.Schema:
    """One row per pair: the item's key, the text and the text's embedding."""
    return pa.schema(
        [
            pa.field("key", pa.string(), nullable=False),
            pa.field("split", pa.string(), nullable=False),
            pa.field("text", pa.string(), nullable=False),
            pa.field("embedding", pa.list_(pa.float32(), dim), nullable=False),
        ]
    )


#: Pairs left out because their image or crop has no embedding (skipped by `resize`).
DROPPED = pa.schema(
    [
        pa.field("key", pa.string(), nullable=False),
        pa.field("text", pa.string(), nullable=False),
        pa.field("reason", pa.string(), nullable=False),
    ]
)


def text_embeddings_schema(dim: int) -> pa.Schema:
    """Text embeddings of a dataset: one row per distinct text."""
    return pa.schema(
        [
            pa.field("text", pa.string(), nullable=False),
            pa.field("embedding", pa.list_(pa.float32(), dim), nullable=False),
        ]
    )


#: Retrieval figures: one row per (features, loss, train set, eval set, direction).
METRICS = pa.schema(
    [
        pa.field("features", pa.string(), nullable=False),
        pa.field("loss", pa.string(), nullable=False),
        pa.field("train", pa.string(), nullable=False),
        pa.field("eval", pa.string(), nullable=False),
        pa.field("direction", pa.string(), nullable=False),
        pa.field("r1", pa.float64(), nullable=False),
        pa.field("r5", pa.float64(), nullable=False),
        pa.field("r10", pa.float64(), nullable=False),
        pa.field("medr", pa.float64(), nullable=False),
        pa.field("meanr", pa.float64(), nullable=False),
        pa.field("folds", pa.int32(), nullable=False),
        pa.field("images", pa.int32(), nullable=False),
        pa.field("texts", pa.int32(), nullable=False),
    ]
)


@dataclass
class PairedFeatures:
    """Items (images or crops) and their captions, with ``text_item[j]`` the item of caption j."""

    keys: list[str]
    images: np.ndarray  # n × d_image
    texts: list[str]
    text_features: np.ndarray  # m × d_text
    text_item: np.ndarray  # m, int64 indices into keys

    def __post_init__(self) -> None:
        if len(self.keys) != len(self.images) or len(self.texts) != len(self.text_features):
            raise ValueError("features and keys differ in length")
        if len(self.text_item) != len(self.texts):
            raise ValueError("text_item must give one item per text")

    def subset(self, item_index: np.ndarray) -> PairedFeatures:
        """The given items (in that order) with all of their captions."""
        item_index = np.asarray(item_index, dtype=np.int64)
        new_pos = np.full(len(self.keys), -1, dtype=np.int64)
        new_pos[item_index] = np.arange(len(item_index))
        keep = np.flatnonzero(new_pos[self.text_item] >= 0)
        return PairedFeatures(
            [self.keys[i] for i in item_index],
            self.images[item_index],
            [self.texts[j] for j in keep],
            self.text_features[keep],
            new_pos[self.text_item[keep]],
        )

    @staticmethod
    def concat(parts: Sequence[PairedFeatures]) -> PairedFeatures:
        offsets = np.cumsum([0] + [len(p.keys) for p in parts[:-1]])
        return PairedFeatures(
            [k for p in parts for k in p.keys],
            np.concatenate([p.images for p in parts]),
            [t for p in parts for t in p.texts],
            np.concatenate([p.text_features for p in parts]),
            np.concatenate([p.text_item + o for p, o in zip(parts, offsets, strict=True)]),
        )


# ---------------------------------------------------------------- disjoint splits


class SplitOverlapError(SemspaceError):
    """A training set holds images of an evaluation set (e.g. Entities train vs Karpathy test)."""


def image_of_key(key: str) -> str:
    """The image file of an item key: ``3.jpg#10,0,150,200`` (a crop) and ``3.jpg`` → ``3.jpg``."""
    return key.split("#", 1)[0]


def overlapping_images(train_keys: Sequence[str], held_out_keys: Sequence[str]) -> list[str]:
    """Sorted images that items of both key lists come from (crops count as their image)."""
    return sorted({image_of_key(k) for k in train_keys} & {image_of_key(k) for k in held_out_keys})


def check_disjoint_images(
    train_keys: Sequence[str], held_out_keys: Sequence[str], train_name: str, held_out_name: str
) -> None:
    """Stop with :class:`SplitOverlapError` naming the shared images when the two sets share any.

    Flickr30k Entities' own split lists differ from Karpathy's: read with the option
    ``karpathy`` (the Flickr30k Karpathy file), its splits agree with the Flickr30k eval set.
    """
    shared = overlapping_images(train_keys, held_out_keys)
    if shared:
        shown = ", ".join(shared[:5]) + (", ..." if len(shared) > 5 else "")
        raise SplitOverlapError(
            f"training set {train_name} holds {len(shared)} image(s) of evaluation set "
            f"{held_out_name}: {shown}; read Flickr30k Entities with the option "
            "`karpathy: <the Flickr30k Karpathy file>` so that both use Karpathy's splits"
        )


def split_keys(items: str | Path, splits: Sequence[str]) -> list[str]:
    """The item keys of ``splits`` in an items table (features Parquet)."""
    table = pq.read_table(items, columns=["key", "split"])
    wanted = set(splits)
    return [
        k
        for k, s in zip(
            table.column("key").to_pylist(), table.column("split").to_pylist(), strict=True
        )
        if s in wanted
    ]


def check_held_out_of_training(
    train: Sequence[tuple[str, str | Path, str]],
    train_split: str,
    held_out_name: str,
    held_out_keys: Sequence[str],
    held_out_source: str,
) -> None:
    """No evaluated image was trained on. ``train`` holds (dataset, items file, image source) per
    training dataset; the source is the dataset whose image files it uses (its ``images_from``,
    else itself). Only datasets of the evaluated set's source can share its images (file names
    of two sources may coincide without being one image). Raises :class:`SplitOverlapError`."""
    for name, items, source in train:
        if source == held_out_source:
            check_disjoint_images(
                split_keys(items, [train_split]), held_out_keys, name, held_out_name
            )


# ---------------------------------------------------------------- building features


def _vectors(column: pa.ChunkedArray | pa.Array, dim: int) -> np.ndarray:
    flat = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    return np.asarray(flat.flatten().to_numpy(zero_copy_only=False), dtype=np.float32).reshape(
        -1, dim
    )


def build_features(
    pairs: pa.Table,
    image_keys: Sequence[str],
    image_vectors: np.ndarray,
    text_keys: Sequence[str],
    text_vectors: np.ndarray,
) -> tuple[pa.Table, pa.Table, pa.Table]:
    """(items, captions, dropped) tables for a dataset's pairs from its image and text vectors.

    Pairs whose item has no image vector (an image skipped by `resize`) are dropped and listed;
    a text with no vector is an error (the text embedding stage covers every text).
    """
    pairs = pairs.select(PAIRS.names)
    image_row = {k: i for i, k in enumerate(image_keys)}
    text_row = {t: i for i, t in enumerate(text_keys)}
    item_keys: list[str] = []
    item_split: list[str] = []
    seen: set[str] = set()
    cap_rows: list[tuple[str, str, str]] = []
    dropped: list[tuple[str, str]] = []
    for split, key, text in zip(
        pairs.column("split").to_pylist(),
        pairs.column("key").to_pylist(),
        pairs.column("text").to_pylist(),
        strict=True,
    ):
        if key not in image_row:
            dropped.append((key, text))
            continue
        if text not in text_row:
            raise SemspaceError(f"text {text!r} has no text embedding; rebuild the text embeddings")
        if key not in seen:
            seen.add(key)
            item_keys.append(key)
            item_split.append(split)
        cap_rows.append((key, split, text))
    di, dt = image_vectors.shape[1], text_vectors.shape[1]
    item_vecs = image_vectors[[image_row[k] for k in item_keys]] if item_keys else np.zeros((0, di))
    cap_vecs = (
        text_vectors[[text_row[t] for _, _, t in cap_rows]] if cap_rows else np.zeros((0, dt))
    )
    items = pa.table(
        {
            "key": item_keys,
            "split": item_split,
            "embedding": pa.FixedSizeListArray.from_arrays(
                pa.array(item_vecs.astype(np.float32).ravel()), di
            ),
        },
        schema=items_schema(di),
    )
    captions = pa.table(
        {
            "key": [r[0] for r in cap_rows],
            "split": [r[1] for r in cap_rows],
            "text": [r[2] for r in cap_rows],
            "embedding": pa.FixedSizeListArray.from_arrays(
                pa.array(cap_vecs.astype(np.float32).ravel()), dt
            ),
        },
        schema=captions_schema(dt),
    )
    dropped_table = pa.table(
        {
            "key": [d[0] for d in dropped],
            "text": [d[1] for d in dropped],
            "reason": ["image has no embedding (see the resize skipped list)"] * len(dropped),
        },
        schema=DROPPED,
    )
    if dropped:
        log.warning("%d pairs dropped: their image has no embedding", len(dropped))
    return items, captions, dropped_table


def features_from_tables(
    items: pa.Table, captions: pa.Table, splits: Sequence[str]
) -> PairedFeatures:
    """The rows of ``splits`` from an (items, captions) pair of tables as PairedFeatures."""
    item_mask = np.isin(np.asarray(items.column("split").to_pylist(), dtype=object), list(splits))
    keys = [k for k, m in zip(items.column("key").to_pylist(), item_mask, strict=True) if m]
    di = items.schema.field("embedding").type.list_size
    dt = captions.schema.field("embedding").type.list_size
    images = _vectors(items.column("embedding"), di)[item_mask]
    row = {k: i for i, k in enumerate(keys)}
    cap_keys = captions.column("key").to_pylist()
    cap_mask = np.array([k in row for k in cap_keys], dtype=bool)
    texts = [t for t, m in zip(captions.column("text").to_pylist(), cap_mask, strict=True) if m]
    text_item = np.array(
        [row[k] for k, m in zip(cap_keys, cap_mask, strict=True) if m], dtype=np.int64
    )
    text_features = _vectors(captions.column("embedding"), dt)[cap_mask]
    return PairedFeatures(keys, images, texts, text_features, text_item)


def distinct_texts(pairs: pa.Table) -> list[str]:
    """Distinct texts in first-seen order."""
    return list(dict.fromkeys(pairs.column("text").to_pylist()))


def text_embeddings(
    clip: Clip, pairs: pa.Table, batch_size: int = 256, cache: TextEmbeddingCache | None = None
) -> pa.Table:
    """CLIP embeddings of every distinct text of ``pairs`` (schema ``text_embeddings_schema``)."""
    from semspace.embed import embed_texts

    texts = distinct_texts(pairs)
    vectors = np.asarray(embed_texts(clip, texts, batch_size=batch_size, cache=cache), np.float32)
    dim = vectors.shape[1]
    return pa.table(
        {
            "text": texts,
            "embedding": pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel()), dim),
        },
        schema=text_embeddings_schema(dim),
    )


def read_features(
    pairs: str | Path, embeddings: Sequence[str | Path], texts: str | Path
) -> tuple[pa.Table, pa.Table, pa.Table]:
    """:func:`build_features` from files: a pairs table, its image-embedding shards and its
    text embeddings."""
    from semspace.embed import read_embeddings

    if not embeddings:
        raise ConfigError("retrieval features: no image-embedding files given")
    table = pq.read_table(pairs).select(PAIRS.names)
    image_keys, image_vectors = read_embeddings(embeddings)
    text_keys, text_vectors = read_embeddings(texts, key="text")
    return build_features(table, image_keys, image_vectors, text_keys, text_vectors)


def load_paired(
    items: Sequence[str | Path], captions: Sequence[str | Path], splits: Sequence[str]
) -> PairedFeatures:
    """The rows of ``splits`` of one or more datasets' (items, captions) files, pooled."""
    if len(items) != len(captions):
        raise ConfigError("--items and --captions need one file each per dataset")
    parts = [
        features_from_tables(pq.read_table(i), pq.read_table(c), splits)
        for i, c in zip(items, captions, strict=True)
    ]
    dims = {(p.images.shape[1], p.text_features.shape[1]) for p in parts}
    if len(dims) > 1:
        raise ConfigError(f"datasets pooled for training differ in feature sizes: {sorted(dims)}")
    return PairedFeatures.concat(parts)


def joint_vectors(data: PairedFeatures, model: Any = None) -> tuple[np.ndarray, np.ndarray]:
    """Image and text vectors in the joint space: projected by a trained ``model`` (from
    ``jointspace.load_checkpoint``), or, with none, CLIP's own (zero-shot) L2-normalised."""
    if model is not None:
        from semspace.experiments.jointspace import project

        return project(model, data)
    if data.images.shape[1] != data.text_features.shape[1]:
        raise ConfigError("zero-shot evaluation needs image and text features of one CLIP")
    return l2_normalise(data.images), l2_normalise(data.text_features)


@dataclass
class MapPoints:
    """The points of a 2-D map: the first images of a split, then all of their sentences."""

    vectors: np.ndarray  # (n_images + n_sentences) × d, joint space
    modality: list[str]  # "image" or "sentence"
    item: list[int]  # the image (0..n_images-1) each point belongs to
    keys: list[str]  # the image key of each point
    texts: list[str | None]  # the sentence, None for images


def map_points(
    data: PairedFeatures, images: np.ndarray, texts: np.ndarray, n_images: int
) -> MapPoints:
    """The first ``n_images`` images of ``data`` with every one of their sentences."""
    n = min(n_images, len(data.keys))
    sub = np.flatnonzero(data.text_item < n)
    return MapPoints(
        vectors=np.concatenate([images[:n], texts[sub]]),
        modality=["image"] * n + ["sentence"] * len(sub),
        item=list(range(n)) + data.text_item[sub].tolist(),
        keys=data.keys[:n] + [data.keys[i] for i in data.text_item[sub]],
        texts=[None] * n + [data.texts[j] for j in sub],
    )


# ---------------------------------------------------------------- metrics


def l2_normalise(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    norm = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norm, 1e-12)


def sentence_ranks(sims: np.ndarray, text_item: np.ndarray) -> np.ndarray:
    """Image → text: per image, 1 + the number of *other images'* captions scoring ≥ its best."""
    sims = np.asarray(sims, dtype=np.float64)
    n_items = sims.shape[0]
    own = text_item[None, :] == np.arange(n_items)[:, None]
    if not own.any(axis=1).all():
        raise SemspaceError("retrieval: every image needs at least one caption")
    best = np.where(own, sims, -np.inf).max(axis=1)
    beats = (sims >= best[:, None]) & ~own
    return 1 + beats.sum(axis=1)


def image_ranks(sims: np.ndarray, text_item: np.ndarray) -> np.ndarray:
    """Text → image: per caption, 1 + the number of other images scoring ≥ its own image."""
    sims = np.asarray(sims, dtype=np.float64)
    cols = np.arange(sims.shape[1])
    gold = sims[text_item, cols]
    beats = sims >= gold[None, :]
    beats[text_item, cols] = False
    return 1 + beats.sum(axis=0)


def rank_summary(ranks: np.ndarray, ks: Sequence[int] = KS) -> dict[str, float]:
    """R@K in percent, median and mean rank."""
    ranks = np.asarray(ranks)
    out = {f"r{k}": float(100.0 * np.mean(ranks <= k)) for k in ks}
    out["medr"] = float(np.median(ranks))
    out["meanr"] = float(np.mean(ranks))
    return out


def fold_indices(n_items: int, fold_size: int) -> list[np.ndarray]:
    """Consecutive folds of exactly ``fold_size`` items (a remainder is left out); one fold of
    every item when there are fewer than ``fold_size``."""
    if fold_size < 1:
        raise ConfigError("retrieval.fold_size must be positive")
    if n_items <= fold_size:
        return [np.arange(n_items)]
    n_folds = n_items // fold_size
    if n_items % fold_size:
        log.info(
            "%d images after %d folds of %d are left out", n_items % fold_size, n_folds, fold_size
        )
    return [np.arange(i * fold_size, (i + 1) * fold_size) for i in range(n_folds)]


def evaluate(
    image_emb: np.ndarray, text_emb: np.ndarray, text_item: np.ndarray, fold_size: int = 1000
) -> dict[str, dict[str, float]]:
    """Sentence and image retrieval by cosine, averaged over folds of ``fold_size`` images."""
    image_emb, text_emb = l2_normalise(image_emb), l2_normalise(text_emb)
    text_item = np.asarray(text_item, dtype=np.int64)
    folds = fold_indices(len(image_emb), fold_size)
    per_fold: dict[str, list[dict[str, float]]] = {d: [] for d in DIRECTIONS}
    n_texts = 0
    for items in folds:
        pos = np.full(len(image_emb), -1)
        pos[items] = np.arange(len(items))
        texts = np.flatnonzero(pos[text_item] >= 0)
        n_texts += len(texts)
        sims = image_emb[items] @ text_emb[texts].T
        local = pos[text_item[texts]]
        per_fold["sentence"].append(rank_summary(sentence_ranks(sims, local)))
        per_fold["image"].append(rank_summary(image_ranks(sims, local)))
    out: dict[str, dict[str, float]] = {}
    for direction, rows in per_fold.items():
        out[direction] = {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}
        out[direction].update(
            folds=len(folds), images=int(sum(len(f) for f in folds)), texts=n_texts
        )
    return out


def metrics_table(
    results: dict[str, dict[str, float]], features: str, loss: str, train: str, eval_set: str
) -> pa.Table:
    rows = [
        {
            "features": features,
            "loss": loss,
            "train": train,
            "eval": eval_set,
            "direction": d,
            **results[d],
        }
        for d in DIRECTIONS
    ]
    return pa.Table.from_pylist(rows, schema=METRICS)
