"""E2 joint space: the VSE hinge loss by hand, and training on features with a planted alignment."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from semspace.errors import ConfigError
from semspace.experiments.jointspace import (
    JointSpace,
    TrainConfig,
    load_checkpoint,
    project,
    train,
    vse_loss,
)
from semspace.experiments.retrieval import PairedFeatures, evaluate


def test_vse_loss_by_hand() -> None:
    # scores = [[0.9, 0.5], [0.7, 0.2]]: diag 0.9 and 0.2, margin 0.2
    images = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    texts = torch.tensor([[0.9, 0.7], [0.5, 0.2]])
    ids = torch.tensor([0, 1])
    # image 0 vs text 1: 0.2 + 0.5 - 0.9 < 0 -> 0; image 1 vs text 0: 0.2 + 0.7 - 0.2 = 0.7
    # text 0 vs image 1: 0.2 + 0.7 - 0.9 = 0 -> 0; text 1 vs image 0: 0.2 + 0.5 - 0.2 = 0.5
    assert vse_loss(images, texts, ids, 0.2).item() == pytest.approx(1.2)
    assert vse_loss(images, texts, ids, 0.2, max_violation=True).item() == pytest.approx(1.2)


def test_max_violation_keeps_only_the_hardest_negative() -> None:
    scores = torch.tensor([[0.5, 0.45, 0.4], [0.0, 0.5, 0.0], [0.0, 0.0, 0.5]])
    images, texts, ids = torch.eye(3), scores.T.contiguous(), torch.arange(3)
    # violations (margin 0.2, diagonal 0.5): image 0 vs texts 1, 2: 0.15, 0.1; texts 1, 2 vs
    # image 0: 0.15, 0.1; nothing else. Sum: 0.5. Hardest only: image 0 -> 0.15; text 1 -> 0.15,
    # text 2 -> 0.1: 0.4.
    assert vse_loss(images, texts, ids, 0.2).item() == pytest.approx(0.5)
    assert vse_loss(images, texts, ids, 0.2, max_violation=True).item() == pytest.approx(0.4)


def test_captions_of_the_same_image_are_not_negatives() -> None:
    images = torch.tensor([[1.0, 0.0], [1.0, 0.0]])  # one image, two captions
    texts = torch.tensor([[0.0, 1.0], [1.0, 0.0]])
    same = torch.tensor([4, 4])
    assert vse_loss(images, texts, same, 0.2).item() == 0.0
    assert vse_loss(images, texts, torch.tensor([4, 5]), 0.2).item() > 0.0


def planted(n_items: int, seed: int, captions: int = 2) -> PairedFeatures:
    """Images and captions that are two different noisy linear views of one latent code."""
    rng = np.random.default_rng(seed)
    a = np.random.default_rng(100).normal(size=(8, 24))
    b = np.random.default_rng(101).normal(size=(8, 16))
    z = rng.normal(size=(n_items, 8))
    images = z @ a + 0.3 * rng.normal(size=(n_items, 24))
    text_item = np.repeat(np.arange(n_items), captions)
    texts = z[text_item] @ b + 0.3 * rng.normal(size=(len(text_item), 16))
    return PairedFeatures(
        [f"img{i}" for i in range(n_items)],
        images.astype(np.float32),
        [f"t{j}" for j in range(len(text_item))],
        texts.astype(np.float32),
        text_item,
    )


@pytest.mark.parametrize("loss", ["sum", "max"])
def test_training_lowers_the_loss_and_beats_chance(loss: str, tmp_path) -> None:
    train_set, dev_set, test_set = planted(200, 0), planted(50, 1), planted(50, 2)
    config = TrainConfig(
        dim=16, loss=loss, lr=1e-2, batch_size=50, epochs=12, patience=12, fold_size=50
    )
    torch.manual_seed(0)
    untrained = evaluate(*project(JointSpace(24, 16, 16), test_set), test_set.text_item, 50)
    result = train(train_set, dev_set, config, device="cpu", checkpoint=tmp_path / "m.pt")
    losses = result.history.column("train_loss").to_pylist()
    assert losses[-1] < 0.5 * losses[0]
    images, texts = project(result.model, test_set)
    res = evaluate(images, texts, test_set.text_item, 50)
    chance = 100.0 / 50  # one image among 50
    assert res["image"]["r1"] > 10 * chance
    assert res["sentence"]["r1"] > 10 * chance
    assert res["image"]["r1"] > untrained["image"]["r1"] + 20
    # the checkpoint holds the best dev epoch and reloads to the same projections
    loaded = load_checkpoint(tmp_path / "m.pt", device="cpu")
    images2, texts2 = project(loaded, test_set)
    np.testing.assert_allclose(images, images2, atol=1e-6)
    np.testing.assert_allclose(texts, texts2, atol=1e-6)
    best = result.history.filter(result.history.column("best")).column("epoch").to_pylist()[-1]
    assert best == result.best_epoch
    assert result.best_rsum == max(v for v in result.history.column("dev_rsum").to_pylist())


def test_early_stopping_stops_before_the_last_epoch() -> None:
    # Random features: nothing to learn, dev rsum stops improving; patience 2 ends training early.
    rng = np.random.default_rng(0)
    noise = PairedFeatures(
        [str(i) for i in range(40)],
        rng.normal(size=(40, 6)).astype(np.float32),
        [str(i) for i in range(40)],
        rng.normal(size=(40, 5)).astype(np.float32),
        np.arange(40),
    )
    dev = PairedFeatures(
        [str(i) for i in range(20)],
        rng.normal(size=(20, 6)).astype(np.float32),
        [str(i) for i in range(20)],
        rng.normal(size=(20, 5)).astype(np.float32),
        np.arange(20),
    )
    config = TrainConfig(dim=4, lr=1e-2, batch_size=20, epochs=60, patience=2, fold_size=20)
    result = train(noise, dev, config, device="cpu")
    epochs = result.history.column("epoch").to_pylist()
    assert len(epochs) < 60
    assert epochs[-1] - result.best_epoch == 2


def test_early_stopping_is_off_by_default() -> None:
    # The same unlearnable data: without patience every epoch is trained (the paper's 100).
    rng = np.random.default_rng(0)
    noise = PairedFeatures(
        [str(i) for i in range(40)],
        rng.normal(size=(40, 6)).astype(np.float32),
        [str(i) for i in range(40)],
        rng.normal(size=(40, 5)).astype(np.float32),
        np.arange(40),
    )
    dev = noise.subset(np.arange(20))
    assert TrainConfig().patience is None and TrainConfig().epochs == 100
    config = TrainConfig(dim=4, lr=1e-2, batch_size=20, epochs=15, fold_size=20)
    result = train(noise, dev, config, device="cpu")
    assert result.history.column("epoch").to_pylist() == list(range(1, 16))
    assert result.best_rsum == max(result.history.column("dev_rsum").to_pylist())
    with pytest.raises(ConfigError, match="patience"):
        TrainConfig(patience=0)


def test_joint_space_outputs_unit_vectors() -> None:
    model = JointSpace(5, 3, 7)
    out = model.encode_images(torch.randn(4, 5))
    assert out.shape == (4, 7)
    np.testing.assert_allclose(out.norm(dim=1).detach().numpy(), 1.0, atol=1e-6)
    with pytest.raises(ConfigError):
        TrainConfig(loss="mean")
