"""Helpers shared by the benchmark scripts in ``bench/``.

Each ``bench/bench_<topic>.py`` exposes ``main(argv: list[str] | None) -> int``, accepts
``--device cpu|cuda``, times its cases with :func:`time_it`, prints :func:`markdown_table` of
its :class:`Case` records and saves them with :func:`write_json` into ``benchmarks/``.
Benchmarks report ratios against the obvious alternative measured in the same run; absolute
times are meaningful only on the machine recorded beside them.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import shutil
import statistics
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

#: Where results go: ``benchmarks/`` at the repository root (git-ignored).
BENCH_DIR = Path(__file__).resolve().parents[1] / "benchmarks"


def time_it(
    fn: Callable[[], Any], repeats: int = 5, warmup: int = 1, sync: Callable[[], Any] | None = None
) -> list[float]:
    """Wall-clock seconds of ``repeats`` calls of ``fn`` after ``warmup`` untimed calls.

    ``sync`` (e.g. ``torch.cuda.synchronize``) is called after each call so that GPU work is
    counted.
    """
    for _ in range(warmup):
        fn()
        if sync is not None:
            sync()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        if sync is not None:
            sync()
        times.append(time.perf_counter() - start)
    return times


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


@dataclasses.dataclass
class Case:
    """One measured case: what ran (``name``), on what size (``n``), its timings and derived
    rates."""

    bench: str
    name: str
    n: int
    times: list[float]
    unit: str = "items"  # what ``n`` counts: items, images, tokens, pairs...
    baseline: str | None = None  # name of the case this one is compared with
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def median_s(self) -> float:
        return median(self.times)

    @property
    def rate(self) -> float:
        """``n`` per second at the median time."""
        return self.n / self.median_s if self.median_s > 0 else float("inf")

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out.update(median_s=self.median_s, rate=self.rate)
        return out


def speedups(cases: Sequence[Case]) -> dict[str, float]:
    """``case name -> baseline median / case median`` for every case that names a baseline."""
    by_name = {c.name: c for c in cases}
    return {
        c.name: by_name[c.baseline].median_s / c.median_s
        for c in cases
        if c.baseline is not None and c.baseline in by_name and c.median_s > 0
    }


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        if value == 0 or 1e-3 <= abs(value) < 1e6:
            return f"{value:.4g}"
        return f"{value:.3e}"
    return str(value)


def markdown_table(
    rows: Sequence[dict[str, Any] | Case], columns: Sequence[str] | None = None
) -> str:
    """A GitHub Markdown table of dict rows (or :class:`Case` records: name, n, median, rate,
    speed-up)."""
    if rows and isinstance(rows[0], Case):
        ratio = speedups(rows)  # type: ignore[arg-type]
        rows = [
            {
                "case": c.name,
                "n": c.n,
                "median s": c.median_s,
                f"{c.unit}/s": c.rate,
                "vs baseline": f"{ratio[c.name]:.2f}x vs {c.baseline}" if c.name in ratio else "",
                **c.extra,
            }
            for c in rows  # type: ignore[union-attr]
        ]
    if not rows:
        return ""
    if columns is None:
        columns = list(dict.fromkeys(k for row in rows for k in row))  # type: ignore[union-attr]
    lines = [
        "| " + " | ".join(columns) + " |",
        "|" + "|".join("---" for _ in columns) + "|",
    ]
    for row in rows:
        lines.append("| " + " | ".join(_fmt(row.get(col, "")) for col in columns) + " |")  # type: ignore[union-attr]
    return "\n".join(lines)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _gpu_names() -> list[str]:
    if shutil.which("nvidia-smi") is None:
        return []
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=20,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [line.strip() for line in out.splitlines() if line.strip()]


def machine_info() -> dict[str, Any]:
    """CPU model, cores, Python/torch versions and GPU names (from ``nvidia-smi``), for the
    record."""
    info: dict[str, Any] = {
        "host": platform.node(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0))
        if hasattr(os, "sched_getaffinity")
        else os.cpu_count(),
        "gpus": _gpu_names(),
    }
    try:
        import torch

        info["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
        info["cuda"] = torch.version.cuda if torch.cuda.is_available() else None
    except ImportError:  # pragma: no cover
        info["torch"] = None
    return info


def write_json(name: str, payload: dict[str, Any], out_dir: Path | None = None) -> Path:
    """Write ``payload`` plus machine info and a UTC timestamp to ``benchmarks/<name>.json``."""
    out_dir = BENCH_DIR if out_dir is None else Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    payload = dict(payload)
    if "cases" in payload:
        payload["cases"] = [c.to_dict() if isinstance(c, Case) else c for c in payload["cases"]]
    record = {
        "name": name,
        "time_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": machine_info(),
        **payload,
    }
    path = out_dir / f"{name}.json"
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(record, indent=2, default=str) + "\n")
    os.replace(tmp, path)
    return path


def base_parser(description: str) -> argparse.ArgumentParser:
    """An argument parser with the flags every benchmark accepts (``--device``, ``--repeats``,
    ``--quick``)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--repeats", type=int, default=5, help="timed calls per case")
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke test")
    return parser
