"""``semspace associate``: E5's LLM associations of captions (generate one shard; merge shards)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging

from semspace.cli import add_demo_arg, add_runtime_args, optional_int
from semspace.errors import ConfigError

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("associate", help="E5: chained LLM associations of captions")
    sub = parser.add_subparsers(dest="associate_command", metavar="SUBCOMMAND", required=True)

    gen = sub.add_parser("generate", help="every round of one shard of captions (resumable)")
    gen.add_argument("--captions", required=True, help="captions Parquet (schema CAPTIONS)")
    gen.add_argument("--model", required=True, help="causal LM folder or hub id (from_pretrained)")
    gen.add_argument("--shard", type=int, default=0, help="this shard's number, 0-based")
    gen.add_argument("--shards", type=int, default=1, help="number of shards of the images")
    gen.add_argument(
        "--limit-images",
        type=optional_int,
        default=None,
        metavar="N|none",
        help="only the first N images; none (default) = all",
    )
    gen.add_argument(
        "--rounds", type=int, default=5, help="association rounds R, each continues the last text"
    )
    gen.add_argument("--instruction", default=None, help="instruction (default: the paper's)")
    gen.add_argument("--batch-size", type=int, default=16, help="prompts per generate() batch")
    gen.add_argument("--flush-every", type=int, default=256, help="rows per flushed part file")
    gen.add_argument("--decoding", default="{}", help="decoding settings as JSON (see Decoding)")
    add_runtime_args(gen)
    gen.add_argument(
        "--threads", type=int, default=0, help="torch CPU threads (0: torch's default)"
    )
    gen.add_argument(
        "--out", required=True, help="shard Parquet (image, coco_id, caption, round, text)"
    )
    gen.set_defaults(func=_generate)

    merge = sub.add_parser(
        "merge", help="join shards; token sets and statistics of the associations"
    )
    merge.add_argument("--captions", required=True, help="the captions Parquet given to generate")
    merge.add_argument(
        "--model", required=True, help="the LLM folder (its tokenizer makes the token sets)"
    )
    merge.add_argument(
        "--shard-files", nargs="*", default=[], required=True, help="shards of `associate generate`"
    )
    merge.add_argument(
        "--limit-images",
        type=optional_int,
        default=None,
        metavar="N|none",
        help="only the first N images, none = all (as in generate)",
    )
    merge.add_argument(
        "--rounds", type=int, default=5, help="rounds each caption must have (as in generate)"
    )
    merge.add_argument("--associations", required=True, help="out: every round of every caption")
    merge.add_argument("--texts", default=None, help="out: one joined association text per image")
    merge.add_argument("--tokensets", required=True, help="out: token set per image (TOKENSETS)")
    merge.add_argument("--stats", default=None, help="out: token statistics (tokensets.STATS)")
    merge.add_argument(
        "--examples", default=None, help="out: CSV of the first images' captions and associations"
    )
    merge.add_argument(
        "--examples-html", default=None, help="out: the same rows as an HTML table (the report)"
    )
    merge.add_argument("--n-examples", type=int, default=5, help="images in --examples")
    add_demo_arg(merge)
    merge.set_defaults(func=_merge)


def _generate(args: argparse.Namespace) -> int:
    import os
    import time

    from semspace.experiments import association as A
    from semspace.runtime import seed_everything

    try:
        decoding = A.Decoding.from_mapping(json.loads(args.decoding))
    except json.JSONDecodeError as exc:
        raise ConfigError(f"--decoding is not JSON: {exc}") from None
    seed_everything(args.seed)
    if args.threads > 0:
        import torch

        torch.set_num_threads(args.threads)
    items = A.captions_of_shard(
        A.read_captions(args.captions), args.shards, args.shard, args.limit_images
    )
    instruction = A.INSTRUCTION if args.instruction is None else args.instruction
    log.info(
        "shard %d/%d: %d captions, %d rounds", args.shard, args.shards, len(items), args.rounds
    )
    settings = {
        "model": str(args.model),
        "decoding": dataclasses.asdict(decoding),
        "dtype": args.dtype,
    }
    lm = A.load_causal_lm(args.model, args.device, args.dtype) if items else None
    generate = A.hf_generator(lm, decoding)

    def lengths(prompts: list[str]) -> list[int]:
        return A.token_lengths(lm, prompts)

    # For tests of resumption: a pause after each part file, so a job can be killed halfway.
    pause = float(os.environ.get("SEMSPACE_ASSOCIATE_PAUSE_AFTER_PART", "0") or 0)

    def after_flush(n_parts: int) -> None:
        if pause > 0:
            time.sleep(pause)

    table = A.generate_shard(
        items,
        generate,
        args.out,
        settings=settings,
        rounds=args.rounds,
        instruction=instruction,
        batch_size=args.batch_size,
        flush_every=args.flush_every,
        seed=args.seed,
        lengths=lengths,
        after_flush=after_flush,
    )
    log.info("wrote %s: %d rows", args.out, table.num_rows)
    return 0


def _merge(args: argparse.Namespace) -> int:
    from transformers import AutoTokenizer

    from semspace.experiments import association as A
    from semspace.experiments.tokensets import stats_table
    from semspace.io import write_parquet
    from semspace.report.imagespace import examples_table
    from semspace.report.tables import write_table
    from semspace.schemas import TOKENSETS

    items = A.captions_of_shard(A.read_captions(args.captions), 1, 0, args.limit_images)
    table = A.merge_rounds(args.shard_files, items, args.rounds)
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    tokensets = A.association_tokensets(table, tokenizer.tokenize, args.rounds)
    write_parquet(table, args.associations, A.ROUNDS_SCHEMA)
    write_parquet(tokensets, args.tokensets, TOKENSETS)
    if args.texts:
        write_parquet(A.association_texts_table(table, args.rounds), args.texts, A.IMAGE_TEXTS)
    if args.examples or args.examples_html:
        examples = A.examples_rows(table, args.n_examples, args.rounds)
        write_table(
            examples_table(examples, args.rounds, args.demo),
            csv_path=args.examples,
            html_out=args.examples_html,
        )
    if args.stats:
        stats = A.association_statistics(table, tokenizer.tokenize, args.rounds)
        write_parquet(stats_table(stats), args.stats)
        log.info("statistics: %s", stats)
    log.info(
        "merged %d shard(s): %d rows, %d images",
        len(args.shard_files),
        table.num_rows,
        tokensets.num_rows,
    )
    return 0
