"""``semspace retrieval ...``: E2, granularity of joint image/text embeddings.

pairs → texts (CLIP text embeddings) → features (image + text vectors of a dataset) →
train (joint space) → evaluate (R@K, Med r; a 2-D map per eval set) → table. ``demo`` writes
the synthetic scenes; ``vgg16`` turns image shards into VGG16 fc7 features.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import pyarrow.parquet as pq

from semspace.cli import add_demo_arg, add_runtime_args
from semspace.datasets import PAIR_READERS
from semspace.errors import ConfigError

log = logging.getLogger("semspace")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("retrieval", help="E2: image/text retrieval in joint spaces")
    sub = parser.add_subparsers(dest="retrieval_command", metavar="STEP", required=True)

    p = sub.add_parser(
        "demo-data",
        help="write synthetic scenes in the Flickr30k(+Entities), Flickr8k and VG formats",
    )
    p.add_argument("--flickr30k", help="folder for Flickr30k + Entities files")
    p.add_argument("--flickr8k", help="folder for Flickr8k files")
    p.add_argument("--visual-genome", help="folder for Visual Genome files")
    p.add_argument("--scenes", type=int, default=48, help="scenes per dataset")
    p.add_argument("--val", type=int, default=8, help="Flickr val images")
    p.add_argument("--test", type=int, default=8, help="Flickr test images")
    p.add_argument("--seed", type=int, default=0, help="random seed (config demo.seed)")
    p.set_defaults(func=_demo)

    p = sub.add_parser("pairs", help="a paired dataset's (item, text) rows with splits")
    p.add_argument(
        "--format",
        required=True,
        choices=sorted(PAIR_READERS),  # datasets.PAIR_READERS
        help="flickr: Flickr8k/30k captions (Karpathy file); flickr_entities: Flickr30k Entities"
        " phrase crops; visual_genome: region crops and their phrases",
    )
    p.add_argument("--root", required=True, help="the dataset's folder")
    p.add_argument("--options", default="{}", help="reader options as a JSON object")
    p.add_argument(
        "--out",
        required=True,
        help="pairs Parquet (split, key, image, path, crop box, text)",
    )
    p.set_defaults(func=_pairs)

    p = sub.add_parser("texts", help="CLIP text embeddings of every distinct text of the pairs")
    p.add_argument("--pairs", nargs="+", required=True, help="pairs tables, one per dataset")
    p.add_argument("--model", required=True, help="CLIP folder (save_pretrained layout)")
    p.add_argument("--cache", help="text-embedding cache file (resume; each text embedded once)")
    p.add_argument("--batch-size", type=int, default=256, help="texts per CLIP text batch")
    add_runtime_args(p)
    p.add_argument("--out", nargs="+", required=True, help="text embeddings, one per pairs table")
    p.set_defaults(func=_texts)

    p = sub.add_parser("features", help="join pairs with image and text embeddings")
    p.add_argument("--pairs", required=True, help="pairs Parquet from `retrieval pairs`")
    p.add_argument("--embeddings", nargs="+", required=True, help="image-embedding Parquet shards")
    p.add_argument("--texts", required=True, help="text embeddings from `retrieval texts`")
    p.add_argument("--out-items", required=True, help="out: one row per image item with its vector")
    p.add_argument("--out-captions", required=True, help="out: one row per text with its vector")
    p.add_argument(
        "--out-dropped", required=True, help="out: pairs whose image has no embedding (skipped)"
    )
    p.set_defaults(func=_features)

    p = sub.add_parser("train", help="train a joint space on cached features")
    p.add_argument("--items", nargs="+", required=True, help="items tables, one per dataset")
    p.add_argument("--captions", nargs="+", required=True, help="captions tables, same order")
    p.add_argument("--train-split", default="train", help="split the projections are trained on")
    p.add_argument("--dev-split", default="val", help="split scored after each epoch (rsum)")
    p.add_argument("--dim", type=int, default=1000, help="dimension of the joint space")
    p.add_argument(
        "--loss",
        choices=["sum", "max"],
        default="sum",
        help="hinge ranking loss: sum of violations, or max (hardest negative, VSE++)",
    )
    p.add_argument("--margin", type=float, default=0.2, help="margin of the hinge loss")
    p.add_argument("--lr", type=float, default=2e-5, help="Adam learning rate")
    p.add_argument("--batch-size", type=int, default=1024, help="image-text pairs per step")
    p.add_argument("--epochs", type=int, default=100, help="maximum training epochs")
    p.add_argument(
        "--patience",
        type=int,
        default=0,
        help="stop after N epochs without a better dev rsum; 0 = off, train every epoch (paper)",
    )
    p.add_argument(
        "--fold-size", type=int, default=1000, help="images per dev fold (recall is averaged)"
    )
    add_runtime_args(p)
    p.add_argument("--out", required=True, help="checkpoint (.pt) of the best dev epoch")
    p.add_argument("--history", required=True, help="per-epoch Parquet log")
    p.set_defaults(func=_train)

    p = sub.add_parser("evaluate", help="sentence and image retrieval on eval sets, with 2-D maps")
    p.add_argument("--checkpoint", help="joint space from `retrieval train`; none = zero-shot")
    p.add_argument("--eval-names", nargs="+", required=True, help="eval set names")
    p.add_argument("--items", nargs="+", required=True, help="items table per eval set")
    p.add_argument("--captions", nargs="+", required=True, help="captions table per eval set")
    p.add_argument("--split", default="test", help="split of the items that is evaluated")
    p.add_argument(
        "--fold-size",
        type=int,
        default=1000,
        help="images per fold (recall is averaged over folds)",
    )
    p.add_argument("--features-name", required=True, help="label of the image features, e.g. clip")
    p.add_argument("--loss", required=True, help="label: sum, max or none")
    p.add_argument(
        "--train-name", required=True, help="label of the training set; zeroshot = no training"
    )
    p.add_argument(
        "--train-items",
        nargs="*",
        default=[],
        help="items tables of the training datasets: no evaluated image may be trained on",
    )
    p.add_argument(
        "--train-datasets", nargs="*", default=[], help="name of each --train-items dataset"
    )
    p.add_argument(
        "--train-image-sources",
        nargs="*",
        default=[],
        help="per training dataset, the dataset whose image files it uses (images_from)",
    )
    p.add_argument("--train-split", default="train", help="split of --train-items trained on")
    p.add_argument(
        "--eval-image-sources",
        nargs="*",
        default=[],
        help="per eval set, the dataset whose image files it uses (images_from)",
    )
    p.add_argument("--map-images", type=int, default=100, help="images (with captions) in a map")
    p.add_argument(
        "--map-method", choices=["pca", "umap"], default="pca", help="2-D projection of the map"
    )
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    p.add_argument("--seed", type=int, default=0, help="seed of the UMAP map")
    p.add_argument("--metrics-out", nargs="+", required=True, help="metrics Parquet per eval set")
    p.add_argument("--maps-out", nargs="+", required=True, help="map PNG per eval set")
    p.add_argument("--coords-out", nargs="+", required=True, help="map coordinates per eval set")
    add_demo_arg(p)
    p.set_defaults(func=_evaluate)

    p = sub.add_parser("table", help="the E2 table, paper figures beside ours")
    p.add_argument(
        "--metrics",
        nargs="+",
        required=True,
        help="metrics Parquet files of `evaluate`",
    )
    p.add_argument(
        "--train-order",
        nargs="*",
        default=[],
        help="train-set names in row order (retrieval.train_sets)",
    )
    p.add_argument(
        "--eval-order",
        nargs="*",
        default=[],
        help="eval-set names in row order (retrieval.eval_sets)",
    )
    p.add_argument("--out-md", required=True, help="the table in Markdown")
    p.add_argument("--out-csv", required=True, help="the table as CSV")
    p.add_argument("--out-parquet", required=True, help="the table as Parquet")
    add_demo_arg(p)
    p.set_defaults(func=_table)

    p = sub.add_parser("vgg16", help="VGG16 fc7 (4096-d) features of an image shard")
    p.add_argument("--shard", required=True, help="image shard Parquet from `images resize`")
    p.add_argument(
        "--weights",
        choices=["imagenet", "random"],
        default="imagenet",
        help="ImageNet weights (downloaded once) or random ones (offline tests)",
    )
    p.add_argument("--batch-size", type=int, default=64, help="images per forward pass")
    add_runtime_args(p)
    p.add_argument("--out", required=True, help="embedding Parquet (key, 4096-d embedding)")
    p.set_defaults(func=_vgg16)


def _demo(args: argparse.Namespace) -> int:
    from semspace.demo.scenes import write_demo

    write_demo(
        args.flickr30k,
        args.flickr8k,
        args.visual_genome,
        args.scenes,
        args.val,
        args.test,
        args.seed,
    )
    log.info(
        "demo scenes written: %s",
        ", ".join(p for p in (args.flickr30k, args.flickr8k, args.visual_genome) if p),
    )
    return 0


def _pairs(args: argparse.Namespace) -> int:
    from semspace.datasets import build_pairs, parse_options
    from semspace.datasets.pairs import PAIRS
    from semspace.io import write_parquet

    table = build_pairs(args.format, Path(args.root), **parse_options(args.options))
    write_parquet(table, args.out, schema=PAIRS)
    splits = table.group_by("split").aggregate([("key", "count")]).to_pylist()
    log.info(
        "%s: %d pairs (%s)",
        args.out,
        table.num_rows,
        ", ".join(f"{r['split']} {r['key_count']}" for r in splits),
    )
    return 0


def _texts(args: argparse.Namespace) -> int:
    from semspace.embed import TextEmbeddingCache, load_clip
    from semspace.experiments.retrieval import text_embeddings
    from semspace.io import write_parquet
    from semspace.runtime import seed_everything

    if len(args.pairs) != len(args.out):
        raise ConfigError("texts needs one --out file per --pairs file")
    seed_everything(args.seed)
    clip = load_clip(args.model, device=args.device, dtype=args.dtype)
    cache = TextEmbeddingCache(args.cache) if args.cache else None
    for pairs, out in zip(args.pairs, args.out, strict=True):
        table = text_embeddings(
            clip, pq.read_table(pairs, columns=["text"]), args.batch_size, cache
        )
        write_parquet(table, out)
        log.info("%s: %d distinct texts, %d-d", out, table.num_rows, clip.dim)
    return 0


def _features(args: argparse.Namespace) -> int:
    from semspace.experiments.retrieval import DROPPED, read_features
    from semspace.io import write_parquet

    items, captions, dropped = read_features(args.pairs, args.embeddings, args.texts)
    write_parquet(items, args.out_items)
    write_parquet(captions, args.out_captions)
    write_parquet(dropped, args.out_dropped, schema=DROPPED)
    log.info(
        "%d items, %d captions, %d pairs dropped",
        items.num_rows,
        captions.num_rows,
        dropped.num_rows,
    )
    return 0


def _train(args: argparse.Namespace) -> int:
    from semspace.experiments.jointspace import TrainConfig, train
    from semspace.experiments.retrieval import load_paired
    from semspace.io import write_parquet
    from semspace.runtime import seed_everything

    seed_everything(args.seed)
    train_set = load_paired(args.items, args.captions, [args.train_split])
    dev_set = load_paired(args.items, args.captions, [args.dev_split])
    log.info(
        "train: %d images, %d texts; dev: %d images, %d texts",
        len(train_set.keys),
        len(train_set.texts),
        len(dev_set.keys),
        len(dev_set.texts),
    )
    config = TrainConfig(
        dim=args.dim,
        loss=args.loss,
        margin=args.margin,
        lr=args.lr,
        batch_size=args.batch_size,
        epochs=args.epochs,
        patience=args.patience or None,
        fold_size=args.fold_size,
        seed=args.seed,
    )
    result = train(train_set, dev_set, config, device=args.device, checkpoint=args.out)
    write_parquet(result.history, args.history)
    log.info(
        "best epoch %d (dev rsum %s) saved to %s", result.best_epoch, result.best_rsum, args.out
    )
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from semspace.experiments.retrieval import (
        METRICS,
        check_held_out_of_training,
        evaluate,
        joint_vectors,
        load_paired,
        map_points,
        metrics_table,
    )
    from semspace.io import write_parquet
    from semspace.report.retrieval import map_title, write_map

    lists = [args.items, args.captions, args.metrics_out, args.maps_out, args.coords_out]
    if any(len(x) != len(args.eval_names) for x in lists):
        raise ConfigError("evaluate needs one items/captions/metrics/map/coords file per eval set")
    if not len(args.train_datasets) == len(args.train_items) == len(args.train_image_sources):
        raise ConfigError(
            "--train-items, --train-datasets and --train-image-sources differ in length"
        )
    train = list(zip(args.train_datasets, args.train_items, args.train_image_sources, strict=True))
    if train and len(args.eval_image_sources) != len(args.eval_names):
        raise ConfigError("--eval-image-sources needs one source per eval set")
    model = None
    if args.checkpoint:
        from semspace.experiments.jointspace import load_checkpoint

        model = load_checkpoint(args.checkpoint, device=args.device)
    for k, name in enumerate(args.eval_names):
        data = load_paired([args.items[k]], [args.captions[k]], [args.split])
        if not data.keys:
            raise ConfigError(f"{args.items[k]}: no images in split {args.split!r}")
        if train:
            check_held_out_of_training(
                train, args.train_split, name, data.keys, args.eval_image_sources[k]
            )
        images, texts = joint_vectors(data, model)
        results = evaluate(images, texts, data.text_item, args.fold_size)
        for direction, r in results.items():
            log.info(
                "%s, %s retrieval: R@1 %.1f R@5 %.1f R@10 %.1f Med r %.1f (%d folds)",
                name,
                direction,
                r["r1"],
                r["r5"],
                r["r10"],
                r["medr"],
                r["folds"],
            )
        table = metrics_table(results, args.features_name, args.loss, args.train_name, name)
        write_parquet(table, args.metrics_out[k], schema=METRICS)
        write_map(
            map_points(data, images, texts, args.map_images),
            map_title(args.features_name, args.loss, args.train_name, name),
            args.maps_out[k],
            args.coords_out[k],
            method=args.map_method,
            seed=args.seed,
            demo=args.demo,
        )
    return 0


def _table(args: argparse.Namespace) -> int:
    from semspace.report.retrieval import write_retrieval_table

    table = write_retrieval_table(
        args.metrics,
        args.train_order,
        args.eval_order,
        args.out_md,
        args.out_csv,
        args.out_parquet,
        demo=args.demo,
    )
    log.info("E2 table: %d rows -> %s, %s", table.num_rows, args.out_md, args.out_csv)
    return 0


def _vgg16(args: argparse.Namespace) -> int:
    from semspace.experiments.vgg import vgg16_shard_features

    vgg16_shard_features(
        args.shard, args.out, args.weights, args.batch_size, args.device, args.dtype, args.seed
    )
    return 0
