"""Synthetic scenes for the offline E2 demo, written in the real dataset formats.

A scene is a canvas with one to three coloured shapes (circle, square, triangle) in boxes
that do not overlap. From the scene we write:

* Flickr30k (or Flickr8k): JPEG images and a Karpathy caption file (five captions each);
* Flickr30k Entities: ``Sentences/<id>.txt`` with ``[/EN#id/type phrase]`` marks,
  ``Annotations/<id>.xml`` (VOC boxes, 1-based inclusive; a scene entity without box) and
  ``train.txt``/``val.txt``/``test.txt``;
* Visual Genome: ``VG_100K/<id>.jpg``, ``image_data.json`` and ``region_descriptions.json``
  (one region per shape, one per pair of shapes).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

from PIL import Image, ImageDraw

from semspace.io import atomic_path, write_json, write_text

COLOURS = {
    "red": (220, 30, 30),
    "green": (30, 170, 40),
    "blue": (30, 60, 220),
    "yellow": (235, 210, 20),
}
SHAPES = ("circle", "square", "triangle")
BACKGROUNDS = {"white": (250, 250, 250), "grey": (170, 170, 170)}


@dataclass(frozen=True)
class Shape:
    kind: str
    colour: str
    box: tuple[int, int, int, int]  # left, top, right, bottom (right/bottom exclusive)

    @property
    def phrase(self) -> str:
        return f"a {self.colour} {self.kind}"

    def variant(self, k: int) -> str:
        """The k-th way of naming the shape (captions vary them, as real annotators do)."""
        forms = (
            self.phrase,
            f"the {self.colour} {self.kind}",
            self.phrase,
            f"a {self.colour} shape",
            f"one {self.kind}",
        )
        return forms[k % len(forms)]


@dataclass(frozen=True)
class Scene:
    width: int
    height: int
    background: str
    shapes: tuple[Shape, ...]


def random_scene(rng: random.Random, width: int = 128, height: int = 96) -> Scene:
    """One to three shapes of distinct (kind, colour) in non-overlapping boxes."""
    n = rng.randint(1, 3)
    shapes: list[Shape] = []
    kinds = rng.sample([(k, c) for k in SHAPES for c in COLOURS], n)
    for kind, colour in kinds:
        for _ in range(50):
            size = rng.randint(min(width, height) // 4, min(width, height) // 2)
            left, top = rng.randint(0, width - size), rng.randint(0, height - size)
            box = (left, top, left + size, top + size)
            if all(_disjoint(box, s.box) for s in shapes):
                shapes.append(Shape(kind, colour, box))
                break
    shapes.sort(key=lambda s: s.box[0])  # left to right: captions read in this order
    return Scene(width, height, rng.choice(sorted(BACKGROUNDS)), tuple(shapes))


def _disjoint(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    return a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1]


def draw(scene: Scene) -> Image.Image:
    img = Image.new("RGB", (scene.width, scene.height), BACKGROUNDS[scene.background])
    pen = ImageDraw.Draw(img)
    for s in scene.shapes:
        l, t, r, b = s.box
        fill = COLOURS[s.colour]
        if s.kind == "circle":
            pen.ellipse((l, t, r - 1, b - 1), fill=fill)
        elif s.kind == "square":
            pen.rectangle((l, t, r - 1, b - 1), fill=fill)
        else:
            pen.polygon([((l + r) // 2, t), (l, b - 1), (r - 1, b - 1)], fill=fill)
    return img


def _list(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def caption_templates(scene: Scene) -> list[list[tuple[str, int | None]]]:
    """Five captions as lists of (text, shape index or -1 for the background, None for plain)."""
    idx = list(range(len(scene.shapes)))
    rev = idx[::-1]

    def seq(order: list[int], k: int) -> list[tuple[str, int | None]]:
        out: list[tuple[str, int | None]] = []
        for n, i in enumerate(order):
            if n:
                out.append((" and " if n == len(order) - 1 else " , ", None))
            out.append((scene.shapes[i].variant(k), i))
        return out

    bg = f"a {scene.background} background"
    return [
        seq(idx, 0) + [(" .", None)],
        [("there is ", None)] + seq(rev, 1) + [(" .", None)],
        [("a picture of ", None)] + seq(idx, 2) + [(" on ", None), (bg, -1)],
        seq(rev, 3) + [(" on ", None), (bg, -1), (" .", None)],
        [("a simple drawing with ", None)] + seq(idx, 4),
    ]


def _plain(parts: list[tuple[str, int | None]]) -> str:
    return " ".join("".join(text for text, _ in parts).split())


def _marked(parts: list[tuple[str, int | None]], entity_ids: list[int], scene_id: int) -> str:
    out = []
    for text, index in parts:
        if index is None:
            out.append(text)
        elif index == -1:
            out.append(f"[/EN#{scene_id}/scene {text}]")
        else:
            out.append(f"[/EN#{entity_ids[index]}/other {text}]")
    return " ".join("".join(out).split())


def _annotation_xml(filename: str, scene: Scene, entity_ids: list[int], scene_id: int) -> str:
    objects = []
    for shape, eid in zip(scene.shapes, entity_ids, strict=True):
        l, t, r, b = shape.box
        objects.append(
            f"  <object>\n    <name>{eid}</name>\n    <bndbox>\n"
            f"      <xmin>{l + 1}</xmin>\n      <ymin>{t + 1}</ymin>\n"
            f"      <xmax>{r}</xmax>\n      <ymax>{b}</ymax>\n    </bndbox>\n  </object>"
        )
    objects.append(
        f"  <object>\n    <name>{scene_id}</name>\n    <nobndbox>0</nobndbox>\n"
        f"    <scene>1</scene>\n  </object>"
    )
    return (
        f"<annotation>\n  <filename>{escape(filename)}</filename>\n  <size>\n"
        f"    <width>{scene.width}</width>\n    <height>{scene.height}</height>\n"
        f"    <depth>3</depth>\n  </size>\n" + "\n".join(objects) + "\n</annotation>\n"
    )


def _split_of(i: int, n: int, n_val: int, n_test: int) -> str:
    if i >= n - n_test:
        return "test"
    if i >= n - n_test - n_val:
        return "val"
    return "train"


def _save_jpeg(img: Image.Image, path: Path) -> None:
    with atomic_path(path, suffix=".jpg") as tmp:
        img.save(tmp, format="JPEG", quality=92)


def write_flickr(
    out: str | Path,
    n_scenes: int = 48,
    n_val: int = 8,
    n_test: int = 8,
    seed: int = 0,
    variant: str = "flickr30k",
    entities: bool = True,
) -> list[Scene]:
    """A Flickr30k-style (or Flickr8k-style) folder; with Flickr30k Entities files if asked."""
    rng = random.Random(seed)
    out = Path(out)
    folder = "flickr30k-images" if variant == "flickr30k" else "Flicker8k_Dataset"
    scenes, images, next_entity = [], [], 1
    split_lists: dict[str, list[str]] = {"train": [], "val": [], "test": []}
    sentid = 0
    for i in range(n_scenes):
        scene = random_scene(rng)
        scenes.append(scene)
        image_id = (
            str(1_000_000 + i)
            if variant == "flickr30k"
            else f"{1_000_000 + i}_{rng.getrandbits(40):010x}"
        )
        filename = f"{image_id}.jpg"
        _save_jpeg(draw(scene), out / folder / filename)
        split = _split_of(i, n_scenes, n_val, n_test)
        split_lists[split].append(image_id)
        templates = caption_templates(scene)
        sentences = []
        for parts in templates:
            raw = _plain(parts)
            sentences.append(
                {"tokens": raw.replace(" .", "").split(), "raw": raw, "imgid": i, "sentid": sentid}
            )
            sentid += 1
        images.append(
            {
                "sentids": [s["sentid"] for s in sentences],
                "imgid": i,
                "sentences": sentences,
                "split": split,
                "filename": filename,
            }
        )
        if entities:
            ids = list(range(next_entity, next_entity + len(scene.shapes)))
            scene_id = next_entity + len(scene.shapes)
            next_entity = scene_id + 1
            lines = [_marked(parts, ids, scene_id) for parts in templates]
            write_text("\n".join(lines) + "\n", out / "Sentences" / f"{image_id}.txt")
            write_text(
                _annotation_xml(filename, scene, ids, scene_id),
                out / "Annotations" / f"{image_id}.xml",
            )
    write_json({"images": images, "dataset": variant}, out / f"dataset_{variant}.json")
    if entities:
        for split, ids in split_lists.items():
            write_text("".join(f"{x}\n" for x in ids), out / f"{split}.txt")
    return scenes


def write_visual_genome(out: str | Path, n_scenes: int = 48, seed: int = 1) -> list[Scene]:
    """A Visual Genome-style folder: images, image_data.json, region_descriptions.json."""
    rng = random.Random(seed)
    out = Path(out)
    scenes, image_data, descriptions = [], [], []
    region_id = 1
    for i in range(n_scenes):
        scene = random_scene(rng)
        scenes.append(scene)
        image_id = i + 1
        _save_jpeg(draw(scene), out / "VG_100K" / f"{image_id}.jpg")
        image_data.append(
            {
                "width": scene.width,
                "height": scene.height,
                "image_id": image_id,
                "url": f"https://cs.stanford.edu/people/rak248/VG_100K/{image_id}.jpg",
                "coco_id": None,
                "flickr_id": None,
            }
        )
        regions = []
        for n, shape in enumerate(scene.shapes):
            side = "left" if (shape.box[0] + shape.box[2]) / 2 < scene.width / 2 else "right"
            phrase = shape.phrase if n % 2 else f"{shape.phrase} on the {side}"
            regions.append(_region(region_id, image_id, phrase, shape.box))
            region_id += 1
        for a, b in zip(scene.shapes, scene.shapes[1:]):
            box = (
                min(a.box[0], b.box[0]),
                min(a.box[1], b.box[1]),
                max(a.box[2], b.box[2]),
                max(a.box[3], b.box[3]),
            )
            regions.append(_region(region_id, image_id, f"{a.phrase} next to {b.phrase}", box))
            region_id += 1
        descriptions.append({"regions": regions, "id": image_id})
    write_json(image_data, out / "image_data.json")
    write_json(descriptions, out / "region_descriptions.json")
    return scenes


def _region(region_id: int, image_id: int, phrase: str, box: tuple[int, int, int, int]) -> dict:
    l, t, r, b = box
    return {
        "region_id": region_id,
        "width": r - l,
        "height": b - t,
        "image_id": image_id,
        "phrase": phrase,
        "y": t,
        "x": l,
    }


def write_demo(
    flickr30k: str | Path | None,
    flickr8k: str | Path | None,
    visual_genome: str | Path | None,
    n_scenes: int = 48,
    n_val: int = 8,
    n_test: int = 8,
    seed: int = 0,
) -> None:
    """Every E2 demo dataset; each folder is skipped when None."""
    if flickr30k is not None:
        write_flickr(flickr30k, n_scenes, n_val, n_test, seed, "flickr30k", entities=True)
    if flickr8k is not None:
        write_flickr(flickr8k, n_scenes, n_val, n_test, seed + 1, "flickr8k", entities=False)
    if visual_genome is not None:
        write_visual_genome(visual_genome, n_scenes, seed + 2)
