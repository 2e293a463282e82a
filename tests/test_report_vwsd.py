"""E1 report tables: correctness columns (the `phrase` prompt no longer overwrites the phrase),
official and scored-only figures, and the HTML written beside each table."""

from __future__ import annotations

import csv
import io
import re

import pyarrow as pa

from semspace.experiments import vwsd as E
from semspace.report import vwsd as R


def _items() -> pa.Table:
    rows = []
    for item, phrase, hits in ((0, "bank river", (True, False)), (1, "mole animal", (None, True))):
        for (prompt, strategy), hit in zip(
            (("phrase", E.NO_STRATEGY), ("definition", "wup")), hits
        ):
            rows.append(
                {
                    "item": item,
                    "target": phrase.split()[0],
                    "phrase": phrase,
                    "prompt": prompt,
                    "strategy": strategy,
                    "hit": hit,
                }
            )
    return pa.Table.from_pylist(rows)


def test_correctness_keeps_the_phrase_text_beside_the_phrase_prompt(tmp_path):
    html = R.write_correctness(_items(), tmp_path / "correctness.csv")
    text = (tmp_path / "correctness.csv").read_text()
    parsed = list(csv.reader(io.StringIO(text)))
    header = parsed[0]
    assert header == ["item", "target", "phrase", "hit:phrase", "hit:definition/wup"]
    assert len(set(header)) == len(header)  # no column written twice
    assert parsed[1] == ["0", "bank", "bank river", "1", "0"]
    assert parsed[2] == ["1", "mole", "mole animal", "", "1"]  # unscored stays empty
    assert html.name == "correctness.html" and "<td>bank river</td>" in html.read_text()


def test_correctness_html_has_a_table_per_gloss_prompt(tmp_path):
    """The HTML splits the hit columns: the gloss-less prompts, then each gloss prompt with a
    column per strategy, every table with the item columns and all items."""
    page = R.write_correctness(_items(), tmp_path / "correctness.csv", demo=True).read_text()
    tables = re.findall(r"<table>(.*?)</table>", page, re.DOTALL)
    headings = [re.findall(r"<th>(.*?)</th>", t) for t in tables]
    assert headings == [["item", "target", "phrase", "phrase"], ["item", "target", "phrase", "wup"]]
    cells = [re.findall(r"<td[^>]*>(.*?)</td>", t) for t in tables]
    assert cells[0] == ["0", "bank", "bank river", "1", "1", "mole", "mole animal", "–"]
    assert cells[1] == ["0", "bank", "bank river", "0", "1", "mole", "mole animal", "1"]
    assert "prompt <code>definition</code> by gloss strategy" in tables[1]
    assert page.count("demo: random tiny models") >= 3  # page title and each caption


def test_metrics_written_as_markdown_csv_and_html(tmp_path):
    rows = [
        {
            "split": "trial",
            "model": "m",
            "prompt": "word",
            "strategy": "none",
            "gold_rank": r,
            "partial": False,
            "fallback": False,
            "gloss": None,
        }
        for r in (1, None, 3, 1)
    ]
    metrics = E.metrics_table(pa.Table.from_pylist(rows))
    row = metrics.to_pylist()[0]
    assert (row["official_accuracy"], row["accuracy"]) == (2 / 4, 2 / 3)
    assert row["official_mrr"] == (1 + 0 + 1 / 3 + 1) / 4 and row["mrr"] == (1 + 1 / 3 + 1) / 3
    html = R.write_metrics(metrics, tmp_path / "metrics.md", tmp_path / "metrics.csv", demo=True)
    md = (tmp_path / "metrics.md").read_text()
    assert "| 2/4 = 0.500 | 0.583 | 2/3 = 0.667 | 0.778 |" in md
    page = html.read_text()
    assert "2/4 = 0.500" in page and "0.583" in page and "0.5833" not in page  # rounded for reading
    assert "official" in page and "scored only" in page and "demo: random tiny models" in page
    parsed = list(csv.DictReader(io.StringIO((tmp_path / "metrics.csv").read_text())))
    assert float(parsed[0]["official_mrr"]) == row["official_mrr"]  # full precision in the CSV
