"""`semspace imagespace <step>`: E5, an image space from token sets (captions, token sets, set
distances, classical MDS, tables and figures, demo data)."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from semspace.cli import add_demo_arg, boolean_value, optional_int
from semspace.errors import ConfigError
from semspace.runtime import log, seed_everything


def register(subparsers: argparse._SubParsersAction) -> None:
    group = subparsers.add_parser(
        "imagespace", help="an image space from caption and LLM token sets (set distances, MDS)"
    )
    steps = group.add_subparsers(dest="imagespace_command", metavar="STEP", required=True)

    p = steps.add_parser(
        "captions", help="captions JSON (Karpathy or BLIP format) -> captions Parquet"
    )
    p.add_argument(
        "--captions", required=True, help="dataset_coco.json (Karpathy) or a BLIP/ALBEF list"
    )
    p.add_argument(
        "--format",
        default="coco_captions",
        choices=["coco_captions"],
        help="reader (reads both formats)",
    )
    p.add_argument("--options", default="{}", help='reader options as JSON, e.g. {"split": "test"}')
    p.add_argument("--out", required=True, help="captions Parquet (schemas.CAPTIONS)")
    p.set_defaults(func=cmd_captions)

    c = steps.add_parser(
        "tokensets", help="captions -> one token set per image, and their statistics"
    )
    c.add_argument(
        "--captions", required=True, help="captions Parquet from `semspace imagespace captions`"
    )
    c.add_argument("--out", required=True, help="token sets Parquet (schemas.TOKENSETS)")
    c.add_argument("--stats", default=None, help="statistics Parquet (tokensets.STATS)")
    c.set_defaults(func=cmd_tokensets)

    d = steps.add_parser("setdist", help="|AΔB|, |A∩B|, |A∪B| of all pairs of token sets")
    d.add_argument("--sets", required=True, help="token sets Parquet")
    d.add_argument("--out", required=True, help="output folder")
    d.add_argument("--top-k", type=int, default=10, help="nearest neighbours kept per image")
    d.add_argument(
        "--no-matrices",
        action="store_true",
        help="large n: keep only the summary, pair histogram and neighbours (no n×n .npy)",
    )
    d.add_argument(
        "--block-rows", type=int, default=0, help="rows per block (0 = from --memory-gb)"
    )
    d.add_argument("--memory-gb", type=float, default=1.0, help="working memory per block")
    d.add_argument(
        "--max-matrix-images",
        type=int,
        default=0,
        metavar="N",
        help="with the matrices: stop with a message above N sets (0 = no limit; the workflow "
        "passes imagespace.mds.dense_max_images)",
    )
    d.set_defaults(func=cmd_setdist)

    m = steps.add_parser(
        "mds", help="classical MDS of a distance matrix (.npy) or, matrix-free, of token sets"
    )
    source = m.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--distances", help="square distance matrix, e.g. DIR/symdiff.npy (dense, exact)"
    )
    source.add_argument(
        "--sets",
        help="token sets parquet: dense-exact where n fits --memory-gb, else matrix-free (SLQ)",
    )
    m.add_argument(
        "--method",
        choices=["auto", "dense", "matrix-free"],
        default="auto",
        help="with --sets: auto chooses by n and --memory-gb",
    )
    m.add_argument(
        "--memory-gb", type=float, default=4.0, help="with --sets: memory budget of the dense path"
    )
    m.add_argument(
        "--device",
        choices=["cpu", "cuda", "auto"],
        default="auto",
        help="with --sets: torch device",
    )
    m.add_argument("--probes", type=int, default=30, help="with --sets, matrix-free: SLQ probes")
    m.add_argument(
        "--lanczos-steps", type=int, default=100, help="with --sets, matrix-free: steps per probe"
    )
    m.add_argument("--out", required=True, help="output folder: eigen.json, coords.parquet")
    m.add_argument("--k", type=int, default=10, help="top eigenpairs / coordinate axes")
    m.add_argument(
        "--sqrt",
        type=boolean_value,
        nargs="?",
        const=True,
        default=False,
        metavar="true|false",
        help="true: use √D (a Euclidean-embeddable distance); a bare --sqrt means true",
    )
    m.add_argument(
        "--share",
        type=boolean_value,
        default=True,
        metavar="true|false",
        help="false: skip Σλ₊ (the eigenvalues-only pass) and so the top-2 share",
    )
    m.add_argument(
        "--no-share", dest="share", action="store_false", help="the same as --share false"
    )
    m.add_argument("--seed", type=int, default=0, help="seed of the Lanczos start vector")
    m.set_defaults(func=cmd_mds)

    r = steps.add_parser("report", help="tables (Markdown/CSV) and figures of one branch")
    r.add_argument("--branch", required=True, help="coco or llm (selects the paper column)")
    r.add_argument("--stats", required=True, help="token statistics Parquet")
    r.add_argument("--sets", required=True, help="token sets Parquet")
    r.add_argument("--summary", required=True, help="setdist summary.json")
    r.add_argument("--pairs", required=True, help="setdist pairs.parquet")
    r.add_argument("--neighbours", required=True, help="setdist neighbours.parquet")
    r.add_argument("--eigen", required=True, help="mds eigen.json")
    r.add_argument("--coords", required=True, help="mds coords.parquet")
    r.add_argument("--captions", required=True, help="captions Parquet (for the neighbours table)")
    r.add_argument(
        "--coco-id",
        type=optional_int,
        default=None,
        help="COCO id of the image whose neighbours are listed (none or omitted: the first image)",
    )
    r.add_argument("--k", type=int, default=10, help="neighbours listed")
    r.add_argument(
        "--out-dir", required=True, help="folder for tables.md/.html, *.csv, *.html, *.png"
    )
    add_demo_arg(r)
    r.set_defaults(func=cmd_report)

    g = steps.add_parser("demo-data", help="synthetic COCO captions in a real format")
    g.add_argument("--out", required=True, help="captions JSON to write")
    g.add_argument("--images", type=int, default=120, help="number of synthetic images")
    g.add_argument("--seed", type=int, default=0, help="random seed")
    g.add_argument(
        "--format", choices=["blip", "karpathy"], default="blip", help="caption file format"
    )
    g.set_defaults(func=cmd_demo)


def _json_options(text: str) -> dict:
    try:
        options = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"--options is not JSON: {exc.msg}") from None
    if not isinstance(options, dict):
        raise ConfigError("--options must be a JSON object")
    return options


def cmd_captions(args: argparse.Namespace) -> int:
    from semspace.datasets.coco import captions_schema, read_captions
    from semspace.io import write_parquet

    options = _json_options(args.options)
    unknown = set(options) - {"split", "file"}
    if unknown:
        raise ConfigError(
            f"unknown coco_captions option(s): {', '.join(sorted(unknown))} (known: split, file)"
        )
    table = read_captions(args.captions, **options)
    write_parquet(table, args.out, captions_schema(table))
    n_images = len(set(table.column("image").to_pylist()))
    log.info("captions: %d images, %d captions -> %s", n_images, table.num_rows, args.out)
    return 0


def cmd_tokensets(args: argparse.Namespace) -> int:
    from semspace.experiments import tokensets as T
    from semspace.io import write_parquet
    from semspace.schemas import TOKENSETS

    captions = T.read_captions_table(args.captions)
    log.info("tokens: %s", T.token_source(captions))
    sets = T.coco_token_sets(captions)
    write_parquet(sets, args.out, TOKENSETS)
    if args.stats:
        stats = T.coco_token_statistics(captions)
        write_parquet(T.stats_table(stats), args.stats, T.STATS)
        log.info("statistics: %s", stats)
    log.info("token sets: %d images -> %s", sets.num_rows, args.out)
    return 0


def cmd_setdist(args: argparse.Namespace) -> int:
    from semspace.experiments import setdist as S
    from semspace.experiments.tokensets import read_token_sets

    start = time.perf_counter()
    sets = read_token_sets(args.sets)
    if not args.no_matrices and 0 < args.max_matrix_images < sets.num_rows:
        raise ConfigError(
            f"{args.sets}: {sets.num_rows:,} token sets, more than --max-matrix-images "
            f"{args.max_matrix_images:,} (imagespace.mds.dense_max_images) for n×n matrices; "
            f"set imagespace.images: {sets.num_rows} in the config so that the workflow plans the "
            "streaming set distances and the matrix-free MDS"
        )
    X, vocab = S.indicator_matrix(sets.column("tokens").to_pylist())
    block_rows = args.block_rows or S.default_block_rows(
        X.shape[0], int(args.memory_gb * (1 << 30))
    )
    result = S.set_distances(
        X, top_k=args.top_k, keep_matrices=not args.no_matrices, block_rows=block_rows
    )
    summary = S.write_set_distances(result, args.out)
    log.info(
        "set distances of %d sets (vocabulary %d) in %.2f s: %s",
        X.shape[0],
        len(vocab),
        time.perf_counter() - start,
        summary,
    )
    return 0


def cmd_mds(args: argparse.Namespace) -> int:
    from semspace.experiments import mds as M

    seed_everything(args.seed)
    start = time.perf_counter()
    if args.sets:
        summary = _mds_of_sets(args)
        result_n = summary["n"]
    else:
        D = M.load_distances(args.distances)
        result = M.classical_mds(D, k=args.k, sqrt=args.sqrt, share=args.share, seed=args.seed)
        summary = M.write_mds(result, args.out)
        result_n = result.n
    log.info(
        "classical MDS of n=%d in %.2f s: %s",
        result_n,
        time.perf_counter() - start,
        {k: v for k, v in summary.items() if k != "eigenvalues"},
    )
    return 0


def _mds_of_sets(args: argparse.Namespace) -> dict:
    from semspace.experiments import mds as M
    from semspace.experiments import mds_sets as S
    from semspace.experiments.setdist import indicator_matrix
    from semspace.experiments.tokensets import read_token_sets
    from semspace.io import write_json

    X, _ = indicator_matrix(read_token_sets(args.sets).column("tokens").to_pylist())
    out = S.mds_from_sets(
        X,
        k=args.k,
        sqrt=args.sqrt,
        share=args.share,
        method=args.method,
        memory_gb=args.memory_gb,
        device=args.device,
        probes=args.probes,
        steps=args.lanczos_steps,
        seed=args.seed,
    )
    M.write_mds(out.result, args.out)
    summary = out.summary()
    write_json(summary, f"{args.out}/eigen.json")  # with the method and any intervals
    return summary


def cmd_report(args: argparse.Namespace) -> int:
    import numpy as np

    from semspace.experiments import tokensets as T
    from semspace.experiments.mds import read_coords
    from semspace.experiments.setdist import read_histogram, read_neighbours
    from semspace.io import read_json
    from semspace.report import imagespace as R

    out = Path(args.out_dir)
    stats = T.read_stats(args.stats)
    summary = read_json(args.summary)
    eigen = read_json(args.eigen)
    neighbours = read_neighbours(args.neighbours)
    captions = T.read_captions_table(args.captions)
    sets = T.read_token_sets(args.sets)
    image = R.image_of_coco_id(captions, args.coco_id)
    if not 0 <= image < sets.num_rows:
        raise ConfigError(
            f"{args.captions}: image {image} is outside the {sets.num_rows} token sets"
        )
    # The llm branch's statistics are of its associations, not of the captions' tokens.
    source = T.token_source(captions) if args.branch == "coco" else None
    nb = R.neighbour_rows(neighbours, captions, image, args.k)
    sections = {
        "stats": ("Token statistics", R.stats_rows(stats, args.branch, token_source=source)),
        "distances": ("Set distances (distinct pairs)", R.distance_rows(summary, args.branch)),
        "eigen": ("Classical MDS", R.eigen_rows(eigen, args.branch)),
        "neighbours": (f"Nearest neighbours of image {image}", nb),
    }
    R.write_tables(
        out,
        args.branch,
        sections,
        demo=args.demo,
        notes={"neighbours": [f"Query: {R.query_caption(captions, image)}"]},
    )
    # Demo captions are synthetic: the title's demo prefix says so, and it must not claim COCO.
    captions_label = "captions" if args.demo else "COCO captions"
    label = captions_label if args.branch == "coco" else f"{args.branch} associations"
    near = [image] + [r["image"] for r in nb]  # neighbour_rows no longer lists the query
    R.mds_map_figure(
        read_coords(args.coords),
        out / "mds_map.png",
        f"Classical MDS, {label}",
        near,
        demo=args.demo,
    )
    sizes = np.array([len(t) for t in sets.column("tokens").to_pylist()])
    R.token_count_figure(
        sizes, out / "token_counts.png", f"Token-set sizes, {label}", demo=args.demo
    )
    R.pair_histogram_figure(
        read_histogram(args.pairs),
        out / "symdiff_intersection.png",
        f"|A Δ B| vs |A ∩ B|, {label}",
        demo=args.demo,
    )
    log.info("tables and figures of branch %s -> %s", args.branch, out)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from semspace.demo.coco import write_demo_captions

    path = write_demo_captions(args.out, n_images=args.images, seed=args.seed, fmt=args.format)
    log.info("demo captions (%s, %d images) -> %s", args.format, args.images, path)
    return 0
