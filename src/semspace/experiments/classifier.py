"""E4's separate image classifier: a torchvision ResNet trained on CIFAR-10 with cross-entropy
and SGD, checkpointed after every epoch and resumed from there, then asked for the top-2
classes of every test image (the ``p1``/``p2`` of the soft-text prompts).

The paper trains ResNet-50 for 200 epochs with batch 64; the architecture, epochs and optimiser
settings are configurable so that the demo can train a small network for one or two epochs.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from semspace.errors import ConfigError
from semspace.runtime import Progress, log

if TYPE_CHECKING:
    import torch

#: Top-2 classes of each test image, with their softmax probabilities.
TOP2 = pa.schema(
    [
        pa.field("key", pa.string(), nullable=False),
        pa.field("label", pa.int16(), nullable=False),
        pa.field("top1", pa.int16(), nullable=False),
        pa.field("top2", pa.int16(), nullable=False),
        pa.field("p1", pa.float32(), nullable=False),
        pa.field("p2", pa.float32(), nullable=False),
    ]
)

#: Per-channel mean and standard deviation of the CIFAR-10 training images (0..1 scale).
CIFAR_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR_STD = (0.2470, 0.2435, 0.2616)
#: torchvision ImageNet-style ResNets, and the small CIFAR ResNets of He et al. (2016, section 4.2:
#: 6n + 2 layers, widths 16/32/64) for quick runs.
TORCHVISION_ARCHITECTURES = ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152")
CIFAR_ARCHITECTURES = {
    "cifar_resnet8": 1,
    "cifar_resnet20": 3,
    "cifar_resnet32": 5,
    "cifar_resnet56": 9,
}
ARCHITECTURES = TORCHVISION_ARCHITECTURES + tuple(CIFAR_ARCHITECTURES)


@dataclass(frozen=True)
class TrainConfig:
    """What shapes a training run; a checkpoint is only resumed under the same settings."""

    arch: str = "resnet50"
    epochs: int = 200
    batch_size: int = 64
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 5e-4
    schedule: str = "cosine"  # or "constant"
    augment: bool = True  # random crop (padding 4) and horizontal flip
    cifar_stem: bool = False  # 3x3 stride-1 first convolution and no max-pool
    seed: int = 0


def cifar_resnet(blocks_per_stage: int, num_classes: int = 10) -> torch.nn.Module:
    """He et al.'s CIFAR ResNet (6n + 2 layers) from torchvision's BasicBlock."""
    import torch
    from torchvision.models.resnet import BasicBlock

    def stage(inplanes: int, planes: int, stride: int) -> torch.nn.Sequential:
        down = None
        if stride != 1 or inplanes != planes:
            down = torch.nn.Sequential(
                torch.nn.Conv2d(inplanes, planes, 1, stride=stride, bias=False),
                torch.nn.BatchNorm2d(planes),
            )
        layers = [BasicBlock(inplanes, planes, stride, down)]
        layers += [BasicBlock(planes, planes) for _ in range(blocks_per_stage - 1)]
        return torch.nn.Sequential(*layers)

    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 16, 3, padding=1, bias=False),
        torch.nn.BatchNorm2d(16),
        torch.nn.ReLU(inplace=True),
        stage(16, 16, 1),
        stage(16, 32, 2),
        stage(32, 64, 2),
        torch.nn.AdaptiveAvgPool2d(1),
        torch.nn.Flatten(),
        torch.nn.Linear(64, num_classes),
    )


def build_model(arch: str, num_classes: int = 10, cifar_stem: bool = False) -> torch.nn.Module:
    """A ResNet with random weights and ``num_classes`` outputs (``cifar_stem``: torchvision
    models only; the CIFAR ResNets always start with a 3x3 stride-1 convolution)."""
    import torch
    import torchvision

    if arch not in ARCHITECTURES:
        raise ConfigError(
            f"softtext.classifier.arch: unknown architecture {arch!r}; "
            f"use one of {', '.join(ARCHITECTURES)}"
        )
    if arch in CIFAR_ARCHITECTURES:
        return cifar_resnet(CIFAR_ARCHITECTURES[arch], num_classes)
    model = getattr(torchvision.models, arch)(weights=None, num_classes=num_classes)
    if cifar_stem:
        model.conv1 = torch.nn.Conv2d(3, 64, kernel_size=3, stride=1, padding=1, bias=False)
        model.maxpool = torch.nn.Identity()
    return model


def to_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 images (n x 32 x 32 x 3) -> normalised float32 tensor (n x 3 x 32 x 32)."""
    from semspace.images import normalise_pixels

    return normalise_pixels(images, CIFAR_MEAN, CIFAR_STD)


def augment_batch(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Random crop with zero padding 4 and random horizontal flip, per image."""
    import torch
    import torch.nn.functional as F

    n, _, h, w = x.shape
    padded = F.pad(x, (4, 4, 4, 4))
    offsets = torch.randint(0, 9, (n, 2), generator=generator)
    flips = torch.rand(n, generator=generator) < 0.5
    out = torch.empty_like(x)
    for i in range(n):
        dy, dx = int(offsets[i, 0]), int(offsets[i, 1])
        crop = padded[i, :, dy : dy + h, dx : dx + w]
        out[i] = crop.flip(-1) if flips[i] else crop
    return out


def _learning_rate(cfg: TrainConfig, epoch: int) -> float:
    if cfg.schedule == "constant":
        return cfg.lr
    if cfg.schedule == "cosine":
        return 0.5 * cfg.lr * (1.0 + math.cos(math.pi * epoch / cfg.epochs))
    raise ConfigError(
        f"softtext.classifier.schedule: unknown {cfg.schedule!r}; use cosine or constant"
    )


def _autocast(device: torch.device, dtype: torch.dtype) -> Any:
    import contextlib

    import torch

    if device.type == "cuda" and dtype != torch.float32:
        return torch.autocast(device_type="cuda", dtype=dtype)
    return contextlib.nullcontext()


def load_checkpoint(path: Path, cfg: TrainConfig) -> dict[str, Any] | None:
    """The checkpoint at ``path`` if it was written under the same settings, else None."""
    import torch

    if not path.is_file():
        return None
    state = torch.load(path, map_location="cpu", weights_only=False)
    if state.get("config") != asdict(cfg):
        log.warning("checkpoint %s was written with other settings; training from scratch", path)
        return None
    return state


def save_checkpoint(
    path: Path,
    model: torch.nn.Module,
    optimizer: Any,
    epoch: int,
    cfg: TrainConfig,
    history: list[dict[str, float]],
) -> None:
    import torch

    from semspace.io import atomic_path

    state = {
        "config": asdict(cfg),
        "epoch": epoch,  # epochs completed
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "history": history,
    }
    with atomic_path(path, suffix=".pt") as tmp:
        torch.save(state, tmp)


def train(
    images: np.ndarray,
    labels: np.ndarray,
    cfg: TrainConfig,
    checkpoint: str | Path,
    num_classes: int = 10,
    device: torch.device | None = None,
    dtype: torch.dtype | None = None,
) -> tuple[torch.nn.Module, list[dict[str, float]]]:
    """Train (or resume training) a classifier; returns the model and per-epoch loss/accuracy.

    The checkpoint is written after every epoch; the shuffling and augmentation of epoch ``e``
    depend only on ``cfg.seed`` and ``e``, so a resumed run follows the same path.
    """
    import torch

    device = device or torch.device("cpu")
    dtype = dtype or torch.float32
    checkpoint = Path(checkpoint)
    torch.manual_seed(cfg.seed)
    model = build_model(cfg.arch, num_classes, cfg.cifar_stem)
    optimizer = torch.optim.SGD(
        model.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay
    )
    start, history = 0, []
    state = load_checkpoint(checkpoint, cfg)
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        start, history = int(state["epoch"]), list(state["history"])
        log.info("resuming from %s after epoch %d of %d", checkpoint, start, cfg.epochs)
    model.to(device)
    for group_state in optimizer.state.values():  # momentum buffers follow the model
        for key, value in group_state.items():
            if isinstance(value, torch.Tensor):
                group_state[key] = value.to(device)

    x_all = to_tensor(images)
    y_all = torch.as_tensor(labels, dtype=torch.long)
    loss_fn = torch.nn.CrossEntropyLoss()
    n = len(y_all)
    # float16 autocast needs loss scaling against gradient underflow; bfloat16 and float32 do not.
    scaler = torch.amp.GradScaler("cuda", enabled=device.type == "cuda" and dtype == torch.float16)
    for epoch in range(start, cfg.epochs):
        generator = torch.Generator().manual_seed(cfg.seed * 100_003 + epoch)
        lr = _learning_rate(cfg, epoch)
        for group in optimizer.param_groups:
            group["lr"] = lr
        model.train()
        order = torch.randperm(n, generator=generator)
        bar = Progress(f"epoch {epoch + 1}/{cfg.epochs}", total=n)
        loss_sum, correct = 0.0, 0
        for begin in range(0, n, cfg.batch_size):
            idx = order[begin : begin + cfg.batch_size]
            x = x_all[idx]
            if cfg.augment:
                x = augment_batch(x, generator)
            x, y = x.to(device, non_blocking=True), y_all[idx].to(device, non_blocking=True)
            with _autocast(device, dtype):
                logits = model(x)
                loss = loss_fn(logits.float(), y)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            loss_sum += float(loss.detach()) * len(idx)
            correct += int((logits.argmax(1) == y).sum())
            bar.update(len(idx))
        bar.close()
        history.append(
            {"epoch": epoch + 1, "lr": lr, "loss": loss_sum / n, "train_accuracy": correct / n}
        )
        log.info("epoch %d: loss %.4f, train accuracy %.4f", epoch + 1, loss_sum / n, correct / n)
        save_checkpoint(checkpoint, model, optimizer, epoch + 1, cfg, history)
    return model, history


def predict_probs(
    model: torch.nn.Module,
    images: np.ndarray,
    batch_size: int = 256,
    device: torch.device | None = None,
    dtype: torch.dtype | None = None,
) -> np.ndarray:
    """Softmax class probabilities (n x classes, float32) in evaluation mode."""
    import torch

    device = device or next(model.parameters()).device
    dtype = dtype or torch.float32
    model.to(device).eval()
    out = []
    with torch.inference_mode():
        for begin in range(0, len(images), batch_size):
            x = to_tensor(images[begin : begin + batch_size]).to(device)
            with _autocast(device, dtype):
                logits = model(x)
            out.append(torch.softmax(logits.float(), dim=1).cpu().numpy())
    return np.concatenate(out).astype(np.float32) if out else np.zeros((0, 0), np.float32)


def top2_table(keys: list[str], labels: np.ndarray, probs: np.ndarray) -> pa.Table:
    """The two most probable classes of each image (ties broken by the lower class index)."""
    order = np.argsort(-probs, axis=1, kind="stable")[:, :2]
    rows = np.arange(len(probs))
    return pa.table(
        {
            "key": keys,
            "label": labels.astype(np.int16),
            "top1": order[:, 0].astype(np.int16),
            "top2": order[:, 1].astype(np.int16),
            "p1": probs[rows, order[:, 0]].astype(np.float32),
            "p2": probs[rows, order[:, 1]].astype(np.float32),
        },
        schema=TOP2,
    )


def top2_metrics(table: pa.Table) -> dict[str, float]:
    """Top-1 and top-2 accuracy of a :data:`TOP2` table."""
    label = table.column("label").to_numpy()
    top1 = table.column("top1").to_numpy()
    top2 = table.column("top2").to_numpy()
    n = max(len(label), 1)
    return {
        "n": len(label),
        "accuracy": float((top1 == label).sum() / n),
        "top2_accuracy": float(((top1 == label) | (top2 == label)).sum() / n),
    }
