"""End-to-end: the whole workflow on config/demo.yaml in a temporary folder.

Checks the contracts of the shared stages (every manifest row is embedded or listed as skipped,
embeddings are unit-norm, a second run gives identical rows) and that every experiment's final
tables and figures are made.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from semspace.config import load_config
from semspace.embed import read_embeddings

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    command = [
        sys.executable, "-m", "snakemake",
        "--snakefile", str(REPO / "Snakefile"),
        "--directory", str(workdir),
        "--configfile", str(REPO / "config" / "demo.yaml"),
        "--cores", "2", "--resources", "gpu=1",
        *args,
    ]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        pytest.fail(f"snakemake failed:\n{result.stdout[-4000:]}\n{result.stderr[-8000:]}")
    return result


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    workdir = tmp_path_factory.mktemp("demo")
    snakemake(workdir)
    return workdir


def embedded_datasets(workdir: Path) -> list[Path]:
    return sorted(p for p in (workdir / "results" / "embeddings").glob("*/*") if p.is_dir())


def test_every_final_output_is_made(demo_run: Path) -> None:
    result = snakemake(demo_run, "--dry-run")
    assert "Nothing to be done" in result.stdout + result.stderr
    config = load_config(REPO / "config" / "config.yaml", REPO / "config" / "demo.yaml")
    for experiment in ["vwsd", "semspace", "retrieval", "syntax", "softtext"]:
        if config[experiment]["enabled"]:
            made = list((demo_run / "results" / experiment).rglob("*"))
            assert made, f"{experiment} is enabled but wrote nothing"


def test_every_manifest_row_is_embedded_or_skipped(demo_run: Path) -> None:
    folders = embedded_datasets(demo_run)
    assert folders, "the demo embedded no dataset"
    for folder in folders:
        dataset, model = folder.parent.name, folder.name
        manifest = pl.read_parquet(demo_run / "results" / "manifests" / f"{dataset}.parquet")
        keys, vectors = read_embeddings(sorted(folder.glob("*.parquet")))
        skipped_files = sorted((demo_run / "results" / "shards" / dataset / model).glob("*.skipped.parquet"))
        skipped = pl.concat([pl.read_parquet(p) for p in skipped_files]) if skipped_files else None
        skipped_keys = set(skipped["key"].to_list()) if skipped is not None else set()
        assert len(keys) == len(set(keys)), f"{dataset}: duplicated keys"
        assert set(keys) | skipped_keys == set(manifest["key"].to_list()), dataset
        assert not set(keys) & skipped_keys, dataset
        norms = np.linalg.norm(vectors, axis=1)
        np.testing.assert_allclose(norms, 1.0, atol=1e-5)


def test_second_run_gives_identical_embeddings(demo_run: Path, tmp_path: Path) -> None:
    before = {
        folder: read_embeddings(sorted(folder.glob("*.parquet"))) for folder in embedded_datasets(demo_run)
    }
    snapshot = tmp_path / "embeddings"
    shutil.copytree(demo_run / "results" / "embeddings", snapshot)
    snakemake(demo_run, "--forcerun", "embed_images", "--until", "embedding_summary")
    for folder, (keys, vectors) in before.items():
        keys_again, vectors_again = read_embeddings(sorted(folder.glob("*.parquet")))
        assert keys_again == keys
        np.testing.assert_array_equal(vectors_again, vectors)

