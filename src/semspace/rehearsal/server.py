"""The rehearsal's loopback servers: a static mirror ``<root>/<host>/<path>`` and the hub."""

from __future__ import annotations

import functools
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from semspace.rehearsal.hub import HubHandler, find_repos

LOOPBACK = "127.0.0.1"


class QuietFiles(SimpleHTTPRequestHandler):
    """Static files without the per-request log lines."""

    def log_message(self, format: str, *args: Any) -> None:
        pass


def mirror_server(root: Path | str, port: int = 0) -> ThreadingHTTPServer:
    """A server (not yet serving) for the files under ``root``, on loopback."""
    handler = functools.partial(QuietFiles, directory=str(root))
    return ThreadingHTTPServer((LOOPBACK, port), handler)


def hub_server(root: Path | str, port: int = 0) -> ThreadingHTTPServer:
    """A Hub-compatible server (not yet serving) for the model folders under ``root``."""
    server = ThreadingHTTPServer((LOOPBACK, port), HubHandler)
    server.repos = find_repos(Path(root))  # type: ignore[attr-defined]
    return server


def url_of(server: ThreadingHTTPServer) -> str:
    host, port = server.server_address[:2]
    return f"http://{host}:{port}"


def start(server: ThreadingHTTPServer) -> threading.Thread:
    """Serve in a daemon thread (for tests and the CLI's foreground loop)."""
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return thread
