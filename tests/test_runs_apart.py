"""Runs kept apart: what each config's workflow plans to write (a forced dry run, nothing run)
lies under results/<run>/, logs/<run>/ and benchmarks/<run>/ of its own run, and no two runs
plan a common file. The demo's synthetic data and models under resources/demo/ are the only
shared inputs, and only the demo writes them."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from test_imagespace_workflow import bare_repo

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
VENV_BIN = Path(sys.executable).parent
RUN_FOLDERS = ("results", "logs", "benchmarks")


def run_name(config: str) -> str:
    """The run a config layered over config/config.yaml writes to (key `run`)."""
    for name in (config, "config.yaml"):
        value = (yaml.safe_load((REPO / "config" / name).read_text()) or {}).get("run")
        if value:
            return value
    raise AssertionError("config/config.yaml sets no run")


def planned_files(tmp_path: Path, config: str) -> set[str]:
    """Every output, log and benchmark file of a forced dry run of `config` (up to the
    checkpoints, whose later jobs a dry run cannot list), run in a bare folder that sees this
    checkout's workflow, configs and ../shared, so that no result here counts as done."""
    repo = bare_repo(tmp_path)
    env = dict(os.environ, PATH=os.pathsep.join([str(VENV_BIN), os.environ.get("PATH", "")]))
    result = subprocess.run(
        [
            "snakemake",
            "--dry-run",
            "--forceall",
            "--nolock",
            "--cores",
            "2",
            "--resources",
            "gpu=1",
            "--configfile",
            f"config/{config}",
        ],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    files: set[str] = set()
    for line in result.stdout.splitlines():
        match = re.match(r"\s+(output|log|benchmark): (.+)$", line)
        if match:
            files.update(p.strip() for p in match.group(2).split(","))
    assert files, result.stdout[-3000:]
    return files


def _outside_own_run(files: set[str], run: str) -> list[str]:
    return sorted(
        f
        for f in files
        if f.split("/", 1)[0] in RUN_FOLDERS
        and not f.startswith(tuple(f"{d}/{run}/" for d in RUN_FOLDERS))
    )


def test_demo_and_coco_real_plan_disjoint_files_each_under_its_run(tmp_path):
    if not (SHARED / "data" / "coco-karpathy-test" / "captions.json").is_file():
        pytest.skip("config/coco-real.yaml needs ../shared/data/coco-karpathy-test")
    demo = planned_files(tmp_path / "demo", "demo.yaml")
    coco = planned_files(tmp_path / "coco", "coco-real.yaml")
    assert run_name("demo.yaml") != run_name("coco-real.yaml")
    assert _outside_own_run(demo, run_name("demo.yaml")) == []
    assert _outside_own_run(coco, run_name("coco-real.yaml")) == []
    # coco-real writes nothing outside its run folders (no shared resource, no demo file)
    assert sorted(f for f in coco if f.split("/", 1)[0] not in RUN_FOLDERS) == []
    assert demo.isdisjoint(coco), sorted(demo & coco)[:10]
    # the check sees real plans: the demo's E5 report and coco-real's are both planned
    assert "results/demo/imagespace/coco/report/tables.html" in demo
    assert "results/coco-real/imagespace/coco/report/tables.html" in coco


def test_the_checker_sees_a_shared_path():
    """_outside_own_run flags a file of another run, and passes the run's own ones."""
    files = {"results/demo/a.parquet", "logs/demo/a.log", "results/main/b.parquet"}
    assert _outside_own_run(files, "demo") == ["results/main/b.parquet"]
    assert _outside_own_run({"resources/demo/x"}, "demo") == []


#: The rehearsal runs config/config.yaml's own paths by design (issue 11: its overlay changes no
#: path); scripts/rehearsal.sh refuses to replace a real run's files, and a real run refuses
#: to start over a rehearsal's (semspace.checks.check_rehearsal_leftovers).
REHEARSES_THE_MAIN_RUN = {"rehearsal.yaml", "rehearsal-ci.yaml"}


@pytest.mark.parametrize(
    "config",
    [
        p.name
        for p in sorted((REPO / "config").glob("*.yaml"))
        if p.name not in {"config.yaml", *REHEARSES_THE_MAIN_RUN}
    ],
)
def test_every_config_names_its_own_run(config):
    """Each config layered over config/config.yaml names a run of its own (key `run`)."""
    others = [
        p.name
        for p in (REPO / "config").glob("*.yaml")
        if p.name not in {config, *REHEARSES_THE_MAIN_RUN}
    ]
    assert run_name(config) not in {run_name(o) for o in others if o != "config.yaml"}
    assert run_name(config) != run_name("config.yaml")


def _files_of_run(repo: Path, run: str) -> dict[str, tuple[int, int]]:
    """Each file of a run's folders and the demo's resources: its size and mtime (ns)."""
    folders = [repo / d / run for d in RUN_FOLDERS] + [repo / "resources" / "demo"]
    return {
        str(p.relative_to(repo)): (p.stat().st_size, p.stat().st_mtime_ns)
        for folder in folders
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _jobs_to_run(repo: Path, env: dict[str, str]) -> str:
    """What `make demo`'s snakemake would still run (its dry run's job counts)."""
    from test_workflow import snakemake as demo_snakemake

    out = demo_snakemake(repo, env, "--dry-run").stdout
    return out[out.find("Job stats:") :] if "Job stats:" in out else "nothing"


@pytest.mark.slow
def test_coco_real_after_the_demo_changes_none_of_its_files(demo_run, demo_env):
    """The issue's acceptance, run as the README says: `make demo`, then `snakemake --cores 2
    --configfile=config/coco-real.yaml` from the repository root; the demo's files are as they
    were, and the demo has nothing more (or less) to do than before."""
    if not (SHARED / "data" / "coco-karpathy-test" / "captions.json").is_file():
        pytest.skip("config/coco-real.yaml needs ../shared/data/coco-karpathy-test")
    shared = demo_run.parent / "shared"
    if not shared.exists():
        shared.symlink_to(SHARED)
    before = _files_of_run(demo_run, "demo")
    todo = _jobs_to_run(demo_run, demo_env)
    command = ["snakemake", "--cores", "2", "--configfile=config/coco-real.yaml"]
    ran = subprocess.run(
        command, cwd=demo_run, env=demo_env, capture_output=True, text=True, check=False
    )
    assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-3000:]
    assert (demo_run / "results/coco-real/imagespace/coco/report/tables.html").is_file()
    after = _files_of_run(demo_run, "demo")
    assert after == before, sorted(set(after.items()) ^ set(before.items()))[:10]
    assert _jobs_to_run(demo_run, demo_env) == todo
