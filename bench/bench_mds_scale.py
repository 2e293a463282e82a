"""E5 at scale: set distances (streaming) and classical MDS (matrix-free) of COCO-like token sets.

    python bench/bench_mds_scale.py [--device cpu|cuda] [--quick] [--sizes 5000,20000]
                                    [--cap-s 3600] [--threads 2]

COCO-like synthetic sets: 32 Zipf(1)-weighted draws with repeats from a 25,000-token vocabulary
(≈28 distinct tokens per set, as COCO's five captions give), seed 0, at n = 5,000, 20,000,
50,000 and 123,287 (all Karpathy images). Each stage of each size runs in its own subprocess,
which reports its stage seconds and its peak RSS (``ru_maxrss``, the whole child: imports, the
indicator matrix and the stage):

- ``setdist``: ``set_distances(keep_matrices=False)`` (1 GiB blocks), the workflow's streaming
  mode: exact summary histogram and top-10 neighbours, no n×n array.
- ``mds-matrix-free``: ``mds_from_sets(method="matrix-free")``: block Lanczos top-10 and the SLQ
  count and Σλ₊ (30 probes, 100 steps) with their 95 % intervals.
- ``mds-dense`` (n = 5,000 only): the dense-exact path, for the count and share to compare with.

End to end = setdist + matrix-free MDS (seconds summed, peak RSS the larger). A size whose child
exceeds ``--cap-s`` is recorded as such, never estimated.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SIZES = (5000, 20000, 50000, 123287)
QUICK_SIZES = (1000, 3000)
VOCAB = 25000
DRAWS = 32
THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")

_CHILD = r"""
import json, resource, sys, time
import numpy as np, scipy.sparse as sp
n, vocab, draws, stage, device = {n}, {vocab}, {draws}, {stage!r}, {device!r}
rng = np.random.default_rng(0)
p = 1.0 / np.arange(1, vocab + 1)
p /= p.sum()
rows = []
for start in range(0, n, 5000):
    block = rng.choice(vocab, size=(min(5000, n - start), draws), p=p)
    rows.extend(np.unique(r) for r in block)
indptr = np.concatenate([[0], np.cumsum([len(r) for r in rows])])
X = sp.csr_matrix((np.ones(indptr[-1], np.float32), np.concatenate(rows), indptr), shape=(n, vocab))
del rows
out = {{"mean_set_size": float(np.diff(X.indptr).mean()),
        "vocabulary": int((np.diff(X.tocsc().indptr) > 0).sum())}}
t = time.perf_counter()
if stage == "setdist":
    from semspace.experiments.setdist import default_block_rows, histogram_summary, set_distances
    r = set_distances(X, top_k=10, keep_matrices=False, block_rows=default_block_rows(n, 1 << 30))
    out["seconds"] = time.perf_counter() - t
    s = histogram_summary(r.histogram, n)
    out.update(pairs=s["pairs"], symdiff_min=s["symdiff_min"], symdiff_max=s["symdiff_max"])
else:
    from semspace.experiments.mds_sets import mds_from_sets
    method = "dense" if stage == "mds-dense" else "matrix-free"
    r = mds_from_sets(X, k=10, method=method, memory_gb=4.0, device=device, seed=0)
    out["seconds"] = time.perf_counter() - t
    s = r.summary()
    out.update(method=s["method"], n_positive=s["n_positive"], top2_share=s["top2_share"],
               n_positive_ci=s.get("n_positive_ci"), top2_share_ci=s.get("top2_share_ci"),
               eigenvalues=s["eigenvalues"][:3])
out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(out))
"""


def run_stage(n: int, stage: str, device: str, cap_s: float, env: dict[str, str]) -> dict:
    """One stage at one size in a fresh subprocess: its JSON, or a record of why there is none."""
    code = _CHILD.format(n=n, vocab=VOCAB, draws=DRAWS, stage=stage, device=device)
    start = time.perf_counter()
    try:
        proc = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=False,
            timeout=cap_s,
            env=env,
        )
    except subprocess.TimeoutExpired:
        return {"n": n, "stage": stage, "status": f"over the {cap_s:.0f} s cap"}
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        return {"n": n, "stage": stage, "status": f"failed: {proc.stderr.strip()[-400:]}"}
    record = json.loads(proc.stdout.strip().splitlines()[-1])
    return {"n": n, "stage": stage, "status": "ok", "process_s": wall, **record}


def _fmt_ci(ci) -> str:
    if not ci:
        return ""
    return "[" + ", ".join("-" if v is None else f"{v:.4g}" for v in ci) + "]"


def table(records: list[dict]) -> str:
    from common import markdown_table

    rows = []
    for r in records:
        ok = r["status"] == "ok"
        rows.append(
            {
                "n": f"{r['n']:,}",
                "stage": r["stage"],
                "seconds": round(r["seconds"], 1) if ok else r["status"],
                "peak RSS MB": round(r["peak_rss_mb"]) if ok else "",
                "positive count": r.get("n_positive", ""),
                "count 95 % CI": _fmt_ci(r.get("n_positive_ci")),
                "top-2 share": round(r["top2_share"], 5) if r.get("top2_share") else "",
                "share 95 % CI": _fmt_ci(r.get("top2_share_ci")),
            }
        )
    by_n: dict[int, dict[str, dict]] = {}
    for r in records:
        by_n.setdefault(r["n"], {})[r["stage"]] = r
    for n, stages in by_n.items():
        sd, mf = stages.get("setdist"), stages.get("mds-matrix-free")
        if sd and mf and sd["status"] == mf["status"] == "ok":
            rows.append(
                {
                    "n": f"{n:,}",
                    "stage": "end to end (setdist + matrix-free MDS)",
                    "seconds": round(sd["seconds"] + mf["seconds"], 1),
                    "peak RSS MB": round(max(sd["peak_rss_mb"], mf["peak_rss_mb"])),
                }
            )
    return markdown_table(rows)


def main(argv: list[str] | None = None) -> int:
    sys.path.insert(0, str(HERE))
    from common import base_parser, write_json

    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="", help="comma-separated n (default: the four sizes)")
    parser.add_argument(
        "--stages",
        default="setdist,mds-matrix-free,mds-dense",
        help="comma-separated stages (mds-dense runs at n ≤ 5,000 only)",
    )
    parser.add_argument("--cap-s", type=float, default=3600.0, help="seconds per child at most")
    parser.add_argument("--threads", type=int, default=2, help="BLAS and torch threads")
    parser.add_argument("--out", default="mds_scale", help="benchmarks/<out>.json")
    args = parser.parse_args(argv)
    if args.sizes:
        sizes = [int(s) for s in args.sizes.split(",")]
    else:
        sizes = list(QUICK_SIZES if args.quick else SIZES)
    stages = [s.strip() for s in args.stages.split(",") if s.strip()]
    env = dict(os.environ, **{var: str(args.threads) for var in THREAD_VARS})
    records = []
    for n in sizes:
        for stage in stages:
            if stage == "mds-dense" and n > 5000:
                continue
            record = run_stage(n, stage, args.device, args.cap_s, env)
            print(json.dumps(record), flush=True)
            records.append(record)
            write_json(
                args.out,
                {"vocabulary": VOCAB, "draws": DRAWS, "threads": args.threads, "cases": records},
            )
    print(table(records))
    return 0 if all(r["status"] == "ok" for r in records) else 1


if __name__ == "__main__":
    sys.exit(main())
