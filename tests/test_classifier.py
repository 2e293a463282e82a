"""E4's classifier: models, input normalisation, augmentation, checkpoint/resume, top-2 table."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from semspace.errors import ConfigError
from semspace.experiments import classifier as clf


def test_models_give_one_logit_per_class() -> None:
    x = torch.zeros(2, 3, 32, 32)
    for arch, stem in (("cifar_resnet8", False), ("resnet18", False), ("resnet18", True)):
        model = clf.build_model(arch, num_classes=7, cifar_stem=stem).eval()
        with torch.inference_mode():
            assert model(x).shape == (2, 7)
    stemmed = clf.build_model("resnet18", cifar_stem=True)
    assert stemmed.conv1.kernel_size == (3, 3) and stemmed.conv1.stride == (1, 1)
    assert isinstance(stemmed.maxpool, torch.nn.Identity)
    # 6n + 2 layers: n = 1 -> 6 convolutions in blocks + stem + the 1x1 shortcuts (2) + fc
    convs = [
        m for m in clf.build_model("cifar_resnet8").modules() if isinstance(m, torch.nn.Conv2d)
    ]
    assert sum(m.kernel_size == (3, 3) for m in convs) == 7
    with pytest.raises(ConfigError, match="unknown architecture"):
        clf.build_model("vgg16")


def test_to_tensor_normalises_per_channel() -> None:
    images = np.zeros((1, 32, 32, 3), dtype=np.uint8)
    images[0, 5, 6] = (255, 0, 51)
    x = clf.to_tensor(images)
    assert x.shape == (1, 3, 32, 32)
    expected = [(1.0 - clf.CIFAR_MEAN[0]) / clf.CIFAR_STD[0], -clf.CIFAR_MEAN[1] / clf.CIFAR_STD[1],
                (0.2 - clf.CIFAR_MEAN[2]) / clf.CIFAR_STD[2]]  # fmt: skip
    np.testing.assert_allclose(x[0, :, 5, 6].numpy(), expected, rtol=1e-5)


def test_augmentation_is_a_padded_crop_or_its_mirror() -> None:
    x = torch.arange(2 * 3 * 32 * 32, dtype=torch.float32).reshape(2, 3, 32, 32) + 1
    out = clf.augment_batch(x, torch.Generator().manual_seed(0))
    padded = torch.nn.functional.pad(x, (4, 4, 4, 4))
    for i in range(2):
        crops = [padded[i, :, dy : dy + 32, dx : dx + 32] for dy in range(9) for dx in range(9)]
        assert any(torch.equal(out[i], c) or torch.equal(out[i], c.flip(-1)) for c in crops)


def test_top2_table_hand_case() -> None:
    probs = np.array([[0.1, 0.6, 0.3], [0.4, 0.2, 0.4], [0.05, 0.15, 0.8]], dtype=np.float32)
    table = clf.top2_table(["a", "b", "c"], np.array([1, 2, 1]), probs)
    assert table.schema == clf.TOP2
    assert table.column("top1").to_pylist() == [1, 0, 2]  # ties: the lower class first
    assert table.column("top2").to_pylist() == [2, 2, 1]
    np.testing.assert_allclose(table.column("p1").to_numpy(), [0.6, 0.4, 0.8])
    np.testing.assert_allclose(table.column("p2").to_numpy(), [0.3, 0.4, 0.15])
    metrics = clf.top2_metrics(table)
    assert metrics["n"] == 3
    assert metrics["accuracy"] == pytest.approx(1 / 3)  # only image a
    assert metrics["top2_accuracy"] == pytest.approx(1.0)  # b: 2 is second, c: 1 is second


def _toy_data(n: int = 48) -> tuple[np.ndarray, np.ndarray]:
    """Two classes: dark images and bright images."""
    rng = np.random.default_rng(0)
    labels = np.arange(n) % 2
    images = rng.integers(0, 60, size=(n, 32, 32, 3)) + labels[:, None, None, None] * 180
    return images.astype(np.uint8), labels


def test_training_learns_and_resumes_exactly(tmp_path: Path, monkeypatch) -> None:
    images, labels = _toy_data()
    cfg = clf.TrainConfig(arch="cifar_resnet8", epochs=3, batch_size=16, lr=0.05, seed=1)

    full, history = clf.train(images, labels, cfg, tmp_path / "full.pt", num_classes=2)
    assert [h["epoch"] for h in history] == [1, 2, 3]
    probs = clf.predict_probs(full, images)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    assert (probs.argmax(axis=1) == labels).mean() >= 0.9

    # A run killed after its first checkpoint, then started again, ends where the full run did.
    saves = {"n": 0}
    original = clf.save_checkpoint

    def crash_after_first(*args, **kwargs):
        original(*args, **kwargs)
        saves["n"] += 1
        raise KeyboardInterrupt("killed")

    monkeypatch.setattr(clf, "save_checkpoint", crash_after_first)
    with pytest.raises(KeyboardInterrupt):
        clf.train(images, labels, cfg, tmp_path / "resumed.pt", num_classes=2)
    monkeypatch.setattr(clf, "save_checkpoint", original)
    assert torch.load(tmp_path / "resumed.pt", weights_only=False)["epoch"] == 1
    resumed, resumed_history = clf.train(
        images, labels, cfg, tmp_path / "resumed.pt", num_classes=2
    )
    assert resumed_history == history
    for (name, a), (_, b) in zip(full.state_dict().items(), resumed.state_dict().items()):
        assert torch.equal(a, b), name

    # Other settings: the checkpoint is not trusted and training starts over.
    other = clf.TrainConfig(arch="cifar_resnet8", epochs=1, batch_size=16, lr=0.05, seed=1)
    assert clf.load_checkpoint(tmp_path / "resumed.pt", other) is None
    _, short = clf.train(images, labels, other, tmp_path / "resumed.pt", num_classes=2)
    assert [h["epoch"] for h in short] == [1]
