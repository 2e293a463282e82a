"""Dataset readers, one module per dataset format.

Each module that holds images exposes ``image_manifest(root: Path, **options) -> pa.Table``
(schema :data:`semspace.schemas.MANIFEST`), looked up here by format name so that the
``semspace manifest`` command and the workflow treat every dataset the same way.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa

from semspace.errors import ConfigError

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


def image_manifest_builder(fmt: str) -> Callable[..., pa.Table]:
    try:
        target = IMAGE_MANIFESTS[fmt]
    except KeyError:
        raise ConfigError(
            f"unknown dataset format {fmt!r}; known formats: {', '.join(sorted(IMAGE_MANIFESTS))}"
        ) from None
    module_name, func_name = target.split(":")
    return getattr(importlib.import_module(module_name), func_name)


def build_image_manifest(fmt: str, root: Path, **options: object) -> pa.Table:
    return image_manifest_builder(fmt)(Path(root), **options)
