"""Look at a run's Snakemake report in headless chromium (``make report-check``).

    python scripts/report-check.py                                 # the demo's report
    python scripts/report-check.py --config config/coco-real.yaml  # results/coco-real/report.html
    python scripts/report-check.py --figures                       # every figure measured too

Checks that the landing page names the run (and, for demo models, shows the banner), that every
enabled experiment's tables are shown inline as HTML, and that figures (``--figures``) show at
their printed size with their top in the window. Saves a screenshot of each view and a summary
(``summary.md``, ``views.json``) under ``--out`` (default ``results/<run>/report-check/``).
Exits 1 when a problem was found, 2 on a user error (no chromium, no report). The checks are in
``semspace.report.browser``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from semspace.config import load_config
from semspace.errors import SemspaceError
from semspace.report import browser

REPO = Path(__file__).resolve().parents[1]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--config",
        default="config/demo.yaml",
        help="the config the run layered over config/config.yaml (default: config/demo.yaml)",
    )
    parser.add_argument(
        "--report",
        default=None,
        help="the report file (default: results/<run>/report.html, as `make report` writes it)",
    )
    parser.add_argument(
        "--out",
        default=None,
        help="folder for screenshots and the summary (default: results/<run>/report-check/)",
    )
    parser.add_argument(
        "--figures",
        action="store_true",
        help="also show and measure every figure (one browser start per figure)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        config = load_config(REPO / "config" / "config.yaml", args.config)
        run = config["run"]
        report = Path(args.report or f"results/{run}/report.html")
        if not report.is_file():
            raise SemspaceError(
                f"{report}: no report; make it with `make report CONFIG={args.config}`"
            )
        out = Path(args.out or f"results/{run}/report-check")
        check = browser.check_report(report, config, out, figures=args.figures)
    except SemspaceError as error:
        print(f"report-check: {error}", file=sys.stderr)
        return 2
    text = browser.summary(check, report)
    (out / "summary.md").write_text(text, encoding="utf-8")
    (out / "views.json").write_text(json.dumps(check.views, indent=1) + "\n", encoding="utf-8")
    print(text, end="")
    print(f"screenshots and summary in {out}/")
    return 0 if check.ok else 1


if __name__ == "__main__":
    sys.exit(main())
