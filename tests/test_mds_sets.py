"""Matrix-free classical MDS from token sets against the dense path on the same sets."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from semspace.experiments import mds as M
from semspace.experiments import mds_sets as S


def zipf_sets(n: int, vocab: int = 800, draws: int = 30, seed: int = 0) -> sp.csr_matrix:
    rng = np.random.default_rng(seed)
    p = 1.0 / np.arange(1, vocab + 1)
    p /= p.sum()
    rows = [np.unique(rng.choice(vocab, size=draws, p=p)) for _ in range(n)]
    indptr = np.concatenate([[0], np.cumsum([len(r) for r in rows])])
    data = np.ones(indptr[-1], np.float32)
    return sp.csr_matrix((data, np.concatenate(rows), indptr), shape=(n, vocab))


def symdiff_by_sets(X: sp.csr_matrix) -> np.ndarray:
    """|A Δ B| by Python sets: independent of the indicator algebra."""
    sets = [set(X.indices[X.indptr[i] : X.indptr[i + 1]].tolist()) for i in range(X.shape[0])]
    return np.array([[len(a ^ b) for b in sets] for a in sets], dtype=np.float64)


@pytest.mark.parametrize("sqrt", [False, True])
def test_operator_equals_double_centred_matrix(sqrt):
    X = zipf_sets(60, vocab=120, draws=12, seed=1)
    B = M.double_centre(symdiff_by_sets(X), sqrt=sqrt)
    op = S.SetsOperator(X, sqrt=sqrt, device="cpu")
    import torch

    W = np.random.default_rng(0).standard_normal((60, 4))
    got = op.matmat(torch.from_numpy(W)).numpy()
    np.testing.assert_allclose(got, B @ W, rtol=1e-9, atol=1e-9 * np.abs(B).max())
    assert op.trace() == pytest.approx(np.trace(B), rel=1e-12)


def test_matrix_free_top_k_and_intervals_hold_the_dense_exact_values():
    X = zipf_sets(500, seed=2)
    dense = S.mds_from_sets(X, k=6, method="dense", device="cpu")
    free = S.mds_from_sets(X, k=6, method="matrix-free", device="cpu", probes=20, steps=60)
    assert dense.method == "dense-exact" and free.method == "matrix-free-slq"
    ref = np.linalg.eigvalsh(M.double_centre(symdiff_by_sets(X)))[::-1][:6]
    np.testing.assert_allclose(dense.result.eigenvalues, ref, rtol=1e-9)
    np.testing.assert_allclose(free.result.eigenvalues, ref, rtol=1e-6)
    lo, hi = free.details["n_positive_ci"]
    assert lo <= dense.result.n_positive <= hi
    s_lo, s_hi = free.details["top2_share_ci"]
    assert s_lo <= dense.result.top2_share <= s_hi
    summary = free.summary()
    assert summary["method"] == "matrix-free-slq" and "slq" in summary


def test_method_follows_the_memory_budget():
    limit = S.dense_limit(1.0)
    assert S.choose_method(limit, 1.0) == "dense-exact"
    assert S.choose_method(limit + 1, 1.0) == "matrix-free-slq"
    assert S.dense_limit(4.0) > limit


def test_cli_mds_of_sets_writes_method_and_intervals(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from semspace.cli import main
    from semspace.io import read_json

    X = zipf_sets(200, seed=3)
    from semspace.schemas import TOKENSETS

    rows = [X.indices[X.indptr[i] : X.indptr[i + 1]] for i in range(200)]
    tokens = [sorted(f"t{t}" for t in row) for row in rows]
    path = tmp_path / "sets.parquet"
    table = {"image": list(range(200)), "coco_id": list(range(200)), "tokens": tokens}
    pq.write_table(pa.table(table, schema=TOKENSETS), path)
    out = tmp_path / "mds"
    argv = ["imagespace", "mds", "--sets", str(path), "--out", str(out), "--k", "4"]
    assert main([*argv, "--method", "matrix-free", "--probes", "8", "--lanczos-steps", "40"]) == 0
    eigen = read_json(out / "eigen.json")
    assert eigen["method"] == "matrix-free-slq" and eigen["n"] == 200
    lo, hi = eigen["n_positive_ci"]
    assert lo <= eigen["n_positive"] <= hi
    assert (out / "coords.parquet").exists()


def test_operator_raises_no_torch_sparse_notice():
    import warnings

    import torch

    X = zipf_sets(30, vocab=60, draws=8, seed=4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        op = S.SetsOperator(X, device="cpu")
        op.matmat(torch.ones((30, 2), dtype=torch.float64))


@pytest.mark.slow
def test_matrix_free_at_coco_size_holds_the_dense_exact_values():
    """n = 5,000 COCO-like sets (≈28 tokens from a Zipf 25k vocabulary, as bench_mds_scale.py):
    top-10 to 1e-6 of the dense path's, its count and share inside the SLQ intervals."""
    X = zipf_sets(5000, vocab=25000, draws=32, seed=0)
    assert 26 < np.diff(X.indptr).mean() < 30
    dense = S.mds_from_sets(X, k=10, method="dense", device="cpu")
    free = S.mds_from_sets(X, k=10, method="matrix-free", device="cpu")
    np.testing.assert_allclose(free.result.eigenvalues, dense.result.eigenvalues, rtol=1e-6)
    lo, hi = free.details["n_positive_ci"]
    assert lo <= dense.result.n_positive <= hi
    s_lo, s_hi = free.details["top2_share_ci"]
    assert s_lo <= dense.result.top2_share <= s_hi
