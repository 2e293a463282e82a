"""Set distances between token sets (E5): |A Δ B|, |A ∩ B| and |A ∪ B| for all pairs.

With X the n×V 0/1 indicator matrix of the sets, |A ∩ B| = (X Xᵀ)_ab, and with s = |A|,
|A Δ B| = s_a + s_b − 2·(X Xᵀ)_ab, |A ∪ B| = s_a + s_b − (X Xᵀ)_ab. X Xᵀ is computed in row
blocks. Its columns are split by document frequency: the few frequent tokens ("a", "the", ...)
form a small dense matrix multiplied by BLAS, the long tail stays sparse (its products are
few). Tokens of a single set add nothing off the diagonal and are dropped.

Per block, the pairs feed a joint histogram of (symmetric difference, intersection) over the
n(n−1)/2 distinct pairs, which gives min/max and the Pearson correlation exactly (integer
sums), and the top-k nearest neighbours of each row. The n×n matrices are kept only when
asked, so large n runs in memory bounded by the block size.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import scipy.sparse as sp

from semspace.errors import InputFormatError
from semspace.io import atomic_path, write_json, write_parquet
from semspace.runtime import Progress, log

#: Nearest neighbours by symmetric difference, ties broken by the smaller image index.
NEIGHBOURS = pa.schema(
    [
        pa.field("image", pa.int32(), nullable=False),
        pa.field("rank", pa.int16(), nullable=False),  # 1 = nearest
        pa.field("neighbour", pa.int32(), nullable=False),
        pa.field("symdiff", pa.int32(), nullable=False),
        pa.field("intersection", pa.int32(), nullable=False),
        pa.field("union", pa.int32(), nullable=False),
    ]
)

#: Joint histogram of (symmetric difference, intersection) over the distinct pairs.
PAIR_HISTOGRAM = pa.schema(
    [
        pa.field("symdiff", pa.int32(), nullable=False),
        pa.field("intersection", pa.int32(), nullable=False),
        pa.field("pairs", pa.int64(), nullable=False),
    ]
)

# Cost model (seconds per unit), measured on a 2-core EPYC: a dense column costs n² multiply-adds
# in BLAS; a sparse column with document frequency f costs about f² sparse products (and as
# many output entries). Only the ratio matters for the split.
_DENSE_COST = 6e-11
_SPARSE_COST = 6e-8


def indicator_matrix(token_lists: Sequence[Sequence[str]]) -> tuple[sp.csr_matrix, list[str]]:
    """The n×V 0/1 indicator matrix (float32 CSR, columns = sorted vocabulary) and the
    vocabulary."""
    vocab = sorted({t for tokens in token_lists for t in tokens})
    index = {t: i for i, t in enumerate(vocab)}
    lengths = [len(set(tokens)) for tokens in token_lists]
    indptr = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    indices = np.fromiter(
        (index[t] for tokens in token_lists for t in sorted(set(tokens))),
        dtype=np.int32,
        count=int(indptr[-1]),
    )
    data = np.ones(len(indices), dtype=np.float32)
    X = sp.csr_matrix((data, indices, indptr), shape=(len(token_lists), len(vocab)))
    return X, vocab


def smallest_uint(max_value: int) -> np.dtype:
    """The smallest unsigned integer dtype that holds ``max_value``."""
    for dtype in (np.uint8, np.uint16, np.uint32, np.uint64):
        if max_value <= np.iinfo(dtype).max:
            return np.dtype(dtype)
    raise ValueError(f"{max_value} does not fit in 64 bits")


def choose_dense_columns(df: np.ndarray, n: int) -> int:
    """How many of the most frequent columns to multiply densely (cost model, see module doc)."""
    order = np.sort(df[df >= 2])[::-1].astype(np.float64)
    if order.size == 0:
        return 0
    tail = np.concatenate([np.cumsum((order**2)[::-1])[::-1], [0.0]])  # tail[k] = Σ_{i≥k} f_i²
    k = np.arange(order.size + 1)
    cost = _DENSE_COST * float(n) * n * k + _SPARSE_COST * tail
    return int(np.argmin(cost))


class Intersections:
    """Row blocks of X Xᵀ (float32, exact for sets of fewer than 2²⁴ tokens)."""

    def __init__(self, X: sp.csr_matrix, dense_columns: int | None = None) -> None:
        X = sp.csr_matrix(X, dtype=np.float32)
        X.sum_duplicates()
        self.n = X.shape[0]
        self.sizes = np.diff(X.indptr).astype(np.int32)
        df = np.diff(X.tocsc().indptr)
        shared = np.flatnonzero(df >= 2)
        order = shared[np.argsort(-df[shared], kind="stable")]
        k = (
            choose_dense_columns(df, self.n)
            if dense_columns is None
            else min(dense_columns, order.size)
        )
        self.dense_columns = k
        self.dense = np.ascontiguousarray(X[:, order[:k]].toarray()) if k else None
        rest = np.sort(order[k:])
        self.sparse = X[:, rest].tocsr() if rest.size else None
        self.sparse_t = self.sparse.T.tocsr() if rest.size else None
        log.info(
            "set distances: n=%d, vocabulary %d, %d shared tokens (%d dense, %d sparse)",
            self.n,
            X.shape[1],
            shared.size,
            k,
            rest.size,
        )

    def block(self, start: int, stop: int, dtype: np.dtype | type = np.int32) -> np.ndarray:
        """Rows ``start:stop`` of X Xᵀ as ``dtype`` (diagonal = set sizes)."""
        out = np.zeros((stop - start, self.n), dtype=np.float32)
        if self.dense is not None:
            np.matmul(self.dense[start:stop], self.dense.T, out=out)
        if self.sparse is not None:
            out += (self.sparse[start:stop] @ self.sparse_t).toarray()
        inter = out.astype(dtype)
        rows = np.arange(stop - start)
        inter[rows, start + rows] = self.sizes[start:stop]
        return inter


def iter_blocks(n: int, block_rows: int) -> Iterator[tuple[int, int]]:
    for start in range(0, n, block_rows):
        yield start, min(n, start + block_rows)


def default_block_rows(n: int, memory_bytes: int = 1 << 30) -> int:
    """Rows per block so that the ~40 bytes per block element stay within ``memory_bytes``."""
    return max(1, min(n, memory_bytes // (40 * max(n, 1))))


@dataclass
class SetDistances:
    """What :func:`set_distances` computes; the matrices only when ``keep_matrices``."""

    n: int
    histogram: np.ndarray  # [symdiff, intersection] -> number of distinct pairs
    neighbours: pa.Table
    symdiff: np.ndarray | None = None
    intersection: np.ndarray | None = None
    union: np.ndarray | None = None


def set_distances(
    X: sp.csr_matrix,
    top_k: int = 10,
    keep_matrices: bool = True,
    block_rows: int | None = None,
    dense_columns: int | None = None,
    summary: bool = True,
) -> SetDistances:
    """Pairwise set distances of the rows of the indicator matrix ``X`` (see module doc).

    ``summary=False`` skips the pair histogram (then all zeros): the matrices alone.
    """
    engine = Intersections(X, dense_columns)
    n, sizes = engine.n, engine.sizes
    top = sorted(sizes.tolist())[-2:]
    bound = int(sum(top)) if n >= 2 else int(sizes.max(initial=0))
    max_inter = int(top[0]) if n >= 2 else 0  # |A ∩ B| ≤ the smaller of the two largest sets
    histogram = np.zeros((bound + 1, max_inter + 1), dtype=np.int64)
    k = max(0, min(top_k, n - 1))
    # Every value (sizes, sums, differences) lies in 0..bound: the smallest unsigned type holds
    # them all, and s_a + s_b ≥ 2·|A ∩ B| keeps the subtractions from wrapping.
    dtype = smallest_uint(bound)
    small_sizes = sizes.astype(dtype)
    matrices = None
    if keep_matrices:
        matrices = tuple(np.empty((n, n), dtype=dtype) for _ in range(3))
    nb = {name: [] for name in NEIGHBOURS.names}
    block_rows = block_rows or default_block_rows(n)
    bar = Progress("set distances (rows)", total=n)
    for start, stop in iter_blocks(n, block_rows):
        inter = engine.block(start, stop, dtype)
        pair_sum = np.add.outer(small_sizes[start:stop], small_sizes)
        symdiff = pair_sum - 2 * inter
        rows = np.arange(stop - start)
        if summary:
            # Every distinct pair appears twice over all rows; the diagonal (0, |A|) is taken out.
            codes = symdiff.astype(np.intp) * (max_inter + 1)
            codes += inter
            codes[rows, start + rows] = 0
            counts = np.bincount(codes.ravel(), minlength=histogram.size)
            counts[0] -= stop - start
            histogram += counts.reshape(histogram.shape)
        if matrices is not None:
            matrices[0][start:stop] = symdiff
            matrices[1][start:stop] = inter
            matrices[2][start:stop] = pair_sum - inter
        if k:
            _add_neighbours(nb, symdiff, inter, pair_sum, start, k)
        bar.update(stop - start)
    bar.close()
    if histogram.sum() % 2:
        raise AssertionError("pair histogram is not symmetric")
    histogram //= 2
    neighbours = pa.table(
        {name: np.concatenate(nb[name]) if nb[name] else [] for name in nb}, schema=NEIGHBOURS
    )
    result = SetDistances(n=n, histogram=histogram, neighbours=neighbours)
    if matrices is not None:
        result.symdiff, result.intersection, result.union = (
            m.astype(smallest_uint(int(m.max(initial=0))), copy=False) for m in matrices
        )
    return result


def _add_neighbours(
    nb: dict[str, list],
    symdiff: np.ndarray,
    inter: np.ndarray,
    pair_sum: np.ndarray,
    start: int,
    k: int,
) -> None:
    b, n = symdiff.shape
    rows = np.arange(b)
    # Unique keys: distance first, then the neighbour's index, so ties are deterministic.
    kdtype = (
        np.int32 if (int(symdiff.max(initial=0)) + 1) * n < np.iinfo(np.int32).max else np.int64
    )
    key = symdiff.astype(kdtype) * kdtype(n) + np.arange(n, dtype=kdtype)[None, :]
    key[rows, start + rows] = np.iinfo(kdtype).max
    part = (
        np.argpartition(key, k - 1, axis=1)[:, :k] if k < n - 1 else np.argsort(key, axis=1)[:, :k]
    )
    order = np.take_along_axis(
        part, np.argsort(np.take_along_axis(key, part, axis=1), axis=1), axis=1
    )
    nb["image"].append(np.repeat(start + rows, k).astype(np.int32))
    nb["rank"].append(np.tile(np.arange(1, k + 1, dtype=np.int16), b))
    nb["neighbour"].append(order.ravel().astype(np.int32))
    nb["symdiff"].append(np.take_along_axis(symdiff, order, axis=1).ravel().astype(np.int32))
    i = np.take_along_axis(inter, order, axis=1)
    nb["intersection"].append(i.ravel().astype(np.int32))
    nb["union"].append((np.take_along_axis(pair_sum, order, axis=1) - i).ravel().astype(np.int32))


def histogram_summary(histogram: np.ndarray, n: int) -> dict[str, float | int | None]:
    """min/max of |AΔB|, |A∩B|, |A∪B| and Pearson(|AΔB|, |A∩B|) over distinct pairs, exactly."""
    sd, it = np.nonzero(histogram)
    counts = histogram[sd, it]
    summary: dict[str, float | int | None] = {"n": int(n), "pairs": int(counts.sum())}
    if counts.size == 0:
        for name in ("symdiff", "intersection", "union"):
            summary[f"{name}_min"] = summary[f"{name}_max"] = None
        summary["pearson_symdiff_intersection"] = None
        return summary
    un = sd + it
    for name, values in (("symdiff", sd), ("intersection", it), ("union", un)):
        summary[f"{name}_min"] = int(values.min())
        summary[f"{name}_max"] = int(values.max())
        summary[f"{name}_mean"] = float((values * counts).sum() / counts.sum())
    summary["pearson_symdiff_intersection"] = _pearson(sd, it, counts)
    return summary


def _pearson(x: np.ndarray, y: np.ndarray, counts: np.ndarray) -> float | None:
    # Exact integer sums (Python ints), so that 10⁹ pairs lose nothing to rounding.
    c = [int(v) for v in counts]
    xs = [int(v) for v in x]
    ys = [int(v) for v in y]
    N = sum(c)
    sx = sum(ci * xi for ci, xi in zip(c, xs))
    sy = sum(ci * yi for ci, yi in zip(c, ys))
    sxx = sum(ci * xi * xi for ci, xi in zip(c, xs))
    syy = sum(ci * yi * yi for ci, yi in zip(c, ys))
    sxy = sum(ci * xi * yi for ci, xi, yi in zip(c, xs, ys))
    vx, vy = N * sxx - sx * sx, N * syy - sy * sy
    if vx == 0 or vy == 0:
        return None
    return (N * sxy - sx * sy) / math.sqrt(vx * vy)


def histogram_table(histogram: np.ndarray) -> pa.Table:
    sd, it = np.nonzero(histogram)
    return pa.table(
        {
            "symdiff": sd.astype(np.int32),
            "intersection": it.astype(np.int32),
            "pairs": histogram[sd, it],
        },
        schema=PAIR_HISTOGRAM,
    )


def read_histogram(path: str | Path) -> pa.Table:
    return _read(path, PAIR_HISTOGRAM)


def read_neighbours(path: str | Path) -> pa.Table:
    return _read(path, NEIGHBOURS)


def _read(path: str | Path, schema: pa.Schema) -> pa.Table:
    try:
        return pq.read_table(path, columns=schema.names).cast(schema)
    except FileNotFoundError:
        raise InputFormatError(path, "file not found") from None
    except (pa.ArrowInvalid, KeyError) as exc:
        raise InputFormatError(
            path, f"not a table with columns {', '.join(schema.names)}: {exc}"
        ) from None


def write_set_distances(result: SetDistances, out_dir: str | Path) -> dict[str, float | int | None]:
    """Write summary.json, neighbours.parquet, pairs.parquet and (when kept) the three .npy
    files."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for name in ("symdiff", "intersection", "union"):
        matrix = getattr(result, name)
        if matrix is not None:
            with atomic_path(out / f"{name}.npy", suffix=".npy") as tmp:
                np.save(tmp, matrix)
    write_parquet(result.neighbours, out / "neighbours.parquet", NEIGHBOURS)
    write_parquet(histogram_table(result.histogram), out / "pairs.parquet", PAIR_HISTOGRAM)
    summary = histogram_summary(result.histogram, result.n)
    summary["matrices"] = result.symdiff is not None
    write_json(summary, out / "summary.json")
    return summary
