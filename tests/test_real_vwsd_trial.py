"""The shared image stages on the real V-WSD trial images (../shared/data/vwsd-trial).

The folder holds 146 of the trial's 160 candidate images; the README names the 14 missing
distractors. Through the same commands the rules call: manifest -> resize -> embed.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from semspace.cli import main
from semspace.embed import read_embeddings

pytestmark = pytest.mark.realdata

MISSING = {f"image.{n}.jpg" for n in (22, 29, 35, 38, 42, 51, 52, 56, 83, 89, 102, 126, 138, 146)}


def run(*argv: str) -> None:
    assert main(list(argv)) == 0, argv


def test_trial_images_embed_and_missing_ones_are_listed(
    shared_data: Path, tiny_clip_dir: Path, tmp_path: Path
) -> None:
    root = shared_data / "vwsd-trial"
    manifest = tmp_path / "manifest.parquet"
    run(
        "images",
        "manifest",
        "--format",
        "vwsd",
        "--root",
        str(root),
        "--options",
        json.dumps({"data": "trial.data.txt"}),
        "--out",
        str(manifest),
    )
    keys = pl.read_parquet(manifest)["key"].to_list()
    assert len(keys) == 160 and len(set(keys)) == 160

    shard_size = 64
    embedded: list[str] = []
    skipped: list[pl.DataFrame] = []
    for shard in range((len(keys) + shard_size - 1) // shard_size):
        shard_path = tmp_path / f"{shard:05d}.parquet"
        skipped_path = tmp_path / f"{shard:05d}.skipped.parquet"
        embeddings_path = tmp_path / "emb" / f"{shard:05d}.parquet"
        run(
            "images",
            "resize",
            "--manifest",
            str(manifest),
            "--root",
            str(root),
            "--shard",
            f"{shard:05d}",
            "--shard-size",
            str(shard_size),
            "--image-size",
            "32",
            "--max-pixels",
            "40000000",
            "--on-bad-image",
            "skip",
            "--encoding",
            "jpeg",
            "--jpeg-quality",
            "95",
            "--out",
            str(shard_path),
            "--skipped",
            str(skipped_path),
        )
        run(
            "embed",
            "images",
            "--shard",
            str(shard_path),
            "--model",
            str(tiny_clip_dir),
            "--model-id",
            "tiny",
            "--batch-size",
            "16",
            "--flush-every",
            "32",
            "--device",
            "cpu",
            "--dtype",
            "float32",
            "--seed",
            "0",
            "--out",
            str(embeddings_path),
        )
        shard_keys, vectors = read_embeddings([embeddings_path])
        np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
        embedded.extend(shard_keys)
        skipped.append(pl.read_parquet(skipped_path))

    skips = pl.concat(skipped)
    assert len(embedded) == 146
    assert set(skips["key"].to_list()) == MISSING
    assert set(skips["reason"].to_list()) == {"missing"}
    assert set(embedded) | MISSING == set(keys)
