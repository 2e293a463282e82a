"""GPU slots: each GPU job takes one free device by a file lock, since Snakemake assigns none.

``acquire_gpu_slot`` must run before CUDA is initialised (torch reads ``CUDA_VISIBLE_DEVICES``
once, at its first CUDA call), so commands take the slot before loading a model.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

log = logging.getLogger(__name__)

DEFAULT_LOCK_DIR = ".snakemake/gpu-slots"


def gpu_count() -> int:
    """Number of GPUs: env ``SEMSPACE_GPU_COUNT``, else ``nvidia-smi -L`` lines, else 0."""
    env = os.environ.get("SEMSPACE_GPU_COUNT")
    if env is not None and env.strip():
        try:
            return max(int(env), 0)
        except ValueError:
            raise ValueError(f"SEMSPACE_GPU_COUNT must be an integer, got {env!r}") from None
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return 0
    try:
        listing = subprocess.run(
            [smi, "-L"], capture_output=True, text=True, timeout=30, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return 0
    return sum(1 for line in listing.splitlines() if line.startswith("GPU "))


def candidate_ids(n_devices: int | None = None) -> list[str]:
    """Device ids a job may take: those of an existing ``CUDA_VISIBLE_DEVICES`` (e.g. set by
    SLURM), else ``0..n-1``; at most ``n_devices`` (default ``gpu_count()``) of them."""
    n = gpu_count() if n_devices is None else n_devices
    if n <= 0:
        return []
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is None:
        return [str(i) for i in range(n)]
    ids = [v.strip() for v in visible.split(",") if v.strip()]
    # "-1" or an empty value hides every GPU.
    if not ids or ids[0].startswith("-"):
        return []
    return ids[:n]


def lock_dir_default() -> Path:
    return Path(os.environ.get("SEMSPACE_GPU_LOCK_DIR", DEFAULT_LOCK_DIR))


def _cuda_initialised() -> bool:
    torch = sys.modules.get("torch")
    return bool(torch is not None and torch.cuda.is_initialized())


@contextlib.contextmanager
def acquire_gpu_slot(
    lock_dir: str | Path | None = None,
    n_devices: int | None = None,
    poll_seconds: float = 2.0,
) -> Iterator[str | None]:
    """Hold one free GPU for the block and point ``CUDA_VISIBLE_DEVICES`` at it.

    Yields the device id taken, or ``None`` when there is no GPU (then nothing is locked and the
    job runs on CPU). Waits, polling, while every device is held by another process.
    """
    ids = candidate_ids(n_devices)
    if not ids:
        yield None
        return
    if _cuda_initialised():
        log.warning("CUDA is already initialised; CUDA_VISIBLE_DEVICES set now has no effect")
    folder = Path(lock_dir) if lock_dir is not None else lock_dir_default()
    folder.mkdir(parents=True, exist_ok=True)
    handle = None
    waited = False
    while handle is None:
        for device in ids:
            path = folder / f"gpu-{re.sub(r'[^A-Za-z0-9_.-]', '_', device)}.lock"
            fh = open(path, "a+")  # noqa: SIM115 - held open while the lock is held
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                fh.close()
                continue
            handle, chosen = fh, device
            break
        if handle is None:
            if not waited:
                log.info("all %d GPU slots in %s are taken; waiting", len(ids), folder)
                waited = True
            time.sleep(poll_seconds)
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    previous = os.environ.get("CUDA_VISIBLE_DEVICES")
    os.environ["CUDA_VISIBLE_DEVICES"] = chosen
    log.info("GPU slot: device %s (lock %s)", chosen, handle.name)
    try:
        yield chosen
    finally:
        if previous is None:
            os.environ.pop("CUDA_VISIBLE_DEVICES", None)
        else:
            os.environ["CUDA_VISIBLE_DEVICES"] = previous
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
        handle.close()
