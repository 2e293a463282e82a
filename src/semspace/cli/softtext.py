"""``semspace softtext ...``: E4's synthetic data, classifier, zero-shot scoring and report."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from semspace.cli import add_demo_arg, add_runtime_args, boolean_value
from semspace.errors import ConfigError

log = logging.getLogger("semspace")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "softtext", help="E4: soft-text prompts for CLIP zero-shot classification"
    )
    sub = parser.add_subparsers(dest="softtext_command", metavar="STEP", required=True)

    demo = sub.add_parser(
        "demo-data", help="write a synthetic CIFAR-10 in the python-pickle layout"
    )
    demo.add_argument("--out", required=True, help="dataset folder (gets cifar-10-batches-py/)")
    demo.add_argument(
        "--train-per-batch", type=int, default=60, help="images in each of the 5 training batches"
    )
    demo.add_argument("--test", type=int, default=200, help="images in test_batch")
    demo.add_argument("--seed", type=int, default=0, help="random seed (config demo.seed)")
    demo.set_defaults(func=_demo_data)

    clf = sub.add_parser(
        "classifier", help="train (or resume) the classifier; top-2 classes per test image"
    )
    clf.add_argument("--root", required=True, help="CIFAR-10 folder (holding cifar-10-batches-py/)")
    clf.add_argument(
        "--checkpoint", required=True, help="checkpoint written every epoch, resumed from"
    )
    clf.add_argument("--top2", required=True, help="output Parquet: top-2 classes per test image")
    clf.add_argument(
        "--metrics", required=True, help="output JSON: test accuracy and training history"
    )
    clf.add_argument(
        "--arch",
        default="resnet50",
        help="resnet18/34/50/101/152 (torchvision) or cifar_resnet8/20/32/56; "
        "random initial weights",
    )
    clf.add_argument("--epochs", type=int, default=200, help="training epochs over the train split")
    clf.add_argument("--batch-size", type=int, default=64, help="training images per SGD step")
    clf.add_argument(
        "--lr",
        type=float,
        default=0.1,
        help="SGD learning rate (start of --schedule)",
    )
    clf.add_argument("--momentum", type=float, default=0.9, help="SGD momentum")
    clf.add_argument("--weight-decay", type=float, default=5e-4, help="SGD weight decay")
    clf.add_argument(
        "--schedule",
        choices=["cosine", "constant"],
        default="cosine",
        help="learning rate per epoch: cosine decay to 0 or constant",
    )
    clf.add_argument(
        "--augment",
        type=boolean_value,
        default=True,
        metavar="true|false",
        help="random crop (padding 4) and horizontal flip of training images (default true)",
    )
    clf.add_argument(
        "--cifar-stem",
        type=boolean_value,
        default=False,
        metavar="true|false",
        help="torchvision ResNets: 3x3 stride-1 first convolution, no max-pool (32 px inputs;"
        " default false)",
    )
    clf.add_argument(
        "--train-limit", type=int, default=0, help="first N training images only (0 = all)"
    )
    clf.add_argument(
        "--threads", type=int, default=0, help="CPU threads for torch (0 = torch's default)"
    )
    add_runtime_args(clf)
    clf.set_defaults(func=_classifier)

    score = sub.add_parser("score", help="zero-shot classification under hard and soft prompts")
    score.add_argument("--top2", required=True, help="the classifier's top-2 Parquet")
    score.add_argument("--embeddings", nargs="+", required=True, help="image-embedding shards")
    score.add_argument("--model", required=True, help="CLIP folder (save_pretrained layout)")
    score.add_argument(
        "--dataset-root", required=True, help="CIFAR-10 folder (for the class names)"
    )
    score.add_argument(
        "--hard-template",
        default="a photo of a {class}.",
        help="hard prompt; {class} is the candidate class (softtext.prompts.hard)",
    )
    score.add_argument(
        "--soft-template",
        default="a photo of a {class} {rel} a {other}.",
        help="soft prompt; {rel}: relation phrase, {other}: a top-2 class (softtext.prompts.soft)",
    )
    score.add_argument(
        "--relations",
        default='{"like": "like", "looks_like": "looks like", "resembles": "resembles"}',
        help="JSON object: prompt name -> relation phrase",
    )
    score.add_argument(
        "--text-cache", default=None, help="text-embedding cache file (reused across runs)"
    )
    score.add_argument("--batch-size", type=int, default=256, help="texts per CLIP text batch")
    score.add_argument(
        "--predictions", required=True, help="out: class chosen per image and prompt (Parquet)"
    )
    score.add_argument("--accuracy", required=True, help="out: zero-shot accuracy per prompt")
    score.add_argument("--confusion", required=True, help="out: confusion counts per prompt")
    score.add_argument(
        "--texts", required=True, help="out: distinct candidate texts with their embeddings"
    )
    add_runtime_args(score)
    score.set_defaults(func=_score)

    rep = sub.add_parser(
        "report", help="accuracy table with the paper column, confusion matrices, UMAP figures"
    )
    rep.add_argument("--accuracy", required=True, help="accuracy Parquet from `softtext score`")
    rep.add_argument("--confusion", required=True, help="confusion Parquet from `softtext score`")
    rep.add_argument("--texts", required=True, help="texts Parquet from `softtext score`")
    rep.add_argument("--top2", required=True, help="the classifier's top-2 Parquet")
    rep.add_argument(
        "--classifier-metrics", required=True, help="metrics JSON from `softtext classifier`"
    )
    rep.add_argument("--embeddings", nargs="+", required=True, help="image-embedding shards")
    rep.add_argument("--dataset-root", required=True, help="CIFAR-10 folder (for the class names)")
    rep.add_argument("--dataset-name", default="cifar10", help="dataset label in titles")
    rep.add_argument("--model-name", default="clip", help="model label in titles")
    rep.add_argument(
        "--umap-max-images", type=int, default=2000, help="images in each UMAP (a seeded sample)"
    )
    rep.add_argument("--umap-neighbors", type=int, default=15, help="UMAP n_neighbors")
    rep.add_argument("--umap-min-dist", type=float, default=0.1, help="UMAP min_dist")
    rep.add_argument("--seed", type=int, default=0, help="seed of the image sample and UMAP")
    rep.add_argument("--table-md", required=True, help="accuracy table in Markdown")
    rep.add_argument("--table-csv", required=True, help="accuracy table as CSV")
    rep.add_argument("--confusion-png", required=True, help="figure of the confusion matrices")
    rep.add_argument("--umap-hard", required=True, help="UMAP figure of images and hard texts")
    rep.add_argument(
        "--umap-soft", required=True, help="UMAP figure of images and the best soft prompt's texts"
    )
    add_demo_arg(rep)
    rep.set_defaults(func=_report)


def _demo_data(args: argparse.Namespace) -> int:
    from semspace.demo.cifar import write_synthetic_cifar10

    folder = write_synthetic_cifar10(args.out, args.train_per_batch, args.test, args.seed)
    log.info(
        "synthetic CIFAR-10: 5 x %d training and %d test images in %s",
        args.train_per_batch,
        args.test,
        folder,
    )
    return 0


def _classifier(args: argparse.Namespace) -> int:
    from semspace.datasets.cifar10 import image_key, load_split, read_label_names
    from semspace.experiments.classifier import (
        TOP2,
        TrainConfig,
        predict_probs,
        top2_metrics,
        top2_table,
        train,
    )
    from semspace.io import write_json, write_parquet
    from semspace.runtime import pick_device, resolve_dtype, seed_everything

    seed_everything(args.seed)
    if args.threads > 0:
        import torch

        torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    dtype = resolve_dtype(args.dtype, device)
    classes = read_label_names(args.root)
    cfg = TrainConfig(
        arch=args.arch,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        momentum=args.momentum,
        weight_decay=args.weight_decay,
        schedule=args.schedule,
        augment=args.augment,
        cifar_stem=args.cifar_stem,
        seed=args.seed,
    )
    train_data = load_split(args.root, "train", limit=args.train_limit or None)
    log.info(
        "training %s on %d images (%s, %s) for %d epochs",
        cfg.arch,
        len(train_data.labels),
        device,
        dtype,
        cfg.epochs,
    )
    model, history = train(
        train_data.images, train_data.labels, cfg, args.checkpoint, len(classes), device, dtype
    )
    test = load_split(args.root, "test")
    probs = predict_probs(model, test.images, batch_size=256, device=device, dtype=dtype)
    keys = [image_key("test", i) for i in range(len(test.labels))]
    table = top2_table(keys, test.labels, probs)
    write_parquet(table, args.top2, schema=TOP2)
    metrics = {
        **top2_metrics(table),
        "arch": cfg.arch,
        "epochs": cfg.epochs,
        "train_images": len(train_data.labels),
        "config": cfg.__dict__,
        "history": history,
    }
    write_json(metrics, args.metrics)
    log.info(
        "classifier test accuracy %.4f (top-2 %.4f) on %d images",
        metrics["accuracy"],
        metrics["top2_accuracy"],
        metrics["n"],
    )
    return 0


def _relations(text: str) -> dict[str, str]:
    try:
        relations = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"--relations is not valid JSON ({exc}): {text!r}") from None
    if not isinstance(relations, dict) or not all(isinstance(v, str) for v in relations.values()):
        raise ConfigError(
            f"--relations must be a JSON object of prompt name -> phrase, not {text!r}"
        )
    return relations


def _score(args: argparse.Namespace) -> int:
    import pyarrow.parquet as pq

    from semspace.datasets.cifar10 import read_label_names
    from semspace.embed import TextEmbeddingCache, embed_texts, load_clip, read_embeddings
    from semspace.experiments import softtext as st
    from semspace.experiments.classifier import TOP2
    from semspace.io import write_parquet
    from semspace.runtime import seed_everything

    seed_everything(args.seed)
    try:
        prompts = st.make_prompts(
            args.hard_template, args.soft_template, _relations(args.relations)
        )
    except ValueError as exc:
        raise ConfigError(f"softtext prompts: {exc}") from None
    classes = read_label_names(args.dataset_root)
    top2 = pq.read_table(args.top2, schema=TOP2)
    image_keys, image_embeddings = read_embeddings([Path(p) for p in args.embeddings])
    keys, labels, top1, second, embeddings, missing = st.align(image_keys, image_embeddings, top2)
    if missing:
        log.warning(
            "%d embedded images have no classifier row and are left out, e.g. %s",
            len(missing),
            missing[:5],
        )
    log.info(
        "%d test images with embeddings and top-2 classes (of %d in the top-2 table)",
        len(keys),
        top2.num_rows,
    )
    clip = load_clip(args.model, device=args.device, dtype=args.dtype)
    cache = TextEmbeddingCache(args.text_cache) if args.text_cache else None
    distinct = {"texts": 0}

    def embed(texts: list[str]):
        distinct["texts"] = len(texts)
        return embed_texts(clip, texts, batch_size=args.batch_size, cache=cache)

    result = st.evaluate(keys, labels, top1, second, embeddings, classes, prompts, embed)
    log.info(
        "%d distinct candidate texts (of %d candidate slots); text cache %s",
        distinct["texts"],
        len(keys) * len(classes) * len(prompts),
        args.text_cache or "(none)",
    )
    write_parquet(result.predictions, args.predictions, schema=st.PREDICTIONS)
    write_parquet(result.accuracy, args.accuracy, schema=st.ACCURACY)
    write_parquet(result.confusion, args.confusion, schema=st.CONFUSION)
    write_parquet(result.texts, args.texts, schema=st.TEXTS)
    for row in result.accuracy.to_pylist():
        log.info(
            "%-12s accuracy %.4f (%d/%d, %d texts)",
            row["prompt"],
            row["accuracy"],
            row["n_correct"],
            row["n_images"],
            row["n_texts"],
        )
    return 0


def _report(args: argparse.Namespace) -> int:
    import pyarrow.parquet as pq

    from semspace.datasets.cifar10 import read_label_names
    from semspace.embed import read_embeddings
    from semspace.experiments import softtext as st
    from semspace.experiments.classifier import TOP2
    from semspace.io import read_json
    from semspace.report import softtext as rp

    classes = read_label_names(args.dataset_root)
    accuracy = pq.read_table(args.accuracy, schema=st.ACCURACY)
    table = rp.accuracy_table(accuracy)
    cls = read_json(args.classifier_metrics)
    report = rp.report_table(table, cls, args.model_name, args.dataset_name, args.demo)
    markdown = rp.report_markdown(table, cls, args.model_name, args.dataset_name, args.demo)
    html = rp.write_table(table, args.table_csv, args.table_md, markdown, report)
    matrices = rp.confusion_matrices(
        pq.read_table(args.confusion, schema=st.CONFUSION), len(classes)
    )
    rp.plot_confusion(matrices, classes, args.confusion_png, demo=args.demo)

    image_keys, image_embeddings = read_embeddings([Path(p) for p in args.embeddings])
    _, labels, _, _, embeddings, _ = st.align(
        image_keys, image_embeddings, pq.read_table(args.top2, schema=TOP2)
    )
    figures = rp.write_umaps(
        embeddings,
        labels,
        pq.read_table(args.texts, schema=st.TEXTS),
        accuracy,
        classes,
        {"hard": args.umap_hard, "soft": args.umap_soft},
        dataset=args.dataset_name,
        model=args.model_name,
        settings=rp.UmapSettings(
            args.umap_max_images, args.umap_neighbors, args.umap_min_dist, args.seed
        ),
        demo=args.demo,
    )
    for f in figures:
        log.info("UMAP of %d images and %d %s texts -> %s", f.n_images, f.n_texts, f.prompt, f.out)
    log.info("E4 table: %s, %s, %s", args.table_md, args.table_csv, html)
    return 0
