"""The shared table writer: number formats, CSV at full precision, self-contained HTML."""

from __future__ import annotations

import csv
import html
import io
import math
from html.parser import HTMLParser

import pytest

from semspace.report import tables as T


def test_number_formats():
    assert T.fmt(473237) == "473237" and T.fmt(473237.0) == "473237"  # ids: no separators
    assert T.fmt(0.34632936507936507) == "0.346"
    assert (T.fmt(27.7), T.fmt(27.68), T.fmt(-0.2013), T.fmt(-0.0004)) == (
        "27.7",
        "27.68",
        "-0.201",
        "0",
    )
    assert T.fmt(0.5, "float") == "0.500"  # an explicit float column keeps its decimals aligned
    assert T.fmt(0.05498, "share") == "5.5 %" and T.fmt(0.06, "share") == "6.0 %"
    assert T.fmt(60.48, "percent") == "60.5 %"
    assert T.fmt(3973.0, "eigen") == "3.973e+03" and T.fmt(36310.0, "eigen") == "3.631e+04"
    assert T.fmt(222738.7, "eigen") == "2.227e+05"
    assert T.fmt(None) == T.fmt(math.nan, "float") == T.MISSING
    assert T.fmt("a|b", "text") == "a|b" and T.fmt("", "share") == ""
    with pytest.raises(ValueError, match="unknown number kind"):
        T.fmt(1, "bogus")  # type: ignore[arg-type]


class _Cells(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.rows: list[list[str]] = []
        self.caption = ""
        self._in: str | None = None

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag == "tr":
            self.rows.append([])
        if tag in ("td", "th", "caption"):
            self._in = tag
            if tag != "caption":
                self.rows[-1].append("")

    def handle_endtag(self, tag):
        self._in = None

    def handle_data(self, data):
        if self._in == "caption":
            self.caption += data
        elif self._in in ("td", "th"):
            self.rows[-1][-1] += data


def _table(demo: bool = False) -> T.Table:
    rows = [
        {"id": 473237, "mrr": 0.34632936507936507, "share": 0.05498, "name": "a <b> & c"},
        {"id": 7, "mrr": None, "share": 1.0, "name": "x|y"},
    ]
    columns = [
        T.Column("id", kind="int"),
        T.Column("mrr", "MRR", "float"),
        T.Column("share", kind="share"),
        T.Column("name", kind="text"),
    ]
    return T.Table(rows, columns, "Caption `c`", ("Footnote one.",), demo)


def test_csv_keeps_full_precision_and_markdown_rounds():
    table = _table()
    parsed = list(csv.DictReader(io.StringIO(T.to_csv(table))))
    assert float(parsed[0]["mrr"]) == 0.34632936507936507 and parsed[1]["mrr"] == ""
    assert parsed[0]["id"] == "473237" and float(parsed[0]["share"]) == 0.05498
    md = T.to_markdown(table)
    assert "| 473237 | 0.346 | 5.5 % | a <b> & c |" in md and "| 7 | – | 100.0 % | x\\|y |" in md
    assert md.splitlines()[0] == "Caption `c`" and md.rstrip().endswith("Footnote one.")


def test_html_is_self_contained_with_caption_cells_and_footnotes(tmp_path):
    paths = T.write_table(
        _table(demo=True), tmp_path / "t.md", tmp_path / "t.csv", tmp_path / "t.html", "Title"
    )
    assert [p.name for p in paths] == ["t.md", "t.csv", "t.html"]
    text = (tmp_path / "t.html").read_text()
    for outside in ("<script", "src=", "href=", "http"):
        assert outside not in text
    parser = _Cells()
    parser.feed(text)
    assert parser.caption == "demo: random tiny models — Caption c"
    assert parser.rows == [
        ["id", "MRR", "share", "name"],
        ["473237", "0.346", "5.5 %", "a <b> & c"],
        ["7", "–", "100.0 %", "x|y"],
    ]
    assert "<code>c</code>" in text and "Footnote one." in text
    assert T.html_path(tmp_path / "metrics.md").name == "metrics.html"
    # without a title the page is headed by the caption, shown once
    T.write_table(_table(demo=True), html_out=tmp_path / "u.html")
    untitled = (tmp_path / "u.html").read_text()
    assert "<h1>demo: random tiny models — Caption <code>c</code></h1>" in untitled
    assert "<caption>" not in untitled


def test_html_page_names_a_single_table_once():
    """A page titled like its only table's caption shows the title once (no repeated caption);
    a second table with its own caption keeps it."""
    one = T.Table([{"a": 1}], [T.Column("a", kind="int")], "E9: a table", (), True)
    two = T.Table([{"a": 2}], [T.Column("a", kind="int")], "another", (), False)
    page = T.to_html(one.full_caption, [one, two])
    assert page.count(html.escape(one.full_caption)) == 2  # <title> and <h1>
    assert "<caption>another</caption>" in page
    assert page.count("<caption>") == 1


def test_html_aligns_names_left_and_numbers_right():
    import numpy as np

    rows = [
        {"model": "tiny", "n": np.int64(3), "MRR": 0.5, "note": None},
        {"model": "big", "n": 4, "MRR": float("nan"), "note": "x"},
    ]
    page = T.to_html("t", [T.Table(rows=rows, columns=T.columns_of(rows))])
    assert "<td>tiny</td>" in page and "<td>x</td>" in page
    assert '<td class="num">3</td>' in page and '<td class="num">0.5</td>' in page
