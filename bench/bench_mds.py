"""Classical MDS (E5): positive-eigenvalue count + top-10 eigenpairs against a full ``scipy.linalg.eigh``.

    python bench/bench_mds.py [--device cpu] [--quick] [--eigh-repeats 3]

B = −½ J D⁽²⁾ J of the n = 5,000 real COCO symmetric-difference matrix (synthetic sets of the same
shape when ../shared/data is absent). Project: Lanczos top-10 (``eigsh``) + the inertia of the
LDLᵀ of B − tol·I (tol = n·eps·λmax). Baseline: a full ``eigh`` (values and vectors), counting
eigenvalues > tol. Checks: same count, top-10 eigenvalues equal to 1e-8 relative. Also timed: the
eigenvalues-only pass that gives Σλ₊ for the share of the first two axes (not part of the goal).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_setdist import real_or_synthetic_sets
from common import Case, base_parser, markdown_table, median, time_it, write_json


def main(argv: list[str] | None = None) -> int:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--eigh-repeats", type=int, default=3, help="timed full eigh calls (each ~20 s at n=5000)")
    args = parser.parse_args(argv)
    if args.device != "cpu":
        print("classical MDS runs on the CPU (LAPACK/ARPACK); timing on the CPU")
    import scipy.linalg as la

    from semspace.experiments.mds import (
        double_centre,
        inertia,
        positive_eigenvalues,
        positive_tolerance,
        top_eigenpairs,
    )
    from semspace.experiments.setdist import indicator_matrix, set_distances

    n = 1200 if args.quick else args.n
    sets, source = real_or_synthetic_sets(n)
    n = len(sets)
    D = set_distances(indicator_matrix(sets)[0], top_k=0, summary=False).symdiff
    B = double_centre(D)
    k = args.k
    state: dict = {}

    def project() -> None:
        vals, vecs = top_eigenpairs(B, k)
        tol = positive_tolerance(n, float(vals[0]))
        state["project"] = (vals, vecs, tol, inertia(B, tol)[0])

    def full() -> None:
        state["eigh"] = la.eigh(B)

    proj_times = time_it(project, repeats=args.repeats)
    eigh_times = time_it(full, repeats=args.eigh_repeats, warmup=0)
    vals, vecs, tol, count = state["project"]
    w, V = state["eigh"]
    w_desc = w[::-1]
    eigh_count = int((w > tol).sum())
    rel = float(np.max(np.abs(vals - w_desc[:k]) / np.abs(w_desc[:k])))
    vec_err = float(max(abs(abs(vecs[:, i] @ V[:, ::-1][:, i]) - 1) for i in range(k)))
    share_times = time_it(lambda: positive_eigenvalues(B, tol), repeats=min(args.repeats, 3), warmup=0)
    cases = [
        Case("mds", "full scipy.linalg.eigh (values + vectors)", n, eigh_times, unit="points",
             extra={"how": f"median of {args.eigh_repeats}, no warm-up", "positive": eigh_count}),
        Case("mds", f"project: LDLᵀ inertia + eigsh top-{k}", n, proj_times, unit="points",
             baseline="full scipy.linalg.eigh (values + vectors)",
             extra={"how": f"median of {args.repeats} after a warm-up", "positive": count}),
        Case("mds", "eigenvalues > tol only (for Σλ₊, the share)", n, share_times, unit="points",
             baseline="full scipy.linalg.eigh (values + vectors)",
             extra={"how": f"median of {min(args.repeats, 3)}, no warm-up", "positive": ""}),
    ]
    ratio = median(eigh_times) / median(proj_times)
    print(f"\nClassical MDS, n = {n} ({source}), |A Δ B| distances\n")
    print(markdown_table(cases))
    ok_count, ok_vals = count == eigh_count, rel <= 1e-8
    print(f"\npositive eigenvalues: project {count}, eigh {eigh_count} ({'same' if ok_count else 'DIFFERENT'}); "
          f"top-{k} max relative difference {rel:.2e} ({'<= 1e-8' if ok_vals else '> 1e-8'}); "
          f"eigenvectors |cos| - 1 <= {vec_err:.1e}")
    print(f"goal: >= 3x faster than a full eigh, same count and top-{k} -> "
          f"{'met' if ratio >= 3 and ok_count and ok_vals else 'MISSED'} ({ratio:.1f}x)")
    write_json("mds", {"n": n, "source": source, "cases": cases, "ratio": ratio, "positive_project": count,
                       "positive_eigh": eigh_count, "top_k_max_rel_diff": rel, "tolerance": tol})
    return 0 if ok_count and ok_vals else 1


if __name__ == "__main__":
    sys.exit(main())
