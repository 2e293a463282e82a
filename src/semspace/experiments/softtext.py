"""E4: "soft text" prompts for CLIP zero-shot classification (see DESIGN.md, E4).

Hard text is one prompt per class, ``"a photo of a {class}."``. Soft text is built per image
from a separate classifier's top-2 classes (p1, p2): the candidate for class c is
``"a photo of a {class} {rel} a {other}."`` with other = p1 if c != p1 else p2, for each
relation phrase (like, looks like, resembles). CLIP picks the candidate whose text embedding
is most similar to the image embedding.

A candidate text depends only on (c, other), so 10,000 images x 10 candidates hold at most
10 x 9 distinct texts per relation: texts are de-duplicated before they are embedded.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from semspace.errors import ConfigError

HARD_TEMPLATE = "a photo of a {class}."
SOFT_TEMPLATE = "a photo of a {class} {rel} a {other}."
#: prompt name -> relation phrase, our reading of the paper's "like", "look like", "resemble".
RELATIONS: dict[str, str] = {"like": "like", "looks_like": "looks like", "resembles": "resembles"}
HARD = "hard"

#: One row per (image, prompt): the class CLIP chose and the text it chose it by.
PREDICTIONS = pa.schema(
    [
        pa.field("key", pa.string(), nullable=False),
        pa.field("prompt", pa.string(), nullable=False),
        pa.field("label", pa.int16(), nullable=False),
        pa.field("predicted", pa.int16(), nullable=False),
        pa.field("correct", pa.bool_(), nullable=False),
        pa.field("similarity", pa.float32(), nullable=False),
        pa.field("text", pa.string(), nullable=False),
    ]
)

#: Zero-shot accuracy per prompt (fraction of images; the report adds the paper's numbers).
ACCURACY = pa.schema(
    [
        pa.field("prompt", pa.string(), nullable=False),
        pa.field("template", pa.string(), nullable=False),
        pa.field("n_images", pa.int64(), nullable=False),
        pa.field("n_correct", pa.int64(), nullable=False),
        pa.field("accuracy", pa.float64(), nullable=False),
        pa.field("n_texts", pa.int64(), nullable=False),  # distinct candidate texts
    ]
)

#: Confusion matrices, long form: rows are true classes, ``predicted`` the chosen ones.
CONFUSION = pa.schema(
    [
        pa.field("prompt", pa.string(), nullable=False),
        pa.field("label", pa.int16(), nullable=False),
        pa.field("predicted", pa.int16(), nullable=False),
        pa.field("count", pa.int64(), nullable=False),
    ]
)

#: Every distinct candidate text with its embedding and how many images it was offered to.
TEXTS = pa.schema(
    [
        pa.field("prompt", pa.string(), nullable=False),
        pa.field("text", pa.string(), nullable=False),
        pa.field("class", pa.int16(), nullable=False),
        pa.field("other", pa.int16()),  # null for hard text
        pa.field("n_images", pa.int64(), nullable=False),
        pa.field("embedding", pa.list_(pa.float32()), nullable=False),
    ]
)


@dataclass(frozen=True)
class Prompt:
    """A named prompt: hard (``relation`` None) or soft with a relation phrase."""

    name: str
    template: str
    relation: str | None = None

    @property
    def soft(self) -> bool:
        return self.relation is not None


@dataclass(frozen=True)
class Candidates:
    """The candidate texts of a prompt: ``texts`` distinct, ``index[i, c]`` the text for class c
    of image i, and the (class, other) pair each text was made from."""

    prompt: Prompt
    texts: list[str]
    index: np.ndarray  # n_images x n_classes, int64 into texts
    classes: np.ndarray  # per text
    others: np.ndarray  # per text; -1 for hard text


def make_prompts(
    hard_template: str = HARD_TEMPLATE,
    soft_template: str = SOFT_TEMPLATE,
    relations: Mapping[str, str] = RELATIONS,
) -> list[Prompt]:
    """The hard prompt followed by one soft prompt per relation, in the mapping's order."""
    if HARD in relations:
        raise ConfigError(
            f"softtext.prompts.relations: name {HARD!r} is reserved for the hard prompt"
        )
    prompts = [Prompt(HARD, hard_template)]
    prompts += [Prompt(name, soft_template, phrase) for name, phrase in relations.items()]
    for prompt in prompts:
        check_template(prompt)
    return prompts


def check_template(prompt: Prompt) -> None:
    """Raise ValueError if the template does not format with the placeholders it may use."""
    try:
        text = render(prompt, "cat", "dog")
    except (KeyError, IndexError, ValueError) as exc:
        raise ConfigError(
            f"softtext.prompts: template of prompt {prompt.name!r} ({prompt.template!r}) "
            f"does not format: {exc}; "
            "placeholders are {class}, and for soft text {rel} and {other}"
        ) from None
    if "cat" not in text:
        raise ConfigError(
            f"softtext.prompts: template of prompt {prompt.name!r} ({prompt.template!r}) lacks "
            "{class}"
        )


def render(prompt: Prompt, cls: str, other: str | None = None) -> str:
    fields = {"class": cls}
    if prompt.soft:
        fields |= {"rel": prompt.relation or "", "other": other or ""}
    return prompt.template.format(**fields)


def soft_others(top1: np.ndarray, top2: np.ndarray, n_classes: int) -> np.ndarray:
    """``others[i, c]`` = p1 if c != p1 else p2: the class image i's candidate c is compared to."""
    top1 = np.asarray(top1, dtype=np.int64)[:, None]
    top2 = np.asarray(top2, dtype=np.int64)[:, None]
    classes = np.arange(n_classes)[None, :]
    return np.where(classes == top1, top2, top1)


def candidates(
    prompt: Prompt, class_names: Sequence[str], top1: np.ndarray, top2: np.ndarray
) -> Candidates:
    """Distinct candidate texts of ``prompt`` and, per image and class, which text is its."""
    n_classes = len(class_names)
    n_images = len(top1)
    if not prompt.soft:
        texts = [render(prompt, name) for name in class_names]
        index = np.broadcast_to(np.arange(n_classes), (n_images, n_classes)).copy()
        return Candidates(prompt, texts, index, np.arange(n_classes), np.full(n_classes, -1))
    others = soft_others(top1, top2, n_classes)
    pair_code = np.arange(n_classes)[None, :] * n_classes + others  # (class, other) -> one int
    codes, index = np.unique(pair_code, return_inverse=True)
    index = index.reshape(n_images, n_classes)
    classes, other = codes // n_classes, codes % n_classes
    texts = [render(prompt, class_names[c], class_names[o]) for c, o in zip(classes, other)]
    return Candidates(prompt, texts, index, classes, other)


def embed_distinct(
    texts_by_prompt: Mapping[str, Sequence[str]],
    embed: Callable[[list[str]], np.ndarray],
) -> dict[str, np.ndarray]:
    """Embed each distinct text of all prompts once (one call of ``embed``); rows per prompt."""
    distinct = list(dict.fromkeys(t for texts in texts_by_prompt.values() for t in texts))
    vectors = (
        np.asarray(embed(distinct), dtype=np.float32) if distinct else np.zeros((0, 0), np.float32)
    )
    if len(vectors) != len(distinct):
        raise ValueError(f"embedding returned {len(vectors)} rows for {len(distinct)} texts")
    row = {text: i for i, text in enumerate(distinct)}
    return {name: vectors[[row[t] for t in texts]] for name, texts in texts_by_prompt.items()}


def zero_shot(
    image_embeddings: np.ndarray, text_embeddings: np.ndarray, index: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per image, the class whose candidate text is most similar (ties: lowest class), and that
    similarity. Embeddings are L2-normalised, so the dot product is the cosine."""
    similarity = image_embeddings.astype(np.float32) @ text_embeddings.astype(np.float32).T
    per_class = np.take_along_axis(similarity, index, axis=1)
    predicted = per_class.argmax(axis=1)
    return predicted, per_class[np.arange(len(predicted)), predicted]


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray, n_classes: int) -> np.ndarray:
    """counts[t, p]: images of true class t predicted as p."""
    flat = np.asarray(labels, dtype=np.int64) * n_classes + np.asarray(predicted, dtype=np.int64)
    return np.bincount(flat, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


@dataclass(frozen=True)
class Evaluation:
    predictions: pa.Table
    accuracy: pa.Table
    confusion: pa.Table
    texts: pa.Table


def evaluate(
    keys: Sequence[str],
    labels: np.ndarray,
    top1: np.ndarray,
    top2: np.ndarray,
    image_embeddings: np.ndarray,
    class_names: Sequence[str],
    prompts: Sequence[Prompt],
    embed: Callable[[list[str]], np.ndarray],
) -> Evaluation:
    """Zero-shot classification of the images under every prompt: the four E4 tables."""
    n_classes = len(class_names)
    labels = np.asarray(labels, dtype=np.int64)
    cands = {p.name: candidates(p, class_names, top1, top2) for p in prompts}
    vectors = embed_distinct({name: c.texts for name, c in cands.items()}, embed)
    predictions, accuracy, confusion, texts = [], [], [], []
    for name, cand in cands.items():
        predicted, similarity = zero_shot(image_embeddings, vectors[name], cand.index)
        chosen = cand.index[np.arange(len(predicted)), predicted]
        correct = predicted == labels
        predictions.append(
            pa.table(
                {
                    "key": list(keys),
                    "prompt": [name] * len(keys),
                    "label": labels.astype(np.int16),
                    "predicted": predicted.astype(np.int16),
                    "correct": correct,
                    "similarity": similarity.astype(np.float32),
                    "text": [cand.texts[i] for i in chosen],
                },
                schema=PREDICTIONS,
            )
        )
        accuracy.append(
            {
                "prompt": name,
                "template": cand.prompt.template.replace("{rel}", cand.prompt.relation or "{rel}"),
                "n_images": len(labels),
                "n_correct": int(correct.sum()),
                "accuracy": float(correct.mean()) if len(labels) else 0.0,
                "n_texts": len(cand.texts),
            }
        )
        matrix = confusion_matrix(labels, predicted, n_classes)
        t, p = np.meshgrid(np.arange(n_classes), np.arange(n_classes), indexing="ij")
        confusion.append(
            pa.table(
                {
                    "prompt": [name] * matrix.size,
                    "label": t.ravel().astype(np.int16),
                    "predicted": p.ravel().astype(np.int16),
                    "count": matrix.ravel(),
                },
                schema=CONFUSION,
            )
        )
        uses = np.bincount(cand.index.ravel(), minlength=len(cand.texts))
        texts.append(
            pa.table(
                {
                    "prompt": [name] * len(cand.texts),
                    "text": cand.texts,
                    "class": cand.classes.astype(np.int16),
                    "other": pa.array([None if o < 0 else int(o) for o in cand.others], pa.int16()),
                    "n_images": uses.astype(np.int64),
                    "embedding": [v.tolist() for v in vectors[name]],
                },
                schema=TEXTS,
            )
        )
    return Evaluation(
        pa.concat_tables(predictions),
        pa.Table.from_pylist(accuracy, schema=ACCURACY),
        pa.concat_tables(confusion),
        pa.concat_tables(texts),
    )


def align(
    image_keys: Sequence[str], image_embeddings: np.ndarray, top2: pa.Table
) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """Join image embeddings with the classifier's top-2 table by key.

    Returns keys, labels, top1, top2 and embeddings of the images present in both (in the
    embeddings' order), and the keys of embedded images that have no top-2 row.
    """
    row = {k: i for i, k in enumerate(top2.column("key").to_pylist())}
    keep = [i for i, k in enumerate(image_keys) if k in row]
    missing = [k for k in image_keys if k not in row]
    rows = np.array([row[image_keys[i]] for i in keep], dtype=np.int64)
    col = {name: top2.column(name).to_numpy() for name in ("label", "top1", "top2")}
    keys = [image_keys[i] for i in keep]
    take = (lambda a: a[rows].astype(np.int64)) if len(rows) else (lambda a: np.zeros(0, np.int64))
    return (
        keys,
        take(col["label"]),
        take(col["top1"]),
        take(col["top2"]),
        image_embeddings[keep],
        missing,
    )
