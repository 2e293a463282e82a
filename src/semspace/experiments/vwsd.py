"""E1 — Visual WSD with CLIP and WordNet: glosses, prompts, scoring and metrics.

Per item and prompt: the prompt's CLIP text embedding is compared by cosine with each
candidate's image embedding; probabilities are the softmax of ``logit_scale · cosine``; the
gold image's rank gives hit@1 (accuracy) and the reciprocal rank (MRR). Candidates missing on
disk (or skipped by the resize stage) are left out and the item is flagged ``partial``.
"""

from __future__ import annotations

import logging
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from semspace.datasets.vwsd import VwsdItem
from semspace.errors import ConfigError
from semspace.runtime import progress

log = logging.getLogger("semspace.vwsd")

#: The thesis's prompts (DESIGN.md, E1); the config may override them.
DEFAULT_PROMPTS: dict[str, str] = {
    "word": "A photo of {target}.",
    "phrase": "A photo of {phrase}.",
    "definition": "A photo of {phrase}. {target} means {gloss}.",
    "gloss_only": "A photo of {gloss}.",
}
#: Strategy label of prompts that use no gloss.
NO_STRATEGY = "none"

#: One row per item and gloss strategy (``semspace vwsd glosses``).
GLOSSES = pa.schema(
    [
        pa.field("item", pa.int32(), nullable=False),
        pa.field("target", pa.string(), nullable=False),
        pa.field("phrase", pa.string(), nullable=False),
        pa.field("synset", pa.string()),
        pa.field("gloss", pa.string()),
        pa.field("similarity", pa.float64()),
        pa.field("strategy", pa.string(), nullable=False),
        pa.field("language", pa.string(), nullable=False),
        pa.field("note", pa.string()),
    ]
)

#: One row per item × prompt × strategy (``semspace vwsd score``).
ITEMS = pa.schema(
    [
        pa.field("split", pa.string(), nullable=False),
        pa.field("model", pa.string(), nullable=False),
        pa.field("item", pa.int32(), nullable=False),
        pa.field("target", pa.string(), nullable=False),
        pa.field("phrase", pa.string(), nullable=False),
        pa.field("prompt", pa.string(), nullable=False),
        pa.field("strategy", pa.string(), nullable=False),
        pa.field("text", pa.string(), nullable=False),
        pa.field(
            "fallback", pa.bool_(), nullable=False
        ),  # the gloss was missing: no_gloss_prompt used
        pa.field("synset", pa.string()),
        pa.field("gloss", pa.string()),
        pa.field("similarity", pa.float64()),
        pa.field("gold", pa.string()),
        pa.field("candidates", pa.list_(pa.string()), nullable=False),  # scored, in file order
        pa.field("missing", pa.list_(pa.string()), nullable=False),  # not scored (no embedding)
        pa.field("cosine", pa.list_(pa.float32()), nullable=False),
        pa.field("probability", pa.list_(pa.float32()), nullable=False),
        pa.field("predicted", pa.string()),
        pa.field("gold_rank", pa.int32()),  # 1 = best; null when the gold image has no embedding
        pa.field("reciprocal_rank", pa.float64()),
        pa.field("hit", pa.bool_()),
        pa.field("partial", pa.bool_(), nullable=False),
    ]
)

#: Accuracy and MRR per split × model × prompt × strategy.
METRICS = pa.schema(
    [
        pa.field("split", pa.string(), nullable=False),
        pa.field("model", pa.string(), nullable=False),
        pa.field("prompt", pa.string(), nullable=False),
        pa.field("strategy", pa.string(), nullable=False),
        pa.field("items", pa.int32(), nullable=False),  # items in the split
        pa.field("scored", pa.int32(), nullable=False),  # items whose gold image has an embedding
        pa.field("hits", pa.int32(), nullable=False),
        # the task's official scorer: an item whose gold image cannot be ranked is a miss
        pa.field("official_accuracy", pa.float64()),  # hits / items
        pa.field("official_mrr", pa.float64()),  # Σ 1/rank / items, unranked gold = 0
        pa.field("accuracy", pa.float64()),  # scored only: hits / scored
        pa.field("mrr", pa.float64()),  # scored only: Σ 1/rank / scored
        pa.field("partial", pa.int32(), nullable=False),  # scored over fewer than 10 candidates
        pa.field("glossed", pa.int32(), nullable=False),  # prompts built with a gloss
        pa.field("paper", pa.string()),
    ]
)


# ---------------------------------------------------------------- glosses


def english_only_note(language: str) -> str:
    return f"no English WordNet gloss for a {language!r} item"


def gloss_table(
    items: Sequence[VwsdItem], strategy: str, selector: object | None = None
) -> pa.Table:
    """The chosen synset and gloss of every item, in file order (schema :data:`GLOSSES`).

    Items in another language than English get no gloss and a note saying so; WordNet is only
    loaded when some item is English.
    """
    from semspace.wordnet import GlossSelector, strategy_function

    strategy_function(strategy)  # fail early on an unknown name
    if selector is None and any(item.language == "en" for item in items):
        selector = GlossSelector()
    rows: dict[str, list] = {name: [] for name in GLOSSES.names}
    for item in progress(items, f"glosses ({strategy})", total=len(items)):
        if item.language != "en":
            synset = gloss = similarity = None
            note: str | None = english_only_note(item.language)
        else:
            choice = selector.choose(strategy, item.target, item.phrase)  # type: ignore[union-attr]
            synset, gloss, similarity, note = (
                choice.synset,
                choice.gloss,
                choice.similarity,
                choice.note,
            )
        for name, value in [
            ("item", item.index),
            ("target", item.target),
            ("phrase", item.phrase),
            ("synset", synset),
            ("gloss", gloss),
            ("similarity", similarity),
            ("strategy", strategy),
            ("language", item.language),
            ("note", note),
        ]:
            rows[name].append(value)
    return pa.table(rows, schema=GLOSSES)


def gloss_share(table: pa.Table) -> float:
    """Share of rows that got a gloss."""
    n = table.num_rows
    return (n - table.column("gloss").null_count) / n if n else 0.0


# ---------------------------------------------------------------- prompts


@dataclass(frozen=True)
class Prompt:
    item: int
    prompt: str
    strategy: str
    text: str
    fallback: bool
    synset: str | None = None
    gloss: str | None = None
    similarity: float | None = None


def template_fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def check_templates(templates: Mapping[str, str], no_gloss_prompt: str) -> None:
    allowed = {"target", "phrase", "gloss"}
    for name, template in templates.items():
        unknown = template_fields(template) - allowed
        if unknown:
            raise ConfigError(
                f"config key vwsd.prompts.{name}: unknown field(s) {sorted(unknown)}; "
                f"use {{target}}, {{phrase}} or {{gloss}}"
            )
    if no_gloss_prompt not in templates or "gloss" in template_fields(templates[no_gloss_prompt]):
        raise ConfigError(
            f"config key vwsd.no_gloss_prompt: {no_gloss_prompt!r} "
            "must name a prompt without {gloss}"
        )


def build_prompts(
    items: Sequence[VwsdItem],
    templates: Mapping[str, str],
    glosses: Mapping[str, pa.Table],
    no_gloss_prompt: str = "phrase",
) -> list[Prompt]:
    """Prompts of every item: templates without ``{gloss}`` once (strategy ``none``), those with
    it once per gloss strategy; an item without a gloss gets the ``no_gloss_prompt`` text."""
    check_templates(templates, no_gloss_prompt)
    by_strategy = {name: table.to_pylist() for name, table in glosses.items()}
    for name, rows in by_strategy.items():
        if len(rows) != len(items):
            raise ConfigError(
                f"glosses of strategy {name!r} have {len(rows)} rows for {len(items)} items"
            )
    prompts: list[Prompt] = []
    for item in items:
        fields = {"target": item.target, "phrase": item.phrase}
        for name, template in templates.items():
            if "gloss" not in template_fields(template):
                prompts.append(
                    Prompt(item.index, name, NO_STRATEGY, template.format(**fields), False)
                )
                continue
            for strategy, rows in by_strategy.items():
                row = rows[item.index]
                if row["gloss"] is None:
                    text, fallback = templates[no_gloss_prompt].format(**fields), True
                else:
                    text, fallback = template.format(gloss=row["gloss"], **fields), False
                prompts.append(
                    Prompt(
                        item.index,
                        name,
                        strategy,
                        text,
                        fallback,
                        row["synset"],
                        row["gloss"],
                        row["similarity"],
                    )
                )
    return prompts


# ---------------------------------------------------------------- scoring


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max()
    e = np.exp(shifted)
    return e / e.sum()


def gold_rank(scores: np.ndarray, gold: int) -> int:
    """1-based rank of candidate ``gold`` when sorted by descending score; ties are broken by
    candidate order, as argmax does (so rank 1 ⇔ argmax is gold)."""
    g = scores[gold]
    return int(1 + np.sum(scores > g) + np.sum(scores[:gold] == g))


@dataclass(frozen=True)
class ItemScore:
    candidates: list[str]
    missing: list[str]
    cosine: np.ndarray
    probability: np.ndarray
    predicted: str | None
    rank: int | None


def score_item(
    text: np.ndarray,
    candidates: Sequence[str],
    gold: str | None,
    image_index: Mapping[str, int],
    images: np.ndarray,
    logit_scale: float,
) -> ItemScore:
    """Cosine (both sides L2-normalised) and softmax probabilities over the candidates that have
    an image embedding; the gold image's rank, or None when it has none."""
    present = [c for c in candidates if c in image_index]
    missing = [c for c in candidates if c not in image_index]
    if not present:
        empty = np.zeros(0, dtype=np.float32)
        return ItemScore([], missing, empty, empty, None, None)
    cosine = images[[image_index[c] for c in present]] @ text
    probability = softmax(logit_scale * cosine.astype(np.float64))
    rank = gold_rank(cosine, present.index(gold)) if gold in present else None
    return ItemScore(
        present,
        missing,
        cosine.astype(np.float32),
        probability.astype(np.float32),
        present[int(np.argmax(cosine))],
        rank,
    )


def score_items(
    split: str,
    model: str,
    items: Sequence[VwsdItem],
    prompts: Sequence[Prompt],
    text_embeddings: np.ndarray,
    image_keys: Sequence[str],
    image_embeddings: np.ndarray,
    logit_scale: float,
) -> pa.Table:
    """The per-item table (schema :data:`ITEMS`): one row per prompt, in prompt order."""
    if len(prompts) != len(text_embeddings):
        raise ValueError(f"{len(prompts)} prompts but {len(text_embeddings)} text embeddings")
    image_index = {key: i for i, key in enumerate(image_keys)}
    rows: dict[str, list] = {name: [] for name in ITEMS.names}
    for prompt, text in zip(prompts, text_embeddings):
        item = items[prompt.item]
        s = score_item(text, item.candidates, item.gold, image_index, image_embeddings, logit_scale)
        values = {
            "split": split,
            "model": model,
            "item": item.index,
            "target": item.target,
            "phrase": item.phrase,
            "prompt": prompt.prompt,
            "strategy": prompt.strategy,
            "text": prompt.text,
            "fallback": prompt.fallback,
            "synset": prompt.synset,
            "gloss": prompt.gloss,
            "similarity": prompt.similarity,
            "gold": item.gold,
            "candidates": s.candidates,
            "missing": s.missing,
            "cosine": s.cosine.tolist(),
            "probability": s.probability.tolist(),
            "predicted": s.predicted,
            "gold_rank": s.rank,
            "reciprocal_rank": None if s.rank is None else 1.0 / s.rank,
            "hit": None if s.rank is None else s.rank == 1,
            "partial": bool(s.missing),
        }
        for name, value in values.items():
            rows[name].append(value)
    return pa.table(rows, schema=ITEMS)


# ---------------------------------------------------------------- metrics


def hit_at_1(ranks: Sequence[int]) -> float:
    return float(np.mean([r == 1 for r in ranks])) if ranks else float("nan")


def mean_reciprocal_rank(ranks: Sequence[int]) -> float:
    return float(np.mean([1.0 / r for r in ranks])) if ranks else float("nan")


def official_scores(ranks: Sequence[int | None]) -> tuple[float | None, float | None]:
    """(hit@1, MRR) over all items as the task's scorer counts them: an item whose gold image has
    no rank (no embedding) is a miss with reciprocal rank 0. ``None`` when there are no items."""
    if not ranks:
        return None, None
    hits = sum(r == 1 for r in ranks if r is not None)
    reciprocal = sum(1.0 / r for r in ranks if r is not None)
    return hits / len(ranks), reciprocal / len(ranks)


def _row_order(groups: Mapping[tuple[str, str, str, str], object]):
    """Sort key: splits and models as first seen, prompts in the thesis's order (then by name),
    strategies with ``none`` first and then in registry order."""
    from semspace.wordnet import STRATEGIES

    splits = list(dict.fromkeys(k[0] for k in groups))
    models = list(dict.fromkeys(k[1] for k in groups))
    prompts = list(DEFAULT_PROMPTS)
    strategies = [NO_STRATEGY, *STRATEGIES]

    def key(entry: tuple[tuple[str, str, str, str], object]) -> tuple:
        split, model, prompt, strategy = entry[0]
        return (
            splits.index(split),
            models.index(model),
            (prompts.index(prompt), "") if prompt in prompts else (len(prompts), prompt),
            (strategies.index(strategy), "")
            if strategy in strategies
            else (len(strategies), strategy),
        )

    return key


def metrics_table(
    items: pa.Table, paper: Mapping[tuple[str, str, str], str] | None = None
) -> pa.Table:
    """Accuracy and MRR per split × model × prompt × strategy, both officially (over all items,
    an unrankable gold counted as a miss) and over the scored items only.

    ``paper`` maps (split, prompt, strategy) to the paper's figure for that row, shown as text.
    """
    groups: dict[tuple[str, str, str, str], list[dict]] = {}
    for row in items.select(
        ["split", "model", "prompt", "strategy", "gold_rank", "partial", "fallback", "gloss"]
    ).to_pylist():
        groups.setdefault((row["split"], row["model"], row["prompt"], row["strategy"]), []).append(
            row
        )
    out: dict[str, list] = {name: [] for name in METRICS.names}
    for (split, model, prompt, strategy), rows in sorted(groups.items(), key=_row_order(groups)):
        ranks = [r["gold_rank"] for r in rows if r["gold_rank"] is not None]
        official_accuracy, official_mrr = official_scores([r["gold_rank"] for r in rows])
        values = {
            "split": split,
            "model": model,
            "prompt": prompt,
            "strategy": strategy,
            "items": len(rows),
            "scored": len(ranks),
            "hits": sum(r == 1 for r in ranks),
            "official_accuracy": official_accuracy,
            "official_mrr": official_mrr,
            "accuracy": hit_at_1(ranks) if ranks else None,
            "mrr": mean_reciprocal_rank(ranks) if ranks else None,
            "partial": sum(bool(r["partial"]) for r in rows),
            "glossed": sum(r["gloss"] is not None and not r["fallback"] for r in rows),
            "paper": (paper or {}).get((split, prompt, strategy)),
        }
        for name, value in values.items():
            out[name].append(value)
    return pa.table(out, schema=METRICS)


# ---------------------------------------------------------------- a whole split


def score_split(
    split: str,
    model_alias: str,
    items: Sequence[VwsdItem],
    glosses: Mapping[str, pa.Table],
    embedding_paths: Sequence[str],
    model_dir: str,
    templates: Mapping[str, str] = DEFAULT_PROMPTS,
    no_gloss_prompt: str = "phrase",
    batch_size: int = 256,
    text_cache: str | None = None,
    device: str = "auto",
    dtype: str = "auto",
) -> pa.Table:
    """Prompts → CLIP text embeddings (each distinct text once, cached) → scores of a split."""
    from semspace.embed import TextEmbeddingCache, embed_texts, load_clip, read_embeddings

    # embeddings of another model than the one scoring the texts would rank as noise
    image_keys, image_embeddings = read_embeddings(list(embedding_paths), model=model_alias)
    log.info("%s: %d items, %d image embeddings", split, len(items), len(image_keys))
    prompts = build_prompts(items, templates, glosses, no_gloss_prompt)
    distinct = list(dict.fromkeys(p.text for p in prompts))
    clip = load_clip(model_dir, device=device, dtype=dtype)
    cache = TextEmbeddingCache(text_cache) if text_cache else None
    vectors = embed_texts(clip, distinct, batch_size=batch_size, cache=cache)
    row_of = {text: i for i, text in enumerate(distinct)}
    text_embeddings = np.asarray(vectors, dtype=np.float32)[[row_of[p.text] for p in prompts]]
    log.info(
        "%d prompts, %d distinct texts, logit scale %.2f",
        len(prompts),
        len(distinct),
        clip.logit_scale,
    )
    return score_items(
        split,
        model_alias,
        items,
        prompts,
        text_embeddings,
        image_keys,
        np.asarray(image_embeddings, dtype=np.float32),
        float(clip.logit_scale),
    )
