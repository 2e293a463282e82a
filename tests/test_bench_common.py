"""The benchmark helpers in bench/common.py."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location(
    "bench_common", Path(__file__).resolve().parents[1] / "bench" / "common.py"
)
common = importlib.util.module_from_spec(_spec)
sys.modules["bench_common"] = common  # dataclasses look their module up there
_spec.loader.exec_module(common)


def test_time_it_counts_calls() -> None:
    calls = []
    times = common.time_it(lambda: calls.append(1), repeats=4, warmup=2)
    assert len(times) == 4 and len(calls) == 6 and all(t >= 0 for t in times)


def test_case_rates_and_table() -> None:
    slow = common.Case("b", "loops", 100, [2.0, 4.0, 3.0])
    fast = common.Case("b", "sparse", 100, [0.5, 0.5, 1.0], baseline="loops")
    assert slow.median_s == 3.0 and fast.rate == pytest.approx(200.0)
    assert common.speedups([slow, fast]) == {"sparse": pytest.approx(6.0)}
    lines = common.markdown_table([slow, fast]).splitlines()
    assert lines[0].startswith("| case | n | median s | items/s")
    assert "6.00x vs loops" in lines[3] and len(lines) == 4
    assert common.markdown_table([{"a": 1, "b": 0.5}]).splitlines()[2] == "| 1 | 0.5 |"


def test_write_json_records_machine(tmp_path: Path) -> None:
    case = common.Case("b", "x", 10, [1.0])
    path = common.write_json("demo", {"cases": [case]}, out_dir=tmp_path)
    record = json.loads(path.read_text())
    assert record["name"] == "demo" and record["cases"][0]["rate"] == 10.0
    assert (
        record["machine"]["cores"] >= 1
        and "cpu" in record["machine"]
        and "gpus" in record["machine"]
    )
