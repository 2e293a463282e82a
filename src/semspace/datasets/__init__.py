"""Dataset readers, one module per dataset format.

Each module that holds images exposes ``image_manifest(root: Path, **options) -> pa.Table``
(schema :data:`semspace.schemas.MANIFEST`), looked up here by format name so that the
``semspace manifest`` command and the workflow treat every dataset the same way.
"""

from __future__ import annotations

import importlib
import inspect
import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa

from semspace.errors import ConfigError, InputFormatError
from semspace.schemas import MANIFEST

#: format name -> "module:function"
IMAGE_MANIFESTS: dict[str, str] = {
    "folder": "semspace.datasets.folder:image_manifest",
    "vwsd": "semspace.datasets.vwsd:image_manifest",
    "flickr": "semspace.datasets.flickr:image_manifest",
    "flickr_entities": "semspace.datasets.flickr:entities_manifest",
    "visual_genome": "semspace.datasets.visual_genome:image_manifest",
    "cifar10": "semspace.datasets.cifar10:image_manifest",
    "lava": "semspace.datasets.lava:image_manifest",
}


#: Formats whose images are not files of their own (CIFAR-10's pickled batches): their manifest
#: exports them into the folder given as ``files_dir``, a declared output of ``images_manifest``.
EXPORTS_FILES = frozenset({"cifar10"})

#: format name -> "module:function" of the paired readers of E2 (schema ``datasets.pairs.PAIRS``)
PAIR_READERS: dict[str, str] = {
    "flickr": "semspace.datasets.flickr:caption_pairs",
    "flickr_entities": "semspace.datasets.flickr:entity_pairs",
    "visual_genome": "semspace.datasets.visual_genome:region_pairs",
}


def parse_options(text: str, flag: str = "--options") -> dict[str, object]:
    """A reader's options (``datasets.<name>.options``), given on the command line as JSON."""
    try:
        options = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{flag} is not valid JSON ({exc}): {text!r}") from None
    if not isinstance(options, dict):
        raise ConfigError(f"{flag} must be a JSON object, not {text!r}")
    return options


def _reader(table: dict[str, str], fmt: str) -> Callable[..., pa.Table]:
    try:
        target = table[fmt]
    except KeyError:
        raise ConfigError(
            f"unknown dataset format {fmt!r}; known formats: {', '.join(sorted(table))}"
        ) from None
    module_name, func_name = target.split(":")
    return getattr(importlib.import_module(module_name), func_name)


def _call(reader: Callable[..., pa.Table], fmt: str, root: Path, options: dict) -> pa.Table:
    try:
        inspect.signature(reader).bind(Path(root), **options)
    except TypeError as exc:  # an option the reader does not take
        raise ConfigError(f"datasets options for format {fmt}: {exc}") from None
    return reader(Path(root), **options)


def image_manifest_builder(fmt: str) -> Callable[..., pa.Table]:
    return _reader(IMAGE_MANIFESTS, fmt)


def build_image_manifest(
    fmt: str, root: Path, files_dir: str | Path | None = None, **options: object
) -> pa.Table:
    """The image manifest of a dataset of format ``fmt``, as its reader returns it.

    A format of :data:`EXPORTS_FILES` writes its images into ``files_dir`` first.
    """
    if fmt in EXPORTS_FILES:
        if files_dir is None:
            raise ConfigError(f"format {fmt} exports its images: give the folder for them")
        options = {**options, "files_dir": files_dir}
    return _call(image_manifest_builder(fmt), fmt, root, options)


def check_manifest(table: pa.Table, source: str | Path) -> pa.Table:
    """Cast to :data:`MANIFEST` (missing box columns become null) and require unique keys."""
    missing = [n for n in ("key", "path") if n not in table.column_names]
    if missing:
        raise InputFormatError(source, f"manifest lacks columns {missing}")
    for name in ("left", "top", "right", "bottom"):
        if name not in table.column_names:
            table = table.append_column(name, pa.nulls(table.num_rows, pa.int32()))
    try:
        table = table.select(MANIFEST.names).cast(MANIFEST)
    except (pa.ArrowInvalid, pa.ArrowTypeError, ValueError) as exc:
        raise InputFormatError(
            source, f"manifest does not fit the MANIFEST schema: {exc}"
        ) from None
    counts = Counter(table.column("key").to_pylist())
    dupes = sorted(k for k, n in counts.items() if n > 1)
    if dupes:
        raise InputFormatError(
            source,
            f"{len(dupes)} duplicate keys in the manifest, e.g. {dupes[:5]}; keys must be unique",
        )
    return table


def make_manifest(
    fmt: str, root: Path, files_dir: str | Path, **options: object
) -> tuple[pa.Table, dict[str, int]]:
    """The checked manifest of a dataset and what was left out of it (reason → count; only the
    folder format leaves anything out: symlink loops, dangling links, unreadable folders).

    ``files_dir`` is created whether or not the format exports anything into it.
    """
    Path(files_dir).mkdir(parents=True, exist_ok=True)
    table = build_image_manifest(fmt, Path(root), Path(files_dir).resolve(), **options)
    left_out = json.loads((table.schema.metadata or {}).get(b"left_out", b"{}"))
    return check_manifest(table, f"{fmt} dataset at {root}"), left_out


def build_pairs(fmt: str, root: Path, **options: object) -> pa.Table:
    """The (item, text) pairs of a paired dataset of format ``fmt`` (schema ``PAIRS``)."""
    return _call(_reader(PAIR_READERS, fmt), fmt, root, options)
