"""Captions ingest (E5): Karpathy's dataset_coco.json and the BLIP/ALBEF list."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from semspace.datasets.coco import coco_id_from_name, read_captions
from semspace.demo.coco import blip_json, demo_captions, karpathy_json, write_demo_captions
from semspace.errors import InputFormatError
from semspace.schemas import CAPTIONS

REAL = (
    Path(__file__).resolve().parents[2] / "shared" / "data" / "coco-karpathy-test" / "captions.json"
)


def test_coco_id_from_name():
    assert coco_id_from_name("val2014/COCO_val2014_000000391895.jpg") == 391895
    assert coco_id_from_name("COCO_train2014_000000000009.JPG") == 9
    assert coco_id_from_name("images/cat.jpg") is None


def test_blip_and_karpathy_formats_give_the_same_table(tmp_path):
    images = demo_captions(12, seed=3)
    (tmp_path / "blip.json").write_text(json.dumps(blip_json(images)))
    (tmp_path / "karpathy.json").write_text(json.dumps(karpathy_json(images)))
    blip = read_captions(tmp_path / "blip.json")
    karpathy = read_captions(tmp_path / "karpathy.json", split="test")
    assert blip.schema == CAPTIONS
    karpathy_tokens = karpathy.column("tokens").to_pylist()  # the demo file carries tokens
    assert karpathy_tokens == [t.lower().split() for _, caps in images for t in caps]
    karpathy = karpathy.drop_columns(["tokens"])
    assert blip.equals(karpathy)  # the train image of the Karpathy file is left out
    expected = [(i, cid, j, t) for i, (cid, caps) in enumerate(images) for j, t in enumerate(caps)]
    got = list(zip(*(blip.column(c).to_pylist() for c in ("image", "coco_id", "caption", "text"))))
    assert got == expected


def test_karpathy_split_selection_and_folder(tmp_path):
    images = demo_captions(4, seed=1)
    folder = tmp_path / "caption_datasets"
    folder.mkdir()
    (folder / "dataset_coco.json").write_text(json.dumps(karpathy_json(images)))
    train = read_captions(tmp_path, split="train")  # found inside the folder
    assert train.column("coco_id").to_pylist() == [9]
    assert read_captions(folder, split="test").num_rows == sum(len(c) for _, c in images)


def test_blip_training_form_groups_by_image_in_order(tmp_path):
    rows = [
        {"image": "b/COCO_x_000000000002.jpg", "caption": "two a"},
        {"image": "a/COCO_x_000000000001.jpg", "caption": "one a"},
        {"image": "b/COCO_x_000000000002.jpg", "caption": "two b"},
    ]
    (tmp_path / "train.json").write_text(json.dumps(rows))
    table = read_captions(tmp_path / "train.json")
    assert table.column("image").to_pylist() == [0, 0, 1]
    assert table.column("coco_id").to_pylist() == [2, 2, 1]
    assert table.column("caption").to_pylist() == [0, 1, 0]
    assert table.column("text").to_pylist() == ["two a", "two b", "one a"]


@pytest.mark.parametrize(
    "content, message",
    [
        ("{not json", "not valid JSON"),
        ('{"foo": 1}', "expected Karpathy"),
        ('[{"image": "x.jpg"}]', "needs 'image' and 'caption'"),
        ('[{"image": "x.jpg", "caption": [1, 2]}]', "list of strings"),
        (
            '{"images": [{"split": "test", "sentences": [{"tokens": 3}]}]}',
            "tokens must be a list of strings",
        ),
        ("[]", "no images"),
    ],
)
def test_bad_files_name_the_problem(tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(InputFormatError, match=message) as info:
        read_captions(path)
    assert str(path) in str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(InputFormatError, match="not found"):
        read_captions(tmp_path / "nope.json")


def test_demo_writer_roundtrip(tmp_path):
    path = write_demo_captions(tmp_path / "c.json", n_images=7, seed=0)
    table = read_captions(path)
    assert sorted(set(table.column("image").to_pylist())) == list(range(7))
    assert all(
        n in (5, 6)
        for n in table.group_by("image").aggregate([("caption", "count")]).column(1).to_pylist()
    )


@pytest.mark.realdata
def test_real_karpathy_test_split():
    if not REAL.exists():
        pytest.skip("../shared/data is absent")
    table = read_captions(REAL)
    assert table.num_rows == 25010
    images = table.column("image").to_pylist()
    assert len(set(images)) == 5000 and images == sorted(images)
    coco = dict(zip(images, table.column("coco_id").to_pylist()))
    assert coco[0] == 391895 and coco[100] == 473237  # the split's order is kept


FIXTURE = Path(__file__).parent / "fixtures" / "coco_karpathy_tokens.json"


def test_karpathy_tokens_are_kept_in_a_tokens_column():
    from semspace.datasets.coco import CAPTIONS_WITH_TOKENS, captions_schema

    table = read_captions(FIXTURE, split="test")
    assert table.schema == CAPTIONS_WITH_TOKENS and captions_schema(table) == CAPTIONS_WITH_TOKENS
    data = json.loads(FIXTURE.read_text())
    expected = [s["tokens"] for e in data["images"] if e["split"] == "test" for s in e["sentences"]]
    assert table.column("tokens").to_pylist() == expected
    assert table.column("coco_id").to_pylist() == [391895, 391895, 522418, 522418]


def test_blip_and_partly_tokenised_files_have_no_tokens_column(tmp_path):
    from semspace.datasets.coco import captions_schema

    data = json.loads(FIXTURE.read_text())
    del data["images"][2]["sentences"][1]["tokens"]  # one sentence without tokens
    (tmp_path / "part.json").write_text(json.dumps(data))
    part = read_captions(tmp_path / "part.json")
    assert part.schema == CAPTIONS and captions_schema(part) == CAPTIONS
    data["images"][0]["sentences"][0]["tokens"] = "a man"
    (tmp_path / "bad.json").write_text(json.dumps(data))
    with pytest.raises(InputFormatError, match=r"images\[0\]\.sentences\[0\]\.tokens"):
        read_captions(tmp_path / "bad.json")
