"""``semspace syntax ...``: E3, syntax trees as CLIP text input on LAVA (see docs/syntax.md)."""

from __future__ import annotations

import argparse
import logging

from semspace.cli import add_demo_arg, add_runtime_args

log = logging.getLogger("semspace.syntax")


def _runtime(p: argparse.ArgumentParser) -> None:
    add_runtime_args(p)
    p.add_argument(
        "--threads", type=int, default=0, help="CPU threads for torch; 0 = torch's default"
    )


def _set_threads(threads: int) -> None:
    # On a busy CPU, more torch threads than free cores slow a small model down many times over.
    if threads > 0:
        import torch

        torch.set_num_threads(threads)


def register(subparsers) -> None:
    parser = subparsers.add_parser("syntax", help="E3: syntax trees as CLIP text input (LAVA)")
    sub = parser.add_subparsers(dest="syntax_command", metavar="STEP", required=True)

    p = sub.add_parser("demo-data", help="write a synthetic LAVA (json, parse file, frames)")
    p.add_argument("--out", required=True, help="LAVA root folder to write (lava.json, frames/)")
    p.add_argument(
        "--seed",
        type=int,
        default=0,
        help="random seed of the scenes (config demo.seed)",
    )
    p.add_argument("--frame-size", type=int, default=64, help="side of each square frame (pixels)")
    p.add_argument(
        "--views", type=int, choices=[1, 2], default=2, help="takes (camera views) of each reading"
    )
    p.set_defaults(func=_demo_data)

    p = sub.add_parser(
        "frames", help="one frame per LAVA clip: the shipped one, else from its video (ffmpeg)"
    )
    p.add_argument("--root", required=True, help="LAVA root with lava.json (and maybe frames/)")
    p.add_argument("--videos", required=True, help="folder of the clips, <visualFilename>.<ext>")
    p.add_argument(
        "--position", type=float, default=0.5, help="where in the clip, 0 = first frame, 1 = last"
    )
    p.add_argument(
        "--frame-ext",
        default=".jpg",
        help="frame file suffix, frames/<name><ext> (config syntax.frame_ext)",
    )
    p.add_argument(
        "--out", required=True, help="folder to write, frames/<visualFilename><ext> (not the root)"
    )
    p.set_defaults(func=_frames)

    p = sub.add_parser("items", help="pairs of scenes with their trees, split by sentence")
    p.add_argument("--root", required=True, help="LAVA root (lava.json, parse file)")
    p.add_argument(
        "--images",
        default=None,
        help="folder with frames/<visualFilename><ext>: `syntax frames --out` (default: the root)",
    )
    p.add_argument(
        "--frame-ext",
        default=".jpg",
        help="frame file suffix; pairs without both frames are left out",
    )
    p.add_argument(
        "--test-fraction",
        type=float,
        default=0.2,
        help="share of sentences held out for test, 0..1",
    )
    p.add_argument(
        "--seed", type=int, default=0, help="seed of the sentence split (config syntax.split_seed)"
    )
    p.add_argument("--out", required=True, help="items Parquet: two rows per pair, with split")
    p.add_argument("--counts", required=True, help="JSON with what was kept and left out")
    p.add_argument(
        "--decisions", default=None, help="Parquet: how each scene got its reading (rule, detail)"
    )
    p.set_defaults(func=_items)

    p = sub.add_parser("trees", help="check the induced CFG's parses against the parse file")
    p.add_argument("--root", required=True, help="LAVA root (lava.json, parse file)")
    p.add_argument(
        "--sentence", action="append", default=[], help="an extra sentence to parse (repeatable)"
    )
    p.add_argument("--sentences-file", default=None, help="extra sentences, one a line")
    p.add_argument("--out", required=True, help="Parquet: one row per sentence, all its parses")
    p.add_argument("--summary", required=True, help="JSON: matched, mismatched, completed counts")
    p.set_defaults(func=_trees)

    p = sub.add_parser("tokens", help="how the CLIP tokenizer splits each linearisation")
    p.add_argument("--items", required=True, help="items Parquet from `syntax items`")
    p.add_argument("--model-dir", required=True, help="CLIP folder whose tokenizer is used")
    p.add_argument(
        "--inputs", nargs="+", required=True, help="text inputs: text, bracket, spaced, compact"
    )
    p.add_argument("--out", required=True, help="token statistics Parquet, one row per input")
    p.set_defaults(func=_tokens)

    p = sub.add_parser("finetune", help="fine-tune CLIP with paired minibatches (accelerate)")
    p.add_argument("--items", required=True, help="items Parquet from `syntax items` (train rows)")
    p.add_argument(
        "--images",
        required=True,
        help="folder the items' frame paths (frames/...) are under: the LAVA root or"
        " `syntax frames --out`",
    )
    p.add_argument("--model-dir", required=True, help="CLIP folder to start from (save_pretrained)")
    p.add_argument("--input", required=True, help="text input: text, bracket, spaced or compact")
    p.add_argument(
        "--batch-size",
        type=int,
        required=True,
        help="scenes per step: even (whole pairs), at least 2",
    )
    p.add_argument("--steps", type=int, required=True, help="optimizer steps (syntax.train.steps)")
    p.add_argument(
        "--learning-rate", type=float, required=True, help="AdamW peak learning rate (cosine decay)"
    )
    p.add_argument("--weight-decay", type=float, default=0.1, help="AdamW weight decay")
    p.add_argument(
        "--warmup-steps", type=int, default=0, help="steps of linear learning-rate warm-up"
    )
    p.add_argument(
        "--checkpoint-every", type=int, default=100, help="steps between saved accelerate states"
    )
    p.add_argument(
        "--checkpoint-dir", default=None, help="accelerate state; a run that finds one resumes"
    )
    p.add_argument("--out", required=True, help="folder for the fine-tuned model (save_pretrained)")
    p.add_argument("--loss-log", required=True, help="Parquet: step, loss")
    _runtime(p)
    p.set_defaults(func=_finetune)

    p = sub.add_parser("evaluate", help="pairwise accuracy of a CLIP on held-out pairs")
    p.add_argument("--items", required=True, help="items Parquet from `syntax items`")
    p.add_argument(
        "--images",
        required=True,
        help="folder the items' frame paths (frames/...) are under: the LAVA root or"
        " `syntax frames --out`",
    )
    p.add_argument("--model-dir", required=True, help="CLIP folder: base or `syntax finetune` out")
    p.add_argument("--input", required=True, help="text input: text, bracket, spaced or compact")
    p.add_argument("--split", default="test", help="items split to score: train or test")
    p.add_argument("--train-batch", type=int, default=0, help="for the table; 0 = not fine-tuned")
    p.add_argument("--model-name", default="", help="model label written in the summary")
    p.add_argument("--out", required=True, help="per-item scores Parquet")
    p.add_argument("--summary", required=True, help="JSON: items, pairs, accuracy (%%), labels")
    _runtime(p)
    p.set_defaults(func=_evaluate)

    p = sub.add_parser("relevance", help="relevance maps (Chefer et al. 2021) for test pairs")
    p.add_argument("--items", required=True, help="items Parquet from `syntax items`")
    p.add_argument(
        "--images",
        required=True,
        help="folder the items' frame paths (frames/...) are under: the LAVA root or"
        " `syntax frames --out`",
    )
    p.add_argument("--model-dir", required=True, help="CLIP folder to explain")
    p.add_argument("--input", required=True, help="text input: text, bracket, spaced or compact")
    p.add_argument("--split", default="test", help="items split the pairs come from")
    p.add_argument("--pairs", nargs="*", default=[], help="pair ids; default: the first test pairs")
    p.add_argument("--out", nargs="+", required=True, help="one PNG per pair")
    add_demo_arg(p)
    _runtime(p)
    p.set_defaults(func=_relevance)

    p = sub.add_parser("table", help="the E3 tables (Markdown + CSV) and the loss figure")
    p.add_argument("--summaries", nargs="+", required=True, help="`syntax evaluate` summary JSONs")
    p.add_argument("--tokens", required=True, help="token statistics from `syntax tokens`")
    p.add_argument("--counts", required=True, help="counts JSON from `syntax items`")
    p.add_argument(
        "--loss-logs", nargs="*", default=[], help="`syntax finetune` loss logs (named by folder)"
    )
    p.add_argument("--md", required=True, help="Markdown report to write")
    p.add_argument("--csv", required=True, help="accuracy CSV to write")
    p.add_argument("--loss-figure", required=True, help="training-loss figure (.png)")
    add_demo_arg(p)
    p.set_defaults(func=_table)


def _demo_data(args) -> int:
    from semspace.demo.lava import write_demo_lava

    write_demo_lava(args.out, seed=args.seed, frame_size=args.frame_size, views=args.views)
    log.info("demo LAVA written to %s", args.out)
    return 0


def _frames(args) -> int:
    from semspace.experiments.syntax import lava_frames

    done = lava_frames(
        args.root, args.videos, args.out, frame_ext=args.frame_ext, position=args.position
    )
    log.info(
        "frames: %d present, %d copied from %s, %d extracted from %s",
        done.present,
        done.copied,
        args.root,
        done.extracted,
        args.videos,
    )
    if done.missing:
        log.warning(
            "%d clips have no video under %s (first: %s)",
            len(done.missing),
            args.videos,
            done.missing[0],
        )
    return 0


def _items(args) -> int:
    from semspace.datasets.lava import DECISIONS, ITEMS, build_items_and_decisions, decisions_table
    from semspace.experiments.syntax import pair_counts
    from semspace.io import write_json, write_parquet

    table, counts, decisions = build_items_and_decisions(
        args.root,
        test_fraction=args.test_fraction,
        seed=args.seed,
        frame_ext=args.frame_ext,
        images=args.images,
    )
    if args.decisions:
        write_parquet(decisions_table(decisions), args.decisions, DECISIONS)
    counts.update(pair_counts(table))
    log.info("LAVA items: %s", counts)
    write_parquet(table, args.out, ITEMS)
    write_json(counts, args.counts)
    return 0


def _trees(args) -> int:
    from semspace.experiments.syntax import lava_trees, read_sentences
    from semspace.experiments.trees import TREES, trees_summary
    from semspace.io import write_json, write_parquet

    extra = list(args.sentence)
    if args.sentences_file:
        extra += read_sentences(args.sentences_file)
    table = lava_trees(args.root, extra)
    summary = trees_summary(table)
    log.info(
        "LAVA trees: %d of %d sentences with readings match; %d without readings, %d parsed",
        summary["matched"],
        summary["with_file_readings"],
        summary["without_file_readings"],
        summary["completed"],
    )
    write_parquet(table, args.out, TREES)
    write_json(summary, args.summary)
    return 0


def _tokens(args) -> int:
    from transformers import AutoTokenizer

    from semspace.experiments.syntax import read_items, token_table
    from semspace.io import write_parquet
    from semspace.report.syntax import TOKENS_TABLE

    table = token_table(
        read_items(args.items), AutoTokenizer.from_pretrained(args.model_dir), args.inputs
    )
    write_parquet(table, args.out, TOKENS_TABLE)
    return 0


def _finetune(args) -> int:
    _set_threads(args.threads)
    from semspace.experiments.syntax import TrainConfig, finetune, read_items, write_train_log

    items = read_items(args.items, split="train")
    cfg = TrainConfig(
        input_kind=args.input,
        batch_size=args.batch_size,
        steps=args.steps,
        learning_rate=args.learning_rate,
        weight_decay=args.weight_decay,
        warmup_steps=args.warmup_steps,
        checkpoint_every=args.checkpoint_every,
        seed=args.seed,
        device=args.device,
        dtype=args.dtype,
    )
    history = finetune(
        items, args.images, args.model_dir, args.out, cfg, checkpoint_dir=args.checkpoint_dir
    )
    write_train_log(history, args.loss_log)
    if history:
        log.info(
            "loss: first %.4f, last %.4f over %d steps", history[0][1], history[-1][1], len(history)
        )
    return 0


def _evaluate(args) -> int:
    _set_threads(args.threads)
    from semspace.experiments.syntax import evaluate, read_items, write_scores

    items = read_items(args.items, split=args.split)
    scores = evaluate(items, args.images, args.model_dir, args.input, args.device, args.dtype)
    summary = write_scores(
        scores,
        args.out,
        args.summary,
        input=args.input,
        train_batch=args.train_batch,
        model=args.model_name,
        split=args.split,
    )
    log.info(
        "pairwise accuracy %s: %.2f %% over %d pairs",
        args.input,
        summary["accuracy"],
        summary["pairs"],
    )
    return 0


def _relevance(args) -> int:
    _set_threads(args.threads)
    from semspace.experiments.relevance import choose_pairs, pair_panels
    from semspace.experiments.syntax import load_model, read_items
    from semspace.report.syntax import plot_relevance
    from semspace.runtime import seed_everything

    seed_everything(args.seed)
    items = read_items(args.items, split=args.split)
    clip = load_model(args.model_dir, args.device, "float32")
    for pair, out in zip(choose_pairs(items, args.pairs, len(args.out)), args.out, strict=True):
        panels, title = pair_panels(clip, items, args.images, args.input, pair)
        plot_relevance(panels, out, title=title, demo=args.demo)
        log.info("relevance figure for pair %s -> %s", pair, out)
    return 0


def _table(args) -> int:
    import pyarrow.parquet as pq

    from semspace.experiments.syntax import read_train_logs
    from semspace.io import read_json
    from semspace.report.syntax import TOKENS_TABLE, accuracy_table, plot_losses, write_tables

    summaries = [read_json(p) for p in args.summaries]
    accuracy = accuracy_table(summaries)
    tokens = pq.read_table(args.tokens, schema=TOKENS_TABLE)
    html = write_tables(accuracy, tokens, read_json(args.counts), args.md, args.csv, demo=args.demo)
    log.info("E3 tables -> %s, %s, %s", args.md, html, args.csv)
    plot_losses(read_train_logs(args.loss_logs), args.loss_figure, demo=args.demo)
    return 0
