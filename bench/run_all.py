"""Run every ``bench/bench_*.py`` (each exposes ``main(argv)``) and print their tables.

python bench/run_all.py --device cpu [--quick] [--only set_distances,mds]
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent


def discover() -> list[Path]:
    return sorted(HERE.glob("bench_*.py"))


def load(path: Path):
    if str(HERE) not in sys.path:
        sys.path.insert(0, str(HERE))  # so that benchmarks can `import common`
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module  # dataclasses and pickling look modules up there
    spec.loader.exec_module(module)
    return module


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--quick", action="store_true", help="pass --quick to every benchmark")
    parser.add_argument("--only", default="", help="comma-separated names (bench_<name>.py)")
    args = parser.parse_args(argv)
    only = {n.strip() for n in args.only.split(",") if n.strip()}
    failed = []
    for path in discover():
        name = path.stem.removeprefix("bench_")
        if only and name not in only:
            continue
        print(f"\n## {name}\n", flush=True)
        bench_argv = ["--device", args.device] + (["--quick"] if args.quick else [])
        start = time.perf_counter()
        try:
            status = load(path).main(bench_argv)
        except Exception:  # noqa: BLE001 - one broken benchmark must not hide the others
            traceback.print_exc()
            status = 1
        print(f"\n({name}: {time.perf_counter() - start:.1f} s, status {status or 0})", flush=True)
        if status:
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
