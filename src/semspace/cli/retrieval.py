"""``semspace retrieval ...``: E2, granularity of joint image/text embeddings.

pairs → texts (CLIP text embeddings) → features (image + text vectors of a dataset) →
train (joint space) → evaluate (R@K, Med r; a 2-D map per eval set) → table. ``demo`` writes
the synthetic scenes; ``vgg16`` turns image shards into VGG16 fc7 features.
"""

from __future__ import annotations

import argparse
import inspect
import json
import logging
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from semspace.cli import add_runtime_args
from semspace.errors import ConfigError, InputFormatError

log = logging.getLogger("semspace")

DEMO_HELP = "tables and figures say they come from random tiny demo models"

PAIR_READERS = {
    "flickr": "semspace.datasets.flickr:caption_pairs",
    "flickr_entities": "semspace.datasets.flickr:entity_pairs",
    "visual_genome": "semspace.datasets.visual_genome:region_pairs",
}


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
        choices=sorted(PAIR_READERS),
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
    p.add_argument("--map-images", type=int, default=100, help="images (with captions) in a map")
    p.add_argument(
        "--map-method", choices=["pca", "umap"], default="pca", help="2-D projection of the map"
    )
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    p.add_argument("--seed", type=int, default=0, help="seed of the UMAP map")
    p.add_argument("--metrics-out", nargs="+", required=True, help="metrics Parquet per eval set")
    p.add_argument("--maps-out", nargs="+", required=True, help="map PNG per eval set")
    p.add_argument("--coords-out", nargs="+", required=True, help="map coordinates per eval set")
    p.add_argument("--demo", action="store_true", help=DEMO_HELP)
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
    p.add_argument("--demo", action="store_true", help=DEMO_HELP)
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


def _options(text: str) -> dict:
    try:
        options = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"--options is not valid JSON ({exc}): {text!r}") from None
    if not isinstance(options, dict):
        raise ConfigError(f"--options must be a JSON object, not {text!r}")
    return options


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
    import importlib

    from semspace.datasets.pairs import PAIRS
    from semspace.io import write_parquet

    module, func = PAIR_READERS[args.format].split(":")
    reader = getattr(importlib.import_module(module), func)
    options = _options(args.options)
    try:
        inspect.signature(reader).bind(Path(args.root), **options)
    except TypeError as exc:  # an option the reader does not take
        raise ConfigError(f"datasets options for format {args.format}: {exc}") from None
    table = reader(Path(args.root), **options)
    write_parquet(table, args.out, schema=PAIRS)
    splits = table.group_by("split").aggregate([("key", "count")]).to_pylist()
    log.info(
        "%s: %d pairs (%s)",
        args.out,
        table.num_rows,
        ", ".join(f"{r['split']} {r['key_count']}" for r in splits),
    )
    return 0


def distinct_texts(pairs: pa.Table) -> list[str]:
    """Distinct texts in first-seen order."""
    return list(dict.fromkeys(pairs.column("text").to_pylist()))


def _texts(args: argparse.Namespace) -> int:
    from semspace.embed import TextEmbeddingCache, embed_texts, load_clip
    from semspace.experiments.retrieval import text_embeddings_schema
    from semspace.io import write_parquet
    from semspace.runtime import seed_everything

    if len(args.pairs) != len(args.out):
        raise ConfigError("texts needs one --out file per --pairs file")
    seed_everything(args.seed)
    clip = load_clip(args.model, device=args.device, dtype=args.dtype)
    cache = TextEmbeddingCache(args.cache) if args.cache else None
    for pairs, out in zip(args.pairs, args.out, strict=True):
        texts = distinct_texts(pq.read_table(pairs, columns=["text"]))
        vectors = np.asarray(
            embed_texts(clip, texts, batch_size=args.batch_size, cache=cache), dtype=np.float32
        )
        dim = vectors.shape[1]
        table = pa.table(
            {
                "text": texts,
                "embedding": pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel()), dim),
            },
            schema=text_embeddings_schema(dim),
        )
        write_parquet(table, out)
        log.info("%s: %d distinct texts, %d-d", out, len(texts), dim)
    return 0


def read_vectors(paths: list[str], key: str = "key") -> tuple[list[str], np.ndarray]:
    """Keys and vectors (n × d float32) of embedding Parquet files, in file order."""
    keys: list[str] = []
    parts: list[np.ndarray] = []
    dim = None
    for path in paths:
        table = pq.read_table(path, columns=[key, "embedding"])
        kind = table.schema.field("embedding").type
        if not pa.types.is_fixed_size_list(kind):
            raise InputFormatError(path, "embedding must be a fixed-size list of float32")
        if dim is not None and kind.list_size != dim:
            raise InputFormatError(path, f"embedding size {kind.list_size} differs from {dim}")
        dim = kind.list_size
        keys += table.column(key).to_pylist()
        flat = table.column("embedding").combine_chunks().flatten().to_numpy(zero_copy_only=False)
        parts.append(np.asarray(flat, dtype=np.float32).reshape(-1, dim))
    if dim is None:
        raise ValueError("no embedding files")
    return keys, np.concatenate(parts)


def _features(args: argparse.Namespace) -> int:
    from semspace.datasets.pairs import PAIRS
    from semspace.experiments.retrieval import DROPPED, build_features
    from semspace.io import write_parquet

    pairs = pq.read_table(args.pairs).select(PAIRS.names)
    image_keys, image_vectors = read_vectors(args.embeddings)
    text_keys, text_vectors = read_vectors([args.texts], key="text")
    items, captions, dropped = build_features(
        pairs, image_keys, image_vectors, text_keys, text_vectors
    )
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


def load_paired(items: list[str], captions: list[str], splits: list[str]):
    from semspace.experiments.retrieval import PairedFeatures, features_from_tables

    if len(items) != len(captions):
        raise ConfigError("--items and --captions need one file each per dataset")
    parts = [
        features_from_tables(pq.read_table(i), pq.read_table(c), splits)
        for i, c in zip(items, captions, strict=True)
    ]
    dims = {(p.images.shape[1], p.text_features.shape[1]) for p in parts}
    if len(dims) > 1:
        raise ConfigError(f"datasets pooled for training differ in feature sizes: {sorted(dims)}")
    return PairedFeatures.concat(parts)


def _train(args: argparse.Namespace) -> int:
    from semspace.experiments.jointspace import TrainConfig, train
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


def map_title(features: str, loss: str, train: str, eval_name: str) -> str:
    if train == "zeroshot":
        return f"zero-shot CLIP; eval {eval_name}"
    return f"{features} features, {loss} loss, trained on {train}; eval {eval_name}"


def _evaluate(args: argparse.Namespace) -> int:
    from semspace.experiments.retrieval import METRICS, evaluate, l2_normalise, metrics_table
    from semspace.io import write_parquet
    from semspace.report.retrieval import COORDS, coords_table, draw_map, map_2d

    lists = [args.items, args.captions, args.metrics_out, args.maps_out, args.coords_out]
    if any(len(x) != len(args.eval_names) for x in lists):
        raise ConfigError("evaluate needs one items/captions/metrics/map/coords file per eval set")
    model = None
    if args.checkpoint:
        from semspace.experiments.jointspace import load_checkpoint, project

        model = load_checkpoint(args.checkpoint, device=args.device)
    for k, name in enumerate(args.eval_names):
        data = load_paired([args.items[k]], [args.captions[k]], [args.split])
        if not data.keys:
            raise ConfigError(f"{args.items[k]}: no images in split {args.split!r}")
        if model is not None:
            images, texts = project(model, data)
        else:
            if data.images.shape[1] != data.text_features.shape[1]:
                raise ConfigError("zero-shot evaluation needs image and text features of one CLIP")
            images, texts = l2_normalise(data.images), l2_normalise(data.text_features)
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
        # The map: the first images of the split with all their sentences.
        n = min(args.map_images, len(data.keys))
        sub = np.flatnonzero(data.text_item < n)
        points = np.concatenate([images[:n], texts[sub]])
        modality = ["image"] * n + ["sentence"] * len(sub)
        item = list(range(n)) + data.text_item[sub].tolist()
        coords = map_2d(points, args.map_method, args.seed)
        title = map_title(args.features_name, args.loss, args.train_name, name)
        draw_map(
            coords, modality, item, title, args.maps_out[k], demo=args.demo, method=args.map_method
        )
        keys = data.keys[:n] + [data.keys[i] for i in data.text_item[sub]]
        texts_col = [None] * n + [data.texts[j] for j in sub]
        write_parquet(
            coords_table(modality, keys, texts_col, item, coords), args.coords_out[k], schema=COORDS
        )
    return 0


def _table(args: argparse.Namespace) -> int:
    import pyarrow.csv as pcsv

    from semspace.experiments.retrieval import METRICS
    from semspace.io import atomic_path, write_parquet
    from semspace.report.retrieval import TABLE, retrieval_table, write_table_views

    metrics = pa.concat_tables(
        [pq.read_table(p).select(METRICS.names).cast(METRICS) for p in args.metrics]
    )
    table = retrieval_table(metrics, args.train_order, args.eval_order)
    write_parquet(table, args.out_parquet, schema=TABLE)
    with atomic_path(args.out_csv, suffix=".csv") as tmp:
        pcsv.write_csv(table, tmp)
    html = write_table_views(table, args.out_md, demo=args.demo)
    log.info("E2 table: %d rows -> %s, %s", table.num_rows, args.out_md, html)
    return 0


def _vgg16(args: argparse.Namespace) -> int:
    from semspace.experiments.vgg import vgg16_shard_features

    vgg16_shard_features(
        args.shard, args.out, args.weights, args.batch_size, args.device, args.dtype, args.seed
    )
    return 0
