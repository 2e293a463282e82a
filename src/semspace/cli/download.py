"""``semspace download dataset|model``: the `download` stage."""

from __future__ import annotations

import argparse
from pathlib import Path


def _dataset(args: argparse.Namespace) -> int:
    from semspace.download import fetch_dataset

    fetch_dataset(
        args.spec,
        Path(args.out),
        retries=args.retries,
        timeout=args.timeout,
        backoff=args.backoff,
        lock=args.lock,
        mirror=args.mirror or None,
    )
    return 0


def _model(args: argparse.Namespace) -> int:
    from semspace.download import fetch_model

    fetch_model(args.hub_id, args.revision, Path(args.out), lock=args.lock)
    return 0


def _file(args: argparse.Namespace) -> int:
    from semspace.download import fetch

    fetch(
        args.url,
        Path(args.out),
        args.sha256,
        retries=args.retries,
        timeout=args.timeout,
        backoff=args.backoff,
        lock=args.lock,
        expect_archive=args.archive,
        allow_html=args.allow_html,
    )
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    def add_lock(q: argparse.ArgumentParser) -> None:
        q.add_argument(
            "--lock",
            default=None,
            help="lock file of digests and hub commits (resources/downloads.lock.json in the "
            "workflow): the first download records, every later one is checked",
        )

    p = subparsers.add_parser("download", help="fetch datasets and models (resumable, checksummed)")
    sub = p.add_subparsers(dest="what", metavar="WHAT", required=True)

    def common(q: argparse.ArgumentParser) -> None:
        add_lock(q)
        q.add_argument("--retries", type=int, default=3, help="extra attempts after a failure")
        q.add_argument(
            "--timeout", type=float, default=60.0, help="seconds without data before retrying"
        )
        q.add_argument(
            "--backoff", type=float, default=2.0, help="first retry delay (doubles each time)"
        )

    d = sub.add_parser("dataset", help="fetch a dataset's `downloads` list into a folder")
    d.add_argument("--spec", required=True, help="JSON list of {url, sha256, filename, extract}")
    d.add_argument("--out", required=True, help="the dataset folder to create")
    d.add_argument(
        "--mirror",
        nargs="?",
        const="",
        default="",
        help="base URL that serves every source as <mirror>/<host>/<path>; empty or no value ="
        " the sources themselves (config downloads_mirror)",
    )
    common(d)
    d.set_defaults(func=_dataset)

    m = sub.add_parser("model", help="snapshot a Hugging Face hub model into a folder")
    m.add_argument(
        "--hub-id", required=True, help="hub repository, e.g. openai/clip-vit-base-patch32"
    )
    m.add_argument(
        "--revision", default="main", help="branch, tag or commit; resolved to a commit first"
    )
    m.add_argument("--out", required=True, help="model folder to create (from_pretrained layout)")
    add_lock(m)
    m.set_defaults(func=_model)

    f = sub.add_parser("file", help="fetch one URL to a file")
    f.add_argument("--url", required=True, help="http, https or file URL")
    f.add_argument("--out", required=True, help="file to write")
    f.add_argument(
        "--sha256",
        default=None,
        help="expected SHA-256 (hex), checked after download; none: the --lock entry, if any",
    )
    f.add_argument(
        "--archive", action="store_true", help="an archive is expected: an HTML body fails"
    )
    f.add_argument(
        "--allow-html", action="store_true", help="accept an HTML answer (off: it fails)"
    )
    common(f)
    f.set_defaults(func=_file)
