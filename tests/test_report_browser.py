"""The report in a headless browser (semspace.report.browser, scripts/report-check.py).

The judging functions are tested on made-up inputs; the browser tests need Debian's chromium and
skip without it. The end-to-end test runs `make demo`, then `make report-check` (which makes the
report and looks at it in chromium) in a copy of the repository, as a user would. Set
SEMSPACE_DEMO_COPY to a copy where `make demo` already ran to reuse its results (make then finds
nothing to redo).
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
from pathlib import Path

import pytest
from test_workflow import VENV_BIN

from semspace.config import load_config
from semspace.errors import SemspaceError
from semspace.report import browser as B
from semspace.report import tables as T

REPO = Path(__file__).resolve().parents[1]


def _chromium() -> str:
    try:
        return B.find_chromium()
    except B.ChromiumMissing as missing:
        pytest.skip(f"Debian's chromium is not installed ({missing})")


def _uri(text: str, mime: str = "text/html") -> str:
    return f"data:{mime};charset=utf8;base64," + base64.b64encode(text.encode()).decode()


# ---------------------------------------------------------------- without a browser


def test_read_report_takes_results_and_categories_from_the_page(tmp_path):
    results = {"results/demo/vwsd/metrics.html": {"mime_type": "text/html", "data_uri": "x"}}
    categories = {"E1 Visual WSD": {"Other": ["results/demo/vwsd/metrics.html"]}}
    page = (
        "<html><body>"
        f'<script id="results">\nvar results = {json.dumps(results)};\n</script>\n'
        f'<script id="categories">\nvar categories = {json.dumps(categories)};\n</script>'
        "</body></html>"
    )
    (tmp_path / "report.html").write_text(page)
    assert B.read_report(tmp_path / "report.html") == (results, categories)
    (tmp_path / "other.html").write_text("<html></html>")
    with pytest.raises(B.ReportFormatError, match="other.html"):
        B.read_report(tmp_path / "other.html")


def test_decode_data_uri_base64_and_percent():
    assert B.decode_data_uri(_uri("<p>é</p>")) == "<p>é</p>".encode()
    assert B.decode_data_uri("data:text/plain,a%20b") == b"a b"
    with pytest.raises(ValueError):
        B.decode_data_uri("file:///x")


def test_inline_tables_need_an_html_result_and_twins():
    html = {"mime_type": "text/html"}
    md = {"mime_type": "text/markdown"}
    png = {"mime_type": "image/png"}
    results = {
        "r/vwsd/metrics.html": html,
        "r/syntax/table.md": md,
        "r/syntax/table.html": html,
        "r/softtext/table.csv": {"mime_type": "text/csv"},
        "r/softtext/umap.png": png,
        "r/imagespace/map.png": png,
    }
    categories = {
        "E1 Visual WSD": {"Other": ["r/vwsd/metrics.html"]},
        "E3 Syntax": {"Other": ["r/syntax/table.md", "r/syntax/table.html"]},
        "E4 Soft text": {"Other": ["r/softtext/table.csv", "r/softtext/umap.png"]},
        "E5 Semantic space": {"coco": ["r/imagespace/map.png"]},
    }
    problems = B.check_inline_tables(
        results, categories, ["vwsd", "retrieval", "syntax", "softtext", "imagespace"]
    )
    assert problems == [
        "retrieval (E2) is enabled but has no category in the report",
        "E4 Soft text: no table shown inline (no HTML result)",
        "E4 Soft text: r/softtext/table.csv is only a download link (no HTML twin)",
        "E5 Semantic space: no table shown inline (no HTML result)",
    ]
    assert B.check_inline_tables(results, categories, ["vwsd", "syntax"]) == []


def test_every_result_needs_a_label():
    results = {
        "r/a.png": {"labels": "{'result': 'map'}"},
        "r/b.png": {"labels": "None"},
        "r/c.html": {},
    }
    categories = {"E2 Retrieval": {"maps": ["r/a.png", "r/b.png"], "table": ["r/c.html"]}}
    assert B.check_labels(results, categories) == [
        "E2 Retrieval: r/b.png has no label (the side bar shows its path)",
        "E2 Retrieval: r/c.html has no label (the side bar shows its path)",
    ]


def test_table_page_needs_rows_and_the_demo_note():
    table = T.Table(columns=T.columns_of([{"a": 1}]), rows=[{"a": 1}], caption="E1", demo=True)
    page = T.to_html(T.demo_title("metrics", True), [table])
    assert B.check_table_page(page, demo=True) == []
    plain = T.to_html("metrics", [T.Table(columns=table.columns, rows=table.rows, caption="E1")])
    assert B.check_table_page(plain, demo=False) == []
    assert len(B.check_table_page(plain, demo=True)) == 1
    assert B.check_table_page("<h1>demo</h1><p>none</p>", demo=True) == ["no <table> with cells"]


def test_judge_view_flags_shrunk_and_cut_images_and_wide_tables():
    pane = {"top": 0, "left": 300, "width": 980, "height": 900}
    fits = {"key": "a.png", "kind": "img", "natural": [800, 700], "pane": pane,
            "rect": {"top": 100, "left": 390, "width": 800, "height": 700}}  # fmt: skip
    assert B.judge_view(fits) == ([], [])
    shrunk = dict(fits, natural=[1200, 700])
    (problem,), _ = B.judge_view(shrunk)
    assert "67 %" in problem.replace("%", " %") or "67%" in problem
    cut = dict(fits, rect=dict(fits["rect"], top=-50))
    (problem,), _ = B.judge_view(cut)
    assert "50 px above" in problem
    table = {"key": "t.html", "kind": "html", "page_scroll_width": 1400, "pane": pane,
             "rect": {"top": 0, "left": 300, "width": 980, "height": 900}}  # fmt: skip
    assert B.judge_view(table)[0] == [] and "1400 px wide" in B.judge_view(table)[1][0]
    assert B.judge_view({"key": "x.md", "error": "shown only as a download link"})[0]


def test_missing_chromium_names_the_package(monkeypatch):
    monkeypatch.setattr(B.shutil, "which", lambda name: None)
    with pytest.raises(B.ChromiumMissing, match="apt-get install -y chromium") as caught:
        B.find_chromium()
    assert isinstance(caught.value, SemspaceError)


# ---------------------------------------------------------------- in chromium


def test_chromium_renders_a_table_page(tmp_path):
    chromium = _chromium()
    rows = [{"model": "tiny", "MRR": 0.34632936507936507}]
    table = T.Table(columns=T.columns_of(rows), rows=rows, caption="E1 metrics", demo=True)
    page = tmp_path / "t.html"
    page.write_text(T.to_html(T.demo_title("metrics", True), [table]))
    dom = B.run_chromium(chromium, page.as_uri(), budget_ms=2000)
    assert B.check_table_page(dom, demo=True) == []
    assert "0.346" in dom and "0.34632936507936507" not in dom
    shot = tmp_path / "t.png"
    B.run_chromium(chromium, page.as_uri(), screenshot=shot, budget_ms=2000)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def demo_report(request: pytest.FixtureRequest) -> tuple[Path, subprocess.CompletedProcess]:
    """`make report-check` after `make demo` (the session's demo run, tests/conftest.py, or
    the copy SEMSPACE_DEMO_COPY names), with no ffmpeg on PATH."""
    _chromium()
    given = os.environ.get("SEMSPACE_DEMO_COPY")
    repo = Path(given) if given else request.getfixturevalue("demo_run")
    env = request.getfixturevalue("demo_env")
    make = ["make", "-o", f"{VENV_BIN.parent}/.installed", "CORES=2", f"VENV={VENV_BIN.parent}"]
    if given:
        demo = subprocess.run(
            [*make, "demo"], cwd=repo, env=env, capture_output=True, text=True, check=False
        )
        assert demo.returncode == 0, demo.stderr[-4000:]
    checked = subprocess.run(
        [*make, "report-check"], cwd=repo, env=env, capture_output=True, text=True, check=False
    )
    return repo, checked


@pytest.mark.slow
def test_demo_report_shows_every_table_inline(demo_report):
    repo, checked = demo_report
    assert checked.returncode == 0, checked.stdout[-4000:] + checked.stderr[-4000:]
    out = repo / "results" / "demo" / "report-check"
    views = json.loads((out / "views.json").read_text())
    config = load_config(REPO / "config" / "config.yaml", REPO / "config" / "demo.yaml")
    # every HTML table the run wrote under an enabled experiment is a view shown in an iframe
    # (the report has no other HTML results)
    results, categories = B.read_report(repo / "results" / "demo" / "report.html")
    shown = {v["key"] for v in views if v["kind"] == "html" and not v.get("error")}
    registered = {k for k, r in results.items() if r["mime_type"] == "text/html"}
    assert shown == registered
    for experiment in B.enabled_experiments(config):
        folder = repo / "results" / "demo" / experiment
        made = {str(p.relative_to(repo)) for p in folder.rglob("*.html")}
        assert made and made <= shown, (experiment, made - shown)
    # figures were looked at too, each at its printed size with its top in the window
    images = [v for v in views if v["kind"] == "img"]
    assert len(images) == sum(r["mime_type"].startswith("image/") for r in results.values())
    for view in images:
        assert view["rect"]["width"] >= B.MIN_SCALE * view["natural"][0], view
    # and no table is wider than the pane (none scrolls sideways)
    for view in views:
        assert B.judge_view(view) == ([], []), view
    assert (out / "landing.png").stat().st_size > 0
    assert len(list(out.glob("*.png"))) == len(views) + 1
    # and the checker would see E1's metrics registered only as Markdown (a download link)
    assert B.check_inline_tables(results, categories, B.enabled_experiments(config)) == []
    e1 = B.category_of("E1", categories)
    for paths in categories[e1].values():
        for i, key in enumerate(paths):
            if results[key]["mime_type"] == "text/html":
                paths[i] = str(Path(key).with_suffix(".md"))
                results[paths[i]] = {"mime_type": "text/markdown"}
    problems = B.check_inline_tables(results, categories, B.enabled_experiments(config))
    assert f"{e1}: no table shown inline (no HTML result)" in problems


def test_landing_page_names_the_run_and_the_demo_banner():
    banner = f"<p><strong>Demo run: {B.DEMO_BANNER} on synthetic data.</strong></p>"
    page = '<div id="app"><div>run <code>demo</code> (results under results/demo/)</div>{}</div>'
    assert B.check_landing(page.format(banner), "demo", demo=True) == []
    assert B.check_landing(page.format(""), "demo", demo=False) == []
    (missing,) = B.check_landing(page.format(""), "demo", demo=True)
    assert "banner" in missing
    (stray,) = B.check_landing(page.format(banner), "demo", demo=False)
    assert "no demo models" in stray
    (other,) = B.check_landing(page.format(""), "coco-real", demo=False)
    assert "results/coco-real/" in other
    unrendered = '<div id="loading-screen">Loading Snakemake Report...</div><div id="app"></div>'
    assert "did not render" in B.check_landing(unrendered, "", demo=False)[0]
