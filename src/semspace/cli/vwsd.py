"""``semspace vwsd ...``: E1 stages (glosses, score, report, figure) and its demo data."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import pyarrow.parquet as pq

from semspace.cli import add_demo_arg, add_runtime_args
from semspace.errors import ConfigError

log = logging.getLogger("semspace.vwsd")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("vwsd", help="E1: visual WSD with CLIP and WordNet")
    commands = parser.add_subparsers(dest="vwsd_command", metavar="ACTION", required=True)

    p = commands.add_parser(
        "glosses", help="WordNet gloss of every item (one row per item, file order)"
    )
    p.add_argument("--data", required=True, help="a V-WSD *.data.txt file")
    p.add_argument("--out", required=True, help="output Parquet")
    p.add_argument(
        "--strategy",
        default="wup_hypernym",
        help="gloss strategy: wup_hypernym, wup, path, lch, lesk or first_sense",
    )
    p.add_argument("--language", default="auto", help="en/it/fa; auto = from the file name")
    p.set_defaults(func=_glosses)

    p = commands.add_parser(
        "score", help="score every prompt of a split against its candidate images"
    )
    p.add_argument(
        "--split",
        required=True,
        help="split name written in the rows (vwsd.splits[].name)",
    )
    p.add_argument("--data", required=True, help="the split's V-WSD *.data.txt file")
    p.add_argument(
        "--gold",
        nargs="?",
        const="",
        default="",
        help="gold file; empty or no value (default): the *.gold.* file beside --data",
    )
    p.add_argument("--language", default="auto", help="en/it/fa; auto = from the file name")
    p.add_argument("--glosses", nargs="*", default=[], help="Parquet files from `vwsd glosses`")
    p.add_argument("--embeddings", nargs="+", required=True, help="image-embedding shards")
    p.add_argument("--model", required=True, help="CLIP folder (save_pretrained) or hub id")
    p.add_argument("--model-id", required=True, help="the model's alias in the config")
    p.add_argument("--prompts", required=True, help='JSON object {"name": "template", ...}')
    p.add_argument(
        "--no-gloss-prompt",
        default="phrase",
        help="prompt name (without {gloss}) used for items that have no gloss",
    )
    p.add_argument("--batch-size", type=int, default=256, help="texts per CLIP text batch")
    p.add_argument("--text-cache", help="Parquet cache of text embeddings")
    add_runtime_args(p)
    p.add_argument(
        "--out",
        required=True,
        help="per-item Parquet: one row per item, prompt and gloss strategy",
    )
    p.set_defaults(func=_score)

    p = commands.add_parser(
        "metrics", help="metrics table (Parquet, Markdown, CSV) of scored splits"
    )
    p.add_argument(
        "--items", nargs="+", required=True, help="per-item Parquet files from `vwsd score`"
    )
    p.add_argument(
        "--reference",
        action="extend",
        nargs="*",
        default=[],
        metavar="SPLIT=NAME",
        help="paper figures to show for a split (trial, test_en); several may follow one flag",
    )
    p.add_argument("--out", required=True, help="metrics Parquet")
    p.add_argument("--markdown", required=True, help="metrics table in Markdown")
    p.add_argument("--csv", required=True, help="metrics table as CSV")
    add_demo_arg(p)
    p.set_defaults(func=_report)

    p = commands.add_parser("figure", help="candidates of each item ordered by probability")
    p.add_argument("--items", required=True, help="per-item Parquet from `vwsd score`")
    p.add_argument("--prompt", default="definition", help="prompt name whose rankings are drawn")
    p.add_argument(
        "--strategy", default="wup_hypernym", help="gloss strategy; prompts without {gloss}: none"
    )
    p.add_argument("--images", help="image folder for thumbnails")
    p.add_argument("--max-items", type=int, default=16, help="draw at most the first N items")
    p.add_argument("--title", default="", help="figure title")
    p.add_argument("--out", required=True, help="figure (.png, .pdf or .svg)")
    p.add_argument("--correctness", help="also write the per-item correctness CSV here")
    add_demo_arg(p)
    p.set_defaults(func=_figure)

    p = commands.add_parser("demo-data", help="synthetic V-WSD items in the official format")
    p.add_argument("--out", required=True, help="folder for the data, gold and images/ files")
    p.add_argument("--seed", type=int, default=0, help="random seed (config demo.seed)")
    p.set_defaults(func=_demo_data)


def _language(value: str) -> str | None:
    return None if value == "auto" else value


def _glosses(args: argparse.Namespace) -> int:
    from semspace.datasets.vwsd import read_data
    from semspace.experiments.vwsd import gloss_share, gloss_table
    from semspace.io import write_parquet

    items = read_data(args.data, _language(args.language))
    table = gloss_table(items, args.strategy)
    write_parquet(table, args.out)
    notes = [n for n in table.column("note").to_pylist() if n]
    foreign = sum(1 for lang in table.column("language").to_pylist() if lang != "en")
    log.info(
        "%s: %d items, %.1f%% with a gloss (%s)%s",
        args.data,
        table.num_rows,
        100 * gloss_share(table),
        args.strategy,
        f"; {foreign} non-English items get no English WordNet gloss" if foreign else "",
    )
    log.info("items without a gloss: %d", len(notes))
    return 0


def _score(args: argparse.Namespace) -> int:
    from semspace.datasets.vwsd import gold_path_for, read_items
    from semspace.experiments.vwsd import GLOSSES, score_split
    from semspace.io import write_parquet
    from semspace.runtime import seed_everything

    seed_everything(args.seed)
    try:
        templates = json.loads(args.prompts)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"--prompts is not a JSON object: {exc}") from None
    gold = args.gold or gold_path_for(args.data)
    items = read_items(args.data, gold, language=_language(args.language))
    glosses = {}
    for path in args.glosses:
        table = pq.read_table(path, schema=GLOSSES)
        strategies = set(table.column("strategy").to_pylist())
        if len(strategies) != 1:
            raise ConfigError(
                f"{path}: expected the glosses of one strategy, found {sorted(strategies)}"
            )
        glosses[strategies.pop()] = table
    table = score_split(
        args.split,
        args.model_id,
        items,
        glosses,
        args.embeddings,
        args.model,
        templates,
        args.no_gloss_prompt,
        args.batch_size,
        args.text_cache,
        args.device,
        args.dtype,
    )
    write_parquet(table, args.out)
    partial = sum(1 for v in table.column("partial").to_pylist() if v)
    log.info(
        "wrote %d rows to %s (%d rows scored over fewer candidates)",
        table.num_rows,
        args.out,
        partial,
    )
    return 0


def _report(args: argparse.Namespace) -> int:
    import pyarrow as pa

    from semspace.experiments.vwsd import ITEMS, metrics_table
    from semspace.io import write_parquet
    from semspace.report import vwsd as R

    references = {}
    for entry in args.reference:
        split, _, name = entry.partition("=")
        if not name:
            raise ConfigError(f"--reference {entry!r}: expected SPLIT=NAME")
        references[split] = name
    items = pa.concat_tables([pq.read_table(p, schema=ITEMS) for p in args.items])
    metrics = metrics_table(items, R.paper_lookup(references))
    write_parquet(metrics, args.out)
    html = R.write_metrics(metrics, args.markdown, args.csv, demo=args.demo)
    log.info("metrics -> %s, %s, %s", args.markdown, args.csv, html)
    for row in metrics.to_pylist():
        log.info(
            "%s %s %s/%s: %d/%d",
            row["split"],
            row["model"],
            row["prompt"],
            row["strategy"],
            row["hits"],
            row["scored"],
        )
    return 0


def _figure(args: argparse.Namespace) -> int:
    from semspace.experiments.vwsd import ITEMS
    from semspace.report import vwsd as R

    items = pq.read_table(args.items, schema=ITEMS)
    n = R.ranking_figure(
        items, args.out, args.prompt, args.strategy, args.images, args.max_items,
        title=args.title, demo=args.demo,
    )  # fmt: skip
    log.info("drew %d items into %s", n, args.out)
    if args.correctness:
        html = R.write_correctness(items, args.correctness, demo=args.demo)
        log.info("correctness -> %s, %s", args.correctness, html)
    return 0


def _demo_data(args: argparse.Namespace) -> int:
    from semspace.demo.vwsd import write_demo_vwsd

    files = write_demo_vwsd(Path(args.out), seed=args.seed)
    log.info("wrote %d demo files under %s", len(files), args.out)
    return 0
