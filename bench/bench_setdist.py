"""Set distances (E5): the project's blocked X Xᵀ against scipy's pdist and Python set loops.

    python bench/bench_setdist.py [--device cpu] [--quick] [--full-pdist] [--no-scaling]

n = 5,000 real COCO token sets (../shared/data; synthetic sets of the same shape when absent):
* project, the three n×n matrices |AΔB|, |A∩B|, |A∪B| (``set_distances(..., summary=False)``);
* project, the whole stage (matrices + exact pair histogram summary + top-10 neighbours);
* project with X Xᵀ all in scipy.sparse (no dense frequent columns), an ablation;
* ``scipy.spatial.distance.pdist(X, 'hamming') * V`` (|AΔB| only): the median of repeats on the
  first ``--pdist-rows`` rows, extrapolated by the pair count (and with ``--full-pdist`` one run
  on all n, which agreed within noise: 148 s against 168 s extrapolated);
* Python ``set`` loops over pairs (the paper's method): a random sample of pairs, extrapolated.
Scaling: n = 5k (real), 20k and 50k synthetic sets (≈120 distinct tokens, Zipf-like draws from a
20k vocabulary), streaming mode (no n×n matrix), each in a subprocess for its peak RSS.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import Case, base_parser, markdown_table, median, time_it, write_json

REAL = (
    Path(__file__).resolve().parents[2] / "shared" / "data" / "coco-karpathy-test" / "captions.json"
)


def real_or_synthetic_sets(n: int) -> tuple[list[list[str]], str]:
    if REAL.exists():
        from semspace.datasets.coco import read_captions
        from semspace.experiments.tokensets import coco_token_sets

        sets = coco_token_sets(read_captions(REAL)).column("tokens").to_pylist()[:n]
        return sets, f"real COCO Karpathy test token sets ({REAL.parent.name})"
    return synthetic_sets(n, vocab=7300, draws=60, seed=0), "synthetic (../shared/data absent)"


def synthetic_sets(n: int, vocab: int = 20000, draws: int = 168, seed: int = 0) -> list[list[str]]:
    """``draws`` Zipf(1)-weighted tokens per set with repeats: ≈120 distinct from 20k at the
    defaults."""
    return [[str(t) for t in row] for row in synthetic_indices(n, vocab, draws, seed)]


def synthetic_indices(n: int, vocab: int, draws: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    p = 1.0 / np.arange(1, vocab + 1)
    p /= p.sum()
    out = []
    for start in range(0, n, 5000):
        block = rng.choice(vocab, size=(min(5000, n - start), draws), p=p)
        out.extend(np.unique(row) for row in block)
    return out


# Runs in a subprocess: builds X directly from indices (no Python strings), times the stage, and
# reports its own peak RSS.
_SCALING_CHILD = r"""
import json, resource, sys, time
import numpy as np, scipy.sparse as sp
sys.path.insert(0, {bench!r})
from bench_setdist import synthetic_indices, real_or_synthetic_sets
from semspace.experiments.setdist import set_distances, histogram_summary, indicator_matrix
n, vocab, draws, kind = {n}, {vocab}, {draws}, {kind!r}
if kind == "real":
    X, _ = indicator_matrix(real_or_synthetic_sets(n)[0])
else:
    rows = synthetic_indices(n, vocab, draws, 0)
    indptr = np.concatenate([[0], np.cumsum([len(r) for r in rows])])
    X = sp.csr_matrix(
        (np.ones(indptr[-1], np.float32), np.concatenate(rows), indptr), shape=(n, vocab)
    )
from semspace.experiments.setdist import default_block_rows
t = time.perf_counter()
block_rows = default_block_rows(n, int({memory_gb} * (1 << 30)))
r = set_distances(X, top_k=10, keep_matrices=False, block_rows=block_rows)
elapsed = time.perf_counter() - t
s = histogram_summary(r.histogram, n)
peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({{"seconds": elapsed, "peak_rss_mb": peak_rss_mb,
                  "mean_set_size": float(np.diff(X.indptr).mean()),
                  "vocabulary": int((np.diff(X.tocsc().indptr) > 0).sum()),
                  "neighbour_rows": r.neighbours.num_rows, "summary": s}}))
"""


def run_scaling(n: int, kind: str, memory_gb: float, vocab: int = 20000, draws: int = 168) -> dict:
    code = _SCALING_CHILD.format(
        bench=str(Path(__file__).resolve().parent),
        n=n,
        vocab=vocab,
        draws=draws,
        kind=kind,
        memory_gb=memory_gb,
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"scaling run n={n} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument(
        "--pdist-rows", type=int, default=1000, help="rows of the repeated pdist timing"
    )
    parser.add_argument(
        "--set-pairs", type=int, default=20000, help="sampled pairs for the Python set loops"
    )
    parser.add_argument(
        "--full-pdist", action="store_true", help="also one pdist run on all n (minutes)"
    )
    parser.add_argument(
        "--no-scaling", action="store_true", help="skip the 20k/50k subprocess runs"
    )
    parser.add_argument(
        "--memory-gb", type=float, default=1.0, help="block memory of the scaling runs"
    )
    args = parser.parse_args(argv)
    if args.device != "cpu":
        print("set distances run on the CPU only (scipy/BLAS); timing on the CPU")
    from scipy.spatial.distance import pdist

    from semspace.experiments.setdist import indicator_matrix, set_distances

    n = 1000 if args.quick else args.n
    sets, source = real_or_synthetic_sets(n)
    n = len(sets)
    X, vocab = indicator_matrix(sets)
    V = len(vocab)
    pairs = n * (n - 1) // 2
    reps = args.repeats
    cases: list[Case] = []

    # pdist on the first m rows: its cost is exactly proportional to pairs × V.
    m = min(args.pdist_rows, n)
    dense_m = X[:m].toarray().astype(bool)
    pd_times = time_it(lambda: pdist(dense_m, "hamming"), repeats=reps)
    scale = pairs / (m * (m - 1) // 2)
    cases.append(
        Case(
            "setdist",
            "pdist hamming × V (extrapolated)",
            pairs,
            [t * scale for t in pd_times],
            unit="pairs",
            extra={"how": f"median of {reps} on {m} rows × {scale:.1f} (pairs)"},
        )
    )
    check = set_distances(X[:m], top_k=0, summary=False).symdiff
    assert np.array_equal(check[np.triu_indices(m, 1)], np.rint(pdist(dense_m, "hamming") * V)), (
        "mismatch vs pdist"
    )

    if args.full_pdist and not args.quick:
        dense = X.toarray().astype(bool)
        full = time_it(lambda: pdist(dense, "hamming"), repeats=1, warmup=0)
        del dense
        cases.append(
            Case(
                "setdist",
                "pdist hamming × V (all pairs, 1 run)",
                pairs,
                full,
                unit="pairs",
                extra={"how": "one run on all n"},
            )
        )

    S = [set(s) for s in sets]
    rng = random.Random(0)
    sample = [tuple(rng.sample(range(n), 2)) for _ in range(args.set_pairs)]

    def set_loops() -> None:
        for i, j in sample:
            a, b = S[i], S[j]
            len(a ^ b), len(a & b), len(a | b)

    loop_times = time_it(set_loops, repeats=reps)
    ratio = pairs / len(sample)
    cases.append(
        Case(
            "setdist",
            "Python set loops (extrapolated)",
            pairs,
            [t * ratio for t in loop_times],
            unit="pairs",
            extra={"how": f"median of {reps} on {len(sample)} random pairs × {ratio:.0f}"},
        )
    )

    baseline = "pdist hamming × V (extrapolated)"
    matrices = time_it(lambda: set_distances(X, top_k=0, summary=False), repeats=reps)
    cases.append(
        Case(
            "setdist",
            "project: symdiff, intersection, union matrices",
            pairs,
            matrices,
            unit="pairs",
            baseline=baseline,
            extra={"how": f"median of {reps}"},
        )
    )
    stage = time_it(lambda: set_distances(X, top_k=10), repeats=reps)
    cases.append(
        Case(
            "setdist",
            "project: whole stage (+ summary, top-10)",
            pairs,
            stage,
            unit="pairs",
            baseline=baseline,
            extra={"how": f"median of {reps}"},
        )
    )
    sparse_only = time_it(
        lambda: set_distances(X, top_k=0, summary=False, dense_columns=0), repeats=reps
    )
    cases.append(
        Case(
            "setdist",
            "project, X·Xᵀ all sparse (ablation)",
            pairs,
            sparse_only,
            unit="pairs",
            baseline=baseline,
            extra={"how": f"median of {reps}"},
        )
    )

    ratios = {
        "matrices_vs_pdist": median(cases[0].times) / median(matrices),
        "stage_vs_pdist": median(cases[0].times) / median(stage),
        "matrices_vs_set_loops": median(loop_times) * ratio / median(matrices),
    }
    full_cases = [c for c in cases if c.name.startswith("pdist hamming × V (all")]
    if full_cases:
        ratios["matrices_vs_full_pdist_run"] = full_cases[0].median_s / median(matrices)
    print(f"\nSet distances, n = {n} ({source}), vocabulary {V}, {pairs:,} pairs\n")
    print(markdown_table(cases))
    print("\nratios: " + ", ".join(f"{k} = {v:.1f}x" for k, v in ratios.items()))
    print(
        "goal: matrices >= 100x faster than pdist -> "
        f"{'met' if ratios['matrices_vs_pdist'] >= 100 else 'MISSED'}"
    )

    scaling = []
    if not args.no_scaling and not args.quick:
        for size, kind in ((n, "real"), (20000, "synthetic"), (50000, "synthetic")):
            record = run_scaling(size, kind, args.memory_gb)
            s = record["summary"]
            scaling.append(
                {
                    "n": size,
                    "sets": kind,
                    "mean set size": round(record["mean_set_size"], 1),
                    "vocabulary": record["vocabulary"],
                    "pairs": f"{size * (size - 1) // 2:,}",
                    "seconds (1 run)": round(record["seconds"], 1),
                    "peak RSS MB": round(record["peak_rss_mb"]),
                    "n×n uint16 would be MB": round(size * size * 2 / 2**20),
                    "symdiff range": f"{s['symdiff_min']}-{s['symdiff_max']}",
                    "r(symdiff, intersection)": round(s["pearson_symdiff_intersection"], 3),
                }
            )
            print(
                f"scaling n={size}: {record['seconds']:.1f} s, "
                f"peak RSS {record['peak_rss_mb']:.0f} MB",
                flush=True,
            )
        print(
            "\nScaling, streaming mode "
            "(summary + top-10, no n×n matrix; each one run in a subprocess)\n"
        )
        print(markdown_table(scaling))
    write_json(
        "setdist",
        {
            "n": n,
            "source": source,
            "vocabulary": V,
            "cases": cases,
            "ratios": ratios,
            "scaling": scaling,
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
