"""E5 scales by itself: up to imagespace.mds.dense_max_images images the workflow plans the dense
path (n×n matrices, dense exact MDS), above it (imagespace.images) the streaming set distances
and the matrix-free MDS from the token sets; config/coco-all.yaml (all 123,287 Karpathy images)
plans the latter. Forced dry runs in a bare folder, as tests/test_runs_apart.py does; one slow
test runs the streaming path through the report on the demo captions."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
VENV_BIN = Path(sys.executable).parent
MATRICES = ("symdiff.npy", "intersection.npy", "union.npy")


def bare_repo(tmp_path: Path) -> Path:
    """A folder that sees this checkout's workflow, configs and profiles (and ../shared) and
    holds no results, so that a plan lists every job."""
    repo = tmp_path / "repo"
    repo.mkdir(parents=True)
    for name in ("workflow", "config", "profiles"):
        (repo / name).symlink_to(REPO / name)
    if SHARED.exists():
        (tmp_path / "shared").symlink_to(SHARED)
    return repo


def snakemake(repo: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PATH=os.pathsep.join([str(VENV_BIN), os.environ.get("PATH", "")]))
    command = ["snakemake", "--cores", "2", "--resources", "gpu=1", "--nolock", *args]
    result = subprocess.run(command, cwd=repo, env=env, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    return result


def plan(tmp_path: Path, *configfiles: str) -> tuple[set[str], dict[str, str]]:
    """Outputs and the shell commands of each rule of a forced dry run of the configs (one line,
    its jobs' commands joined)."""
    out = snakemake(
        bare_repo(tmp_path), "--dry-run", "--forceall", "-p", "--configfile", *configfiles
    ).stdout
    outputs: set[str] = set()
    commands: dict[str, str] = {}
    rule = None
    for line in out.splitlines():
        if m := re.match(r"(?:local)?rule (\w+):$", line.strip()):
            rule = m.group(1)
        elif m := re.match(r"\s+output: (.+)$", line):
            outputs.update(p.strip() for p in m.group(1).split(","))
        elif line.startswith("Shell command: ") and rule:
            command = line.removeprefix("Shell command: ")
            commands[rule] = f"{commands[rule]}\n{command}" if rule in commands else command
    assert outputs and commands, out[-3000:]
    return outputs, commands


def test_coco_all_plans_the_matrix_free_path(tmp_path):
    outputs, commands = plan(tmp_path, "config/coco-all.yaml")
    # all four Karpathy splits, under the run's own folders
    assert '"split": ["train", "restval", "val", "test"]' in commands["imagespace_captions"]
    setdist, mds = commands["imagespace_setdist"], commands["imagespace_mds"]
    assert "--no-matrices" in setdist.split()
    assert "--distances" not in mds
    assert "--sets results/coco-all/imagespace/coco/tokensets.parquet" in mds
    assert "--method matrix-free" in mds
    assert not [o for o in outputs if o.endswith(MATRICES)]
    assert "results/coco-all/imagespace/coco/report/tables.html" in outputs
    assert "results/coco-all/imagespace/coco/mds/eigen.json" in outputs


def test_the_demo_plans_the_dense_path(tmp_path):
    outputs, commands = plan(tmp_path, "config/demo.yaml")
    setdist, mds = commands["imagespace_setdist"], commands["imagespace_mds"]
    assert "--no-matrices" not in setdist.split()
    assert (
        setdist.count("--max-matrix-images 10000") == 2
    )  # coco and llm branches  # the schema's default dense_max_images
    assert "--distances results/demo/imagespace/coco/setdist/symdiff.npy" in mds
    assert "--sqrt false --share true" in mds
    assert {f"results/demo/imagespace/coco/setdist/{m}" for m in MATRICES} <= outputs


def _streaming_demo_config(tmp_path: Path) -> str:
    extra = tmp_path / "streaming.yaml"
    extra.write_text("imagespace:\n  images: 120\n  mds:\n    dense_max_images: 100\n")
    return str(extra)


def test_images_above_the_limit_switch_the_demo_to_streaming(tmp_path):
    extra = _streaming_demo_config(tmp_path)
    outputs, commands = plan(tmp_path, "config/demo.yaml", extra)
    assert "--no-matrices" in commands["imagespace_setdist"].split()
    assert "--method matrix-free" in commands["imagespace_mds"]
    assert not [o for o in outputs if o.endswith(MATRICES)]


@pytest.mark.slow
def test_streaming_path_runs_through_the_report(tmp_path):
    """The demo's 120 images with dense_max_images 100: set distances without matrices, the
    matrix-free MDS, and the report from what they write; its top eigenvalues are those of the
    dense path's MDS of the same sets (computed here from the set distances' own sets)."""
    from semspace.experiments.mds import classical_mds
    from semspace.experiments.setdist import indicator_matrix, set_distances
    from semspace.experiments.tokensets import read_token_sets

    repo = bare_repo(tmp_path)
    target = "results/demo/imagespace/coco/report/tables.md"
    extra = _streaming_demo_config(tmp_path)
    snakemake(repo, "--configfile", "config/demo.yaml", extra, "--", target)
    results = repo / "results/demo/imagespace/coco"
    assert not [p for p in (results / "setdist").iterdir() if p.name.endswith(MATRICES)]
    eigen = json.loads((results / "mds/eigen.json").read_text())
    assert eigen["method"] == "matrix-free-slq"
    lo, hi = eigen["n_positive_ci"]
    assert lo <= eigen["n_positive"] <= hi
    X, _ = indicator_matrix(
        read_token_sets(results / "tokensets.parquet").column("tokens").to_pylist()
    )
    D = set_distances(X, top_k=1).symdiff
    dense = classical_mds(D, k=len(eigen["eigenvalues"]))
    np.testing.assert_allclose(eigen["eigenvalues"], dense.eigenvalues, rtol=1e-6)
    assert lo <= dense.n_positive <= hi
    tables = (results / "report/tables.md").read_text()
    assert "Classical MDS" in tables and "Nearest neighbours" in tables
    assert pq.read_table(results / "mds/coords.parquet").num_rows == 120


def test_setdist_refuses_matrices_above_the_limit(tmp_path, capsys):
    from semspace.cli import main
    from semspace.experiments.tokensets import token_sets

    sets = [[f"t{i % 7}", f"t{i % 5}", "a"] for i in range(12)]
    pq.write_table(token_sets(list(range(12)), [None] * 12, sets), tmp_path / "sets.parquet")
    args = ["imagespace", "setdist", "--sets", str(tmp_path / "sets.parquet")]
    assert main([*args, "--out", str(tmp_path / "a"), "--max-matrix-images", "11"]) == 2
    err = capsys.readouterr().err
    assert "imagespace.images: 12" in err and "dense_max_images" in err
    assert not (tmp_path / "a").exists()
    # streaming is not limited, and n at the limit keeps its matrices
    assert (
        main([*args, "--out", str(tmp_path / "b"), "--max-matrix-images", "11", "--no-matrices"])
        == 0
    )
    assert main([*args, "--out", str(tmp_path / "c"), "--max-matrix-images", "12"]) == 0
    assert (tmp_path / "c" / "symdiff.npy").exists()


def test_mds_boolean_flags(tmp_path):
    from semspace.cli import main

    rng = np.random.default_rng(3)
    pts = rng.integers(0, 2, size=(20, 12))
    D = np.abs(pts[:, None, :] - pts[None, :, :]).sum(-1).astype(np.uint8)
    np.save(tmp_path / "d.npy", D)
    base = ["imagespace", "mds", "--distances", str(tmp_path / "d.npy"), "--k", "3"]
    assert main([*base, "--out", str(tmp_path / "a"), "--sqrt", "true", "--share", "false"]) == 0
    a = json.loads((tmp_path / "a" / "eigen.json").read_text())
    assert a["sqrt_distances"] is True and a["top2_share"] is None
    assert main([*base, "--out", str(tmp_path / "b"), "--sqrt", "false", "--share", "true"]) == 0
    b = json.loads((tmp_path / "b" / "eigen.json").read_text())
    assert b["sqrt_distances"] is False and 0 < b["top2_share"] <= 1
    assert main([*base, "--out", str(tmp_path / "c"), "--no-share"]) == 0
    assert json.loads((tmp_path / "c" / "eigen.json").read_text())["top2_share"] is None


def test_karpathy_splits_pooled_in_file_order(tmp_path):
    from semspace.datasets.coco import read_captions

    splits = ["train", "test", "restval", "val", "train", "test"]
    images = [
        {
            "split": s,
            "cocoid": 100 + i,
            "filename": f"x{i}.jpg",
            "sentences": [{"raw": f"a photo {i}", "tokens": ["a", "photo", str(i)]}],
        }
        for i, s in enumerate(splits)
    ]
    (tmp_path / "dataset_coco.json").write_text(json.dumps({"images": images}))
    every = read_captions(tmp_path, split=["train", "restval", "val", "test"])
    assert every.column("coco_id").to_pylist() == [100, 101, 102, 103, 104, 105]
    assert every.column("image").to_pylist() == [0, 1, 2, 3, 4, 5]
    assert read_captions(tmp_path, split="test").column("coco_id").to_pylist() == [101, 105]
    assert read_captions(tmp_path, split=["val", "test"]).column("coco_id").to_pylist() == [
        101,
        103,
        105,
    ]
