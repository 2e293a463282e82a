"""GPU slots: each GPU job takes one free device by a file lock, since Snakemake assigns none.

``acquire_gpu_slot`` must run before CUDA is initialised (torch reads ``CUDA_VISIBLE_DEVICES``
once, at its first CUDA call); ``semspace.cli.main`` takes it through ``gpu_slot`` for every
command with runtime flags, before the command loads a model. Taking it again in the same
process is harmless: the inner call yields the device already held.

Under SLURM (``SLURM_JOB_ID`` set) the scheduler has already given the job its GPU in
``CUDA_VISIBLE_DEVICES``: no lock is taken. Elsewhere the locks live in a folder per host, since
device ids only name a GPU on one machine and the lock folder may sit on a shared filesystem.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from semspace.errors import GpuUnavailableError

log = logging.getLogger(__name__)

DEFAULT_LOCK_DIR = ".snakemake/gpu-slots"

# The device this process holds (set inside acquire_gpu_slot), so that nested calls reuse it.
_held: list[str | None] = []


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


def host_lock_dir(lock_dir: str | Path | None = None) -> Path:
    """``<lock_dir>/<hostname>``: device 0 of one node is not device 0 of another."""
    base = Path(lock_dir) if lock_dir is not None else lock_dir_default()
    return base / re.sub(r"[^A-Za-z0-9_.-]", "_", socket.gethostname())


def under_slurm() -> bool:
    """True inside a SLURM job, whose GPUs the scheduler already chose."""
    return bool(os.environ.get("SLURM_JOB_ID", "").strip())


def slurm_visible_device() -> str | None:
    """First device of the job's ``CUDA_VISIBLE_DEVICES`` as SLURM set it; None when it gave
    none."""
    ids = [v.strip() for v in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if v.strip()]
    return None if not ids or ids[0].startswith("-") else ids[0]


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
    job runs on CPU). Waits, polling, while every device is held by another process. Inside a
    slot already held by this process, or inside a SLURM job, it takes no lock.
    """
    if _held:
        yield _held[-1]
        return
    if under_slurm():
        device = slurm_visible_device()
        log.info(
            "SLURM job %s: GPU %s from the scheduler, no lock", os.environ["SLURM_JOB_ID"], device
        )
        _held.append(device)
        try:
            yield device
        finally:
            _held.pop()
        return
    ids = candidate_ids(n_devices)
    if not ids:
        yield None
        return
    if _cuda_initialised():
        log.warning("CUDA is already initialised; CUDA_VISIBLE_DEVICES set now has no effect")
    folder = host_lock_dir(lock_dir)
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
    _held.append(chosen)
    try:
        yield chosen
    finally:
        _held.pop()
        if previous is None:
            os.environ.pop("CUDA_VISIBLE_DEVICES", None)
        else:
            os.environ["CUDA_VISIBLE_DEVICES"] = previous
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
        handle.close()


def _torch_sees_cuda() -> bool:
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        return False
    return bool(torch.cuda.is_available())


def check_gpu_use(device: str, require_gpu: bool, have_gpu: bool) -> None:
    """Warn (or, with ``require_gpu``, fail) when a job that may use a GPU gets none.

    ``--device cpu`` is a choice, not a miss: nothing is said. ``--device cuda`` without a GPU
    always fails, since torch would fail later with a less clear message.
    """
    if device == "cpu" or have_gpu:
        return
    message = (
        f"this job asked for --device {device} but no CUDA device is visible "
        f"(CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES')!r}); it runs on the CPU"
    )
    if require_gpu or device.startswith("cuda"):
        raise GpuUnavailableError(
            message.replace("it runs on the CPU", "stopping")
            + " (config key runtime.require_gpu / --require-gpu / SEMSPACE_REQUIRE_GPU=1)"
        )
    log.warning("%s; set runtime.require_gpu: true to make this an error", message)


@contextlib.contextmanager
def gpu_slot(device: str = "auto", require_gpu: bool = False) -> Iterator[str | None]:
    """The one place a command takes its GPU: a slot unless ``device`` is ``cpu``, then a check
    that CUDA is really there (warning or error, see ``check_gpu_use``)."""
    if device == "cpu":
        yield None
        return
    with acquire_gpu_slot() as chosen:
        check_gpu_use(device, require_gpu, chosen is not None and _torch_sees_cuda())
        yield chosen
