"""``semspace config check``: a config's YAML and keys checked, with the file and line at fault.

Snakemake parses ``--configfile`` files before the workflow runs, and its message for a YAML
error ("Config file is not valid JSON or YAML") names neither the file nor the line; the Makefile
runs this first.
"""

from __future__ import annotations

import argparse
import logging

from semspace.config import load_config

log = logging.getLogger("semspace.config")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("config", help="check config files before a run")
    commands = parser.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    check = commands.add_parser(
        "check",
        help="parse and validate config files merged in order (as snakemake --configfile)",
        description="Exit 2 with one line per problem: FILE:LINE:COLUMN for a YAML syntax error "
        "or a key given twice, `config key a.b` for a key the schema refuses.",
    )
    check.add_argument(
        "files",
        nargs="+",
        metavar="FILE",
        help="config files, later ones over earlier ones (config/config.yaml first)",
    )
    check.set_defaults(func=_check)


def _check(args: argparse.Namespace) -> int:
    config = load_config(*args.files)
    log.info("config OK: %s (run %s)", " + ".join(args.files), config.get("run"))
    return 0
