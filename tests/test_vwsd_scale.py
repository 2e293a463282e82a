"""The gloss stage over the whole V-WSD train set and the three test files (real data)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from semspace import wordnet
from semspace.datasets.vwsd import gold_path_for, read_items
from semspace.experiments.vwsd import english_only_note, gloss_share, gloss_table

FILES = {
    "train.data.v1.txt": 12869,
    "en.test.data.v1.1.txt": 463,
    "it.test.data.v1.1.txt": 305,
    "fa.test.data.txt": 200,
}


@pytest.mark.realdata
@pytest.mark.slow
def test_glosses_over_train_and_test(shared_data: Path) -> None:
    text = shared_data / "vwsd-text"
    if not text.is_dir():
        pytest.skip(f"{text} is absent")
    try:
        wordnet.load_wordnet()
    except wordnet.WordNetUnavailable:
        pytest.skip("WordNet is not prepared (semspace wordnet prepare)")
    selector = wordnet.GlossSelector()
    start = time.monotonic()
    shares = {}
    for name, n in FILES.items():
        items = read_items(text / name, gold_path_for(text / name))
        table = gloss_table(items, "wup_hypernym", selector)
        assert table.num_rows == n
        assert table.column("item").to_pylist() == list(range(n))
        shares[name] = gloss_share(table)
        rows = table.to_pylist()
        # a row has a gloss exactly when it has a synset, and then a positive similarity
        assert all((r["gloss"] is None) == (r["synset"] is None) for r in rows)
        assert all(r["similarity"] > 0 for r in rows if r["gloss"] is not None)
        assert all(r["note"] for r in rows if r["gloss"] is None)
        if name.startswith(("it.", "fa.")):
            lang = name[:2]
            assert {r["note"] for r in rows} == {english_only_note(lang)}
    elapsed = time.monotonic() - start
    print(f"gloss shares {shares}; {elapsed:.1f} s without loading WordNet")
    assert 0.5 < shares["train.data.v1.txt"] < 1.0
    assert 0.5 < shares["en.test.data.v1.1.txt"] < 1.0
    assert shares["it.test.data.v1.1.txt"] == 0.0 and shares["fa.test.data.txt"] == 0.0
    assert elapsed < 120, f"gloss run took {elapsed:.0f} s; WordNet look-ups should be cached"
