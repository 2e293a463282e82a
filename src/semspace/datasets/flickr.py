"""Flickr8k / Flickr30k captions (Karpathy splits) and Flickr30k Entities phrases with boxes.

Formats read as released:

* Karpathy's ``dataset_flickr8k.json`` / ``dataset_flickr30k.json`` (``caption_datasets.zip``):
  ``{"images": [{"filename", "split", "sentences": [{"raw", "tokens"}, ...]}, ...]}``;
  ``restval`` counts as train.
* Flickr30k Entities (``annotations.zip``): ``Sentences/<id>.txt`` (one caption per line,
  phrases marked ``[/EN#18/people A child]``), ``Annotations/<id>.xml`` (PASCAL-VOC style,
  1-based inclusive pixel boxes; one ``<object>`` may carry several entity ``<name>``s), and
  the split lists ``train.txt``/``val.txt``/``test.txt`` (image ids).

Whole images are keyed by file name (``1000092795.jpg``); a phrase's crop by file name and
box (``1000092795.jpg#12,40,300,333``), see :func:`semspace.datasets.pairs.crop_key`.
"""

from __future__ import annotations

import logging
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from semspace.datasets.karpathy import karpathy_images, read_json
from semspace.datasets.pairs import SPLITS, Pair, manifest_from_pairs, pairs_table, union_box
from semspace.errors import ConfigError, InputFormatError
from semspace.io import read_text_file

log = logging.getLogger(__name__)

CAPTION_FILES = ("dataset_flickr30k.json", "dataset_flickr8k.json", "dataset.json")
IMAGE_FOLDERS = ("flickr30k-images", "Flicker8k_Dataset", "Flickr8k_Dataset", "Images", "images")
KARPATHY_SPLITS = {"train": "train", "restval": "train", "val": "val", "test": "test"}

Box = tuple[int, int, int, int]


# ---------------------------------------------------------------- whole images + captions


def find_captions_file(root: Path, captions: str | None = None) -> Path:
    """The Karpathy JSON file: ``captions`` (relative to root) or the one standard name present."""
    if captions is not None:
        path = root / captions
        if not path.is_file():
            raise InputFormatError(path, "captions file not found (option `captions`)")
        return path
    found = [root / name for name in CAPTION_FILES if (root / name).is_file()]
    if len(found) != 1:
        raise InputFormatError(
            root,
            f"expected exactly one of {', '.join(CAPTION_FILES)} "
            f"(found {len(found)}); name it with the option `captions`",
        )
    return found[0]


def find_image_folder(root: Path, images: str | None = None) -> str:
    """Image folder relative to root: ``images`` if given, else the first standard name present."""
    if images is not None:
        return images
    for name in IMAGE_FOLDERS:
        if (root / name).is_dir():
            return name
    return "."


def _join(folder: str, filename: str) -> str:
    return filename if folder in ("", ".") else f"{folder.rstrip('/')}/{filename}"


def _check_splits(splits: list[str] | None) -> tuple[str, ...]:
    if splits is None:
        return SPLITS
    unknown = sorted(set(splits) - set(SPLITS))
    if unknown:
        raise ConfigError(
            f"datasets.<name>.options.splits: unknown split(s) {unknown}; use {', '.join(SPLITS)}"
        )
    return tuple(splits)


def read_karpathy(path: Path) -> list[dict]:
    """The ``images`` list of a Karpathy caption file, checked for the fields we use."""
    images = karpathy_images(path, read_json(path), required=("filename", "split", "sentences"))
    for i, entry in enumerate(images):
        if entry["split"] not in KARPATHY_SPLITS:
            raise InputFormatError(path, f"images[{i}] has unknown split {entry['split']!r}")
    return images


def sentence_text(sentence: dict) -> str:
    """The raw caption; captions given only as tokens are joined with spaces."""
    raw = sentence.get("raw")
    if isinstance(raw, str) and raw.strip():
        return " ".join(raw.split())
    return " ".join(sentence.get("tokens", []))


def caption_pairs(
    root: Path,
    captions: str | None = None,
    images: str | None = None,
    splits: list[str] | None = None,
) -> pa.Table:
    """Flickr8k/30k image-caption pairs in the order of the Karpathy file."""
    root = Path(root)
    wanted = _check_splits(splits)
    path = find_captions_file(root, captions)
    folder = find_image_folder(root, images)
    pairs: list[Pair] = []
    for entry in read_karpathy(path):
        split = KARPATHY_SPLITS[entry["split"]]
        if split not in wanted:
            continue
        filename = entry["filename"]
        for sentence in entry["sentences"]:
            text = sentence_text(sentence)
            if text:
                pairs.append(Pair(split, filename, _join(folder, filename), text))
    log.info("%s: %d caption pairs", path, len(pairs))
    return pairs_table(pairs)


def image_manifest(root: Path, **options: object) -> pa.Table:
    """Manifest of the Flickr8k/30k images (format ``flickr``)."""
    return manifest_from_pairs(caption_pairs(root, **options))  # type: ignore[arg-type]


# ---------------------------------------------------------------- Flickr30k Entities

_PHRASE = re.compile(r"\[/EN#(\d+)((?:/[^\s\]]+)*)\s+([^\]]*)\]")


@dataclass(frozen=True)
class Phrase:
    entity: str
    types: tuple[str, ...]
    text: str


def parse_sentence(line: str) -> tuple[str, list[Phrase]]:
    """A Sentences/<id>.txt line → (plain sentence, its marked phrases)."""
    phrases = [
        Phrase(
            m.group(1), tuple(t for t in m.group(2).split("/") if t), " ".join(m.group(3).split())
        )
        for m in _PHRASE.finditer(line)
    ]
    plain = " ".join(_PHRASE.sub(lambda m: m.group(3), line).split())
    return plain, phrases


def read_sentences(path: Path) -> list[list[Phrase]]:
    lines = read_text_file(path).splitlines()  # UTF-8 with or without BOM, UTF-16, CRLF
    out = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        if line.count("[") != line.count("]"):
            raise InputFormatError(path, "unbalanced [ ] in a phrase mark", line=number)
        out.append(parse_sentence(line)[1])
    return out


def read_annotation(path: Path) -> dict[str, list[Box]]:
    """Entity id → its boxes (0-based, right/bottom exclusive) from an Annotations/<id>.xml."""
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as exc:
        raise InputFormatError(path, f"bad XML: {exc}") from None
    boxes: dict[str, list[Box]] = {}
    for obj in root.iter("object"):
        box_node = obj.find("bndbox")
        if box_node is None:
            continue  # nobndbox / scene entities have no box
        try:
            xmin, ymin, xmax, ymax = (int(float(box_node.findtext(t, ""))) for t in _VOC)
        except ValueError:
            raise InputFormatError(path, "bndbox needs integer xmin, ymin, xmax, ymax") from None
        box = (xmin - 1, ymin - 1, xmax, ymax)
        for name in obj.findall("name"):
            if name.text:
                boxes.setdefault(name.text.strip(), []).append(box)
    return boxes


_VOC = ("xmin", "ymin", "xmax", "ymax")


def read_split_lists(root: Path, karpathy: str | None = None) -> list[tuple[str, str]]:
    """(image id, split) in order: from a Karpathy file if given, else train/val/test.txt."""
    if karpathy is not None:
        path = root / karpathy
        return [
            (Path(e["filename"]).stem, KARPATHY_SPLITS[e["split"]]) for e in read_karpathy(path)
        ]
    out: list[tuple[str, str]] = []
    for split in SPLITS:
        path = root / f"{split}.txt"
        if not path.is_file():
            raise InputFormatError(path, "split list missing; give the option `karpathy` instead")
        out += [(line.strip(), split) for line in read_text_file(path).splitlines() if line.strip()]
    return out


def entity_pairs(
    root: Path,
    images: str | None = None,
    splits: list[str] | None = None,
    karpathy: str | None = None,
    boxes: str = "union",
) -> pa.Table:
    """Flickr30k Entities phrase-crop pairs: each phrase with the box(es) of its entity.

    ``boxes``: ``union`` pairs a phrase with the box enclosing all of its entity's boxes
    ("two men" → one crop); ``each`` pairs it with every box separately. Phrases whose entity
    has no box (scene, not visual) are left out, as are exact duplicates (same crop, same text).
    ``karpathy`` (a Flickr30k Karpathy file, relative to ``root``) takes the splits from it
    instead of Entities' own lists, whose train images include Karpathy test images; use it
    whenever a model trained on Entities is evaluated on the Flickr30k Karpathy test split.
    """
    if boxes not in ("union", "each"):
        raise ConfigError("datasets.<name>.options.boxes must be union or each")
    root = Path(root)
    wanted = _check_splits(splits)
    folder = find_image_folder(root, images)
    pairs: list[Pair] = []
    missing = 0
    for image_id, split in read_split_lists(root, karpathy):
        if split not in wanted:
            continue
        sentences, annotation = (
            root / "Sentences" / f"{image_id}.txt",
            root / "Annotations" / f"{image_id}.xml",
        )
        if not sentences.is_file() or not annotation.is_file():
            missing += 1
            continue
        entity_boxes = read_annotation(annotation)
        filename = f"{image_id}.jpg"
        seen: set[tuple[str, str]] = set()
        for phrases in read_sentences(sentences):
            for phrase in phrases:
                found = entity_boxes.get(phrase.entity)
                if not found or not phrase.text:
                    continue
                crops = [union_box(found)] if boxes == "union" else found
                for box in crops:
                    if box[2] <= box[0] or box[3] <= box[1]:
                        continue
                    pair = Pair(split, filename, _join(folder, filename), phrase.text, box)
                    if (pair.key, phrase.text.lower()) not in seen:
                        seen.add((pair.key, phrase.text.lower()))
                        pairs.append(pair)
    if missing:
        log.warning("%s: %d listed images lack Sentences or Annotations files", root, missing)
    log.info("%s: %d phrase-crop pairs", root, len(pairs))
    return pairs_table(pairs)


def entities_manifest(root: Path, **options: object) -> pa.Table:
    """Manifest of the Flickr30k Entities crops (format ``flickr_entities``)."""
    return manifest_from_pairs(entity_pairs(root, **options))  # type: ignore[arg-type]
