"""The ``semspace`` command line: a thin layer over the library, one sub-command per stage.

Every module in this package that defines ``register(subparsers)`` adds its sub-commands;
each sub-command sets ``func(args) -> int | None``.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import pkgutil
import sys

from semspace import __version__
from semspace.errors import SemspaceError
from semspace.runtime import setup_logging


def add_runtime_args(parser: argparse.ArgumentParser) -> None:
    """``--device``, ``--dtype``, ``--seed``: the flags every command that runs a model takes
    (the workflow passes them from the config's ``runtime`` section)."""
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--dtype", default="auto", help="auto, float32, float16 or bfloat16")
    parser.add_argument("--seed", type=int, default=0)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="semspace",
        description="Stages of the semspace workflow. Each rule of the Snakefile calls one of these.",
    )
    parser.add_argument("--version", action="version", version=f"semspace {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        register = getattr(module, "register", None)
        if register is not None:
            register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    setup_logging(args.verbose)
    try:
        status = args.func(args)
    except SemspaceError as exc:
        logging.getLogger("semspace").error("%s", exc)
        print(f"semspace {args.command}: error: {exc}", file=sys.stderr)
        return 2
    return int(status or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
