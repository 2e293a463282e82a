"""End-to-end: `make demo` itself, in a copy of the repository, with no ffmpeg on PATH.

Runs exactly what the README tells a user to run (the Makefile's config layering: the Snakefile's
config/config.yaml, then config/demo.yaml; the repository root as working directory). Checks the
contracts of the shared stages (every manifest row is embedded or listed as skipped, embeddings
are unit-norm, a second run gives identical rows) and that every experiment's final tables and
figures are made.
"""

from __future__ import annotations

import os
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
VENV_BIN = Path(sys.executable).parent
pytestmark = pytest.mark.slow


def repository_copy(dest: Path) -> Path:
    """The files git would clone (tracked and untracked-but-not-ignored), mtimes kept."""
    listed = (
        subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=REPO,
            capture_output=True,
            check=True,
        )
        .stdout.decode()
        .split("\0")
    )
    for name in filter(None, listed):
        source = REPO / name
        if source.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)
    return dest


def no_ffmpeg_env(shim: Path) -> dict[str, str]:
    """The environment of the run: this venv first, and an ffmpeg/ffprobe that always fail, so
    that the demo passes only if it never calls them (a machine without ffmpeg)."""
    shim.mkdir(parents=True, exist_ok=True)
    for tool in ("ffmpeg", "ffprobe"):
        (shim / tool).write_text("#!/bin/sh\necho 'ffmpeg called by the demo' >&2\nexit 127\n")
        (shim / tool).chmod(0o755)
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(shim), str(VENV_BIN), env.get("PATH", "")])
    return env


def run(repo: Path, command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    result = subprocess.run(command, cwd=repo, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        pytest.fail(
            f"{' '.join(command)} failed:\n{result.stdout[-4000:]}\n{result.stderr[-8000:]}"
        )
    return result


def snakemake(repo: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    """`make demo`'s snakemake command line (see the Makefile), with more arguments."""
    command = [
        "snakemake",
        "--cores",
        "2",
        "--resources",
        "gpu=1",
        "--configfile",
        "config/demo.yaml",
        *args,
    ]
    return run(repo, command, env)


def results(repo: Path) -> Path:
    return repo / "results" / "demo"


def embedded_datasets(repo: Path) -> list[Path]:
    return sorted(p for p in (results(repo) / "embeddings").glob("*/*") if p.is_dir())


def test_every_final_output_is_made(demo_run: Path, demo_env: dict[str, str]) -> None:
    result = snakemake(demo_run, demo_env, "--dry-run")
    assert "Nothing to be done" in result.stdout + result.stderr
    config = load_config(REPO / "config" / "config.yaml", REPO / "config" / "demo.yaml")
    for experiment in ["vwsd", "imagespace", "retrieval", "syntax", "softtext"]:
        if config[experiment]["enabled"]:
            made = list((results(demo_run) / experiment).rglob("*"))
            assert made, f"{experiment} is enabled but wrote nothing"


def test_every_manifest_row_is_embedded_or_skipped(demo_run: Path) -> None:
    folders = embedded_datasets(demo_run)
    assert folders, "the demo embedded no dataset"
    for folder in folders:
        dataset, model = folder.parent.name, folder.name
        manifest = pl.read_parquet(results(demo_run) / "manifests" / f"{dataset}.parquet")
        keys, vectors = read_embeddings(sorted(folder.glob("*.parquet")))
        skipped_files = sorted(
            (results(demo_run) / "shards" / dataset / model).glob("*.skipped.parquet")
        )
        skipped = pl.concat([pl.read_parquet(p) for p in skipped_files]) if skipped_files else None
        skipped_keys = set(skipped["key"].to_list()) if skipped is not None else set()
        assert len(keys) == len(set(keys)), f"{dataset}: duplicated keys"
        assert set(keys) | skipped_keys == set(manifest["key"].to_list()), dataset
        assert not set(keys) & skipped_keys, dataset
        norms = np.linalg.norm(vectors, axis=1)
        np.testing.assert_allclose(norms, 1.0, atol=1e-5)


def test_second_run_gives_identical_embeddings(
    demo_run: Path, demo_env: dict[str, str], tmp_path: Path
) -> None:
    before = {
        folder: read_embeddings(sorted(folder.glob("*.parquet")))
        for folder in embedded_datasets(demo_run)
    }
    snapshot = tmp_path / "embeddings"
    shutil.copytree(results(demo_run) / "embeddings", snapshot)
    snakemake(demo_run, demo_env, "--forcerun", "embed_images", "--until", "embed_summary")
    for folder, (keys, vectors) in before.items():
        keys_again, vectors_again = read_embeddings(sorted(folder.glob("*.parquet")))
        assert keys_again == keys
        np.testing.assert_array_equal(vectors_again, vectors)
