"""Devices, dtypes, seeds, logging and progress: handled here once and reused by every stage."""

from __future__ import annotations

import logging
import os
import random
import time
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:  # torch is imported lazily so that light commands start fast
    import torch

log = logging.getLogger("semspace")
T = TypeVar("T")


def setup_logging(verbose: int = 0) -> None:
    level = logging.DEBUG if verbose > 0 else logging.INFO
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (if imported) so that a run is reproducible."""
    import numpy as np

    random.seed(seed)
    np.random.seed(seed)
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        return
    torch.manual_seed(seed)


def pick_device(preference: str = "auto") -> torch.device:
    """``auto`` → CUDA when present (honouring CUDA_VISIBLE_DEVICES), else CPU."""
    import torch

    if preference == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(preference)


def resolve_dtype(name: str, device: torch.device) -> torch.dtype:
    """``auto`` → bfloat16 on a GPU that supports it (else float16), float32 on CPU."""
    import torch

    if name == "auto":
        if device.type != "cuda":
            return torch.float32
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    dtypes = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
    if name not in dtypes:
        raise ValueError(f"unknown dtype {name!r}; use one of auto, {', '.join(dtypes)}")
    return dtypes[name]


class Progress:
    """Logs done/total and items per second at most every ``interval`` seconds."""

    def __init__(self, desc: str, total: int | None = None, interval: float = 10.0) -> None:
        self.desc, self.total, self.interval = desc, total, interval
        self.done = 0
        self.logged_done = -1
        self.start = self.last = time.monotonic()

    def update(self, n: int = 1) -> None:
        self.done += n
        now = time.monotonic()
        if now - self.last >= self.interval or (self.total is not None and self.done >= self.total):
            self.last = now
            self._log(now)

    def close(self) -> None:
        if self.logged_done != self.done:
            self._log(time.monotonic())

    def _log(self, now: float) -> None:
        self.logged_done = self.done
        rate = self.done / max(now - self.start, 1e-9)
        of_total = f"/{self.total}" if self.total is not None else ""
        log.info("%s: %d%s done, %.1f items/s", self.desc, self.done, of_total, rate)


def progress(items: Iterable[T], desc: str, total: int | None = None) -> Iterator[T]:
    """Iterate over ``items`` while logging progress."""
    bar = Progress(desc, total)
    for item in items:
        yield item
        bar.update()
    bar.close()


def env_flag(name: str) -> bool:
    return os.environ.get(name, "").lower() in {"1", "true", "yes"}
