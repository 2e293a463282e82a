"""Classical (Torgerson) MDS of a distance matrix (E5), without a full eigendecomposition.

B = −½ J D⁽²⁾ J. Eigenvalues count as positive above ``tol = n·eps·λmax``: round-off makes exact
zeros (B·1 = 0 always) come out as ±1e-12·λmax. The top-k eigenpairs come from Lanczos
(``eigsh``); coordinates are the eigenvectors scaled by √λ.

With the share of the first two axes (the default), Σλ₊ needs the positive eigenvalues, which no
factorisation gives: one eigenvalues-only pass (``torch.linalg.eigvalsh`` in float64: MKL on the
CPU, cuSOLVER on CUDA) gives all of them, hence the count and Σλ₊ together. Without the share the
count is the inertia (Sylvester) of the LDLᵀ (Bunch–Kaufman) factorisation of B − tol·I, about
n³/3 flops: cheaper than any eigenvalue pass, so it is used only there.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import scipy.linalg as la
from scipy.sparse.linalg import eigsh

from semspace.errors import InputFormatError
from semspace.io import write_json, write_parquet
from semspace.runtime import log

EPS = float(np.finfo(np.float64).eps)


def coords_schema(k: int) -> pa.Schema:
    """MDS coordinates of each image on the top-k axes: image, dim1..dimk."""
    return pa.schema(
        [pa.field("image", pa.int32(), nullable=False)]
        + [pa.field(f"dim{i + 1}", pa.float64(), nullable=False) for i in range(k)]
    )


def double_centre(D: np.ndarray, sqrt: bool = False) -> np.ndarray:
    """B = −½ J D⁽²⁾ J (float64). With ``sqrt``, D is replaced by √D (then D⁽²⁾ = D)."""
    D = np.asarray(D)
    if D.ndim != 2 or D.shape[0] != D.shape[1]:
        raise ValueError(f"distance matrix must be square, got shape {D.shape}")
    B = D.astype(np.float64)  # a fresh array, centred in place
    if not sqrt:
        np.multiply(B, B, out=B)
    return centre_in_place(B)


def centre_in_place(B: np.ndarray) -> np.ndarray:
    """B ← −½ J B J for a float64 array of squared distances, in place; returns B."""
    row = B.mean(axis=1)
    total = row.mean()
    B -= row[:, None]
    B -= row[None, :]
    B += total
    B *= -0.5
    return B


def positive_tolerance(n: int, lambda_max: float) -> float:
    return n * EPS * max(lambda_max, 0.0)


def inertia(B: np.ndarray, shift: float = 0.0) -> tuple[int, int, int]:
    """(positive, negative, zero) eigenvalue counts of B − shift·I by Sylvester's law on LDLᵀ."""
    A = np.array(B, dtype=np.float64, order="F")
    if shift:
        A.flat[:: A.shape[0] + 1] -= shift
    ld, piv = _sytrf_lower(A)
    n = ld.shape[0]
    pos = neg = zero = 0
    diag = np.diag(ld)
    sub = np.diag(ld, -1)
    i = 0
    # 1×1 blocks where piv > 0; a 2×2 block at i, i+1 where piv[i] < 0 (LAPACK lower storage).
    single = piv > 0
    while i < n:
        if single[i]:
            d = diag[i]
            pos += d > 0
            neg += d < 0
            zero += d == 0
            i += 1
        else:
            ev = np.linalg.eigvalsh(np.array([[diag[i], sub[i]], [sub[i], diag[i + 1]]]))
            pos += int((ev > 0).sum())
            neg += int((ev < 0).sum())
            zero += int((ev == 0).sum())
            i += 2
    return int(pos), int(neg), int(zero)


def _sytrf_lower(A: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Bunch–Kaufman LDLᵀ (LAPACK ?sytrf, lower): the factor array and 1-based pivots."""
    if A.shape[0] >= 1000:
        import torch  # MKL's sytrf is blocked: ~25× faster than OpenBLAS's at n = 5,000 on 2 cores

        LD, pivots, _ = torch.linalg.ldl_factor_ex(torch.from_numpy(A), hermitian=False)
        return LD.numpy(), pivots.numpy()
    ld, piv, info = la.lapack.dsytrf(A, lower=1, overwrite_a=1)
    if info < 0:
        raise ValueError(f"dsytrf: illegal argument {-info}")
    return ld, piv


def top_eigenpairs(B: np.ndarray, k: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The k largest eigenvalues (descending) and their unit eigenvectors (columns)."""
    n = B.shape[0]
    k = min(k, n)
    if k == 0:
        return np.zeros(0), np.zeros((n, 0))
    if n <= 256 or k >= n // 2:
        vals, vecs = la.eigh(B, subset_by_index=[n - k, n - 1])
    else:
        v0 = np.random.default_rng(seed).standard_normal(n)
        vals, vecs = eigsh(B, k=k, which="LA", v0=v0, tol=0)
    order = np.argsort(vals)[::-1]
    vals, vecs = vals[order], vecs[:, order]
    # Fix each vector's sign: its largest-magnitude component is positive (reproducible maps).
    idx = np.argmax(np.abs(vecs), axis=0)
    signs = np.sign(vecs[idx, np.arange(vecs.shape[1])])
    signs[signs == 0] = 1
    return vals, vecs * signs


def positive_eigenvalues(B: np.ndarray, tol: float) -> np.ndarray:
    """Every eigenvalue above ``tol``, descending (eigenvalues only, no vectors; scipy MRRR)."""
    if B.shape[0] == 0:
        return np.zeros(0)
    vals = la.eigh(B, eigvals_only=True, subset_by_value=(tol, np.inf), driver="evr")
    return np.sort(vals)[::-1]


def all_eigenvalues(B: np.ndarray, device: str = "cpu") -> np.ndarray:
    """All eigenvalues of symmetric B, ascending, float64 (``torch.linalg.eigvalsh``, no vectors).

    On the CPU torch calls MKL's ``syevd`` (about 3× OpenBLAS's on this matrix), on CUDA cuSOLVER.
    """
    import torch

    if B.shape[0] == 0:
        return np.zeros(0)
    A = torch.from_numpy(np.ascontiguousarray(B, dtype=np.float64)).to(device)
    return torch.linalg.eigvalsh(A).cpu().numpy()


@dataclass
class MDSResult:
    n: int
    n_positive: int
    n_negative: int
    tol: float
    eigenvalues: np.ndarray  # top-k, descending
    vectors: np.ndarray
    sqrt: bool
    positive_sum: float | None = None
    all_positive: np.ndarray | None = field(default=None, repr=False)

    @property
    def coords(self) -> np.ndarray:
        return self.vectors * np.sqrt(np.clip(self.eigenvalues, 0.0, None))[None, :]

    @property
    def top2_share(self) -> float | None:
        if not self.positive_sum:
            return None
        return float(np.clip(self.eigenvalues[:2], 0, None).sum() / self.positive_sum)


def classical_mds(
    D: np.ndarray,
    k: int = 10,
    sqrt: bool = False,
    share: bool = True,
    seed: int = 0,
    device: str = "cpu",
) -> MDSResult:
    """Classical MDS of D: exact positive-eigenvalue count, top-k axes, share of the first 2 axes.

    ``device`` (``cpu`` or ``cuda``) runs the eigenvalue pass of the share; Lanczos runs on the CPU.
    """
    return mds_of_centred(
        double_centre(D, sqrt=sqrt), k=k, sqrt=sqrt, share=share, seed=seed, device=device
    )


def mds_of_centred(
    B: np.ndarray,
    k: int = 10,
    sqrt: bool = False,
    share: bool = True,
    seed: int = 0,
    device: str = "cpu",
) -> MDSResult:
    """:func:`classical_mds` of the already double-centred B (``sqrt`` is only recorded)."""
    start = time.perf_counter()
    n = B.shape[0]
    vals, vecs = top_eigenpairs(B, max(k, 2), seed=seed)
    log.info("MDS n=%d: top-%d eigenpairs in %.2f s", n, max(k, 2), time.perf_counter() - start)
    if not n:
        return MDSResult(
            n=0,
            n_positive=0,
            n_negative=0,
            tol=0.0,
            eigenvalues=vals[:k],
            vectors=vecs[:, :k],
            sqrt=sqrt,
        )
    start = time.perf_counter()
    if share:
        # One pass gives the count and Σλ₊; λmax from the same pass, as a full eigh would.
        w = all_eigenvalues(B, device=device)
        tol = positive_tolerance(n, float(w[-1]))
        positive = w[w > tol][::-1].copy()
        pos, neg = int(positive.size), int((w < tol).sum())
        log.info(
            "MDS: all %d eigenvalues (%s, values only) in %.2f s: %d positive",
            n,
            device,
            time.perf_counter() - start,
            pos,
        )
    else:
        tol = positive_tolerance(n, float(vals[0]))
        pos, neg, _ = inertia(B, tol)
        log.info(
            "MDS: inertia (LDLᵀ) %d positive, %d negative, in %.2f s",
            pos,
            neg,
            time.perf_counter() - start,
        )
    result = MDSResult(
        n=n,
        n_positive=pos,
        n_negative=neg,
        tol=tol,
        eigenvalues=vals[:k],
        vectors=vecs[:, :k],
        sqrt=sqrt,
    )
    if share:
        result.all_positive = positive
        result.positive_sum = float(positive.sum())
    return result


def eigen_summary(result: MDSResult) -> dict[str, object]:
    return {
        "n": result.n,
        "n_positive": result.n_positive,
        "n_negative": result.n_negative,
        "positive_tolerance": result.tol,
        "sqrt_distances": result.sqrt,
        "top2_share": result.top2_share,
        "positive_sum": result.positive_sum,
        "eigenvalues": [float(v) for v in result.eigenvalues],
    }


def coords_table(result: MDSResult) -> pa.Table:
    coords = result.coords
    k = coords.shape[1]
    columns = {"image": np.arange(result.n, dtype=np.int32)}
    columns.update({f"dim{i + 1}": coords[:, i] for i in range(k)})
    return pa.table(columns, schema=coords_schema(k))


def write_mds(result: MDSResult, out_dir: str | Path) -> dict[str, object]:
    out = Path(out_dir)
    summary = eigen_summary(result)
    write_parquet(coords_table(result), out / "coords.parquet")
    write_json(summary, out / "eigen.json")
    return summary


def read_coords(path: str | Path) -> pa.Table:
    try:
        table = pq.read_table(path)
    except FileNotFoundError:
        raise InputFormatError(path, "file not found") from None
    if "image" not in table.column_names or "dim1" not in table.column_names:
        raise InputFormatError(
            path, "an MDS coordinates table needs columns image, dim1, dim2, ..."
        )
    return table


def load_distances(path: str | Path, mmap: bool = True) -> np.ndarray:
    try:
        D = np.load(path, mmap_mode="r" if mmap else None)
    except FileNotFoundError:
        raise InputFormatError(path, "file not found") from None
    except ValueError as exc:
        raise InputFormatError(path, f"not a .npy array: {exc}") from None
    if D.ndim != 2 or D.shape[0] != D.shape[1]:
        raise InputFormatError(path, f"expected a square matrix, got shape {D.shape}")
    return D
