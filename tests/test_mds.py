"""Classical MDS (E5) against a full scipy eigh: positive count, top-k, share, coordinates."""

from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.linalg as la

from semspace.experiments.mds import (
    all_eigenvalues,
    classical_mds,
    coords_table,
    double_centre,
    inertia,
    positive_tolerance,
    read_coords,
    top_eigenpairs,
    write_mds,
)


def random_distances(n: int, seed: int, high: int = 40) -> np.ndarray:
    rng = np.random.default_rng(seed)
    upper = np.triu(rng.integers(1, high, (n, n)), 1)
    return upper + upper.T


def reference(D: np.ndarray, sqrt: bool = False):
    """Double centring written out with J, and a full eigh."""
    n = len(D)
    J = np.eye(n) - np.ones((n, n)) / n
    D2 = D.astype(float) if sqrt else D.astype(float) ** 2
    B = -0.5 * J @ D2 @ J
    w, V = la.eigh(B)
    return B, w[::-1], V[:, ::-1]


def test_double_centre_matches_explicit_J():
    D = random_distances(30, 0)
    for sqrt in (False, True):
        B_ref, *_ = reference(D, sqrt)
        np.testing.assert_allclose(double_centre(D, sqrt=sqrt), B_ref, atol=1e-9)


@pytest.mark.parametrize("n, seed", [(40, 1), (300, 2), (500, 3)])
@pytest.mark.parametrize("sqrt", [False, True])
def test_count_topk_and_share_match_full_eigh(n, seed, sqrt):
    D = random_distances(n, seed)
    result = classical_mds(D, k=10, sqrt=sqrt, share=True, seed=seed)
    _, w, V = reference(D, sqrt)
    tol = positive_tolerance(n, w[0])
    assert result.tol == pytest.approx(tol, rel=1e-8)
    assert result.n_positive == int((w > tol).sum())
    assert result.n_positive + result.n_negative == n  # no exact zeros after the shift
    np.testing.assert_allclose(result.eigenvalues, w[:10], rtol=1e-8)
    assert result.top2_share == pytest.approx(w[:2].sum() / w[w > tol].sum(), rel=1e-8)
    # Eigenvectors equal up to sign (distinct eigenvalues of random data).
    for i in range(10):
        assert abs(abs(result.vectors[:, i] @ V[:, i]) - 1) < 1e-6
    np.testing.assert_allclose(
        np.abs(result.coords[:, :2]), np.abs(V[:, :2] * np.sqrt(w[:2])), atol=1e-6
    )


@pytest.mark.parametrize("n, seed", [(60, 4), (400, 5)])
def test_share_pass_and_inertia_path_agree_with_scipy(n, seed):
    """The eigvalsh pass (share) and the LDLᵀ inertia (no share) give scipy's count and Σλ₊."""
    D = random_distances(n, seed)
    B, w, _ = reference(D)
    np.testing.assert_allclose(all_eigenvalues(B), w[::-1], rtol=0, atol=1e-10 * w[0])
    tol = positive_tolerance(n, w[0])
    with_share = classical_mds(D, k=10, share=True, seed=seed)
    without = classical_mds(D, k=10, share=False, seed=seed)
    assert with_share.n_positive == without.n_positive == int((w > tol).sum())
    assert with_share.n_negative == without.n_negative == int((w < tol).sum())
    assert with_share.positive_sum == pytest.approx(w[w > tol].sum(), rel=1e-10)
    np.testing.assert_allclose(with_share.all_positive, w[w > tol], rtol=1e-9)
    np.testing.assert_allclose(without.eigenvalues, w[:10], rtol=1e-8)


def test_euclidean_points_are_recovered():
    """Distances of points in the plane: two positive eigenvalues, share 1, distances kept."""
    rng = np.random.default_rng(0)
    P = rng.normal(size=(50, 2)) * [3.0, 1.0]
    D = np.sqrt(((P[:, None] - P[None]) ** 2).sum(-1))
    result = classical_mds(D, k=3)
    assert result.n_positive == 2
    assert result.top2_share == pytest.approx(1.0)
    C = result.coords[:, :2]
    np.testing.assert_allclose(np.sqrt(((C[:, None] - C[None]) ** 2).sum(-1)), D, atol=1e-8)


def test_inertia_by_hand():
    A = np.diag([3.0, -1.0, 2.0, 0.5, -7.0])
    assert inertia(A) == (3, 2, 0)
    assert inertia(A, shift=1.0) == (2, 3, 0)  # 0.5 - 1 < 0
    # A symmetric indefinite matrix that needs 2×2 pivots: [[0, 1], [1, 0]] has eigenvalues ±1.
    assert inertia(np.array([[0.0, 1.0], [1.0, 0.0]])) == (1, 1, 0)
    Q, _ = np.linalg.qr(np.random.default_rng(1).normal(size=(60, 60)))
    lam = np.concatenate([np.linspace(1, 5, 25), -np.linspace(1, 5, 35)])
    assert inertia(Q @ np.diag(lam) @ Q.T)[:2] == (25, 35)


@pytest.mark.slow
def test_inertia_of_a_large_matrix_uses_the_blocked_path_too():
    n = 1000  # >= 1000: MKL's sytrf through torch
    A = np.random.default_rng(2).normal(size=(n, n))
    A = A + A.T
    w = la.eigvalsh(A)
    assert inertia(A) == (int((w > 0).sum()), int((w < 0).sum()), 0)


def test_top_eigenpairs_sign_convention_and_small_k():
    D = random_distances(400, 5)
    B = double_centre(D)
    vals, vecs = top_eigenpairs(B, 4, seed=0)
    vals2, vecs2 = top_eigenpairs(B, 4, seed=9)  # another Lanczos start: same result
    np.testing.assert_allclose(vals, vals2, rtol=1e-10)
    np.testing.assert_allclose(vecs, vecs2, atol=1e-8)
    idx = np.argmax(np.abs(vecs), axis=0)
    assert (vecs[idx, np.arange(4)] > 0).all()


def test_no_share_and_outputs(tmp_path):
    D = random_distances(25, 7)
    result = classical_mds(D, k=3, share=False)
    assert result.top2_share is None and result.positive_sum is None
    summary = write_mds(result, tmp_path)
    assert json.loads((tmp_path / "eigen.json").read_text()) == summary
    coords = read_coords(tmp_path / "coords.parquet")
    assert coords.column_names == ["image", "dim1", "dim2", "dim3"]
    assert coords.equals(coords_table(result))


def test_cli(tmp_path):
    from semspace.cli import main

    np.save(tmp_path / "d.npy", random_distances(30, 8).astype(np.uint8))
    assert (
        main(
            [
                "imagespace",
                "mds",
                "--distances",
                str(tmp_path / "d.npy"),
                "--out",
                str(tmp_path / "m"),
                "--k",
                "4",
                "--sqrt",
            ]
        )
        == 0
    )
    eigen = json.loads((tmp_path / "m" / "eigen.json").read_text())
    assert eigen["n"] == 30 and eigen["sqrt_distances"] is True and len(eigen["eigenvalues"]) == 4
    np.save(tmp_path / "bad.npy", np.zeros((3, 4)))
    assert (
        main(
            [
                "imagespace",
                "mds",
                "--distances",
                str(tmp_path / "bad.npy"),
                "--out",
                str(tmp_path / "x"),
            ]
        )
        == 2
    )
