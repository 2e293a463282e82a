"""``semspace wordnet prepare``: an NLTK WordNet folder from Debian's files, or downloaded."""

from __future__ import annotations

import argparse
import logging

from semspace import wordnet

log = logging.getLogger("semspace.wordnet")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("wordnet", help="WordNet data for NLTK (offline or online)")
    commands = parser.add_subparsers(dest="wordnet_command", metavar="ACTION", required=True)
    prepare = commands.add_parser(
        "prepare",
        help="copy Debian's wordnet-base files into an NLTK data folder (idempotent)",
        description="Builds OUT/corpora/wordnet from /usr/share/wordnet (Debian packages "
        "wordnet-base and wordnet-sense-index) plus the lexnames file; --download fetches the "
        "same corpus with nltk.download instead.",
    )
    prepare.add_argument("--out", default="resources/nltk_data", help="NLTK data folder")
    prepare.add_argument(
        "--source", default=str(wordnet.DEBIAN_WORDNET), help="Debian WordNet folder"
    )
    prepare.add_argument(
        "--download", action="store_true", help="use nltk.download (needs the internet)"
    )
    prepare.set_defaults(func=_prepare)


def _prepare(args: argparse.Namespace) -> int:
    if args.download:
        where = wordnet.download_wordnet(args.out)
    else:
        where = wordnet.prepare_wordnet(args.out, args.source)
    log.info("WordNet ready in %s (use NLTK_DATA=%s)", where, args.out)
    return 0
