"""Relevance maps (Chefer et al. 2021) for CLIP: the rollout rule and the maps of a tiny CLIP."""

from __future__ import annotations

import numpy as np
import pytest

from semspace.experiments.relevance import clip_relevance, rollout


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

    from semspace.experiments.syntax import load_clip_parts

    parts = load_clip_parts(tiny_clip_dir)
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
