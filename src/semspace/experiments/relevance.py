"""Relevance maps for CLIP (Chefer et al., 2021, "Generic attention-model explainability for
interpreting bi-modal and encoder-decoder transformers").

For the score s = cos(text, image) · logit_scale, each encoder's relevance starts at the
identity and, layer by layer, is updated as R ← R + Ā·R with Ā = mean over heads of
ReLU(∇A ⊙ A) (the attention map weighted by its gradient). CLIP's towers do not attend to
each other, so the bi-modal rules reduce to the self-attention rule in each tower; the image
map is the [CLS] row over the patches, the text map the row of the token that CLIP pools
(the end-of-text token).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from semspace.errors import ConfigError

if TYPE_CHECKING:
    import pyarrow as pa

    from semspace.embed import Clip


def rollout(attentions: Sequence, gradients: Sequence) -> np.ndarray:
    """Gradient-weighted rollout over layers of one example: (tokens × tokens) relevance.

    ``attentions[l]`` and ``gradients[l]`` are arrays (heads, n, n) of layer ``l``.
    """
    n = np.asarray(attentions[0]).shape[-1]
    relevance = np.eye(n, dtype=np.float64)
    for att, grad in zip(attentions, gradients):
        cam = np.clip(np.asarray(grad, np.float64) * np.asarray(att, np.float64), 0, None).mean(
            axis=0
        )
        relevance = relevance + cam @ relevance
    return relevance


@dataclass
class Relevance:
    tokens: list[str]  # the text's tokens, without start/end tokens
    text: np.ndarray  # relevance of each token (same length as ``tokens``)
    image: np.ndarray  # (grid, grid) relevance of the image patches
    score: float  # logit_scale · cosine similarity


def clip_relevance(model, tokenizer, text: str, pixel_values, max_length: int = 77) -> Relevance:
    """Relevance of ``text``'s tokens and of the image patches for their CLIP score.

    ``pixel_values`` is one normalised image (3, s, s) as a torch tensor. The model must use
    eager attention (``attn_implementation="eager"``) so that attention weights are returned.
    """

    model.eval()
    device = next(model.parameters()).device
    tok = tokenizer([text], truncation=True, max_length=max_length, return_tensors="pt")
    input_ids = tok["input_ids"].to(device)
    out = model(
        input_ids=input_ids,
        attention_mask=tok["attention_mask"].to(device),
        pixel_values=pixel_values.unsqueeze(0).to(device),
        output_attentions=True,
    )
    text_atts = out.text_model_output.attentions
    image_atts = out.vision_model_output.attentions
    if not text_atts or not image_atts:
        raise RuntimeError(
            "the model returned no attention weights; load it with attn_implementation='eager'"
        )
    for a in (*text_atts, *image_atts):
        a.retain_grad()
    score = out.logits_per_image[0, 0]
    model.zero_grad(set_to_none=True)
    score.backward()

    def as_np(seq):
        return [x[0].detach().float().cpu().numpy() for x in seq]

    r_text = rollout(as_np(text_atts), [a.grad[0].float().cpu().numpy() for a in text_atts])
    r_image = rollout(as_np(image_atts), [a.grad[0].float().cpu().numpy() for a in image_atts])
    eos = (
        int(input_ids[0].argmax())
        if getattr(model.config.text_config, "eos_token_id", 2) == 2
        else int((input_ids[0] == model.config.text_config.eos_token_id).nonzero()[0])
    )
    text_rel = r_text[eos, 1:eos]  # skip the start token and the pooled token itself
    patches = r_image[0, 1:]
    grid = round(np.sqrt(len(patches)))
    ids = input_ids[0, 1:eos].tolist()
    tokens = [t.replace("</w>", "") for t in tokenizer.convert_ids_to_tokens(ids)]
    return Relevance(
        tokens=tokens, text=text_rel, image=patches.reshape(grid, grid), score=float(score.detach())
    )


# ---------------------------------------------------------------- E3's figure panels


def choose_pairs(items: pa.Table, asked: Sequence[str], n: int) -> list[str]:
    """The pairs to draw: ``asked`` (config ``syntax.relevance.pairs``) or the first ``n`` of
    ``items``; exactly ``n`` of them (one per figure) or :class:`ConfigError`."""
    chosen = list(asked) or list(dict.fromkeys(items.column("pair").to_pylist()))[:n]
    if len(chosen) != n:
        raise ConfigError(
            f"syntax.relevance: {n} figures asked for but {len(chosen)} pairs available/given"
        )
    return chosen


def pair_panels(
    clip: Clip, items: pa.Table, root: str | Path, input_kind: str, pair: str
) -> tuple[list[dict[str, Any]], str]:
    """The two readings of ``pair`` as panels of ``semspace.report.syntax.plot_relevance``
    (frame, patch and token relevance, label) and the figure's title.

    ``clip`` must be loaded with eager attention (``semspace.experiments.syntax.load_model``).
    """
    from semspace.experiments.syntax import item_texts, load_pixels

    rows = items.to_pylist()
    idx = [i for i, r in enumerate(rows) if r["pair"] == pair]
    if len(idx) != 2:
        raise ConfigError(f"syntax.relevance.pairs: pair {pair!r} is not among the items given")
    texts = item_texts(items, input_kind)
    pixels = load_pixels(root, [rows[i]["path"] for i in idx], clip)
    mean, std = np.asarray(clip.image_mean), np.asarray(clip.image_std)
    panels = []
    for k, i in enumerate(idx):
        rel = clip_relevance(clip.model, clip.tokenizer, texts[i], pixels[k].to(clip.dtype))
        image = pixels[k].numpy().transpose(1, 2, 0) * std + mean
        panels.append(
            {
                "image": (np.clip(image, 0, 1) * 255).astype(np.uint8),
                "patches": rel.image,
                "tokens": rel.tokens,
                "token_relevance": rel.text,
                "label": (
                    f"reading {rows[i]['reading']}: {rows[i]['visual_setup']} "
                    f"(score {rel.score:.2f})"
                ),
            }
        )
    return panels, f"pair {pair}: {rows[idx[0]]['text']}  [{input_kind}]"
