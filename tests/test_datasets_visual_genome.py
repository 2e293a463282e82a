"""Visual Genome region descriptions: crops, phrases and the paper's by-image split."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from semspace.datasets import build_image_manifest
from semspace.datasets.visual_genome import region_box, region_pairs
from semspace.errors import InputFormatError


def region(i: int, image: int, phrase: str, x: int, y: int, w: int, h: int) -> dict:
    return {
        "region_id": i,
        "image_id": image,
        "phrase": phrase,
        "x": x,
        "y": y,
        "width": w,
        "height": h,
    }


def write_vg(root: Path, n_images: int = 10, per_image: int = 3) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    descriptions, data, rid = [], [], 0
    for image in range(1, n_images + 1):
        regions = []
        for k in range(per_image):
            rid += 1
            regions.append(region(rid, image, f"thing {k} of {image}", 10 * k, 5, 20, 30))
        descriptions.append({"id": image, "regions": regions})
        folder = "VG_100K" if image % 2 else "VG_100K_2"
        data.append(
            {
                "image_id": image,
                "width": 100,
                "height": 80,
                "url": f"https://cs.stanford.edu/people/rak248/{folder}/{image}.jpg",
            }
        )
    (root / "region_descriptions.json").write_text(json.dumps(descriptions))
    (root / "image_data.json").write_text(json.dumps(data))
    return root


def test_split_by_image_with_exact_test_count(tmp_path: Path) -> None:
    root = write_vg(tmp_path)
    pairs = region_pairs(root, test_pairs=7, val_pairs=6, seed=3).to_pylist()
    counts = Counter(p["split"] for p in pairs)
    assert counts["test"] == 7 and counts["val"] == 6
    # 3 + 3 + 1 test pairs: the third image is cut and its other regions used nowhere
    assert counts["train"] == 30 - 7 - 6 - 2
    images = {s: {p["image"] for p in pairs if p["split"] == s} for s in ("train", "val", "test")}
    assert not images["train"] & images["test"] and not images["val"] & images["test"]
    assert not images["train"] & images["val"]
    assert region_pairs(root, test_pairs=7, val_pairs=6, seed=3).to_pylist() == pairs
    assert region_pairs(root, test_pairs=7, val_pairs=6, seed=4).to_pylist() != pairs


def test_max_train_pairs_and_paths(tmp_path: Path) -> None:
    root = write_vg(tmp_path)
    pairs = region_pairs(root, test_pairs=3, val_pairs=3, max_train_pairs=5).to_pylist()
    assert Counter(p["split"] for p in pairs)["train"] == 5
    by_image = {p["image"]: p["path"] for p in pairs}
    for image, path in by_image.items():
        number = int(image.split(".")[0])
        assert path == f"{'VG_100K' if number % 2 else 'VG_100K_2'}/{number}.jpg"
    first = next(p for p in pairs if p["text"].startswith("thing 1 "))
    assert first["key"] == f"{first['image']}#10,5,30,35"


def test_region_box_clips_and_rejects_empty() -> None:
    assert region_box({"x": -5, "y": 10, "width": 50, "height": 500}, 40, 100) == (0, 10, 40, 100)
    assert region_box({"x": 5, "y": 5, "width": 0, "height": 10}, None, None) is None
    assert region_box({"x": 90, "y": 5, "width": 20, "height": 10}, 90, None) is None


def test_duplicate_regions_collapse_and_manifest_is_unique(tmp_path: Path) -> None:
    root = tmp_path
    (root / "region_descriptions.json").write_text(
        json.dumps(
            [
                {
                    "id": 1,
                    "regions": [
                        region(1, 1, "a dog", 0, 0, 10, 10),
                        region(2, 1, "A  dog", 0, 0, 10, 10),
                        region(3, 1, "a brown dog", 0, 0, 10, 10),
                        region(4, 1, "grass", 0, 10, 10, 10),
                    ],
                }
            ]
        )
    )
    pairs = region_pairs(root, image_data=None, test_pairs=10, val_pairs=0).to_pylist()
    assert [p["text"] for p in pairs] == ["a dog", "a brown dog", "grass"]
    manifest = build_image_manifest(
        "visual_genome", root, image_data=None, test_pairs=10, val_pairs=0
    )
    assert manifest.column("key").to_pylist() == ["1.jpg#0,0,10,10", "1.jpg#0,10,10,20"]


def test_bad_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(InputFormatError, match="file not found"):
        region_pairs(tmp_path)
    (tmp_path / "region_descriptions.json").write_text(
        json.dumps([{"id": 1, "regions": [{"phrase": "x"}]}])
    )
    with pytest.raises(InputFormatError, match="lacks phrase"):
        region_pairs(tmp_path)
