"""Flickr8k/30k Karpathy captions and Flickr30k Entities phrases + boxes, from hand-written
files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from semspace.datasets import build_image_manifest
from semspace.datasets.flickr import (
    caption_pairs,
    entity_pairs,
    parse_sentence,
    read_annotation,
)
from semspace.datasets.pairs import crop_key, union_box
from semspace.errors import InputFormatError
from semspace.schemas import MANIFEST

KARPATHY = {
    "images": [
        {
            "filename": "1.jpg",
            "split": "train",
            "sentences": [
                {"raw": "A dog  runs .", "tokens": ["a", "dog"]},
                {"raw": "", "tokens": ["dog", "running"]},
            ],
        },
        {"filename": "2.jpg", "split": "restval", "sentences": [{"raw": "A cat."}]},
        {
            "filename": "3.jpg",
            "split": "test",
            "sentences": [{"raw": "Two men."}, {"raw": "Men talk."}],
        },
    ],
    "dataset": "flickr30k",
}

SENTENCES = (
    "[/EN#10/people Two men] talk near [/EN#11/other a red car] in [/EN#12/scene the street] .\n"
    "[/EN#10/people The men] lean on [/EN#11/other the car] .\n"
    "[/EN#10/people Two men] and [/EN#0/notvisual their plans] .\n"
)

ANNOTATION = """<annotation>
  <filename>3.jpg</filename>
  <size><width>500</width><height>333</height><depth>3</depth></size>
  <object><name>10</name><bndbox><xmin>11</xmin><ymin>21</ymin><xmax>60</xmax><ymax>200</ymax></bndbox></object>
  <object><name>10</name><bndbox><xmin>101</xmin><ymin>1</ymin><xmax>150</xmax><ymax>180</ymax></bndbox></object>
  <object><name>11</name><name>13</name><bndbox><xmin>201</xmin><ymin>151</ymin><xmax>400</xmax><ymax>300</ymax></bndbox></object>
  <object><name>12</name><nobndbox>0</nobndbox><scene>1</scene></object>
</annotation>
"""


def write_flickr30k(root: Path) -> Path:
    (root / "flickr30k-images").mkdir(parents=True)
    (root / "dataset_flickr30k.json").write_text(json.dumps(KARPATHY))
    return root


def write_entities(root: Path) -> Path:
    (root / "Sentences").mkdir(parents=True)
    (root / "Annotations").mkdir()
    (root / "Sentences" / "3.txt").write_text(SENTENCES)
    (root / "Annotations" / "3.xml").write_text(ANNOTATION)
    (root / "train.txt").write_text("")
    (root / "val.txt").write_text("")
    (root / "test.txt").write_text("3\n4\n")  # 4 has no files: counted, not fatal
    return root


def test_caption_pairs_follow_the_karpathy_file(tmp_path: Path) -> None:
    pairs = caption_pairs(write_flickr30k(tmp_path)).to_pylist()
    assert [(p["split"], p["key"], p["text"]) for p in pairs] == [
        ("train", "1.jpg", "A dog runs ."),  # whitespace normalised
        ("train", "1.jpg", "dog running"),  # empty raw: tokens joined
        ("train", "2.jpg", "A cat."),  # restval counts as train
        ("test", "3.jpg", "Two men."),
        ("test", "3.jpg", "Men talk."),
    ]
    assert all(p["path"] == f"flickr30k-images/{p['key']}" and p["left"] is None for p in pairs)
    only_test = caption_pairs(tmp_path, splits=["test"])
    assert set(only_test.column("split").to_pylist()) == {"test"}


def test_image_manifest_has_one_row_per_image(tmp_path: Path) -> None:
    manifest = build_image_manifest("flickr", write_flickr30k(tmp_path))
    assert manifest.schema.equals(MANIFEST)
    assert manifest.column("key").to_pylist() == ["1.jpg", "2.jpg", "3.jpg"]


def test_bad_caption_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(InputFormatError, match="expected exactly one"):
        caption_pairs(tmp_path)
    (tmp_path / "dataset_flickr8k.json").write_text('{"images": [{"filename": "x.jpg"}]}')
    with pytest.raises(InputFormatError, match=r"images\[0\] lacks"):
        caption_pairs(tmp_path)
    (tmp_path / "dataset_flickr8k.json").write_text("{not json")
    with pytest.raises(InputFormatError, match="not valid JSON"):
        caption_pairs(tmp_path)


def test_parse_sentence() -> None:
    plain, phrases = parse_sentence(SENTENCES.splitlines()[0])
    assert plain == "Two men talk near a red car in the street ."
    assert [(p.entity, p.types, p.text) for p in phrases] == [
        ("10", ("people",), "Two men"),
        ("11", ("other",), "a red car"),
        ("12", ("scene",), "the street"),
    ]
    _, multi = parse_sentence("[/EN#7/bodyparts/people a man 's arm] moves")
    assert multi[0].types == ("bodyparts", "people") and multi[0].text == "a man 's arm"


def test_read_annotation_converts_voc_boxes(tmp_path: Path) -> None:
    path = tmp_path / "a.xml"
    path.write_text(ANNOTATION)
    boxes = read_annotation(path)
    # VOC 1-based inclusive (11, 21, 60, 200) -> 0-based, right/bottom exclusive
    assert boxes["10"] == [(10, 20, 60, 200), (100, 0, 150, 180)]
    assert boxes["11"] == boxes["13"] == [(200, 150, 400, 300)]
    assert "12" not in boxes  # the scene entity has no box
    path.write_text("<annotation><object>")
    with pytest.raises(InputFormatError, match="bad XML"):
        read_annotation(path)


def test_entity_pairs_union_and_each(tmp_path: Path) -> None:
    root = write_entities(tmp_path)
    pairs = entity_pairs(root, images="../f30k/flickr30k-images").to_pylist()
    men = union_box([(10, 20, 60, 200), (100, 0, 150, 180)])
    assert men == (10, 0, 150, 200)
    got = [(p["key"], p["text"]) for p in pairs]
    assert got == [
        (crop_key("3.jpg", men), "Two men"),
        (crop_key("3.jpg", (200, 150, 400, 300)), "a red car"),
        (crop_key("3.jpg", men), "The men"),
        (crop_key("3.jpg", (200, 150, 400, 300)), "the car"),
    ]  # "the street" (scene) and "their plans" (not visual) have no box; "Two men" once
    assert pairs[0]["key"] == "3.jpg#10,0,150,200"
    assert pairs[0]["path"] == "../f30k/flickr30k-images/3.jpg"
    assert (pairs[0]["left"], pairs[0]["top"], pairs[0]["right"], pairs[0]["bottom"]) == men
    assert {p["split"] for p in pairs} == {"test"}
    each = entity_pairs(root, boxes="each").column("key").to_pylist()
    assert each.count("3.jpg#10,20,60,200") == 2 and each.count("3.jpg#100,0,150,180") == 2
    manifest = build_image_manifest("flickr_entities", root)
    assert manifest.column("key").to_pylist() == ["3.jpg#10,0,150,200", "3.jpg#200,150,400,300"]


def test_entity_splits_from_a_karpathy_file(tmp_path: Path) -> None:
    root = write_entities(tmp_path)
    (root / "k.json").write_text(
        json.dumps({"images": [{"filename": "3.jpg", "split": "val", "sentences": []}]})
    )
    pairs = entity_pairs(root, karpathy="k.json")
    assert set(pairs.column("split").to_pylist()) == {"val"}


def test_demo_scenes_round_trip_through_the_readers(tmp_path: Path) -> None:
    from semspace.demo.scenes import write_flickr

    scenes = write_flickr(tmp_path, n_scenes=6, n_val=1, n_test=2, seed=5)
    captions = caption_pairs(tmp_path)
    assert captions.num_rows == 6 * 5
    assert captions.column("split").to_pylist().count("test") == 2 * 5
    crops = entity_pairs(tmp_path).to_pylist()
    # every shape of every scene is one crop at exactly the drawn box, named by its 4 distinct
    # phrase variants (variants 0 and 2 are the same text and are kept once)
    expected = {
        (f"{1_000_000 + i}.jpg#{s.box[0]},{s.box[1]},{s.box[2]},{s.box[3]}", s.variant(k))
        for i, scene in enumerate(scenes)
        for s in scene.shapes
        for k in range(5)
    }
    assert {(p["key"], p["text"]) for p in crops} == expected
    assert len(crops) == len(expected) == 4 * sum(len(scene.shapes) for scene in scenes)


def test_entities_official_train_list_overlaps_karpathy_test_and_the_option_fixes_it(
    tmp_path: Path,
) -> None:
    """Image 3 is Entities train (train.txt) but Karpathy test: the check stops; `karpathy`
    agrees."""
    from semspace.experiments.retrieval import SplitOverlapError, check_disjoint_images

    f30k = write_flickr30k(tmp_path / "flickr30k")
    root = write_entities(tmp_path / "entities")
    (root / "train.txt").write_text("3\n")
    (root / "test.txt").write_text("")
    karpathy_test = [p["key"] for p in caption_pairs(f30k).to_pylist() if p["split"] == "test"]
    assert karpathy_test == ["3.jpg", "3.jpg"]
    official = entity_pairs(root).to_pylist()
    official_train = [p["key"] for p in official if p["split"] == "train"]
    assert official_train and {k.split("#")[0] for k in official_train} == {"3.jpg"}
    with pytest.raises(SplitOverlapError, match="3.jpg"):
        check_disjoint_images(official_train, karpathy_test, "entities", "flickr30k")
    by_karpathy = entity_pairs(root, karpathy="../flickr30k/dataset_flickr30k.json").to_pylist()
    assert {p["split"] for p in by_karpathy} == {"test"}
    check_disjoint_images(
        [p["key"] for p in by_karpathy if p["split"] == "train"],
        karpathy_test,
        "entities",
        "flickr30k",
    )
