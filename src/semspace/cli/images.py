"""``semspace images manifest`` and ``semspace images resize``: the shared image stages."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import pyarrow.parquet as pq

from semspace.io import write_json, write_parquet
from semspace.schemas import MANIFEST

log = logging.getLogger("semspace")


def _manifest(args: argparse.Namespace) -> int:
    from semspace.datasets import make_manifest, parse_options
    from semspace.images import n_shards

    out = Path(args.out)
    files_dir = args.files_dir or out.with_name(out.name + ".files")
    left_out_path = args.left_out or out.with_suffix(".left_out.json")
    options = parse_options(args.options)
    table, left_out = make_manifest(args.format, Path(args.root), files_dir, **options)
    write_parquet(table, out, schema=MANIFEST)
    write_json(left_out, left_out_path)
    if left_out:
        log.warning("left out of the manifest (see %s): %s", left_out_path, left_out)
    boxes = table.num_rows - table.column("left").null_count
    log.info(
        "manifest %s: %d rows (%d with crop boxes) from %s",
        args.out,
        table.num_rows,
        boxes,
        args.root,
    )
    if args.shard_size:
        log.info(
            "%d shards of %d images", n_shards(table.num_rows, args.shard_size), args.shard_size
        )
    return 0


def _resize(args: argparse.Namespace) -> int:
    from semspace.datasets import check_manifest
    from semspace.images import write_shard

    table = check_manifest(pq.read_table(args.manifest), args.manifest)
    stats = write_shard(
        table,
        Path(args.root),
        args.shard,
        args.shard_size,
        args.image_size,
        max_pixels=args.max_pixels,
        on_bad_image=args.on_bad_image,
        encoding=args.encoding,
        jpeg_quality=args.jpeg_quality,
        out=args.out,
        skipped_out=args.skipped,
    )
    if stats.skipped:
        log.warning(
            "%d of %d images skipped, listed in %s", stats.skipped, stats.rows, args.skipped
        )
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    group = subparsers.add_parser("images", help="image manifests and pre-resized image shards")
    steps = group.add_subparsers(dest="images_command", metavar="STEP", required=True)
    p = steps.add_parser("manifest", help="parse a dataset's own format into a Parquet manifest")
    p.add_argument(
        "--format", required=True, help="dataset format (see semspace.datasets.IMAGE_MANIFESTS)"
    )
    p.add_argument("--root", required=True, help="the dataset's folder")
    p.add_argument("--options", default="{}", help="JSON object of format-specific options")
    p.add_argument("--out", required=True, help="manifest Parquet to write")
    p.add_argument(
        "--files-dir",
        default=None,
        help="folder for images the format must export (CIFAR-10's PNGs), made empty otherwise;"
        " default: <out>.files beside the manifest",
    )
    p.add_argument(
        "--left-out",
        default=None,
        help="JSON: what the manifest left out, reason -> count ({} when nothing);"
        " default: the manifest's path with suffix .left_out.json",
    )
    p.add_argument("--shard-size", type=int, default=0, help="log how many shards this implies")
    p.set_defaults(func=_manifest)

    r = steps.add_parser("resize", help="decode, crop and resize one shard of a manifest")
    r.add_argument("--manifest", required=True, help="manifest Parquet from `images manifest`")
    r.add_argument("--root", required=True, help="folder the manifest's paths are relative to")
    r.add_argument("--shard", type=int, required=True, help="shard number (rows shard*size..)")
    r.add_argument("--shard-size", type=int, required=True, help="manifest rows per shard")
    r.add_argument("--image-size", type=int, required=True, help="model input size (pixels)")
    r.add_argument("--max-pixels", type=int, default=89_478_485, help="larger images are skipped")
    r.add_argument(
        "--on-bad-image",
        choices=["skip", "error"],
        default="skip",
        help="an unreadable or too large image: list it in --skipped, or fail naming it",
    )
    r.add_argument(
        "--encoding", choices=["jpeg", "png"], default="jpeg", help="how resized images are stored"
    )
    r.add_argument(
        "--jpeg-quality",
        type=int,
        default=95,
        help="Pillow JPEG quality, 1-100 (with --encoding jpeg)",
    )
    r.add_argument("--out", required=True, help="shard Parquet to write")
    r.add_argument("--skipped", required=True, help="Parquet listing skipped images")
    r.set_defaults(func=_resize)
