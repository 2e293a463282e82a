"""Token sets of images (E5): the union of the tokens of an image's texts, and their statistics.

The COCO branch uses the tokenised arrays distributed with MS-COCO (Karpathy's ``tokens``, as
the paper did) when the captions table carries them, and otherwise tokenises the captions
Karpathy-style (lower-case; every character other than a-z, 0-9 and ' becomes a space);
:func:`token_source` says which. The LLM branch tokenises each image's association text with
the LLM's tokenizer and hands the token lists to :func:`token_sets` / :func:`token_statistics`.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from semspace.errors import InputFormatError
from semspace.schemas import CAPTIONS, TOKENSETS

_NOT_TOKEN = re.compile(r"[^a-z0-9']+")

#: Where the COCO branch's tokens came from (see :func:`token_source`).
KARPATHY_TOKENS = "karpathy_tokens"
TOKENISER = "tokeniser"

#: Statistics of a tokenised text collection, one row per statistic (see token_statistics).
STATS = pa.schema(
    [
        pa.field("statistic", pa.string(), nullable=False),
        pa.field("value", pa.float64(), nullable=False),
    ]
)


def karpathy_tokenize(text: str) -> list[str]:
    """Lower-case; characters other than a-z, 0-9 and ' become spaces; split on spaces."""
    return _NOT_TOKEN.sub(" ", text.lower()).split()


def token_sets(
    images: Sequence[int], coco_ids: Sequence[int | None], tokens: Sequence[Sequence[str]]
) -> pa.Table:
    """One sorted, distinct token set per image from per-text token lists (a :data:`TOKENSETS`
    table).

    ``images[i]``, ``coco_ids[i]`` and ``tokens[i]`` describe text ``i``; images appear in
    increasing index order in the result.
    """
    if not len(images) == len(coco_ids) == len(tokens):
        raise ValueError("images, coco_ids and tokens must have the same length")
    union: dict[int, set[str]] = {}
    ids: dict[int, int | None] = {}
    for image, coco_id, toks in zip(images, coco_ids, tokens):
        union.setdefault(int(image), set()).update(toks)
        ids.setdefault(int(image), coco_id)
    order = sorted(union)
    return pa.table(
        {
            "image": order,
            "coco_id": [ids[i] for i in order],
            "tokens": [sorted(union[i]) for i in order],
        },
        schema=TOKENSETS,
    )


def token_source(captions: pa.Table) -> str:
    """:data:`KARPATHY_TOKENS` when the captions table has a ``tokens`` column, else
    :data:`TOKENISER`."""
    return KARPATHY_TOKENS if "tokens" in captions.column_names else TOKENISER


def caption_tokens(captions: pa.Table) -> list[list[str]]:
    """Each caption's tokens: the file's own ``tokens`` where present, else
    :func:`karpathy_tokenize`."""
    if token_source(captions) == KARPATHY_TOKENS:
        return captions.column("tokens").to_pylist()
    return [karpathy_tokenize(t) for t in captions.column("text").to_pylist()]


def coco_token_sets(captions: pa.Table) -> pa.Table:
    """Token sets of a captions table, from :func:`caption_tokens`."""
    return token_sets(
        captions.column("image").to_pylist(),
        captions.column("coco_id").to_pylist(),
        caption_tokens(captions),
    )


def token_statistics(
    images: Sequence[int], texts: Sequence[str], tokens: Sequence[Sequence[str]]
) -> dict[str, float]:
    """Statistics of texts (captions, or associations) and their tokens, per image.

    ``images[i]`` is the image of text ``texts[i]``, tokenised as ``tokens[i]`` (with repeats).
    ``tokens`` counts every token; ``vocabulary`` the distinct ones; ``mean_set_size`` the mean
    number of distinct tokens per image (the size of its token set).
    """
    if not len(images) == len(texts) == len(tokens):
        raise ValueError("images, texts and tokens must have the same length")
    sets: dict[int, set[str]] = {}
    per_image_tokens: dict[int, int] = {}
    for image, toks in zip(images, tokens):
        sets.setdefault(int(image), set()).update(toks)
        per_image_tokens[int(image)] = per_image_tokens.get(int(image), 0) + len(toks)
    n_images = len(sets)
    n_texts = len(texts)
    n_chars = sum(len(t) for t in texts)
    n_tokens = sum(len(t) for t in tokens)
    sizes = [len(s) for s in sets.values()]
    vocabulary = set().union(*sets.values()) if sets else set()
    return {
        "images": float(n_images),
        "texts": float(n_texts),
        "characters": float(n_chars),
        "tokens": float(n_tokens),
        "vocabulary": float(len(vocabulary)),
        "mean_texts_per_image": n_texts / max(n_images, 1),
        "mean_characters_per_text": n_chars / max(n_texts, 1),
        "mean_tokens_per_text": n_tokens / max(n_texts, 1),
        "mean_tokens_per_image": n_tokens / max(n_images, 1),
        "mean_set_size": sum(sizes) / max(n_images, 1),
        "min_set_size": float(min(sizes, default=0)),
        "max_set_size": float(max(sizes, default=0)),
    }


def coco_token_statistics(captions: pa.Table) -> dict[str, float]:
    """:func:`token_statistics` of the captions with :func:`caption_tokens`."""
    texts = captions.column("text").to_pylist()
    return token_statistics(captions.column("image").to_pylist(), texts, caption_tokens(captions))


def stats_table(stats: dict[str, float]) -> pa.Table:
    return pa.table(
        {"statistic": list(stats), "value": [float(v) for v in stats.values()]}, schema=STATS
    )


def read_stats(path: str | Path) -> dict[str, float]:
    table = pq.read_table(path, schema=STATS)
    return dict(zip(table.column("statistic").to_pylist(), table.column("value").to_pylist()))


def read_captions_table(path: str | Path) -> pa.Table:
    """A captions table; its ``tokens`` column is kept when the file has one."""
    from semspace.datasets.coco import CAPTIONS_WITH_TOKENS

    try:
        names = pq.read_schema(path).names
    except (FileNotFoundError, pa.ArrowInvalid):
        names = []  # _read names the problem
    return _read(path, CAPTIONS_WITH_TOKENS if "tokens" in names else CAPTIONS)


def read_token_sets(path: str | Path) -> pa.Table:
    """A :data:`TOKENSETS` table, checked: images 0..n-1 in order, tokens sorted and distinct."""
    table = _read(path, TOKENSETS)
    images = table.column("image").to_pylist()
    if images != list(range(len(images))):
        raise InputFormatError(path, "column 'image' must run 0..n-1 in order")
    for image, tokens in zip(images, table.column("tokens").to_pylist()):
        if any(a >= b for a, b in itertools.pairwise(tokens)):
            raise InputFormatError(path, f"tokens of image {image} are not sorted and distinct")
    return table


def _read(path: str | Path, schema: pa.Schema) -> pa.Table:
    try:
        table = pq.read_table(path)
    except FileNotFoundError:
        raise InputFormatError(path, "file not found") from None
    except pa.ArrowInvalid as exc:
        raise InputFormatError(path, f"not a Parquet file: {exc}") from None
    missing = [name for name in schema.names if name not in table.column_names]
    if missing:
        raise InputFormatError(path, f"missing column(s) {', '.join(missing)}")
    return table.select(schema.names).cast(schema)
