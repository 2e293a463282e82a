"""A synthetic LAVA in the corpus's own layout, for offline runs and tests.

Sentences of LAVA's PP-attachment family ("Danny approached the chair with a yellow bag"),
each with its two trees in ``corpus_parsed_toycfg.txt`` (the file's spacing and labels) and its
scenes in ``lava.json``: for each reading two takes named like the corpus's left and right
camera views, paired through ``contrastVariants`` as in the corpus. A scene is one frame,
``frames/<visualFilename>.png``: the subject (a person in their own shirt colour) on one side,
the object (a chair, or a grey person) on the other, and the coloured bag or telescope held by
the subject (VP attachment, tree 0) or lying on / held by the object (NP attachment, tree 1).
"""

from __future__ import annotations

import json
from itertools import product
from pathlib import Path

import numpy as np
from PIL import Image

from semspace.datasets.lava import ANNOTATIONS, FRAMES_DIR, PARSES
from semspace.io import atomic_path, write_text

SUBJECTS = {"danny": (200, 40, 40), "andrei": (40, 70, 200)}
VERBS = ("approached", "left")
OBJECTS = ("chair", "person")
COLOURS = {"yellow": (235, 215, 30), "green": (40, 190, 60)}
THINGS = ("bag", "telescope")
GREY = (150, 150, 150)
BROWN = (120, 75, 35)


def sentences() -> list[tuple[str, str, str, str, str]]:
    """(subject, verb, object, colour, thing) of every demo sentence, in a fixed order."""
    return list(product(SUBJECTS, VERBS, OBJECTS, COLOURS, THINGS))


def trees_of(subject: str, verb: str, obj: str, colour: str, thing: str) -> tuple[str, str]:
    """The two trees, spaced as in LAVA's parse file: VP attachment first, then NP attachment."""
    pp = f"(PP (P with) (NP (Det a) (JJ {colour}) (N {thing})))"
    vp_attach = (
        f"(S   (NP {subject})   (VP     (V (VBD {verb}))     (NP (Det the) (N {obj}))     {pp}))"
    )
    np_attach = (
        f"(S   (NP {subject})   (VP     (V (VBD {verb}))     (NP       (NP (Det the) (N {obj}))"
        f"       {pp})))"
    )
    return vp_attach, np_attach


def draw_scene(
    subject: str,
    obj: str,
    colour: str,
    thing: str,
    reading: int,
    size: int,
    rng: np.random.Generator,
    mirror: bool = False,
) -> Image.Image:
    """One frame: reading 0 = the subject has the thing, reading 1 = the object has it."""
    img = rng.normal(110.0, 12.0, size=(size, size, 1)).repeat(3, axis=2)
    img[int(size * 0.8) :] = (90, 90, 80)  # floor
    u = size / 64.0

    def box(x0: float, y0: float, x1: float, y1: float, rgb: tuple[int, int, int]) -> None:
        img[
            int(y0 * u) : max(int(y1 * u), int(y0 * u) + 1),
            int(x0 * u) : max(int(x1 * u), int(x0 * u) + 1),
        ] = rgb

    def person(x: float, shirt: tuple[int, int, int]) -> None:
        box(x - 3, 14, x + 3, 20, (230, 190, 160))  # head
        box(x - 5, 20, x + 5, 38, shirt)  # body
        box(x - 4, 38, x + 4, 52, (50, 50, 60))  # legs

    jitter = float(rng.uniform(-3, 3))
    left_x, right_x = 14 + jitter, 46 + jitter
    person(left_x, SUBJECTS[subject])
    if obj == "chair":
        box(right_x - 7, 36, right_x + 7, 40, BROWN)  # seat
        box(right_x + 5, 22, right_x + 8, 52, BROWN)  # back
        box(right_x - 7, 40, right_x - 5, 52, BROWN)  # front leg
    else:
        person(right_x, GREY)
    rgb = COLOURS[colour]
    if reading == 0:  # held by the subject, at hand height on the far side from the object
        x = left_x - 11
    else:  # on the chair seat, or held by the other person
        x = right_x - 3 if obj == "chair" else right_x + 7
    if thing == "bag":
        y = 26 if reading == 1 and obj == "chair" else 30
        box(x, y, x + 8, y + 8, rgb)
    else:
        y = 31 if reading == 1 and obj == "chair" else 26
        box(x, y, x + 3, y + 14, rgb)
    array = np.clip(img, 0, 255).astype(np.uint8)
    if mirror:
        array = array[:, ::-1]
    return Image.fromarray(np.ascontiguousarray(array))


def write_demo_lava(
    out: str | Path, *, seed: int = 0, frame_size: int = 64, views: int = 2, mirror: bool = False
) -> Path:
    """Write ``lava.json``, ``corpus_parsed_toycfg.txt`` and ``frames/*.png`` under ``out``.

    Each reading is shot ``views`` times (another take: new noise and placement); with
    ``mirror`` the second take is mirrored, as LAVA's right camera sees the scene, which makes
    the task much harder for a tiny model (left/right no longer tells the readings apart).
    """
    out = Path(out)
    (out / FRAMES_DIR).mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    variants: list[dict] = []
    parse_lines: list[str] = []
    for index, (subject, verb, obj, colour, thing) in enumerate(sentences()):
        sid = index + 1
        text = f"{subject.capitalize()} {verb} the {obj} with a {colour} {thing}"
        for tree in trees_of(subject, verb, obj, colour, thing):
            parse_lines.append(f"{index}\t{tree}")
        hosts = (subject.capitalize(), obj)
        for reading, view in product(range(2), range(views)):
            vid = reading * views + view + 1
            other = (1 - reading) * views + view + 1
            side = "left" if view == 0 else "right"
            filename = f"demo-{sid:05d}-{vid}"
            image = draw_scene(
                subject, obj, colour, thing, reading, frame_size, rng, mirror=mirror and view == 1
            )
            with atomic_path(out / FRAMES_DIR / f"{filename}.png", suffix=".png") as tmp:
                image.save(tmp, format="PNG")
            variants.append(
                {
                    "contrastVariants": [f"{sid},{other}"],
                    "image_disambiguates": True,
                    "logicalForm": (
                        f"(has:<<e,e>,t> ({hosts[reading].lower()}:<tr,e> $0) ({thing}:<tr,e> $1))"
                    ),
                    "sentenceID": sid,
                    "syntactic_tree": "(S (NP placeholder))",
                    "text": text,
                    "variantID": vid,
                    "visualFilename": filename,
                    "visualSetup": f"{hosts[reading]} with {thing} ({side})",
                }
            )
    write_text("\n".join(parse_lines) + "\n", out / PARSES)
    write_text(json.dumps(variants, indent=2) + "\n", out / ANNOTATIONS)
    return out
