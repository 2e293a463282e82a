"""SemEval-2023 Task 1 (Visual WSD) files: ``*.data.txt`` items and ``*.gold.txt`` answers.

A data line is ``target<TAB>phrase<TAB>image_1 ... image_10`` (12 fields); the gold file has one
image name per line in the same order. The reader takes in its stride what the real releases
contain: CRLF line ends (train), invisible direction marks inside words (Farsi test), ``.png``
candidates, and candidate files missing on disk. A line with the wrong number of fields, or a
gold image that is not among its item's candidates, is an :class:`InputFormatError` naming the
file and line.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from semspace.errors import InputFormatError
from semspace.io import read_text_file
from semspace.schemas import MANIFEST

N_CANDIDATES = 10
N_FIELDS = 2 + N_CANDIDATES
#: Invisible bidirectional marks and the BOM, found inside words of the Farsi test file.
_INVISIBLE = re.compile("[\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff]")
#: Languages of the official files, read from the file name's first dotted part.
LANGUAGES = ("en", "it", "fa")


@dataclass(frozen=True)
class VwsdItem:
    """One item: ``index`` is its 0-based position in the data file, ``line`` its 1-based line."""

    index: int
    target: str
    phrase: str
    candidates: tuple[str, ...]
    gold: str | None = None
    line: int = 0
    language: str = "en"
    missing: tuple[str, ...] = field(default=())

    @property
    def gold_index(self) -> int | None:
        return self.candidates.index(self.gold) if self.gold is not None else None


def clean_word(text: str) -> str:
    """Drop invisible direction marks and surrounding white space; collapse inner spaces."""
    return " ".join(_INVISIBLE.sub("", text).split())


def _read_lines(path: Path) -> list[tuple[int, str]]:
    """(1-based line number, text) of every line, CR/LF stripped; trailing blank lines dropped."""
    text = read_text_file(path)  # UTF-8 with or without BOM, UTF-16; else names the line
    lines = [(n, line.rstrip("\r")) for n, line in enumerate(text.split("\n"), start=1)]
    while lines and not lines[-1][1].strip():
        lines.pop()
    return lines


def language_of(path: str | Path) -> str:
    """``en``/``it``/``fa`` from an official file name (``it.test.data.v1.1.txt``), else ``en``."""
    first = Path(path).name.split(".")[0].lower()
    return first if first in LANGUAGES else "en"


def gold_path_for(data_path: str | Path) -> Path | None:
    """The gold file beside a data file (``x.data.y.txt`` → ``x.gold.y.txt``), if it exists."""
    data_path = Path(data_path)
    if ".data." not in data_path.name:
        return None
    candidate = data_path.with_name(data_path.name.replace(".data.", ".gold.", 1))
    return candidate if candidate.is_file() else None


def read_data(path: str | Path, language: str | None = None) -> list[VwsdItem]:
    """Items of a ``*.data.txt`` file, in file order (no gold)."""
    path = Path(path)
    language = language or language_of(path)
    items: list[VwsdItem] = []
    for number, text in _read_lines(path):
        fields = text.split("\t")
        if len(fields) != N_FIELDS:
            raise InputFormatError(
                path,
                f"expected {N_FIELDS} tab-separated fields (target, phrase, "
                f"{N_CANDIDATES} images), found {len(fields)}",
                line=number,
            )
        target, phrase = clean_word(fields[0]), clean_word(fields[1])
        candidates = tuple(clean_word(f) for f in fields[2:])
        if not target or not phrase:
            raise InputFormatError(path, "empty target word or phrase", line=number)
        if any(not c for c in candidates):
            raise InputFormatError(path, "empty candidate image name", line=number)
        if len(set(candidates)) != len(candidates):
            raise InputFormatError(path, "the same candidate image appears twice", line=number)
        items.append(VwsdItem(len(items), target, phrase, candidates, None, number, language))
    return items


def read_gold(path: str | Path) -> list[tuple[int, str]]:
    """(line, image name) of every line of a gold file."""
    path = Path(path)
    gold = []
    for number, text in _read_lines(path):
        name = clean_word(text)
        if not name or "\t" in text.strip():
            raise InputFormatError(path, "expected one image name per line", line=number)
        gold.append((number, name))
    return gold


def read_items(
    data: str | Path,
    gold: str | Path | None = None,
    images: str | Path | None = None,
    language: str | None = None,
) -> list[VwsdItem]:
    """Items with their gold image (when a gold file is given) and the candidates missing
    from the ``images`` folder (when given)."""
    items = read_data(data, language)
    if not items:
        # An empty split would give empty tables and a 0/0 accuracy without a word.
        raise InputFormatError(data, "no V-WSD items (empty file?); expected one item per line")
    if gold is not None:
        answers = read_gold(gold)
        if len(answers) != len(items):
            raise InputFormatError(
                gold,
                f"{len(answers)} gold lines for {len(items)} items in {data}",
                line=min(len(answers), len(items)) + 1,
            )
        joined = []
        for item, (number, name) in zip(items, answers):
            if name not in item.candidates:
                raise InputFormatError(
                    gold,
                    f"gold image {name!r} is not among the candidates of item "
                    f"{item.index} ({Path(data).name} line {item.line})",
                    line=number,
                )
            joined.append(_replace(item, gold=name))
        items = joined
    if images is not None:
        present = {p.name for p in Path(images).iterdir()} if Path(images).is_dir() else set()
        items = [
            _replace(it, missing=tuple(c for c in it.candidates if c not in present))
            for it in items
        ]
    return items


def _replace(item: VwsdItem, **changes: object) -> VwsdItem:
    from dataclasses import replace

    return replace(item, **changes)


def image_manifest(
    root: Path,
    data: str | Sequence[str] = "trial.data.txt",
    gold: str | Sequence[str] | None = None,
    images: str = "images",
    **_: object,
) -> pa.Table:
    """Every distinct candidate image of the data file(s), in order of first appearance.

    ``key`` is the image file name; ``path`` is ``images/<name>`` relative to ``root``. Files
    missing on disk stay in the manifest (the resize stage lists them as skipped).
    """
    root = Path(root)
    data_files = [data] if isinstance(data, str) else list(data)
    names: dict[str, None] = {}
    for data_file in data_files:
        for item in read_data(root / data_file):
            names.update(dict.fromkeys(item.candidates))
    keys = list(names)
    return pa.table(
        {
            "key": keys,
            "path": [f"{images}/{name}" if images else name for name in keys],
            "left": [None] * len(keys),
            "top": [None] * len(keys),
            "right": [None] * len(keys),
            "bottom": [None] * len(keys),
        },
        schema=MANIFEST,
    )
