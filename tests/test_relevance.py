"""Relevance maps (Chefer et al. 2021) for CLIP: the rollout rule and the maps of a tiny CLIP."""

from __future__ import annotations

import numpy as np
import pytest

from semspace.errors import ConfigError
from semspace.experiments.relevance import choose_pairs, clip_relevance, pair_panels, rollout


def test_rollout_one_layer_by_hand():
    att = np.array([[[0.75, 0.25], [0.5, 0.5]]])  # 1 head
    grad = np.array([[[2.0, -1.0], [1.0, 4.0]]])
    # cam = relu(grad * att) = [[1.5, 0], [0.5, 2]]; R = I + cam @ I
    np.testing.assert_allclose(rollout([att], [grad]), [[2.5, 0.0], [0.5, 3.0]])


def test_rollout_is_a_product_over_layers_and_a_mean_over_heads():
    rng = np.random.default_rng(0)
    atts = [rng.random((3, 4, 4)) for _ in range(3)]
    grads = [rng.normal(size=(3, 4, 4)) for _ in range(3)]
    expected = np.eye(4)
    for a, g in zip(atts, grads):
        cam = np.maximum(a * g, 0).mean(axis=0)
        expected = (np.eye(4) + cam) @ expected
    np.testing.assert_allclose(rollout(atts, grads), expected)
    # negative gradients never add relevance
    assert np.allclose(rollout([atts[0]], [-np.abs(grads[0])]), np.eye(4))


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_clip_relevance_on_a_tiny_clip(tiny_clip_dir):
    import torch

    from semspace.experiments.syntax import load_model

    parts = load_model(tiny_clip_dir)
    torch.manual_seed(0)
    pixels = torch.randn(3, parts.image_size, parts.image_size)
    text = "(s (np danny) (vp left))"
    rel = clip_relevance(parts.model, parts.tokenizer, text, pixels)
    grid = parts.image_size // parts.model.config.vision_config.patch_size
    assert rel.image.shape == (grid, grid)
    n_tokens = len(parts.tokenizer(text)["input_ids"]) - 2  # without start and end tokens
    assert len(rel.tokens) == len(rel.text) == n_tokens
    assert "".join(rel.tokens).replace(" ", "") == text.replace(" ", "")
    assert (rel.text >= 0).all() and (rel.image >= 0).all()
    # the score is the model's own logit for this text and image
    tok = parts.tokenizer([text], return_tensors="pt")
    with torch.no_grad():
        logit = parts.model(**tok, pixel_values=pixels[None]).logits_per_image[0, 0]
    assert rel.score == pytest.approx(float(logit), rel=1e-4)
    assert parts.model.config._attn_implementation == "eager"


@pytest.fixture(scope="module")
def lava_items(tmp_path_factory):
    from semspace.datasets.lava import build_items
    from semspace.demo.lava import write_demo_lava

    root = write_demo_lava(tmp_path_factory.mktemp("lava"), seed=0)
    items, _ = build_items(root, test_fraction=0.25, seed=0, frame_ext=".png")
    return root, items


def test_choose_pairs_first_ones_or_the_asked_ones(lava_items):
    _, items = lava_items
    pairs = list(dict.fromkeys(items.column("pair").to_pylist()))
    assert choose_pairs(items, [], 2) == pairs[:2]
    assert choose_pairs(items, [pairs[3]], 1) == [pairs[3]]
    with pytest.raises(ConfigError, match="2 figures asked for but 1"):
        choose_pairs(items, [pairs[3]], 2)


def test_pair_panels_show_both_readings_with_their_own_scores(lava_items, tiny_clip_dir):
    import torch

    from semspace.experiments.syntax import item_texts, load_model
    from semspace.images import load_and_resize

    root, items = lava_items
    clip = load_model(tiny_clip_dir)
    pair = items.column("pair")[0].as_py()
    panels, title = pair_panels(clip, items, root, "bracket", pair)
    rows = [r for r in items.to_pylist() if r["pair"] == pair]
    texts = [
        t for t, r in zip(item_texts(items, "bracket"), items.to_pylist()) if r["pair"] == pair
    ]
    assert len(panels) == 2 and title.startswith(f"pair {pair}: {rows[0]['text']}")
    grid = clip.image_size // clip.model.config.vision_config.patch_size
    for panel, row, text in zip(panels, rows, texts):
        frame = np.asarray(load_and_resize(root / row["path"], clip.image_size), np.int16)
        # the frame shown is the one the model saw, back from its normalised pixels
        assert np.abs(panel["image"].astype(np.int16) - frame).max() <= 1
        assert panel["patches"].shape == (grid, grid)
        assert len(panel["tokens"]) == len(panel["token_relevance"])
        assert panel["label"].startswith(f"reading {row['reading']}: {row['visual_setup']}")
        # the score in the label is this reading's own CLIP logit
        pixels = (frame / 255.0 - np.asarray(clip.image_mean)) / np.asarray(clip.image_std)
        pixels = torch.tensor(pixels.transpose(2, 0, 1)[None], dtype=torch.float32)
        tok = clip.tokenizer([text], truncation=True, max_length=77, return_tensors="pt")
        with torch.no_grad():
            logit = clip.model(**tok, pixel_values=pixels).logits_per_image[0, 0]
        assert f"(score {float(logit):.2f})" in panel["label"]
    with pytest.raises(ConfigError, match="not among"):
        pair_panels(clip, items, root, "bracket", "no-such-pair")
