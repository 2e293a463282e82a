"""A synthetic CIFAR-10 in the official python-pickle layout, for offline runs and tests.

Ten simple, learnable classes of 32x32 RGB images: each class is one hue and one shape
(square, disc, horizontal stripes, vertical stripes, cross) drawn at a random place and size
over a noisy grey background. The files are those of ``cifar-10-python.tar.gz``:
``cifar-10-batches-py/{data_batch_1..5,test_batch,batches.meta}``, dicts pickled with
protocol 2 as Python 2 wrote the originals: keys, names and the arrays' data are Python-2
``str`` (opcodes ``SHORT_BINSTRING``/``BINSTRING``): ``pickle.load(encoding="bytes")`` reads
them as bytes, ``encoding="latin1"`` (torchvision's reader) as str.
"""

from __future__ import annotations

import colorsys
import pickle
import struct
from pathlib import Path
from typing import ClassVar

import numpy as np

from semspace.datasets.cifar10 import BATCHES_DIR, CLASSES, TEST_BATCHES, TRAIN_BATCHES
from semspace.io import atomic_path

N_SHAPES = 5


def class_colour(label: int) -> np.ndarray:
    """The RGB colour (0..255) of a class: ten hues around the colour wheel."""
    r, g, b = colorsys.hsv_to_rgb(label / 10.0, 0.85, 0.95)
    return np.array([r, g, b]) * 255.0


def draw_image(label: int, rng: np.random.Generator) -> np.ndarray:
    """One 32x32x3 uint8 image of class ``label``."""
    image = rng.normal(90.0, 20.0, size=(32, 32, 1)).repeat(3, axis=2)
    size = int(rng.integers(12, 22))
    top, left = (int(v) for v in rng.integers(0, 32 - size + 1, size=2))
    yy, xx = np.mgrid[0:size, 0:size]
    shape = label % N_SHAPES
    if shape == 0:  # filled square
        mask = np.ones((size, size), dtype=bool)
    elif shape == 1:  # disc
        c = (size - 1) / 2
        mask = (yy - c) ** 2 + (xx - c) ** 2 <= (size / 2) ** 2
    elif shape == 2:  # horizontal stripes
        mask = (yy // 3) % 2 == 0
    elif shape == 3:  # vertical stripes
        mask = (xx // 3) % 2 == 0
    else:  # cross
        w = max(size // 4, 2)
        c = size // 2
        mask = (np.abs(yy - c) < w) | (np.abs(xx - c) < w)
    colour = class_colour(label) * rng.uniform(0.85, 1.0)
    patch = image[top : top + size, left : left + size]
    patch[mask] = colour
    image += rng.normal(0.0, 8.0, size=image.shape)
    return np.clip(image, 0, 255).astype(np.uint8)


class _Py2Pickler(pickle._Pickler):  # the pure-Python pickler: its dispatch table is a dict
    """Protocol 2 as Python 2 wrote it: every text and byte string (keys, names, the numpy
    arrays' raw data and dtype codes) as a Python-2 ``str`` (``SHORT_BINSTRING``/``BINSTRING``)."""

    dispatch: ClassVar[dict] = dict(pickle._Pickler.dispatch)

    def save_py2str(self, obj: str | bytes) -> None:
        data = obj.encode("latin1") if isinstance(obj, str) else bytes(obj)
        if len(data) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(data)]) + data)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(data)) + data)
        self.memoize(obj)

    dispatch[str] = save_py2str
    dispatch[bytes] = save_py2str


def make_batch(labels: np.ndarray, rng: np.random.Generator, name: str) -> dict[str, object]:
    """A batch dict as in the official files: rows are the R, G and B planes one after the other."""
    images = np.stack([draw_image(int(label), rng) for label in labels])
    data = images.transpose(0, 3, 1, 2).reshape(len(labels), 3072)
    names = [f"synthetic_{CLASSES[int(label)]}_{i:05d}.png" for i, label in enumerate(labels)]
    return {
        "batch_label": name,
        "labels": [int(label) for label in labels],
        "data": np.ascontiguousarray(data, dtype=np.uint8),
        "filenames": names,
    }


def _dump(obj: object, path: Path) -> None:
    with atomic_path(path) as tmp, tmp.open("wb") as handle:
        _Py2Pickler(handle, protocol=2).dump(obj)


def write_synthetic_cifar10(
    out: str | Path, train_per_batch: int = 60, test: int = 200, seed: int = 0
) -> Path:
    """Write a synthetic CIFAR-10 under ``out/cifar-10-batches-py``; returns that folder.

    Labels cycle through the ten classes in a shuffled order, so every batch is balanced.
    """
    rng = np.random.default_rng(seed)
    folder = Path(out) / BATCHES_DIR
    folder.mkdir(parents=True, exist_ok=True)

    def balanced(n: int) -> np.ndarray:
        return rng.permutation(np.arange(n) % len(CLASSES))

    for i, name in enumerate(TRAIN_BATCHES):
        _dump(
            make_batch(balanced(train_per_batch), rng, f"training batch {i + 1} of 5"),
            folder / name,
        )
    _dump(make_batch(balanced(test), rng, "testing batch 1 of 1"), folder / TEST_BATCHES[0])
    meta = {
        "num_cases_per_batch": train_per_batch,
        "label_names": list(CLASSES),
        "num_vis": 3072,
    }
    _dump(meta, folder / "batches.meta")
    return folder
