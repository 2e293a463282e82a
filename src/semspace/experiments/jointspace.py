"""E2 joint space: two linear projections of frozen image and text features, trained with the
VSE hinge ranking loss (sum of violations, or the hardest negative only: VSE++ "max").

Training runs on cached features, so it is fast on a GPU and fine on a CPU. The dev split
is evaluated after every epoch (sentence + image R@1/5/10 summed, "rsum") and the best epoch is
checkpointed. All ``epochs`` are trained, as in the paper (100); early stopping after
``patience`` epochs without improvement is off unless ``patience`` is set.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import torch
from torch import nn
from torch.nn import functional as F

from semspace.errors import ConfigError
from semspace.experiments.retrieval import PairedFeatures, evaluate
from semspace.io import atomic_path
from semspace.runtime import pick_device

log = logging.getLogger(__name__)

LOSSES = ("sum", "max")

#: One row per epoch of a training run.
HISTORY = pa.schema(
    [
        pa.field("epoch", pa.int32(), nullable=False),
        pa.field("train_loss", pa.float64(), nullable=False),
        pa.field("dev_rsum", pa.float64()),
        pa.field("dev_sentence_r1", pa.float64()),
        pa.field("dev_image_r1", pa.float64()),
        pa.field("best", pa.bool_(), nullable=False),
        pa.field("seconds", pa.float64(), nullable=False),
    ]
)


@dataclass
class TrainConfig:
    dim: int = 1000
    loss: str = "sum"
    margin: float = 0.2
    lr: float = 2e-5
    batch_size: int = 1024
    epochs: int = 100
    patience: int | None = None  # None: no early stopping (the paper trains all epochs)
    fold_size: int = 1000
    seed: int = 0

    def __post_init__(self) -> None:
        if self.loss not in LOSSES:
            raise ConfigError(
                f"retrieval.losses: loss must be one of {', '.join(LOSSES)}, not {self.loss!r}"
            )
        if self.patience is not None and self.patience < 1:
            raise ConfigError(
                "retrieval.train.patience must be at least 1, or None for no early stopping, "
                f"not {self.patience}"
            )


class JointSpace(nn.Module):
    """Image and text features → a shared ``dim``-d space, L2-normalised."""

    def __init__(self, image_dim: int, text_dim: int, dim: int) -> None:
        super().__init__()
        self.image = nn.Linear(image_dim, dim)
        self.text = nn.Linear(text_dim, dim)
        for layer in (self.image, self.text):  # as in VSE/VSE++: Xavier-uniform, zero bias
            bound = float(np.sqrt(6.0 / (layer.in_features + layer.out_features)))
            nn.init.uniform_(layer.weight, -bound, bound)
            nn.init.zeros_(layer.bias)

    def encode_images(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.image(x), dim=-1)

    def encode_texts(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.text(x), dim=-1)


def vse_loss(
    images: torch.Tensor,
    texts: torch.Tensor,
    item_ids: torch.Tensor,
    margin: float = 0.2,
    max_violation: bool = False,
) -> torch.Tensor:
    """Hinge ranking loss over a batch of pairs (row i of ``images`` goes with row i of ``texts``).

    Negatives of a pair are the other rows of the batch, except rows of the same item (several
    captions of one image in a batch are not negatives of each other). ``max_violation`` keeps
    only the hardest negative per query (VSE++), else violations are summed (VSE).
    """
    scores = images @ texts.T
    diag = scores.diag()
    same = item_ids[:, None] == item_ids[None, :]
    cost_text = (margin + scores - diag[:, None]).clamp(min=0).masked_fill(same, 0)
    cost_image = (margin + scores - diag[None, :]).clamp(min=0).masked_fill(same, 0)
    if max_violation:
        return cost_text.max(dim=1).values.sum() + cost_image.max(dim=0).values.sum()
    return cost_text.sum() + cost_image.sum()


def project(
    model: JointSpace, features: PairedFeatures, device: torch.device | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Image and text features of ``features`` in the joint space (numpy, L2-normalised)."""
    device = device or next(model.parameters()).device
    model.eval()
    with torch.no_grad():
        im = model.encode_images(
            torch.as_tensor(features.images, dtype=torch.float32, device=device)
        )
        tx = model.encode_texts(
            torch.as_tensor(features.text_features, dtype=torch.float32, device=device)
        )
    return im.cpu().numpy(), tx.cpu().numpy()


def rsum(results: dict[str, dict[str, float]]) -> float:
    return float(sum(results[d][f"r{k}"] for d in ("sentence", "image") for k in (1, 5, 10)))


@dataclass
class TrainResult:
    model: JointSpace
    history: pa.Table
    best_epoch: int
    best_rsum: float | None


def train(
    train_set: PairedFeatures,
    dev_set: PairedFeatures | None,
    config: TrainConfig,
    device: str = "auto",
    checkpoint: str | Path | None = None,
) -> TrainResult:
    """Train a joint space; the best dev epoch (or the last, without dev) is returned and saved."""
    dev = pick_device(device)
    torch.manual_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    model = JointSpace(train_set.images.shape[1], train_set.text_features.shape[1], config.dim).to(
        dev
    )
    optimiser = torch.optim.Adam(model.parameters(), lr=config.lr)
    images = torch.as_tensor(train_set.images, dtype=torch.float32, device=dev)
    texts = torch.as_tensor(train_set.text_features, dtype=torch.float32, device=dev)
    item_of = torch.as_tensor(train_set.text_item, dtype=torch.long, device=dev)
    n_pairs = len(texts)
    if n_pairs == 0:
        raise ConfigError("retrieval: the training split has no image-text pairs")
    use_dev = dev_set is not None and len(dev_set.keys) > 1
    rows: list[dict] = []
    best_rsum: float | None = None
    best_epoch, best_state, stale = 0, None, 0
    max_violation = config.loss == "max"
    for epoch in range(1, config.epochs + 1):
        start = time.monotonic()
        model.train()
        order = torch.randperm(n_pairs, generator=generator).to(dev)
        total, batches = 0.0, 0
        for begin in range(0, n_pairs, config.batch_size):
            idx = order[begin : begin + config.batch_size]
            items = item_of[idx]
            loss = vse_loss(
                model.encode_images(images[items]),
                model.encode_texts(texts[idx]),
                items,
                config.margin,
                max_violation,
            )
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            total += float(loss.detach())
            batches += 1
        row = {
            "epoch": epoch,
            "train_loss": total / batches,
            "dev_rsum": None,
            "dev_sentence_r1": None,
            "dev_image_r1": None,
            "best": False,
        }
        improved = True
        if use_dev:
            im, tx = project(model, dev_set, dev)
            res = evaluate(im, tx, dev_set.text_item, config.fold_size)
            score = rsum(res)
            row.update(
                dev_rsum=score,
                dev_sentence_r1=res["sentence"]["r1"],
                dev_image_r1=res["image"]["r1"],
            )
            improved = best_rsum is None or score > best_rsum
            if improved:
                best_rsum = score
        if improved:
            best_epoch, stale = epoch, 0
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            row["best"] = True
        else:
            stale += 1
        row["seconds"] = time.monotonic() - start
        rows.append(row)
        log.info(
            "epoch %d: loss %.4f, dev rsum %s%s",
            epoch,
            row["train_loss"],
            "n/a" if row["dev_rsum"] is None else f"{row['dev_rsum']:.1f}",
            " (best)" if improved else "",
        )
        if use_dev and config.patience is not None and stale >= config.patience:
            log.info("early stop after %d epochs without improvement", stale)
            break
    assert best_state is not None
    model.load_state_dict(best_state)
    if checkpoint is not None:
        save_checkpoint(model, config, best_epoch, best_rsum, checkpoint)
    return TrainResult(model, pa.Table.from_pylist(rows, schema=HISTORY), best_epoch, best_rsum)


def save_checkpoint(
    model: JointSpace, config: TrainConfig, epoch: int, dev_rsum: float | None, path: str | Path
) -> None:
    payload = {
        "state_dict": {k: v.cpu() for k, v in model.state_dict().items()},
        "image_dim": model.image.in_features,
        "text_dim": model.text.in_features,
        "dim": model.image.out_features,
        "config": asdict(config),
        "epoch": epoch,
        "dev_rsum": dev_rsum,
    }
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def load_checkpoint(path: str | Path, device: str = "auto") -> JointSpace:
    payload = torch.load(path, map_location="cpu", weights_only=True)
    model = JointSpace(payload["image_dim"], payload["text_dim"], payload["dim"])
    model.load_state_dict(payload["state_dict"])
    return model.to(pick_device(device)).eval()
