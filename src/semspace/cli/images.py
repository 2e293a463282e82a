"""``semspace manifest`` and ``semspace resize``: the shared image stages."""

from __future__ import annotations

import argparse
import json
import logging
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from semspace.errors import ConfigError, InputFormatError
from semspace.io import write_json, write_parquet
from semspace.schemas import MANIFEST

log = logging.getLogger("semspace")


def check_manifest(table: pa.Table, source: str | Path) -> pa.Table:
    """Cast to :data:`MANIFEST` (missing box columns become null) and require unique keys."""
    missing = [n for n in ("key", "path") if n not in table.column_names]
    if missing:
        raise InputFormatError(source, f"manifest lacks columns {missing}")
    for name in ("left", "top", "right", "bottom"):
        if name not in table.column_names:
            table = table.append_column(name, pa.nulls(table.num_rows, pa.int32()))
    try:
        table = table.select(MANIFEST.names).cast(MANIFEST)
    except (pa.ArrowInvalid, pa.ArrowTypeError, ValueError) as exc:
        raise InputFormatError(
            source, f"manifest does not fit the MANIFEST schema: {exc}"
        ) from None
    counts = Counter(table.column("key").to_pylist())
    dupes = sorted(k for k, n in counts.items() if n > 1)
    if dupes:
        raise InputFormatError(
            source,
            f"{len(dupes)} duplicate keys in the manifest, e.g. {dupes[:5]}; keys must be unique",
        )
    return table


def _manifest(args: argparse.Namespace) -> int:
    from semspace.datasets import build_image_manifest

    try:
        options = json.loads(args.options)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"--options is not valid JSON ({exc}): {args.options!r}") from None
    if not isinstance(options, dict):
        raise ConfigError(f"--options must be a JSON object, not {args.options!r}")
    table = build_image_manifest(args.format, Path(args.root), **options)
    left_out = (table.schema.metadata or {}).get(b"left_out")
    table = check_manifest(table, f"{args.format} dataset at {args.root}")
    write_parquet(table, args.out, schema=MANIFEST)
    if left_out:
        # What a folder dataset could not follow (symlink loops, dangling links), beside the output.
        counts = json.loads(left_out)
        write_json(counts, Path(args.out).with_suffix(".left_out.json"))
        log.warning(
            "left out of the manifest (see %s): %s",
            Path(args.out).with_suffix(".left_out.json"),
            counts,
        )
    boxes = table.num_rows - table.column("left").null_count
    log.info(
        "manifest %s: %d rows (%d with crop boxes) from %s",
        args.out,
        table.num_rows,
        boxes,
        args.root,
    )
    if args.shard_size:
        from semspace.images import n_shards

        log.info(
            "%d shards of %d images", n_shards(table.num_rows, args.shard_size), args.shard_size
        )
    return 0


def _resize(args: argparse.Namespace) -> int:
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
