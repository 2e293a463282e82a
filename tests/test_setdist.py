"""Set distances (E5) against Python sets and scipy's pdist, in full and streaming (blocked)
modes."""

from __future__ import annotations

import json
from itertools import combinations

import numpy as np
import pyarrow.parquet as pq
import pytest
from scipy.spatial.distance import pdist, squareform

from semspace.experiments.setdist import (
    NEIGHBOURS,
    choose_dense_columns,
    histogram_summary,
    indicator_matrix,
    read_histogram,
    set_distances,
    smallest_uint,
    write_set_distances,
)


def random_sets(n: int, vocab: int, max_size: int, seed: int) -> list[list[str]]:
    rng = np.random.default_rng(seed)
    # Zipf-like weights, so that some tokens are in most sets (as "a" in COCO captions).
    weights = 1.0 / np.arange(1, vocab + 1)
    weights /= weights.sum()
    sets = []
    for _ in range(n):
        size = int(rng.integers(0, max_size + 1))
        sets.append(sorted({f"w{t}" for t in rng.choice(vocab, size=size, p=weights)}))
    return sets


def python_matrices(sets):
    S = [set(s) for s in sets]
    sd = np.array([[len(a ^ b) for b in S] for a in S])
    it = np.array([[len(a & b) for b in S] for a in S])
    un = np.array([[len(a | b) for b in S] for a in S])
    return sd, it, un


@pytest.mark.parametrize("dense_columns", [None, 0, 3, 10_000])
@pytest.mark.parametrize("block_rows", [None, 1, 7])
def test_matrices_match_python_sets(dense_columns, block_rows):
    sets = random_sets(40, 60, 25, seed=1)
    sets[3] = []  # an empty set
    sets[5] = list(sets[4])  # a duplicate: distance 0
    X, _vocab = indicator_matrix(sets)
    result = set_distances(X, top_k=4, block_rows=block_rows, dense_columns=dense_columns)
    sd, it, un = python_matrices(sets)
    np.testing.assert_array_equal(result.symdiff, sd)
    np.testing.assert_array_equal(result.intersection, it)
    np.testing.assert_array_equal(result.union, un)
    assert result.symdiff.dtype == smallest_uint(int(sd.max()))


def test_symdiff_equals_pdist_hamming_times_vocabulary():
    sets = random_sets(30, 40, 20, seed=2)
    X, vocab = indicator_matrix(sets)
    expected = squareform(pdist(X.toarray().astype(bool), "hamming")) * len(vocab)
    result = set_distances(X, top_k=1)
    np.testing.assert_allclose(result.symdiff, expected, atol=1e-9)


def test_summary_over_distinct_pairs_matches_independent_computation():
    sets = random_sets(50, 80, 30, seed=3)
    X, _ = indicator_matrix(sets)
    result = set_distances(X, top_k=3, block_rows=9)
    summary = histogram_summary(result.histogram, result.n)
    S = [set(s) for s in sets]
    pairs = list(combinations(range(len(S)), 2))
    sd = np.array([len(S[i] ^ S[j]) for i, j in pairs])
    it = np.array([len(S[i] & S[j]) for i, j in pairs])
    un = np.array([len(S[i] | S[j]) for i, j in pairs])
    assert summary["pairs"] == len(pairs) == result.histogram.sum()
    for name, v in (("symdiff", sd), ("intersection", it), ("union", un)):
        assert summary[f"{name}_min"] == v.min() and summary[f"{name}_max"] == v.max()
        assert summary[f"{name}_mean"] == pytest.approx(v.mean())
    assert summary["pearson_symdiff_intersection"] == pytest.approx(
        np.corrcoef(sd, it)[0, 1], abs=1e-12
    )


def test_neighbours_are_the_k_smallest_with_index_ties():
    sets = random_sets(35, 30, 12, seed=4)
    X, _ = indicator_matrix(sets)
    k = 5
    result = set_distances(X, top_k=k, keep_matrices=False, block_rows=4)
    assert result.symdiff is None
    sd, it, un = python_matrices(sets)
    table = result.neighbours
    assert table.schema == NEIGHBOURS and table.num_rows == 35 * k
    for i in range(35):
        expected = sorted((d, j) for j, d in enumerate(sd[i]) if j != i)[:k]
        rows = table.filter(np.asarray(table.column("image")) == i).to_pylist()
        assert [r["rank"] for r in rows] == list(range(1, k + 1))
        assert [(r["symdiff"], r["neighbour"]) for r in rows] == expected
        assert all(
            r["intersection"] == it[i, r["neighbour"]] and r["union"] == un[i, r["neighbour"]]
            for r in rows
        )


def test_streaming_equals_full_mode():
    sets = random_sets(60, 100, 30, seed=5)
    X, _ = indicator_matrix(sets)
    full = set_distances(X, top_k=6)
    streamed = set_distances(X, top_k=6, keep_matrices=False, block_rows=8, dense_columns=2)
    np.testing.assert_array_equal(full.histogram, streamed.histogram)
    assert full.neighbours.equals(streamed.neighbours)


def test_edge_cases():
    one = set_distances(indicator_matrix([["a"]])[0], top_k=3)
    assert one.neighbours.num_rows == 0
    assert histogram_summary(one.histogram, 1)["symdiff_min"] is None
    two = set_distances(indicator_matrix([["a"], ["a"]])[0], top_k=3)
    s = histogram_summary(two.histogram, 2)
    assert (s["symdiff_min"], s["intersection_max"], s["pairs"]) == (0, 1, 1)
    assert s["pearson_symdiff_intersection"] is None  # one pair: no variance
    assert two.neighbours.num_rows == 2


def test_smallest_uint_and_column_choice():
    assert smallest_uint(255) == np.uint8 and smallest_uint(256) == np.uint16
    assert smallest_uint(70_000) == np.uint32
    # Rare tokens stay sparse; a token in every one of many sets goes dense.
    assert choose_dense_columns(np.array([2, 3, 1, 2]), n=10_000) == 0
    assert choose_dense_columns(np.array([10_000, 2, 3]), n=10_000) == 1


def test_write_and_cli(tmp_path):
    sets = random_sets(20, 30, 10, seed=6)
    X, _ = indicator_matrix(sets)
    summary = write_set_distances(set_distances(X, top_k=2), tmp_path / "out")
    for name in ("symdiff", "intersection", "union"):
        assert np.load(tmp_path / "out" / f"{name}.npy").shape == (20, 20)
    assert json.loads((tmp_path / "out" / "summary.json").read_text()) == summary
    assert (
        read_histogram(tmp_path / "out" / "pairs.parquet").column("pairs").to_numpy().sum() == 190
    )


def test_cli_end_to_end(tmp_path):
    from semspace.cli import main
    from semspace.experiments.tokensets import token_sets

    sets = random_sets(15, 20, 8, seed=7)
    pq.write_table(token_sets(list(range(15)), [None] * 15, sets), tmp_path / "sets.parquet")
    assert (
        main(
            [
                "imagespace",
                "setdist",
                "--sets",
                str(tmp_path / "sets.parquet"),
                "--out",
                str(tmp_path / "d"),
                "--top-k",
                "3",
                "--no-matrices",
                "--block-rows",
                "4",
            ]
        )
        == 0
    )
    assert not (tmp_path / "d" / "symdiff.npy").exists()
    assert pq.read_table(tmp_path / "d" / "neighbours.parquet").num_rows == 45
    assert (
        main(
            [
                "imagespace",
                "setdist",
                "--sets",
                str(tmp_path / "missing.parquet"),
                "--out",
                str(tmp_path / "e"),
            ]
        )
        == 2
    )


@pytest.mark.slow
def test_streaming_blocks_equal_full_mode_at_a_larger_size():
    """n = 3,000 (4.5 M pairs): the bounded-memory path gives the full path's summary and top-10."""
    rng = np.random.default_rng(0)
    sets = [sorted({f"w{t}" for t in rng.zipf(1.3, 40) % 3000}) for _ in range(3000)]
    X, _ = indicator_matrix(sets)
    streamed = set_distances(X, top_k=10, keep_matrices=False, block_rows=256)
    full = set_distances(X, top_k=10)
    np.testing.assert_array_equal(streamed.histogram, full.histogram)
    assert streamed.neighbours.equals(full.neighbours)
    iu = np.triu_indices(3000, 1)
    summary = histogram_summary(full.histogram, 3000)
    sd, it = full.symdiff[iu].astype(float), full.intersection[iu].astype(float)
    assert summary["pearson_symdiff_intersection"] == pytest.approx(
        np.corrcoef(sd, it)[0, 1], abs=1e-12
    )
