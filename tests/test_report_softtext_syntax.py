"""E3 and E4 report tables: Markdown, CSV at full precision and HTML beside the Markdown."""

from __future__ import annotations

import pyarrow as pa

from semspace.report import softtext as rp
from semspace.report import syntax as sx


def test_syntax_tables_write_html_beside_markdown(tmp_path):
    summaries = [
        {"input": "bracket", "train_batch": 2, "model": "m", "pairs": 101, "accuracy": 76.2376237},
        {"input": "text", "train_batch": 0, "model": "m", "pairs": 101, "accuracy": 50.0},
    ]
    tokens = pa.Table.from_pylist(
        [
            {
                "input": "bracket",
                "strings": 3,
                "mean_tokens": 12.3456,
                "max_tokens": 20,
                "over_limit": 0,
                "bracket_token_types": 4,
                "example": "(( s_",
            }
        ],
        schema=sx.TOKENS_TABLE,
    )
    html = sx.write_tables(
        sx.accuracy_table(summaries),
        tokens,
        {"pairs": 1234},
        tmp_path / "report.md",
        tmp_path / "accuracy.csv",
        demo=True,
    )
    assert html == tmp_path / "report.html"
    md = (tmp_path / "report.md").read_text()
    assert md.startswith("# demo: random tiny models — E3")
    assert "| text | 0 | m | 101 | 50.00 | 50.00 |" in md  # text first, paper beside it
    assert (
        "| bracket | 2 | m | 101 | 76.24 | 76.24 |" in md
        and "| bracket | 3 | 12.3 | 20 | 0 | 4 |" in md
    )
    assert "| pairs | 1234 |" in md  # the data counts as a table, not a list
    page = html.read_text()
    assert page.count("<table>") == 3 and '<td class="num">76.24</td>' in page
    assert '<td>pairs</td><td class="num">1234</td>' in page.replace("\n", "")
    assert "76.2376237" in (tmp_path / "accuracy.csv").read_text()


def test_softtext_report_table_html(tmp_path):
    table = pa.Table.from_pylist(
        [
            {
                "prompt": "hard",
                "paper_prompt": "hard text",
                "text": "a photo of a {class}.",
                "n_images": 8,
                "n_texts": 10,
                "accuracy": 75.0,
                "paper": 96.19,
            }
        ],
        schema=rp.TABLE,
    )
    classifier = {"arch": "r8", "epochs": 1, "accuracy": 0.5, "top2_accuracy": 0.875, "n": 8}
    report = rp.report_table(table, classifier, "tiny", "cifar10", demo=True)
    md = rp.report_markdown(table, classifier, "tiny", "cifar10", demo=True)
    assert md.startswith("# demo: random tiny models — E4")
    assert "| hard | hard text | a photo of a {class}. | 8 | 10 | 75.00 | 96.19 |" in md
    assert "test accuracy 50.00 %, top-2 accuracy 87.50 % on 8 images" in md
    out = rp.write_table(table, tmp_path / "table.csv", tmp_path / "table.md", md, report)
    assert out == tmp_path / "table.html"
    page = out.read_text()
    assert (
        '<td class="num">96.19</td>' in page
        and "87.50 %" in page
        and "demo: random tiny models" in page
    )
    assert rp.write_table(table, tmp_path / "b.csv", tmp_path / "b.md", md) is None
    assert not (tmp_path / "b.html").exists()
