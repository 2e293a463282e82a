"""Synthetic V-WSD items in the official format, for the offline demo and the tests.

Writes ``demo.data.txt`` (12 TAB fields per line), ``demo.gold.txt`` and ``images/`` with small
coloured shapes. Targets and phrases are real English words with WordNet synsets, so that glosses
exist. One candidate is a PNG with alpha and one distractor is listed but not written (missing on
disk), as in the real releases.
"""

from __future__ import annotations

import random
from pathlib import Path

from PIL import Image, ImageDraw

from semspace.io import atomic_path, write_text

#: (target, full phrase) of each demo item.
DEMO_ITEMS: tuple[tuple[str, str], ...] = (
    ("andromeda", "andromeda tree"),
    ("bank", "river bank"),
    ("mouse", "computer mouse"),
    ("crane", "crane bird"),
    ("bass", "bass fish"),
    ("apple", "apple tree"),
    ("seal", "seal animal"),
    ("jaguar", "jaguar xk120"),  # support phrase not in WordNet: no gloss
)
N_CANDIDATES = 10
SHAPES = ("circle", "square", "triangle", "cross")
#: (item, candidate position) of the PNG candidate and of the candidate missing on disk.
PNG_AT = (2, 6)
MISSING_AT = (3, 8)


def _draw(rng: random.Random, size: int) -> Image.Image:
    background = tuple(rng.randrange(256) for _ in range(3))
    colour = tuple(rng.randrange(256) for _ in range(3))
    img = Image.new("RGB", (size, size), background)
    draw = ImageDraw.Draw(img)
    shape = rng.choice(SHAPES)
    lo, hi = size // 5, size - size // 5
    if shape == "circle":
        draw.ellipse([lo, lo, hi, hi], fill=colour)
    elif shape == "square":
        draw.rectangle([lo, lo, hi, hi], fill=colour)
    elif shape == "triangle":
        draw.polygon([(size // 2, lo), (lo, hi), (hi, hi)], fill=colour)
    else:
        w = size // 8
        draw.rectangle([size // 2 - w, lo, size // 2 + w, hi], fill=colour)
        draw.rectangle([lo, size // 2 - w, hi, size // 2 + w], fill=colour)
    return img


def write_demo_vwsd(out: Path, seed: int = 0, size: int = 48) -> list[Path]:
    """Write the demo split under ``out``; returns the files written. Deterministic per seed."""
    rng = random.Random(seed)
    images = out / "images"
    images.mkdir(parents=True, exist_ok=True)
    data_lines, gold_lines, written = [], [], []
    number = 0
    for i, (target, phrase) in enumerate(DEMO_ITEMS):
        names = []
        for j in range(N_CANDIDATES):
            ext = "png" if (i, j) == PNG_AT else "jpg"
            name = f"image.{number}.{ext}"
            number += 1
            names.append(name)
            if (i, j) == MISSING_AT:
                continue
            img = _draw(rng, size)
            path = images / name
            with atomic_path(path, suffix=f".{ext}") as tmp:
                if ext == "png":
                    rgba = img.convert("RGBA")
                    rgba.putalpha(200)
                    rgba.save(tmp, format="PNG")
                else:
                    img.save(tmp, format="JPEG", quality=90)
            written.append(path)
        order = list(range(N_CANDIDATES))
        rng.shuffle(order)
        shuffled = [names[k] for k in order]
        gold = names[0] if (i, 0) != MISSING_AT else names[1]
        data_lines.append("\t".join([target, phrase, *shuffled]))
        gold_lines.append(gold)
    data, gold_file = out / "demo.data.txt", out / "demo.gold.txt"
    write_text("\n".join(data_lines) + "\n", data)
    write_text("\n".join(gold_lines) + "\n", gold_file)
    return [data, gold_file, *written]
