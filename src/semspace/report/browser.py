"""The Snakemake report as a reader sees it: Debian's chromium, headless, opens the report file,
shows each result the way a click on it does, and measures what is on screen.

The report (``snakemake --report results/<run>/report.html``) is one page whose script holds
every result as a ``data:`` URI; a click on a result's eye button shows an HTML result in an
iframe and an image in an ``<img>``, and offers anything else (Markdown, CSV) only as a download
link. The check here

* renders the landing page and looks for the run's name and, for a demo run, the banner saying
  the numbers come from random tiny models;
* for every experiment the config enables, requires tables shown inline as HTML: its category
  holds at least one HTML result, every Markdown/CSV result has an HTML twin (same name, suffix
  ``.html``), and every HTML table page renders a ``<table>`` with rows (and, for a demo run,
  says "demo" in its title or caption);
* shows each HTML table (and with ``figures=True`` each figure) inside the report, as its eye
  button does, measures it (an image shrunk below its printed size, or its top out of the
  window; a table wider than the pane) and saves a screenshot of that view.

Library functions are pure where they can be (parsing, judging measurements); the browser runs
in :func:`run_chromium`. ``scripts/report-check.py`` (``make report-check``) is the command line.
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
import tempfile
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from semspace.errors import SemspaceError
from semspace.report import tables as T

#: The Debian package that provides the browser (``apt-get install chromium``).
CHROMIUM_PACKAGE = "chromium"
#: Names the browser's command goes by.
CHROMIUM_COMMANDS = ("chromium", "chromium-browser")
#: The window of the check: a laptop screen (the figures' width and height limits assume it).
WINDOW = (1280, 900)
#: Each experiment's config key and the start of its report category (``E1 Visual WSD``).
EXPERIMENT_CATEGORIES = {
    "vwsd": "E1",
    "retrieval": "E2",
    "syntax": "E3",
    "softtext": "E4",
    "imagespace": "E5",
}
#: What the landing page's demo banner says (workflow/report/workflow.rst).
DEMO_BANNER = "every number in this report comes from random tiny models"
#: Results of these suffixes are tables; the report shows them only as download links.
TABLE_SUFFIXES = (".md", ".csv", ".tsv")
#: An image shown at less than this fraction of its pixels has text below its printed size.
MIN_SCALE = 0.98


class ChromiumMissing(SemspaceError):
    """Debian's chromium is not installed."""


class ReportFormatError(SemspaceError):
    """The file is not a self-contained Snakemake HTML report."""


@dataclass
class Check:
    """What the check found: problems (the check fails), notes (worth a look) and the
    screenshots it saved."""

    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    screenshots: list[Path] = field(default_factory=list)
    views: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


# ---------------------------------------------------------------- the report's data


def find_chromium() -> str:
    """The chromium command on PATH, else :class:`ChromiumMissing` naming the package."""
    for name in CHROMIUM_COMMANDS:
        found = shutil.which(name)
        if found:
            return found
    raise ChromiumMissing(
        f"no chromium on PATH: install Debian's package {CHROMIUM_PACKAGE!r} "
        f"(apt-get install -y {CHROMIUM_PACKAGE}, as root; `make report-check` does it)"
    )


def _script_json(page: str, script_id: str, variable: str, path: Path) -> Any:
    match = re.search(
        rf'<script id="{script_id}">\s*var {variable} = (.*?);\s*</script>', page, re.DOTALL
    )
    if match is None:
        raise ReportFormatError(
            f"{path}: no <script id={script_id!r}> (var {variable}): not a self-contained "
            "Snakemake HTML report (make one with `make report`)"
        )
    return json.loads(match.group(1))


def read_report(path: str | Path) -> tuple[dict[str, Any], dict[str, dict[str, list[str]]]]:
    """The report's results (path -> name, mime type, caption, data URI) and categories
    (category -> subcategory -> result paths), as its page script holds them."""
    path = Path(path)
    page = path.read_text(encoding="utf-8")
    return _script_json(page, "results", "results", path), _script_json(
        page, "categories", "categories", path
    )


def decode_data_uri(uri: str) -> bytes:
    """The bytes of a ``data:[mime][;base64],payload`` URI."""
    head, _, payload = uri.partition(",")
    if not head.startswith("data:"):
        raise ValueError(f"not a data URI: {uri[:40]!r}")
    if head.endswith(";base64"):
        return base64.b64decode(payload)
    return urllib.parse.unquote_to_bytes(payload)


def category_of(code: str, categories: Mapping[str, Any]) -> str | None:
    """The report category of an experiment's code (``E1`` -> ``E1 Visual WSD``)."""
    for name in categories:
        if name == code or name.startswith(code + " "):
            return name
    return None


def results_in(category: Mapping[str, Sequence[str]]) -> list[str]:
    return [path for paths in category.values() for path in paths]


def enabled_experiments(config: Mapping[str, Any]) -> list[str]:
    return [name for name in EXPERIMENT_CATEGORIES if config.get(name, {}).get("enabled")]


def check_inline_tables(
    results: Mapping[str, Any],
    categories: Mapping[str, Mapping[str, Sequence[str]]],
    experiments: Sequence[str],
) -> list[str]:
    """Problems with how each enabled experiment's tables are registered: no HTML result in its
    category, or a Markdown/CSV table without an HTML twin (the report offers it only as a
    download)."""
    problems = []
    for experiment in experiments:
        code = EXPERIMENT_CATEGORIES[experiment]
        name = category_of(code, categories)
        if name is None:
            problems.append(f"{experiment} ({code}) is enabled but has no category in the report")
            continue
        paths = results_in(categories[name])
        html = {p for p in paths if results[p]["mime_type"] == "text/html"}
        if not html:
            problems.append(f"{name}: no table shown inline (no HTML result)")
        for p in paths:
            if Path(p).suffix in TABLE_SUFFIXES and str(Path(p).with_suffix(".html")) not in html:
                problems.append(f"{name}: {p} is only a download link (no HTML twin)")
    return problems


def check_labels(
    results: Mapping[str, Any], categories: Mapping[str, Mapping[str, Sequence[str]]]
) -> list[str]:
    """Results registered without ``labels=``: the side bar then lists their paths, is as wide
    as the longest one, and narrows the pane that shows the figures (below their printed
    size)."""
    return [
        f"{name}: {key} has no label (the side bar shows its path)"
        for name, category in categories.items()
        for key in results_in(category)
        if results[key].get("labels") in (None, "", "None", "null", {})
    ]


def check_table_page(dom: str, demo: bool) -> list[str]:
    """Problems of one rendered HTML table page: no table with body rows, or (demo) no demo
    note in its title or captions."""
    problems = []
    if "<table" not in dom or "<td" not in dom:
        problems.append("no <table> with cells")
    if demo and "demo" not in _heading_text(dom).lower():
        problems.append(f"a demo table whose title and captions do not say {T.DEMO_NOTE!r}")
    return problems


def _heading_text(dom: str) -> str:
    parts = re.findall(r"<(h1|caption|title)[^>]*>(.*?)</\1>", dom, re.DOTALL)
    return " ".join(re.sub(r"<[^>]+>", "", text) for _, text in parts)


def check_landing(dom: str, run: str, demo: bool) -> list[str]:
    """Problems of the rendered landing page: not rendered, the run's results folder not named,
    the demo banner missing on a demo run or shown on another."""
    problems = []
    if "Loading Snakemake Report" in dom and not re.search(r'<div id="app">\s*<(?!/)', dom):
        problems.append("the landing page did not render (the report's script failed)")
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", dom))
    if run and f"results/{run}/" not in text:
        problems.append(f"the landing page does not name the run's folder results/{run}/")
    if demo and DEMO_BANNER not in text:
        problems.append(f"a demo run's landing page without its banner ({DEMO_BANNER!r})")
    if not demo and DEMO_BANNER in text:
        problems.append("the demo banner on a run that names no demo models")
    return problems


def judge_view(view: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """Problems and notes from one result's measurements in the report window (see
    :data:`_VIEW_SCRIPT`)."""
    problems: list[str] = []
    notes: list[str] = []
    name = view["key"]
    if view.get("error"):
        return [f"{name}: {view['error']}"], notes
    if view["kind"] == "img":
        natural_w = view["natural"][0]
        if not natural_w:
            return [f"{name}: the image did not load"], notes
        scale = view["rect"]["width"] / natural_w
        if scale < MIN_SCALE:
            problems.append(
                f"{name}: shown at {scale:.0%} of its {natural_w} px width "
                f"(pane {view['pane']['width']:.0f} px): its text is smaller than printed"
            )
        if view["rect"]["top"] < view["pane"]["top"] - 1:
            problems.append(
                f"{name}: its top is {view['pane']['top'] - view['rect']['top']:.0f} px above "
                "the window, out of reach of the scroll bar"
            )
    elif view["kind"] == "html":
        width = view.get("page_scroll_width")
        if width is not None and width > view["rect"]["width"] + 1:
            notes.append(
                f"{name}: the table is {width} px wide in a {view['rect']['width']:.0f}-px pane "
                "(scrolls sideways)"
            )
    return problems, notes


# ---------------------------------------------------------------- the browser


#: Injected at the end of a copy of the report: after the app has rendered, shows the result named
#: by the URL's fragment exactly as its eye button does (app.setView with its data URI), then
#: writes the shown element's measurements into <pre id="report-check">.
_VIEW_SCRIPT = """
<script>
(function () {
  function done(info) {
    var pre = document.createElement("pre");
    pre.id = "report-check";
    pre.style.display = "none";
    pre.textContent = JSON.stringify(info);
    document.body.appendChild(pre);
  }
  function box(el) {
    var r = el.getBoundingClientRect();
    return {top: r.top, left: r.left, width: r.width, height: r.height};
  }
  function measure(key, kind, uri, tries) {
    var el = Array.prototype.find.call(
      document.querySelectorAll(kind === "img" ? "img" : "iframe"),
      function (e) { return e.getAttribute("src") === uri; });
    if (!el || (kind === "img" && !el.complete)) {
      if (tries > 100) { return done({key: key, kind: kind, error: "not shown"}); }
      return setTimeout(function () { measure(key, kind, uri, tries + 1); }, 50);
    }
    var pane = el.closest(".overflow-auto") || document.body;
    var info = {key: key, kind: kind, rect: box(el), pane: box(pane),
                window: [window.innerWidth, window.innerHeight]};
    if (kind === "img") { info.natural = [el.naturalWidth, el.naturalHeight]; }
    done(info);
  }
  function show(tries) {
    if (typeof app === "undefined" || !app || !document.querySelector("#app > *")) {
      if (tries > 200) { return done({key: "", error: "the report did not render"}); }
      return setTimeout(function () { show(tries + 1); }, 50);
    }
    var key = decodeURIComponent(location.hash.slice(1));
    if (!key) {
      return setTimeout(function () {
        done({key: "", kind: "landing", window: [window.innerWidth, window.innerHeight]});
      }, 200);
    }
    var entry = results[key];
    if (!entry) { return done({key: key, error: "no such result"}); }
    var mime = entry.mime_type;
    var kind = mime === "text/html" ? "html" : (/^image\\//.test(mime) ? "img" : null);
    if (kind === null) {
      var why = "shown only as a download link (" + mime + ")";
      return done({key: key, kind: "download", error: why});
    }
    // as a reader gets there: the category, the subcategory listing the result, its eye button
    var view = {content: kind, contentPath: entry.data_uri, resultPath: key};
    Object.keys(categories).forEach(function (c) {
      Object.keys(categories[c]).forEach(function (s) {
        if (categories[c][s].indexOf(key) >= 0) {
          view.navbarMode = "subcategory"; view.category = c; view.subcategory = s;
        }
      });
    });
    app.setView(view);
    setTimeout(function () { measure(key, kind, entry.data_uri, 0); }, 100);
  }
  window.addEventListener("load", function () { show(0); });
})();
</script>
"""

#: Injected into a table page rendered alone at the pane's width: its scroll width.
_WIDTH_SCRIPT = """
<script>
window.addEventListener("load", function () {
  var pre = document.createElement("pre");
  pre.id = "report-check";
  pre.style.display = "none";
  pre.textContent = JSON.stringify({scroll_width: document.documentElement.scrollWidth});
  document.body.appendChild(pre);
});
</script>
"""


def run_chromium(
    chromium: str,
    url: str,
    *,
    screenshot: Path | None = None,
    window: tuple[int, int] = WINDOW,
    budget_ms: int = 10000,
    timeout_s: float = 120.0,
) -> str:
    """Open ``url`` in headless chromium for ``budget_ms`` of page time; return the DOM then, or
    save a screenshot of the window (``screenshot``) and return ''."""
    with tempfile.TemporaryDirectory(prefix="report-check-") as profile:
        command = [
            chromium,
            "--headless",
            "--no-sandbox",  # root, as in CI
            "--disable-gpu",
            "--hide-scrollbars",
            "--no-first-run",
            "--allow-file-access-from-files",
            f"--user-data-dir={profile}",
            f"--window-size={window[0]},{window[1]}",
            f"--virtual-time-budget={budget_ms}",
        ]
        command += [f"--screenshot={screenshot}"] if screenshot else ["--dump-dom"]
        result = subprocess.run(
            [*command, url], capture_output=True, text=True, timeout=timeout_s, check=False
        )
    if result.returncode != 0:
        raise SemspaceError(
            f"chromium failed on {url[:200]} (exit {result.returncode}): {result.stderr[-2000:]}"
        )
    if screenshot is not None and not screenshot.exists():
        raise SemspaceError(f"chromium wrote no screenshot {screenshot}: {result.stderr[-2000:]}")
    return result.stdout


def _measured(dom: str) -> dict[str, Any]:
    match = re.search(r'<pre id="report-check"[^>]*>(.*?)</pre>', dom, re.DOTALL)
    if match is None:
        return {"error": "the page did not finish rendering within the time budget"}
    import html

    return json.loads(html.unescape(match.group(1)))


def _inject(page: str, script: str) -> str:
    at = page.rfind("</body>")
    return page[:at] + script + page[at:] if at >= 0 else page + script


def _slug(key: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", key).strip("_")


def check_report(
    report: str | Path,
    config: Mapping[str, Any],
    out_dir: str | Path,
    *,
    figures: bool = False,
    chromium: str | None = None,
) -> Check:
    """Check ``report`` of a run of ``config`` in the browser; screenshots go to ``out_dir``
    (``landing.png``, one ``<result path>.png`` a view)."""
    chromium = chromium or find_chromium()
    report = Path(report).resolve()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    check = Check()
    results, categories = read_report(report)
    experiments = enabled_experiments(config)
    demo = bool(config.get("demo_models"))
    run = str(config.get("run", ""))

    codes = [EXPERIMENT_CATEGORIES[e] for e in experiments]
    keys = [
        key
        for code in codes
        if (name := category_of(code, categories)) is not None
        for key in results_in(categories[name])
        if results[key]["mime_type"] == "text/html"
        or (figures and results[key]["mime_type"].startswith("image/"))
    ]
    check.problems += check_inline_tables(results, categories, experiments)
    check.problems += check_labels(results, categories)
    with tempfile.TemporaryDirectory(prefix="report-check-") as tmp:
        viewer = Path(tmp) / "view.html"
        viewer.write_text(_inject(report.read_text(encoding="utf-8"), _VIEW_SCRIPT), "utf-8")
        # the landing page; the browser's own bars take part of its window: the window is
        # grown so that the page gets WINDOW (a reader's 1280 x 900 viewport)
        landing = run_chromium(chromium, viewer.as_uri())
        shown = _measured(landing).get("window") or list(WINDOW)
        window = (2 * WINDOW[0] - shown[0], 2 * WINDOW[1] - shown[1])
        landing = run_chromium(chromium, viewer.as_uri(), window=window)
        check.problems += check_landing(landing, run, demo)
        shot = out / "landing.png"
        run_chromium(chromium, viewer.as_uri(), screenshot=shot, window=window)
        check.screenshots.append(shot)
        for key in keys:
            url = viewer.as_uri() + "#" + urllib.parse.quote(key, safe="")
            view = _measured(run_chromium(chromium, url, window=window))
            view.setdefault("key", key)
            if view.get("kind") == "html" and not view.get("error"):
                page = decode_data_uri(results[key]["data_uri"]).decode("utf-8")
                alone = Path(tmp) / (_slug(key) + ".html")
                alone.write_text(_inject(page, _WIDTH_SCRIPT), "utf-8")
                pane = (max(320, int(view["rect"]["width"])) + window[0] - WINDOW[0], window[1])
                dom = run_chromium(chromium, alone.as_uri(), window=pane)
                view["page_scroll_width"] = _measured(dom).get("scroll_width")
                check.problems += [f"{key}: {p}" for p in check_table_page(dom, demo)]
            problems, notes = judge_view(view)
            check.problems += problems
            check.notes += notes
            check.views.append(view)
            shot = out / (_slug(key) + ".png")
            run_chromium(chromium, url, screenshot=shot, window=window)
            check.screenshots.append(shot)
    return check


def summary(check: Check, report: str | Path) -> str:
    """A Markdown summary of the check."""
    lines = [f"# Report check of `{report}`", ""]
    lines.append("**OK**" if check.ok else f"**{len(check.problems)} problem(s)**")
    lines.append("")
    for title, items in (("Problems", check.problems), ("Notes", check.notes)):
        if items:
            lines += [f"## {title}", "", *[f"- {item}" for item in items], ""]
    lines += ["## Views", ""]
    for view in check.views:
        rect = view.get("rect")
        size = f"{rect['width']:.0f}×{rect['height']:.0f} px" if rect else "–"
        natural = view.get("natural")
        extra = f" (image {natural[0]}×{natural[1]} px)" if natural else ""
        lines.append(f"- `{view['key']}`: {view.get('kind', '?')} {size}{extra}")
    lines += ["", f"{len(check.screenshots)} screenshot(s)."]
    return "\n".join(lines) + "\n"
