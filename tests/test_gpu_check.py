"""scripts/gpu-check.py's pure parts: model configs, overlay, budgets, commands, the record."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "gpu-check.py"


@pytest.fixture(scope="module")
def gc():
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["gpu_check"] = module
    spec.loader.exec_module(module)
    return module


def _meta_params(model_cls, config) -> int:
    import torch

    with torch.device("meta"):
        model = model_cls(config)
    return sum(p.numel() for p in model.parameters())


def test_clip_archs_have_the_published_sizes(gc):
    from transformers import CLIPConfig, CLIPModel

    archs = gc.embed_archs(dry_run=False)
    assert set(archs) == {"ViT-B/32", "ViT-L/14"}
    b32 = CLIPConfig(**archs["ViT-B/32"])
    l14 = CLIPConfig(**archs["ViT-L/14"])
    assert (b32.vision_config.patch_size, l14.vision_config.patch_size) == (32, 14)
    assert l14.vision_config.num_hidden_layers == 24
    # openai/clip-vit-base-patch32: 151.3 M parameters; clip-vit-large-patch14: 427.6 M.
    assert _meta_params(CLIPModel, b32) / 1e6 == pytest.approx(151.3, abs=0.5)
    assert _meta_params(CLIPModel, l14) / 1e6 == pytest.approx(427.6, abs=0.5)


def test_falcon_plan_is_falcon_7b_at_batch_1_to_256(gc):
    plan = gc.llm_plan(dry_run=False)
    assert (plan["device"], plan["dtype"]) == ("cuda", "bfloat16")
    assert min(plan["batch_sizes"]) == 1 and max(plan["batch_sizes"]) == 256
    # tiiuae/falcon-7b-instruct: 6,921,720,704 parameters (its safetensors index).
    assert gc.bench_llm.parameter_count(plan["arch"]) == 6_921_720_704
    dry = gc.llm_plan(dry_run=True)
    assert dry["device"] == "cpu" and gc.bench_llm.parameter_count(dry["arch"]) < 5_000_000


def test_dry_run_uses_toy_clip_with_the_real_input_layout(gc):
    from transformers import CLIPConfig, CLIPModel

    (arch,) = gc.embed_archs(dry_run=True).values()
    config = CLIPConfig(**arch)
    assert config.vision_config.image_size == 224  # run_cuda feeds 224 px pixels
    assert _meta_params(CLIPModel, config) < 2_000_000


def test_overlay_sets_every_rule_runtime_and_its_own_run(gc):
    real, dry = gc.overlay_config(False), gc.overlay_config(True)
    assert real["runtime"] == {"device": "cuda", "dtype": "bfloat16", "require_gpu": True}
    assert dry["runtime"]["device"] == "cpu"
    assert real["run"] != dry["run"] and "demo" not in (real["run"], dry["run"])


def test_budgets_fit_the_total_and_reject_nonsense(gc):
    budgets = gc.step_budgets(480)
    assert set(budgets) == set(gc.STEPS)
    assert sum(budgets.values()) <= 480 and min(budgets.values()) > 0
    with pytest.raises(ValueError, match="time-budget"):
        gc.step_budgets(0)


def test_snakemake_command_passes_gpus_and_both_configs(gc):
    cmd = gc.snakemake_command("snakemake", 16, 2, ["config/demo.yaml", "/tmp/o.yaml"])
    assert cmd[cmd.index("--resources") + 1] == "gpu=2"
    assert cmd[cmd.index("--configfile") + 1 :] == ["config/demo.yaml", "/tmp/o.yaml"]
    # No GPU still gives the GPU rules one slot (they run on CPU in the dry run).
    assert "gpu=1" in gc.snakemake_command("snakemake", 2, 0, ["c.yaml"])


def test_copy_worktree_skips_ignored_files(gc, tmp_path):
    src, dst = tmp_path / "src", tmp_path / "dst"
    (src / "sub").mkdir(parents=True)
    (src / ".gitignore").write_text("big/\n")
    (src / "sub" / "a.py").write_text("x = 1\n")
    (src / "big").mkdir()
    (src / "big" / "blob").write_text("no")
    subprocess.run(["git", "init", "-q"], cwd=src, check=True)
    assert gc.copy_worktree(src, dst) == 2
    assert (dst / "sub" / "a.py").read_text() == "x = 1\n"
    assert not (dst / "big").exists()


def _case(gc, name: str, n: int, times: list[float], unit: str) -> dict:
    return gc.common.Case("b", name, n, times, unit=unit).to_dict()


def test_record_json_and_markdown(gc, tmp_path):
    record = {
        "device": {"torch": "2.x", "dry_run": False, "cuda": "13.0", "devices": ["NVIDIA H200"]},
        "time_budget_s": 480.0,
        "seconds": 300.0,
        "ok": False,
        "steps": {
            "demo": {"ok": True, "gpus": 2, "jobs_finished": 40, "seconds": 100.0},
            "embed": {
                "ok": True,
                "cases": [_case(gc, "ViT-L/14 bs=128", 128, [0.5, 0.25], "images")],
            },
            "llm": {"ok": False, "timed_out": True},
        },
    }
    path, md = gc.write_record(record, tmp_path / "out" / "gpu-check.json")
    saved = json.loads(path.read_text())
    assert saved["steps"]["embed"]["cases"][0]["rate"] == pytest.approx(128 / 0.375)
    assert saved["machine"]["python"]  # write_json adds the machine
    text = md.read_text()
    assert md.name == "gpu-check.md" and "NVIDIA H200" in text
    assert "| ViT-L/14 bs=128 | 128 | 0.375 | 341.3 |" in text
    assert "passed" in text and "gpu=2" in text
    assert "Falcon generation: no figures" in text


def _dead(pid: int, wait_s: float = 5.0) -> bool:
    import time

    stat = Path(f"/proc/{pid}/stat")
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        try:
            if stat.read_text().rsplit(")", 1)[1].split()[0] in "ZX":
                return True
        except (FileNotFoundError, ProcessLookupError):
            return True
        time.sleep(0.1)
    return False


def test_run_in_group_stops_the_jobs_of_a_timed_out_command(gc, tmp_path):
    import os

    pidfile = tmp_path / "pid"
    cmd = ["bash", "-c", f"sleep 60 & echo $! > {pidfile}; wait"]
    with (tmp_path / "log").open("w") as log:
        rc, timed_out = gc.run_in_group(cmd, tmp_path, dict(os.environ), log, timeout_s=1.0)
    assert (rc, timed_out) == (None, True)
    assert gc.TIME_BOX_MARK in (tmp_path / "log").read_text()
    # The job under the command is gone too (or a zombie awaiting its new parent's reaping).
    assert _dead(int(pidfile.read_text()))
    with (tmp_path / "log").open("w") as log:
        assert gc.run_in_group(["true"], tmp_path, dict(os.environ), log, 10.0) == (0, False)
