"""Classical MDS (E5): the stage as configured against scikit-bio's ``pcoa(method="eigh")``.

    python bench/bench_mds.py [--device cpu|cuda] [--quick] [--threads 2] [--process-repeats 2]

B = −½ J D⁽²⁾ J of the n = 5,000 real COCO symmetric-difference matrix (synthetic sets of the same
shape when ../shared/data is absent). Project: ``classical_mds(D, k=10, share=True)`` — Lanczos
top-10 + one float64 ``torch.linalg.eigvalsh`` pass for the exact count and Σλ₊. Baseline:
``skbio.stats.ordination.pcoa(DistanceMatrix(D), method="eigh")``, counting its eigenvalues > tol
and taking the share as ``proportion_explained[:2].sum()``. Both in-process (the DistanceMatrix
built outside the timing, in skbio's favour) and as whole processes (``python -c`` loading the
same .npy: imports, load, stage). Checks: same count, share equal to 1e-8 relative.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def _threads_from_argv(argv: list[str] | None) -> int:
    """``--threads`` read before numpy/torch are imported (BLAS pools size themselves on import)."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--threads", type=int, default=2)
    return pre.parse_known_args(argv)[0].threads


OURS = """
import json, sys, time
start = time.perf_counter()
from semspace.experiments.mds import classical_mds, load_distances, write_mds
r = classical_mds(load_distances(sys.argv[1], mmap=False), k={k}, device="{device}")
write_mds(r, sys.argv[2])
print(json.dumps({{"count": r.n_positive, "share": r.top2_share,
                   "inner_s": time.perf_counter() - start}}))
"""

SKBIO = """
import json, sys, time, warnings
start = time.perf_counter()
import numpy as np
from skbio import DistanceMatrix
from skbio.stats.ordination import pcoa
from semspace.experiments.mds import positive_tolerance
D = np.load(sys.argv[1]).astype(np.float64)
warnings.simplefilter("ignore")
res = pcoa(DistanceMatrix(D), method="eigh")
w = res.eigvals.to_numpy()
tol = positive_tolerance(len(D), float(w[0]))
print(json.dumps({{"count": int((w > tol).sum()),
                   "share": float(res.proportion_explained.iloc[:2].sum()),
                   "inner_s": time.perf_counter() - start}}))
"""


def run_process(code: str, args: list[str], env: dict[str, str]) -> tuple[float, dict]:
    """Wall seconds of a fresh ``python -c`` and the JSON it prints last."""
    start = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", code, *args], env=env, check=True, capture_output=True, text=True
    ).stdout
    return time.perf_counter() - start, json.loads(out.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    threads = _threads_from_argv(argv)
    for var in THREAD_VARS:
        os.environ[var] = str(threads)
    import numpy as np
    import torch

    torch.set_num_threads(threads)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_setdist import real_or_synthetic_sets
    from common import Case, base_parser, markdown_table, median, time_it, write_json

    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2, help="BLAS/LAPACK threads, both sides")
    parser.add_argument("--skbio-repeats", type=int, default=2, help="timed in-process pcoa calls")
    parser.add_argument("--process-repeats", type=int, default=2, help="whole processes, each side")
    args = parser.parse_args(argv)
    import warnings

    from skbio import DistanceMatrix
    from skbio.stats.ordination import pcoa

    from semspace.experiments.mds import classical_mds, positive_tolerance
    from semspace.experiments.setdist import indicator_matrix, set_distances

    n = 1200 if args.quick else args.n
    sets, source = real_or_synthetic_sets(n)
    n = len(sets)
    D = set_distances(indicator_matrix(sets)[0], top_k=0, summary=False).symdiff
    k, device = args.k, args.device
    state: dict = {}
    dm = DistanceMatrix(D.astype(np.float64))

    def ours() -> None:
        state["ours"] = classical_mds(D, k=k, share=True, device=device)

    def skbio() -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "EIGH: ... all dimensions", the point of the case
            state["skbio"] = pcoa(dm, method="eigh")

    sync = torch.cuda.synchronize if device == "cuda" else None
    our_times = time_it(ours, repeats=args.repeats, sync=sync)
    skbio_times = time_it(skbio, repeats=args.skbio_repeats, warmup=0)  # LAPACK: nothing to warm
    r, res = state["ours"], state["skbio"]
    w = res.eigvals.to_numpy()
    sk_count = int((w > positive_tolerance(n, float(w[0]))).sum())
    sk_share = float(res.proportion_explained.iloc[:2].sum())

    env = dict(os.environ)
    src = str(Path(__file__).resolve().parents[1] / "src")
    env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    proc: dict[str, list[tuple[float, dict]]] = {"ours": [], "skbio": []}
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "d.npy")
        np.save(path, D)
        for _ in range(args.process_repeats):  # interleaved: a load change hits both sides
            proc["ours"].append(
                run_process(OURS.format(k=k, device=device), [path, tmp + "/out"], env)
            )
            proc["skbio"].append(run_process(SKBIO.format(), [path], env))

    def agree(count: int, share: float) -> bool:
        return count == r.n_positive and abs(share - r.top2_share) <= 1e-8 * abs(r.top2_share)

    results = [(r.n_positive, r.top2_share), (sk_count, sk_share)]
    results += [(o["count"], o["share"]) for _, o in proc["ours"] + proc["skbio"]]
    ok = all(agree(c, s) for c, s in results)
    sk_in, sk_proc = (
        'skbio pcoa(method="eigh"), in-process',
        'skbio pcoa(method="eigh"), whole process',
    )
    cases = [
        Case(
            "mds",
            sk_in,
            n,
            skbio_times,
            unit="points",
            extra={
                "how": f"median of {args.skbio_repeats}, no warm-up",
                "positive": sk_count,
                "share": f"{sk_share:.6f}",
            },
        ),
        Case(
            "mds",
            f"project stage, in-process ({device})",
            n,
            our_times,
            unit="points",
            baseline=sk_in,
            extra={
                "how": f"median of {args.repeats} after a warm-up",
                "positive": r.n_positive,
                "share": f"{r.top2_share:.6f}",
            },
        ),
        Case(
            "mds",
            sk_proc,
            n,
            [t for t, _ in proc["skbio"]],
            unit="points",
            extra={
                "how": f"median of {args.process_repeats} `python -c`",
                "positive": proc["skbio"][0][1]["count"],
            },
        ),
        Case(
            "mds",
            f"project stage, whole process ({device})",
            n,
            [t for t, _ in proc["ours"]],
            unit="points",
            baseline=sk_proc,
            extra={
                "how": f"median of {args.process_repeats} `python -c` (+ write_mds)",
                "positive": proc["ours"][0][1]["count"],
            },
        ),
    ]
    ratio_in = median(skbio_times) / median(our_times)
    ratio_proc = cases[2].median_s / cases[3].median_s
    print(f"\nClassical MDS, n = {n} ({source}), |A Δ B| distances, {threads} threads\n")
    print(markdown_table(cases))
    print(
        f"\npositive eigenvalues / share: project {r.n_positive} / {r.top2_share:.8f}, "
        f"skbio {sk_count} / {sk_share:.8f} ({'same' if ok else 'DIFFERENT'} in every run)"
    )
    met = ok and ratio_in >= 3 and ratio_proc >= 2
    print(
        f"goal: >= 3x in-process, >= 2x whole processes, same count and share -> "
        f"{'met' if met else 'MISSED'} ({ratio_in:.2f}x in-process, {ratio_proc:.2f}x processes)"
    )
    write_json(
        "mds",
        {
            "n": n,
            "source": source,
            "threads": threads,
            "cases": cases,
            "ratio_in_process": ratio_in,
            "ratio_process": ratio_proc,
            "positive_project": r.n_positive,
            "positive_skbio": sk_count,
            "share_project": r.top2_share,
            "share_skbio": sk_share,
            "processes": proc,
            "agree": ok,
        },
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
