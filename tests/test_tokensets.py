"""Token sets and their statistics (E5)."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from semspace.datasets.coco import read_captions
from semspace.errors import InputFormatError
from semspace.experiments.tokensets import (
    STATS,
    coco_token_sets,
    coco_token_statistics,
    karpathy_tokenize,
    read_captions_table,
    read_stats,
    read_token_sets,
    stats_table,
    token_sets,
    token_statistics,
)
from semspace.schemas import CAPTIONS, TOKENSETS

REAL = (
    Path(__file__).resolve().parents[2] / "shared" / "data" / "coco-karpathy-test" / "captions.json"
)


def test_karpathy_tokenize():
    assert karpathy_tokenize("A man's red-helmet, on 2 mopeds!") == [
        "a",
        "man's",
        "red",
        "helmet",
        "on",
        "2",
        "mopeds",
    ]
    assert karpathy_tokenize("  Café\tNAÏVE ") == [
        "caf",
        "na",
        "ve",
    ]  # non a-z letters become spaces
    assert karpathy_tokenize("") == []


def _captions() -> pa.Table:
    return pa.table(
        {
            "image": [0, 0, 1, 2, 2],
            "coco_id": [10, 10, 11, 12, 12],
            "caption": [0, 1, 0, 0, 1],
            "text": ["A dog runs.", "The dog, a DOG!", "cat", "x y", "y z z"],
        },
        schema=CAPTIONS,
    )


def test_coco_token_sets_are_sorted_unions():
    sets = coco_token_sets(_captions())
    assert sets.schema == TOKENSETS
    assert sets.column("tokens").to_pylist() == [
        ["a", "dog", "runs", "the"],
        ["cat"],
        ["x", "y", "z"],
    ]
    assert sets.column("coco_id").to_pylist() == [10, 11, 12]


def test_token_statistics_by_hand():
    stats = coco_token_statistics(_captions())
    assert stats["images"] == 3 and stats["texts"] == 5
    assert stats["characters"] == len("A dog runs.") + len("The dog, a DOG!") + 3 + 3 + 5
    assert stats["tokens"] == 3 + 4 + 1 + 2 + 3
    assert stats["vocabulary"] == len({"a", "dog", "runs", "the", "cat", "x", "y", "z"})
    assert stats["mean_set_size"] == pytest.approx((4 + 1 + 3) / 3)
    assert stats["min_set_size"] == 1 and stats["max_set_size"] == 4
    assert stats["mean_tokens_per_text"] == pytest.approx(13 / 5)


def test_token_sets_generic_and_length_check():
    table = token_sets([1, 0, 1], [None, 5, None], [["b", "a"], ["c"], ["a", "d"]])
    assert table.column("image").to_pylist() == [0, 1]
    assert table.column("tokens").to_pylist() == [["c"], ["a", "b", "d"]]
    with pytest.raises(ValueError):
        token_sets([0], [None], [])
    with pytest.raises(ValueError):
        token_statistics([0], ["a"], [])


def test_stats_roundtrip(tmp_path):
    stats = {"images": 3.0, "mean_set_size": 2.5}
    pq.write_table(stats_table(stats), tmp_path / "s.parquet")
    assert pq.read_schema(tmp_path / "s.parquet") == STATS
    assert read_stats(tmp_path / "s.parquet") == stats


def test_read_token_sets_checks_order(tmp_path):
    good = coco_token_sets(_captions())
    pq.write_table(good, tmp_path / "ok.parquet")
    assert read_token_sets(tmp_path / "ok.parquet").equals(good)
    bad = pa.table({"image": [0], "coco_id": [1], "tokens": [["b", "a"]]}, schema=TOKENSETS)
    pq.write_table(bad, tmp_path / "bad.parquet")
    with pytest.raises(InputFormatError, match="sorted"):
        read_token_sets(tmp_path / "bad.parquet")
    pq.write_table(pa.table({"x": [1]}), tmp_path / "cols.parquet")
    with pytest.raises(InputFormatError, match="missing column"):
        read_token_sets(tmp_path / "cols.parquet")


@pytest.mark.realdata
def test_real_coco_statistics():
    if not REAL.exists():
        pytest.skip("../shared/data is absent")
    stats = coco_token_statistics(read_captions(REAL))
    assert stats["images"] == 5000 and stats["texts"] == 25010
    assert 27.5 < stats["mean_set_size"] < 28.0  # paper: 27.7
    assert 7000 < stats["vocabulary"] < 7500  # paper: 7,254 (tokeniser details differ)


FIXTURE = Path(__file__).parent / "fixtures" / "coco_karpathy_tokens.json"


def test_karpathy_tokens_are_used_when_the_source_has_them(tmp_path):
    from semspace.datasets.coco import captions_schema
    from semspace.experiments.tokensets import KARPATHY_TOKENS, TOKENISER, token_source
    from semspace.io import write_parquet

    captions = read_captions(FIXTURE)
    # through the Parquet file the CLI writes and reads, the tokens column survives
    write_parquet(captions, tmp_path / "captions.parquet", captions_schema(captions))
    captions = read_captions_table(tmp_path / "captions.parquet")
    assert token_source(captions) == KARPATHY_TOKENS
    sets = coco_token_sets(captions).column("tokens").to_pylist()
    # the file's tokens, not the tokeniser's: "cloud-wreathed", "'s", "t-shirt" are single tokens
    assert "cloud-wreathed" in sets[0] and "cloud" not in sets[0]
    assert {"'s", "t-shirt"} <= set(sets[1]) and "woman's" not in sets[1]
    rows = captions.to_pylist()
    for image, tokens in enumerate(sets):
        assert tokens == sorted({t for r in rows if r["image"] == image for t in r["tokens"]})
    stats = coco_token_statistics(captions)
    assert stats["tokens"] == sum(len(r["tokens"]) for r in rows) == 37
    # without the column the tokeniser serves, and the sets differ where the two disagree
    plain = captions.drop_columns(["tokens"])
    assert token_source(plain) == TOKENISER
    assert coco_token_sets(plain).column("tokens").to_pylist()[0] == sorted(
        {t for r in rows if r["image"] == 0 for t in karpathy_tokenize(r["text"])}
    )
    assert "cloud" in coco_token_sets(plain).column("tokens").to_pylist()[0]
