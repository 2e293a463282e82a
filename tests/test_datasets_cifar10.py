"""The CIFAR-10 reader against files written by hand in the official python-pickle layout."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from semspace.datasets import build_image_manifest
from semspace.datasets.cifar10 import (
    BATCHES_DIR,
    CLASSES,
    batches_dir,
    image_key,
    image_manifest,
    load_split,
    read_batch,
    read_label_names,
)
from semspace.demo.cifar import write_synthetic_cifar10
from semspace.errors import InputFormatError


def _official_batch(images: np.ndarray, labels: list[int], name: str) -> dict[bytes, object]:
    """A batch dict exactly as in cifar-10-python.tar.gz: byte keys, rows = R plane, G plane, B
    plane."""
    rows = []
    for image in images:  # written plane by plane with plain loops, independently of the reader
        row = [int(image[y, x, c]) for c in range(3) for y in range(32) for x in range(32)]
        rows.append(row)
    return {
        b"batch_label": name.encode(),
        b"labels": labels,
        b"data": np.array(rows, dtype=np.uint8),
        b"filenames": [f"img_{i}.png".encode() for i in range(len(labels))],
    }


def _dump(obj: object, path: Path) -> None:
    with path.open("wb") as handle:
        pickle.dump(obj, handle, protocol=2)


@pytest.fixture()
def cifar_root(tmp_path: Path) -> tuple[Path, dict[str, np.ndarray], dict[str, list[int]]]:
    """Five training batches of 3 images and a test batch of 4, random pixels, known labels."""
    rng = np.random.default_rng(7)
    folder = tmp_path / "cifar10" / BATCHES_DIR
    folder.mkdir(parents=True)
    images, labels = {}, {}
    train_images, train_labels = [], []
    for b in range(1, 6):
        imgs = rng.integers(0, 256, size=(3, 32, 32, 3), dtype=np.uint8)
        labs = [(3 * b + i) % 10 for i in range(3)]
        _dump(_official_batch(imgs, labs, f"training batch {b} of 5"), folder / f"data_batch_{b}")
        train_images.append(imgs)
        train_labels += labs
    test_imgs = rng.integers(0, 256, size=(4, 32, 32, 3), dtype=np.uint8)
    test_imgs[0, 1, 2] = (10, 20, 30)  # a pixel to find by hand: row 1, column 2
    _dump(_official_batch(test_imgs, [9, 0, 4, 4], "testing batch 1 of 1"), folder / "test_batch")
    _dump(
        {
            b"num_cases_per_batch": 3,
            b"label_names": [c.encode() for c in CLASSES],
            b"num_vis": 3072,
        },
        folder / "batches.meta",
    )
    images["train"], labels["train"] = np.concatenate(train_images), train_labels
    images["test"], labels["test"] = test_imgs, [9, 0, 4, 4]
    return tmp_path / "cifar10", images, labels


def test_reads_the_pickle_layout(cifar_root) -> None:
    root, images, _ = cifar_root
    test = read_batch(batches_dir(root) / "test_batch")
    assert test.images.shape == (4, 32, 32, 3) and test.images.dtype == np.uint8
    assert tuple(test.images[0, 1, 2]) == (10, 20, 30)
    np.testing.assert_array_equal(test.images, images["test"])
    assert test.labels.tolist() == [9, 0, 4, 4]
    assert test.filenames == [f"img_{i}.png" for i in range(4)]


def test_train_split_concatenates_batches_in_order(cifar_root) -> None:
    root, images, labels = cifar_root
    train = load_split(root, "train")
    np.testing.assert_array_equal(train.images, images["train"])
    assert train.labels.tolist() == labels["train"]
    first = load_split(root, "train", limit=4)  # crosses into data_batch_2
    assert first.labels.tolist() == labels["train"][:4]
    np.testing.assert_array_equal(first.images, images["train"][:4])


def test_label_names_and_root_forms(cifar_root) -> None:
    root, _, _ = cifar_root
    assert read_label_names(root) == list(CLASSES)
    assert read_label_names(root / BATCHES_DIR) == list(CLASSES)  # the unpacked folder itself
    with pytest.raises(InputFormatError, match="batches.meta"):
        batches_dir(root.parent / "nowhere")


def test_bad_files_name_the_file(cifar_root) -> None:
    root, _, _ = cifar_root
    folder = batches_dir(root)
    (folder / "test_batch").write_bytes(b"not a pickle at all")
    with pytest.raises(InputFormatError, match="test_batch"):
        load_split(root, "test")
    _dump({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}, folder / "test_batch")
    with pytest.raises(InputFormatError, match="3072"):
        load_split(root, "test")
    _dump({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0]}, folder / "test_batch")
    with pytest.raises(InputFormatError, match="2 images but 1 labels"):
        load_split(root, "test")
    (folder / "data_batch_3").unlink()
    with pytest.raises(InputFormatError, match="data_batch_3"):
        load_split(root, "train")


def test_manifest_exports_pngs_with_stable_keys(cifar_root, tmp_path) -> None:
    root, images, _ = cifar_root
    files = tmp_path / "results" / "cifar10.files"
    table = build_image_manifest("cifar10", root, files_dir=files, split="test")
    assert table.column("key").to_pylist() == [
        "test_00000",
        "test_00001",
        "test_00002",
        "test_00003",
    ]
    assert image_key("test", 3) == "test_00003"
    assert table.column("left").null_count == 4
    for i, rel in enumerate(table.column("path").to_pylist()):
        assert not Path(rel).is_absolute()
        # the PNGs lie in the folder given, not in the dataset's own folder
        assert (root / rel).resolve() == (files / "test" / f"{i:05d}.png").resolve()
        with Image.open(root / rel) as png:
            assert png.mode == "RGB"
            np.testing.assert_array_equal(np.asarray(png), images["test"][i])
    assert not list(root.rglob("*.png"))
    table = image_manifest(root, files, split="train", limit=2)
    assert table.num_rows == 2
    with Image.open(root / table.column("path")[1].as_py()) as png:
        np.testing.assert_array_equal(np.asarray(png), images["train"][1])


def test_manifest_of_cifar_needs_a_folder_for_its_pngs(cifar_root) -> None:
    from semspace.errors import ConfigError

    with pytest.raises(ConfigError, match="exports its images"):
        build_image_manifest("cifar10", cifar_root[0], split="test")


def test_synthetic_demo_data_uses_the_real_layout(tmp_path: Path) -> None:
    folder = write_synthetic_cifar10(tmp_path / "demo", train_per_batch=20, test=30, seed=1)
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        ["batches.meta", "test_batch"] + [f"data_batch_{i}" for i in range(1, 6)]
    )
    with (folder / "test_batch").open("rb") as handle:  # what a user's own loader would do
        raw = pickle.load(handle, encoding="bytes")
    assert set(raw) == {b"batch_label", b"labels", b"data", b"filenames"}
    assert raw[b"data"].shape == (30, 3072) and raw[b"data"].dtype == np.uint8
    train = load_split(tmp_path / "demo", "train")
    assert len(train.labels) == 100
    assert np.bincount(train.labels, minlength=10).tolist() == [10] * 10  # balanced
    again = write_synthetic_cifar10(tmp_path / "again", train_per_batch=20, test=30, seed=1)
    np.testing.assert_array_equal(
        read_batch(again / "test_batch").images, read_batch(folder / "test_batch").images
    )
