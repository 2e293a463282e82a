"""``semspace rehearsal build|serve``: replicas of every configured source, served on loopback."""

from __future__ import annotations

import argparse
import signal
import threading
from pathlib import Path

from semspace.runtime import log


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "rehearsal", help="miniature replicas of the configured sources, and loopback servers"
    )
    steps = parser.add_subparsers(dest="rehearsal_command", metavar="STEP", required=True)

    build = steps.add_parser("build", help="write the replicas, the hub models, the local data")
    build.add_argument("--config", default="config/config.yaml", help="config naming the sources")
    build.add_argument("--mirror", required=True, help="folder to fill with <host>/<path> files")
    build.add_argument("--hub", required=True, help="folder to fill with <owner>/<name> models")
    build.add_argument(
        "--local", default="resources/local", help="where users place hand-fetched datasets"
    )
    build.add_argument("--videos", required=True, help="folder for LAVA's replica videos")
    build.add_argument("--images", type=int, default=24, help="images per replica dataset")
    build.add_argument("--val", type=int, default=4, help="validation images (Flickr)")
    build.add_argument("--test", type=int, default=6, help="test images (Flickr)")
    build.add_argument("--cifar-train", type=int, default=4, help="images per CIFAR train batch")
    build.add_argument("--cifar-test", type=int, default=20, help="CIFAR test images")
    build.add_argument("--coco", type=int, default=120, help="Karpathy COCO test images")
    build.add_argument("--seed", type=int, default=0, help="seed of the synthetic content")
    build.set_defaults(func=_build)

    serve = steps.add_parser("serve", help="serve the mirror and the hub on loopback until killed")
    serve.add_argument("--mirror", required=True, help="folder of <host>/<path> files")
    serve.add_argument("--hub", required=True, help="folder of <owner>/<name> models")
    serve.add_argument("--mirror-port", type=int, default=0, help="0: any free port")
    serve.add_argument("--hub-port", type=int, default=0, help="0: any free port")
    serve.add_argument(
        "--urls", required=True, help="file to write: MIRROR=<url> and HF_ENDPOINT=<url> lines"
    )
    serve.set_defaults(func=_serve)


def _build(args: argparse.Namespace) -> int:
    import yaml

    from semspace.rehearsal.replicas import Sizes, build_all, build_hub

    config = yaml.safe_load(Path(args.config).read_text(encoding="utf-8"))
    sizes = Sizes(args.images, args.val, args.test, args.cifar_train, args.cifar_test, args.coco)
    urls = build_all(config, args.mirror, args.local, args.videos, sizes, args.seed)
    models = build_hub(config, args.hub, args.seed)
    log.info("built %d source replicas and %d hub models", len(urls), len(models))
    return 0


def _serve(args: argparse.Namespace) -> int:
    from semspace.io import write_text
    from semspace.rehearsal.server import hub_server, mirror_server, start, url_of

    mirror = mirror_server(args.mirror, args.mirror_port)
    hub = hub_server(args.hub, args.hub_port)
    start(mirror)
    start(hub)
    write_text(f"MIRROR={url_of(mirror)}\nHF_ENDPOINT={url_of(hub)}\n", args.urls)
    log.info("mirror %s, hub %s (%d models)", url_of(mirror), url_of(hub), len(hub.repos))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    mirror.shutdown()
    hub.shutdown()
    return 0
