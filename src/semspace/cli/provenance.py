"""``semspace provenance write``: what produced an experiment's results, for citing them."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from semspace.errors import ConfigError
from semspace.runtime import log


def _pairs(values: list[str], flag: str) -> dict[str, str]:
    pairs = {}
    for value in values:
        name, sep, folder = value.partition("=")
        if not sep or not name or not folder:
            raise ConfigError(f"{flag} expects NAME=PATH, got {value!r}")
        pairs[name] = folder
    return pairs


def _write(args: argparse.Namespace) -> int:
    from semspace.provenance import build_provenance, write_provenance

    try:
        config = json.loads(Path(args.config_json).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{args.config_json}: cannot read the merged config: {exc}") from None
    lock = args.lock if args.lock and Path(args.lock).is_file() else None
    record = build_provenance(
        config,
        lock_path=lock,
        model_dirs=_pairs(args.model, "--model"),
        dataset_dirs=_pairs(args.dataset, "--dataset"),
        hash_local=not args.no_hash_local,
    )
    path = write_provenance(args.out, record)
    log.info("provenance of %s -> %s", args.experiment, path)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    group = subparsers.add_parser("provenance", help="provenance records of results, for citing")
    steps = group.add_subparsers(dest="provenance_command", metavar="STEP", required=True)
    w = steps.add_parser("write", help="provenance.json: config, code version, models, datasets")
    w.add_argument("--experiment", required=True, help="experiment section name (for the log)")
    w.add_argument("--config-json", required=True, help="the merged config as a JSON file")
    w.add_argument("--lock", default=None, help="downloads lock file (digests, hub commits)")
    w.add_argument(
        "--model",
        action="extend",
        nargs="*",
        default=[],
        metavar="NAME=FOLDER",
        help="the models used, NAME=FOLDER each (none: an empty list)",
    )
    w.add_argument(
        "--dataset",
        action="extend",
        nargs="*",
        default=[],
        metavar="NAME=PATH",
        help="the datasets used, NAME=PATH each (none: an empty list)",
    )
    w.add_argument(
        "--no-hash-local", action="store_true", help="digest local folders by listing, not content"
    )
    w.add_argument("--out", required=True, help="the experiment's results folder")
    w.set_defaults(func=_write)
