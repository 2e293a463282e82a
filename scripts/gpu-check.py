"""GPU acceptance run: the demo workflow on CUDA in bf16, then the embed and LLM benchmarks at the
real architectures' sizes, in one time-boxed script (``make gpu-check``).

    python scripts/gpu-check.py                  # one H100/H200: <= --time-budget seconds
    python scripts/gpu-check.py --dry-run        # CPU, tiny sizes: the same code, here

Steps, each in its own subprocess with its own timeout (so a hung step cannot eat the budget):
1. ``demo``: ``snakemake --configfile config/demo.yaml <overlay>`` in a copy of the repository,
   the overlay setting ``run: gpu-check`` and ``runtime: {device: cuda, dtype: bfloat16,
   require_gpu: true}``, with ``--resources gpu=<devices>`` (two GPU jobs at once on two devices);
2. ``embed``: CLIP forward images/s of ViT-B/32 and ViT-L/14 (``CLIPConfig``, random weights);
3. ``llm``: generated tokens/s of falcon-7b-instruct's architecture (``FalconConfig``, random
   bf16 weights) at batch 1..256.
Writes ``--out`` (JSON: device, torch version, figures) and a Markdown summary beside it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / "bench"
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

import bench_embed  # bench/ is not a package: imported from its folder
import bench_llm
import common

STEPS = ("demo", "embed", "llm")
#: Written into the demo's log when its time box closes (``run_in_group``).
TIME_BOX_MARK = "=== gpu-check: time box closed, interrupting ==="
#: Share of the time budget each step may use (the rest is start-up and writing).
BUDGET_SHARE = {"demo": 0.55, "embed": 0.15, "llm": 0.25}

#: The dry run's CLIP vision towers: the real layout (224 px, patch 32/14) at toy width.
TINY_CLIP = {
    "tiny-B/32": {
        "text_config": {
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
        },
        "vision_config": {
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "image_size": 224,
            "patch_size": 32,
        },
        "projection_dim": 16,
    },
}


def embed_archs(dry_run: bool) -> dict[str, dict]:
    """CLIPConfig arguments per architecture: ViT-B/32 and ViT-L/14, or a toy one for the dry
    run."""
    return TINY_CLIP if dry_run else bench_embed.ARCHS


def llm_plan(dry_run: bool) -> dict[str, Any]:
    """FalconConfig arguments, dtype, device, prompt/new token counts and batch sizes."""
    if dry_run:
        return {
            "arch": bench_llm.TINY,
            "dtype": "float32",
            "device": "cpu",
            "prompt_tokens": 16,
            "new_tokens": 4,
            "batch_sizes": [1, 4],
        }
    return {
        "arch": bench_llm.FALCON_7B,
        "dtype": "bfloat16",
        "device": "cuda",
        "prompt_tokens": 64,
        "new_tokens": 64,
        "batch_sizes": [1, 8, 32, 64, 128, 256],
    }


def overlay_config(dry_run: bool) -> dict[str, Any]:
    """The config laid over config/demo.yaml: its own run name and the runtime of every rule."""
    if dry_run:
        return {
            "run": "gpu-check-dry",
            "runtime": {"device": "cpu", "dtype": "float32", "require_gpu": False},
        }
    return {
        "run": "gpu-check",
        "runtime": {"device": "cuda", "dtype": "bfloat16", "require_gpu": True},
    }


def step_budgets(total_s: float) -> dict[str, float]:
    """Seconds each step may run, from the whole budget."""
    if total_s <= 0:
        raise ValueError(f"--time-budget must be positive, got {total_s}")
    return {step: total_s * share for step, share in BUDGET_SHARE.items()}


def snakemake_command(snakemake: str, cores: int, gpus: int, configfiles: list[str]) -> list[str]:
    """The demo workflow's command line, ``gpus`` GPU jobs at most at once."""
    return [
        snakemake,
        "--cores",
        str(cores),
        "--resources",
        f"gpu={max(gpus, 1)}",
        "--configfile",
        *configfiles,
    ]


def copy_worktree(src: Path, dst: Path) -> int:
    """Copy the files git tracks or would track (not ignored ones) from ``src`` to ``dst``;
    return how many."""
    listing = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=src,
        capture_output=True,
        check=True,
    ).stdout.decode()
    n = 0
    for rel in filter(None, listing.split("\0")):
        source = src / rel
        if not source.is_file():  # deleted in the work tree but still in the index
            continue
        target = dst / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
        n += 1
    return n


def run_in_group(
    cmd: list[str], cwd: Path, env: dict[str, str], log, timeout_s: float
) -> tuple[int | None, bool]:
    """Run ``cmd`` in its own process group; at the timeout interrupt the whole group (snakemake
    and its jobs) so no job outlives the box. Returns (exit status or None, timed out)."""
    proc = subprocess.Popen(
        cmd, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        return proc.wait(timeout=timeout_s), False
    except subprocess.TimeoutExpired:
        pass
    # Mark where the box closed: what fails after this line failed from the interrupt.
    log.write(f"\n{TIME_BOX_MARK}\n")
    log.flush()
    # SIGINT lets snakemake stop its jobs and mark their outputs incomplete; SIGKILL then takes
    # whatever ignored it (background jobs of a non-interactive shell ignore SIGINT).
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGINT)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=20)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    return None, True


def write_yaml(path: Path, data: dict[str, Any]) -> Path:
    import yaml

    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


# --- the steps, each run in a child process by ``--step`` ---------------------------------------


def run_demo(dry_run: bool, gpus: int, cores: int, timeout_s: float) -> dict[str, Any]:
    """Run the demo workflow in a copy of the repository; its status, time and job count."""
    work = Path(tempfile.mkdtemp(prefix="gpu-check-demo-"))
    copied = copy_worktree(REPO, work)
    overlay = overlay_config(dry_run)
    overlay_path = write_yaml(work / "gpu-check-overlay.yaml", overlay)
    snakemake = str(Path(sys.executable).with_name("snakemake"))
    cmd = snakemake_command(snakemake, cores, gpus, ["config/demo.yaml", str(overlay_path)])
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    nltk = REPO / "resources" / "nltk_data"
    if "NLTK_DATA" not in env and nltk.is_dir():
        env["NLTK_DATA"] = str(nltk)
    if dry_run:
        env["SEMSPACE_GPU_COUNT"] = str(gpus)  # fake slots, so the two-at-once path runs
    log_path = work / "gpu-check-snakemake.log"
    start = time.perf_counter()
    with log_path.open("a") as log:  # append: run_in_group writes its mark into it
        rc, timed_out = run_in_group(cmd, work, env, log, timeout_s)
    text = log_path.read_text(errors="replace")
    results = work / "results" / overlay["run"]
    before_box = text.split(TIME_BOX_MARK)[0]
    failed = "Error in rule" in before_box
    finished = before_box.count("Finished job")
    # The dry run's CPU cannot finish the whole demo in its time box: there it passes when jobs
    # (GPU rules among them) ran and none failed before the box closed; the record says partial.
    partial_ok = dry_run and timed_out and not failed and finished > 0
    return {
        "ok": (rc == 0 and results.is_dir()) or partial_ok,
        "partial": timed_out,
        "failed_rule": failed,
        "returncode": rc,
        "timed_out": timed_out,
        "seconds": round(time.perf_counter() - start, 1),
        "jobs_finished": finished,
        "gpu_jobs_started": before_box.count("gpu=1"),
        "gpus": gpus,
        "command": " ".join(cmd),
        "overlay": overlay,
        "files_copied": copied,
        "workdir": str(work),
        "log_tail": text[-3000:],
    }


def run_embed(dry_run: bool, deadline: float) -> dict[str, Any]:
    """CLIP images/s per architecture and batch size (``bench_embed.run_cuda``)."""
    device = "cpu" if dry_run else "cuda"
    args = argparse.Namespace(quick=dry_run, repeats=2 if dry_run else 3)
    cases, skipped = [], []
    for name, arch in embed_archs(dry_run).items():
        if time.monotonic() > deadline:
            skipped.append(name)  # counted skip: no time left for this architecture
            continue
        cases += bench_embed.run_cuda(args, device_name=device, archs={name: arch})
    return {"cases": [c.to_dict() for c in cases], "skipped": skipped}


def run_llm(dry_run: bool, deadline: float) -> dict[str, Any]:
    """Generated tokens/s of the Falcon architecture at each batch size, until the deadline."""
    import torch

    plan = llm_plan(dry_run)
    arch, device = plan["arch"], plan["device"]
    if dry_run:
        torch.set_num_threads(1)  # two threads spin-wait on a shared 2-core machine
    model = bench_llm.build_model(arch, device, plan["dtype"])
    sync = torch.cuda.synchronize if device == "cuda" else None
    cases, skipped = [], []
    with torch.inference_mode():
        for bs in plan["batch_sizes"]:
            if time.monotonic() > deadline:
                skipped.append(bs)
                continue
            prompts = bench_llm.make_prompts(bs, plan["prompt_tokens"], arch["vocab_size"])
            prompts = prompts.to(device)
            made = bench_llm.run_generation(model, prompts, bs, plan["new_tokens"])
            times = common.time_it(
                lambda p=prompts, b=bs: bench_llm.run_generation(model, p, b, plan["new_tokens"]),
                repeats=2,
                warmup=0,  # the call above was the warm-up
                sync=sync,
            )
            extra: dict[str, Any] = {"batch": bs}
            if device == "cuda":
                extra["peak GiB"] = round(torch.cuda.max_memory_allocated() / 2**30, 1)
            cases.append(common.Case("llm", f"batch {bs}", made, times, unit="tokens", extra=extra))
    return {
        "cases": [c.to_dict() for c in cases],
        "skipped_batch_sizes": skipped,
        "parameters": bench_llm.parameter_count(arch),
        **{k: v for k, v in plan.items() if k != "batch_sizes"},
    }


# --- the parent: steps in child processes, then the record ---------------------------------------


def run_step_child(step: str, dry_run: bool, timeout_s: float, gpus: int, cores: int) -> dict:
    """Run one step in a child process with a timeout; its result, or why it has none."""
    with tempfile.TemporaryDirectory(prefix=f"gpu-check-{step}-") as tmp:
        out = Path(tmp) / "result.json"
        cmd = [
            sys.executable,
            str(Path(__file__).resolve()),
            "--step",
            step,
            "--step-out",
            str(out),
            "--step-seconds",
            str(timeout_s),
            "--gpus",
            str(gpus),
            "--cores",
            str(cores),
        ] + (["--dry-run"] if dry_run else [])
        start = time.perf_counter()
        try:
            # The child stops starting new cases at its deadline; the margin lets it finish one.
            proc = subprocess.run(
                cmd, capture_output=True, text=True, timeout=timeout_s * 1.5, check=False
            )
        except subprocess.TimeoutExpired as err:
            tail = (err.stderr or b"")[-2000:]
            tail = tail.decode(errors="replace") if isinstance(tail, bytes) else tail
            return {"ok": False, "timed_out": True, "stderr_tail": tail}
        seconds = round(time.perf_counter() - start, 1)
        if proc.returncode != 0 or not out.is_file():
            return {
                "ok": False,
                "returncode": proc.returncode,
                "seconds": seconds,
                "stderr_tail": proc.stderr[-3000:],
            }
        result = json.loads(out.read_text())
        result.setdefault("ok", bool(result.get("cases")))
        result["seconds"] = result.get("seconds", seconds)
        return result


def device_info(dry_run: bool) -> dict[str, Any]:
    import torch

    info: dict[str, Any] = {"torch": torch.__version__, "dry_run": dry_run}
    if torch.cuda.is_available():
        info["cuda"] = torch.version.cuda
        info["devices"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    else:
        info["devices"] = ["cpu: " + common.machine_info()["cpu"]]
    return info


def summary_markdown(record: dict[str, Any]) -> str:
    """The Markdown summary of a record, ready to paste into docs/benchmarks.md."""
    dev = record["device"]
    kind = "dry run on CPU, toy sizes" if dev.get("dry_run") else "CUDA, bf16"
    lines = [
        f"### GPU acceptance run ({kind}), {record.get('time_utc', '')}",
        "",
        f"Device: {', '.join(dev['devices'])}; torch {dev['torch']}"
        + (f", CUDA {dev['cuda']}" if dev.get("cuda") else "")
        + f"; total {record['seconds']:.0f} s of a {record['time_budget_s']:.0f} s budget.",
        "",
    ]
    demo = record["steps"].get("demo", {})
    if demo:
        state = "passed" if demo.get("ok") else "FAILED"
        if demo.get("timed_out"):
            state += (
                " (partial: the time box closed with no failed job)"
                if demo.get("ok")
                else (" (timed out)")
            )
        lines += [
            (
                f"Demo workflow ({demo.get('overlay', {}).get('runtime', {})}, "
                f"--resources gpu={demo.get('gpus')}): {state}, "
                f"{demo.get('jobs_finished', 0)} jobs in {demo.get('seconds', 0)} s."
            ),
            "",
        ]
    for step, title, columns in (
        ("embed", "CLIP image forward", ["name", "n", "median_s", "rate"]),
        ("llm", "Falcon generation", ["name", "n", "median_s", "rate"]),
    ):
        result = record["steps"].get(step, {})
        cases = result.get("cases", [])
        lines.append(f"{title}: " + ("" if cases else "no figures (step failed or skipped)."))
        if cases:
            unit = cases[0]["unit"]
            rows = [
                {
                    "case": c["name"],
                    "n": c["n"],
                    "median s": c["median_s"],
                    f"{unit}/s": c["rate"],
                    **c.get("extra", {}),
                }
                for c in cases
            ]
            lines += ["", common.markdown_table(rows)]
        skipped = result.get("skipped") or result.get("skipped_batch_sizes")
        if skipped:
            lines.append(f"\nSkipped for lack of time: {skipped}")
        lines.append("")
    return "\n".join(lines)


def write_record(record: dict[str, Any], out: Path) -> tuple[Path, Path]:
    """Write the JSON record (with machine info) and its Markdown summary beside it."""
    path = common.write_json(out.stem, record, out_dir=out.parent)
    stamped = json.loads(path.read_text())
    md = out.with_suffix(".md")
    md.write_text(summary_markdown(stamped) + "\n")
    return path, md


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dry-run", action="store_true", help="CPU, toy sizes (runs anywhere)")
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="JSON record (default benchmarks/gpu-check.json; -dry.json for --dry-run)",
    )
    parser.add_argument(
        "--time-budget", type=float, default=None, help="seconds, all steps (480; dry run 300)"
    )
    parser.add_argument("--steps", default=",".join(STEPS), help="comma-separated subset")
    parser.add_argument("--gpus", type=int, default=None, help="GPU jobs at once (default: found)")
    parser.add_argument("--cores", type=int, default=None, help="snakemake --cores")
    # Internal: run one step in this process and write its result (used by the parent).
    parser.add_argument("--step", choices=STEPS, help=argparse.SUPPRESS)
    parser.add_argument("--step-out", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--step-seconds", type=float, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.gpus is None:
        from semspace.devices import gpu_count

        # The dry run fakes two slots so that two "GPU" jobs may run at once.
        args.gpus = 2 if args.dry_run else gpu_count()
    if args.out is None:
        name = "gpu-check-dry.json" if args.dry_run else "gpu-check.json"
        args.out = REPO / "benchmarks" / name
    if args.time_budget is None:
        args.time_budget = 300.0 if args.dry_run else 480.0
    if args.cores is None:
        args.cores = min(os.cpu_count() or 1, 2 if args.dry_run else 16)
    if args.step:
        deadline = time.monotonic() + args.step_seconds
        if args.step == "demo":
            result = run_demo(args.dry_run, args.gpus, args.cores, args.step_seconds)
        elif args.step == "embed":
            result = run_embed(args.dry_run, deadline)
        else:
            result = run_llm(args.dry_run, deadline)
        args.step_out.write_text(json.dumps(result, default=str))
        return 0

    steps = [s.strip() for s in args.steps.split(",") if s.strip()]
    unknown = sorted(set(steps) - set(STEPS))
    if unknown:
        print(f"--steps: unknown {unknown}; choose from {', '.join(STEPS)}", file=sys.stderr)
        return 2
    if not args.dry_run and args.gpus < 1:
        print("gpu-check: no GPU found (nvidia-smi); use --dry-run on CPU", file=sys.stderr)
        return 1
    budgets = step_budgets(args.time_budget)
    start = time.perf_counter()
    results: dict[str, Any] = {}
    for step in steps:
        print(f"gpu-check: {step} (at most {budgets[step]:.0f} s) ...", flush=True)
        results[step] = run_step_child(step, args.dry_run, budgets[step], args.gpus, args.cores)
        print(f"gpu-check: {step} ok={results[step].get('ok')}", flush=True)
    record = {
        "device": device_info(args.dry_run),
        "time_budget_s": args.time_budget,
        "seconds": round(time.perf_counter() - start, 1),
        "ok": all(r.get("ok") for r in results.values()),
        "steps": results,
    }
    path, md = write_record(record, args.out)
    print(md.read_text())
    print(f"gpu-check: wrote {path} and {md}; ok={record['ok']}")
    return 0 if record["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
