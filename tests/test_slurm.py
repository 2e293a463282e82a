"""The workflow through SLURM (profiles/slurm-local on scripts/slurm-local.sh's cluster) gives the
same outputs as a local run: E5's COCO branch and one GPU chain (tiny CLIP -> manifest -> resize
-> embed_images). ``make test-slurm`` starts the cluster, runs these and stops it.

Skipped unless SEMSPACE_SLURM_TEST=1 and ``sinfo`` lists a gpu partition, so that ``make test``
never submits jobs to a real cluster.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slurm

RUN = "demo"  # config/demo.yaml's run name: results go under results/demo/
#: E5's COCO branch to its MDS (the report's figures are PNGs, compared by their tables instead).
COCO_TARGETS = [
    f"results/{RUN}/imagespace/coco/tokensets.parquet",
    f"results/{RUN}/imagespace/coco/token_statistics.parquet",
    f"results/{RUN}/imagespace/coco/setdist/summary.json",
    f"results/{RUN}/imagespace/coco/setdist/pairs.parquet",
    f"results/{RUN}/imagespace/coco/setdist/neighbours.parquet",
    f"results/{RUN}/imagespace/coco/setdist/symdiff.npy",
    f"results/{RUN}/imagespace/coco/mds/eigen.json",
    f"results/{RUN}/imagespace/coco/mds/coords.parquet",
]
#: One GPU chain: demo_tiny_clip -> images_manifest -> images_resize -> embed_images.
GPU_TARGETS = [
    f"results/{RUN}/manifests/demo_vwsd.parquet",
    f"results/{RUN}/shards/demo_vwsd/clip/00000.parquet",
    f"results/{RUN}/embeddings/demo_vwsd/clip/00000.parquet",
]
TARGETS = COCO_TARGETS + GPU_TARGETS


def _cluster_up() -> bool:
    if os.environ.get("SEMSPACE_SLURM_TEST") != "1" or shutil.which("sinfo") is None:
        return False
    out = subprocess.run(["sinfo", "-h", "-o", "%P"], check=False, capture_output=True, text=True)
    return out.returncode == 0 and "gpu" in out.stdout.split()


if not _cluster_up():
    pytest.skip(
        "needs SEMSPACE_SLURM_TEST=1 and a SLURM with a gpu partition (make test-slurm)",
        allow_module_level=True,
    )


def _copy_repo(dest: Path) -> Path:
    """The repository's tracked and untracked-but-not-ignored files, without results."""
    listing = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for rel in filter(None, listing.split("\0")):
        src = REPO / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    return dest


def _env() -> dict[str, str]:
    env = dict(os.environ)
    bin_dir = str(Path(sys.executable).parent)
    # Jobs are submitted with --export=ALL: what they need is set in the submitting shell.
    env["PATH"] = f"{bin_dir}:{env.get('PATH', '')}"
    env.setdefault("NLTK_DATA", str(REPO / "resources" / "nltk_data"))
    env["HF_HUB_OFFLINE"] = "1"
    env["OMP_NUM_THREADS"] = "1"
    env.pop("SLURM_JOB_ID", None)
    return env


def _snakemake(workdir: Path, *extra: str, timeout: int) -> subprocess.CompletedProcess:
    cmd = [
        str(Path(sys.executable).parent / "snakemake"),
        *TARGETS,  # first: --resources and --configfile take every word after them
        "--configfile",
        "config/demo.yaml",
        *extra,
    ]
    done = subprocess.run(
        cmd, check=False, cwd=workdir, env=_env(), capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, (
        f"{' '.join(cmd)} failed:\n{done.stdout[-4000:]}\n{done.stderr[-8000:]}"
    )
    return done


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    """(local run's folder, SLURM run's folder, SLURM run's log)."""
    local = _copy_repo(tmp_path_factory.mktemp("local"))
    cluster = _copy_repo(tmp_path_factory.mktemp("slurm"))
    _snakemake(local, "--cores", "2", "--resources", "gpu=1", timeout=1200)
    done = _snakemake(cluster, "--workflow-profile", "profiles/slurm-local", timeout=1800)
    return local, cluster, done.stdout + done.stderr


def _read(path: Path):
    if path.suffix == ".json":
        return json.loads(path.read_text())
    if path.suffix == ".npy":
        return np.load(path)
    import pyarrow.parquet as pq

    return pq.read_table(path).to_pydict()


def _assert_same(a, b, where: str) -> None:
    """Equal values; floats to 1e-5 (thread counts differ between the runs, so sums may too)."""
    if isinstance(a, dict):
        assert sorted(a) == sorted(b), where
        for key in a:
            _assert_same(a[key], b[key], f"{where}[{key}]")
        return
    arr_a, arr_b = np.asarray(a, dtype=object), np.asarray(b, dtype=object)
    assert arr_a.shape == arr_b.shape, where
    try:
        fa, fb = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    except (TypeError, ValueError):
        assert a == b, where
        return
    np.testing.assert_allclose(fa, fb, rtol=1e-5, atol=1e-6, err_msg=where)


@pytest.mark.parametrize("target", TARGETS)
def test_slurm_output_equals_the_local_run(runs, target):
    local, cluster, _ = runs
    assert (cluster / target).is_file(), f"the SLURM run did not write {target}"
    _assert_same(_read(local / target), _read(cluster / target), target)


def test_jobs_went_through_slurm_and_gpu_jobs_to_the_gpu_partition(runs):
    _, cluster, log = runs
    assert "Auto-selected partition 'gpu' for job embed_images" in log, log[-4000:]
    assert "Auto-selected partition 'cpu' for job images_manifest" in log, log[-4000:]
    # The GPU job ran in a SLURM job and so took no lock: no slot folder in the SLURM run.
    assert not (cluster / ".snakemake" / "gpu-slots").exists()
    embed_log = cluster / "logs" / RUN / "embed" / "demo_vwsd" / "clip" / "00000.log"
    assert "SLURM job" in embed_log.read_text()
