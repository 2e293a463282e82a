"""config/config.yaml, the real run's config, as the README runs it: a dry run from a copy of the
repository with every experiment enabled names no missing input but the hand-placed datasets."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from test_workflow import repository_copy

VENV_BIN = Path(sys.executable).parent
ALL_EXPERIMENTS = """\
vwsd: {enabled: true}
imagespace: {enabled: true, llm: {enabled: true}}
retrieval: {enabled: true}
syntax: {enabled: true}
softtext: {enabled: true}
"""


def dry_run(repo: Path) -> subprocess.CompletedProcess:
    (repo / "all-experiments.yaml").write_text(ALL_EXPERIMENTS)
    env = dict(os.environ, PATH=os.pathsep.join([str(VENV_BIN), os.environ.get("PATH", "")]))
    return subprocess.run(
        [
            "snakemake",
            "-n",
            "--cores",
            "8",
            "--resources",
            "gpu=1",
            "--configfile",  # one flag: a second --configfile would replace the first
            "config/config.yaml",
            "all-experiments.yaml",
        ],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return repository_copy(tmp_path_factory.mktemp("repo"))


def test_only_hand_placed_datasets_are_missing(repo: Path) -> None:
    result = dry_run(repo)
    output = result.stdout + result.stderr
    missing = re.findall(r"affected files:\n((?:\s+\S+\n)+)", output)
    paths = [p.strip() for block in missing for p in block.splitlines() if p.strip()]
    assert result.returncode == 0 or paths, output[-3000:]
    assert all(p.startswith("resources/local/") for p in paths), paths


def test_dry_run_passes_once_hand_placed_datasets_are_there(repo: Path) -> None:
    # As docs/retrieval.md tells users: the Flickr30k images and Karpathy file, by hand.
    (repo / "resources" / "local" / "flickr30k" / "flickr30k-images").mkdir(parents=True)
    result = dry_run(repo)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    assert "download_dataset" in result.stdout and "download_model" in result.stdout


def test_a_real_run_after_a_rehearsal_is_refused(repo: Path) -> None:
    """The rehearsal fills config.yaml's own paths with tiny models; the real run stops, naming
    the marker and the command that clears them, instead of taking them as up to date."""
    marker = repo / "resources" / ".rehearsal-owns"
    (repo / "resources" / "models" / "clip_b32").mkdir(parents=True)
    marker.write_text("resources/datasets\nresources/models\nresults/main\n")
    try:
        result = dry_run(repo)
    finally:
        marker.unlink()
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "resources/.rehearsal-owns: resources/models/clip_b32" in output, output[-2000:]
    assert "make clean-rehearsal" in output
