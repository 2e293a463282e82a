"""CIFAR-10 in its official python-pickle layout (``cifar-10-python.tar.gz``).

The archive unpacks to ``cifar-10-batches-py/`` with ``data_batch_1`` .. ``data_batch_5``
(10,000 training images each), ``test_batch`` (10,000) and ``batches.meta`` (class names).
Each batch is a Python-2 pickle of a dict with byte-string keys: ``data`` (uint8, n x 3072,
the red, green and blue 32x32 planes one after the other), ``labels`` (n ints) and
``filenames``.

The images live inside the pickles, so the manifest builder exports the images of the
requested split as PNG files (``<root>/png/<split>/<index>.png`` by default, rewritten each
time) and gives the manifest rows the paths of those files. Keys are ``<split>_<index>``
with the index zero-padded to five digits: ``test_00042`` is row 42 of ``test_batch``.
"""

from __future__ import annotations

import io
import os
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from semspace.errors import ConfigError, InputFormatError
from semspace.io import atomic_path
from semspace.runtime import Progress, log
from semspace.schemas import MANIFEST

BATCHES_DIR = "cifar-10-batches-py"
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCHES = ("test_batch",)
SPLITS = {"train": TRAIN_BATCHES, "test": TEST_BATCHES}
#: The class names of ``batches.meta`` in label order (for messages and tests only; the loader
#: reads them from the file).
CLASSES = (
    "airplane", "automobile", "bird", "cat", "deer",
    "dog", "frog", "horse", "ship", "truck",
)  # fmt: skip


@dataclass(frozen=True)
class CifarSplit:
    """Images (n x 32 x 32 x 3, uint8, RGB), labels (n, int64) and file names of one split."""

    images: np.ndarray
    labels: np.ndarray
    filenames: list[str]


def batches_dir(root: str | Path) -> Path:
    """The folder holding the batches: ``root`` itself or ``root/cifar-10-batches-py``."""
    root = Path(root)
    for candidate in (root / BATCHES_DIR, root):
        if (candidate / "batches.meta").is_file():
            return candidate
    raise InputFormatError(
        root,
        f"no CIFAR-10 python batches here: expected {BATCHES_DIR}/batches.meta "
        "(unpack cifar-10-python.tar.gz, or point datasets.<name>.path at the unpacked folder)",
    )


def _load_pickle(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            obj = pickle.load(handle, encoding="bytes")
    except FileNotFoundError:
        raise InputFormatError(path, "CIFAR-10 batch file is missing") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError) as exc:
        raise InputFormatError(path, f"not a readable CIFAR-10 pickle ({exc})") from None
    if not isinstance(obj, dict):
        raise InputFormatError(path, f"expected a pickled dict, found {type(obj).__name__}")
    # The official files are Python-2 pickles with byte-string keys; accept str keys too.
    return {(k.decode("latin1") if isinstance(k, bytes) else str(k)): v for k, v in obj.items()}


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def read_label_names(root: str | Path) -> list[str]:
    """Class names in label order, from ``batches.meta``."""
    path = batches_dir(root) / "batches.meta"
    meta = _load_pickle(path)
    if "label_names" not in meta:
        raise InputFormatError(path, "batches.meta has no label_names entry")
    return [_text(name) for name in meta["label_names"]]


def read_batch(path: str | Path) -> CifarSplit:
    """One batch file: images as n x 32 x 32 x 3 RGB uint8."""
    path = Path(path)
    batch = _load_pickle(path)
    missing = [key for key in ("data", "labels") if key not in batch]
    if missing:
        raise InputFormatError(path, f"batch has no {', '.join(missing)} entry")
    data = np.asarray(batch["data"])
    labels = np.asarray(batch["labels"], dtype=np.int64)
    if data.ndim != 2 or data.shape[1] != 3072 or data.dtype != np.uint8:
        raise InputFormatError(
            path, f"data must be uint8 of shape (n, 3072), found {data.dtype} {data.shape}"
        )
    if labels.shape != (data.shape[0],):
        raise InputFormatError(path, f"{data.shape[0]} images but {labels.shape[0]} labels")
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise InputFormatError(path, "labels must lie in 0..9")
    names = batch.get("filenames")
    filenames = [_text(n) for n in names] if names is not None else [""] * len(labels)
    # Rows hold the R plane, then G, then B (each 32 rows of 32 pixels).
    images = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return CifarSplit(np.ascontiguousarray(images), labels, filenames)


def load_split(root: str | Path, split: str, limit: int | None = None) -> CifarSplit:
    """The images of ``split`` (``train``: data_batch_1..5 in order; ``test``: test_batch)."""
    if split not in SPLITS:
        raise ConfigError(
            f"datasets.<name>.options.split: unknown CIFAR-10 split {split!r}; "
            f"use one of {', '.join(SPLITS)}"
        )
    folder = batches_dir(root)
    parts = []
    total = 0
    for name in SPLITS[split]:
        if limit is not None and total >= limit:
            break
        part = read_batch(folder / name)
        parts.append(part)
        total += len(part.labels)
    split_data = CifarSplit(
        np.concatenate([p.images for p in parts]),
        np.concatenate([p.labels for p in parts]),
        [f for p in parts for f in p.filenames],
    )
    if limit is not None:
        split_data = CifarSplit(
            split_data.images[:limit], split_data.labels[:limit], split_data.filenames[:limit]
        )
    return split_data


def image_key(split: str, index: int) -> str:
    """Stable key of image ``index`` of ``split``: ``test_00042``."""
    return f"{split}_{index:05d}"


def _png_bytes(image: np.ndarray) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image, mode="RGB").save(buffer, format="PNG")
    return buffer.getvalue()


def export_pngs(images: np.ndarray, out_dir: str | Path) -> list[Path]:
    """Write each image to ``out_dir/<index>.png`` atomically. Files are always rewritten (a few
    seconds for 10,000 images), so a changed batch file never leaves stale PNGs behind."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    bar = Progress("export CIFAR-10 PNGs", total=len(images))
    for index, image in enumerate(images):
        path = out_dir / f"{index:05d}.png"
        with atomic_path(path, suffix=".png") as tmp:
            tmp.write_bytes(_png_bytes(image))
        paths.append(path)
        bar.update()
    bar.close()
    log.info("%d PNG files written to %s", len(paths), out_dir)
    return paths


def image_manifest(
    root: Path,
    files_dir: str | Path,
    split: str = "test",
    limit: int | None = None,
) -> pa.Table:
    """Manifest of one split; exports its images as PNG under ``files_dir/<split>/`` first (the
    ``images_manifest`` rule's declared folder, never the dataset's own). Paths are relative to
    ``root``. ``limit`` keeps the first images only (quick runs)."""
    root = Path(root)
    data = load_split(root, split, limit=limit)
    paths = export_pngs(data.images, Path(files_dir) / split)
    base = root.resolve()
    paths = [Path(os.path.relpath(p.resolve(), base)) for p in paths]
    return pa.table(
        {
            "key": [image_key(split, i) for i in range(len(paths))],
            "path": [p.as_posix() for p in paths],
            "left": pa.nulls(len(paths), pa.int32()),
            "top": pa.nulls(len(paths), pa.int32()),
            "right": pa.nulls(len(paths), pa.int32()),
            "bottom": pa.nulls(len(paths), pa.int32()),
        },
        schema=MANIFEST,
    )
