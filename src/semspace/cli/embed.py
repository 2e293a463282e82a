"""``semspace embed images|summary``: the embedding stage (one job per shard) and its summary."""

from __future__ import annotations

import argparse
import dataclasses

from semspace.cli import add_runtime_args
from semspace.runtime import log


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("embed", help="CLIP image embeddings of image shards")
    embed = parser.add_subparsers(dest="embed_command", metavar="WHAT", required=True)

    images = embed.add_parser("images", help="embed one shard of pre-resized images (resumable)")
    images.add_argument(
        "--shard", required=True, help="image shard Parquet (key, image, width, height)"
    )
    images.add_argument("--model", required=True, help="CLIP folder (save_pretrained) or hub id")
    images.add_argument(
        "--model-id", required=True, help="model alias written in the `model` column"
    )
    images.add_argument("--batch-size", type=int, default=256, help="images per CLIP forward pass")
    images.add_argument(
        "--flush-every",
        type=int,
        default=512,
        help="rows per part file of a killed job's progress (rounded up to whole batches)",
    )
    add_runtime_args(images)
    images.add_argument("--workers", type=int, default=4, help="threads decoding images")
    images.add_argument("--out", required=True, help="embedding Parquet to write")
    images.set_defaults(func=_images)

    summary = embed.add_parser("summary", help="counts of embedded and skipped images of a dataset")
    summary.add_argument(
        "--embeddings", nargs="*", default=[], help="embedding files in shard order"
    )
    summary.add_argument(
        "--skipped", nargs="*", default=[], help="skip lists in the same shard order"
    )
    summary.add_argument("--out", required=True, help="summary JSON")
    summary.add_argument("--skipped-out", required=True, help="all skip lists in one Parquet")
    summary.set_defaults(func=_summary)


def _images(args: argparse.Namespace) -> int:
    import os
    import time

    from semspace.embed import clip_dim, embed_shard, load_clip, model_fingerprint
    from semspace.runtime import seed_everything

    seed_everything(args.seed)

    def load():
        clip = load_clip(args.model, device=args.device, dtype=args.dtype)
        return dataclasses.replace(clip, model_id=args.model_id)

    # For tests of resumption: a pause after each part file, so a job can be killed halfway.
    pause = float(os.environ.get("SEMSPACE_EMBED_PAUSE_AFTER_PART", "0") or 0)

    def after_part(i: int) -> None:
        if pause > 0:
            time.sleep(pause)

    counts = embed_shard(
        args.shard,
        args.out,
        load=load,
        model_id=args.model_id,
        dim=clip_dim(args.model),
        batch_size=args.batch_size,
        flush_every=args.flush_every,
        after_part=after_part,
        workers=args.workers,
        # Known before loading, so a finished shard is resumed without loading the model.
        fingerprint=model_fingerprint(args.model, args.dtype, args.device),
    )
    log.info(
        "wrote %s: %d rows (%d resumed from a previous run)",
        args.out,
        counts["rows"],
        counts["resumed"],
    )
    return 0


def _summary(args: argparse.Namespace) -> int:
    from semspace.embed import summarise_embeddings
    from semspace.io import write_json, write_parquet
    from semspace.schemas import SKIPPED

    summary, skipped = summarise_embeddings(args.embeddings, args.skipped)
    write_parquet(skipped, args.skipped_out, SKIPPED)
    write_json(summary, args.out)
    log.info("%s: %d embedded, %d skipped", args.out, summary["embedded"], summary["skipped"])
    return 0
