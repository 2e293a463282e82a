"""Synthetic COCO captions in the real formats (BLIP/ALBEF list, or Karpathy's dataset_coco.json).

Each image has a scene (a subject, an object, a place); its 5 captions (sometimes 6, as in
the real split) describe that scene in varied words, so that token sets of one scene overlap.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from semspace.io import write_json

SUBJECTS = ["man", "woman", "girl", "boy", "dog", "cat", "horse", "bird", "child", "player"]
ADJECTIVES = ["young", "small", "large", "old", "white", "black", "red", "happy", "little", "brown"]
VERBS = [
    "holding",
    "riding",
    "eating",
    "sitting on",
    "standing next to",
    "looking at",
    "carrying",
    "playing with",
]
OBJECTS = [
    "pizza",
    "bike",
    "motorcycle",
    "frisbee",
    "umbrella",
    "surfboard",
    "skateboard",
    "kite",
    "table",
    "bench",
]
PLACES = [
    "on a dirt road",
    "in a kitchen",
    "at the beach",
    "in a park",
    "on a city street",
    "in a field",
    "near the water",
    "in a room",
    "on the grass",
    "at a table",
]
OPENERS = ["A", "The", "A photo of a", "There is a", "An image of a"]


def _caption(rng: random.Random, scene: tuple[str, str, str]) -> str:
    subject, obj, place = scene
    text = f"{rng.choice(OPENERS)} {rng.choice(ADJECTIVES)} {subject} {rng.choice(VERBS)} a {obj}"
    if rng.random() < 0.7:
        text += f" {place}"
    text += rng.choice([".", ". ", "", " ."])
    return text if rng.random() < 0.9 else text.upper()


def demo_captions(n_images: int, seed: int = 0) -> list[tuple[int, list[str]]]:
    """(COCO-like id, captions) for ``n_images`` synthetic images."""
    rng = random.Random(seed)
    images = []
    for i in range(n_images):
        scene = (rng.choice(SUBJECTS), rng.choice(OBJECTS), rng.choice(PLACES))
        count = 6 if rng.random() < 0.05 else 5
        images.append((100000 + 7 * i, [_caption(rng, scene) for _ in range(count)]))
    return images


def blip_json(images: list[tuple[int, list[str]]]) -> list[dict[str, Any]]:
    return [
        {"image": f"val2014/COCO_val2014_{cid:012d}.jpg", "caption": caps} for cid, caps in images
    ]


def karpathy_json(images: list[tuple[int, list[str]]], split: str = "test") -> dict[str, Any]:
    entries = []
    sent = 0
    for i, (cid, caps) in enumerate(images):
        sentences = []
        for text in caps:
            sentences.append(
                {"tokens": text.lower().split(), "raw": text, "imgid": i, "sentid": sent}
            )
            sent += 1
        entries.append(
            {
                "filepath": "val2014",
                "filename": f"COCO_val2014_{cid:012d}.jpg",
                "imgid": i,
                "split": split,
                "cocoid": cid,
                "sentences": sentences,
                "sentids": list(range(sent - len(caps), sent)),
            }
        )
    # A few images of another split, which the reader must leave out.
    # Every sentence has non-empty lowercase tokens and an id, as in the real file.
    entries.append(
        {
            "filepath": "train2014",
            "filename": "COCO_train2014_000000000009.jpg",
            "imgid": len(images),
            "split": "train",
            "cocoid": 9,
            "sentids": [sent],
            "sentences": [
                {
                    "tokens": ["a", "train", "image"],
                    "raw": "A train image.",
                    "imgid": len(images),
                    "sentid": sent,
                }
            ],
        }
    )
    return {"images": entries, "dataset": "coco"}


def write_demo_captions(
    out: str | Path, n_images: int = 120, seed: int = 0, fmt: str = "blip"
) -> Path:
    images = demo_captions(n_images, seed)
    payload: Any = blip_json(images) if fmt == "blip" else karpathy_json(images)
    write_json(payload, out)
    return Path(out)
