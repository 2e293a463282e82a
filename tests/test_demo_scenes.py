"""Synthetic E2 scenes: drawn where they say, described by their captions, in the real formats."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
from PIL import Image

from semspace.datasets.flickr import read_annotation, read_sentences
from semspace.demo.scenes import COLOURS, _disjoint, draw, random_scene, write_demo


def test_shapes_do_not_overlap_and_fit_the_canvas() -> None:
    rng = random.Random(0)
    for _ in range(50):
        scene = random_scene(rng)
        assert 1 <= len(scene.shapes) <= 3
        for i, a in enumerate(scene.shapes):
            assert (
                0 <= a.box[0] < a.box[2] <= scene.width and 0 <= a.box[1] < a.box[3] <= scene.height
            )
            assert all(_disjoint(a.box, b.box) for b in scene.shapes[i + 1 :])
        assert len({(s.kind, s.colour) for s in scene.shapes}) == len(scene.shapes)


def test_each_shape_is_drawn_in_its_colour_at_its_box_centre() -> None:
    rng = random.Random(1)
    for _ in range(20):
        scene = random_scene(rng)
        pixels = np.asarray(draw(scene))
        for s in scene.shapes:
            cx, cy = (
                (s.box[0] + s.box[2]) // 2,
                (s.box[1] + s.box[3]) // 2 + 2,
            )  # below a triangle's apex
            assert tuple(pixels[cy, cx]) == COLOURS[s.colour]


def test_written_datasets_describe_the_scenes(tmp_path: Path) -> None:
    write_demo(
        tmp_path / "f30k", tmp_path / "f8k", tmp_path / "vg", n_scenes=6, n_val=1, n_test=2, seed=0
    )
    karpathy = json.loads((tmp_path / "f30k" / "dataset_flickr30k.json").read_text())
    assert [e["split"] for e in karpathy["images"]] == ["train"] * 3 + ["val"] + ["test"] * 2
    for entry in karpathy["images"]:
        assert len(entry["sentences"]) == 5
        image_id = entry["filename"][:-4]
        img = Image.open(tmp_path / "f30k" / "flickr30k-images" / entry["filename"])
        assert img.format == "JPEG" and img.size == (128, 96)
        boxes = read_annotation(tmp_path / "f30k" / "Annotations" / f"{image_id}.xml")
        sentences = read_sentences(tmp_path / "f30k" / "Sentences" / f"{image_id}.txt")
        assert len(sentences) == 5
        for raw, phrases in zip((s["raw"] for s in entry["sentences"]), sentences, strict=True):
            boxed = [p for p in phrases if p.entity in boxes]
            # every boxed phrase is in the plain caption, and every shape is named in each caption
            assert all(p.text in raw for p in boxed)
            assert len(boxed) == len(boxes)
    split_ids = {
        s: (tmp_path / "f30k" / f"{s}.txt").read_text().split() for s in ("train", "val", "test")
    }
    assert [len(split_ids[s]) for s in ("train", "val", "test")] == [3, 1, 2]
    assert (tmp_path / "f8k" / "dataset_flickr8k.json").is_file()
    assert not (tmp_path / "f8k" / "Sentences").exists()
    regions = json.loads((tmp_path / "vg" / "region_descriptions.json").read_text())
    data = json.loads((tmp_path / "vg" / "image_data.json").read_text())
    assert [r["id"] for r in regions] == [d["image_id"] for d in data] == list(range(1, 7))
    for entry in regions:
        for r in entry["regions"]:
            assert r["x"] + r["width"] <= 128 and r["y"] + r["height"] <= 96 and r["phrase"]
