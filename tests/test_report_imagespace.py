"""E5 tables and figures: the paper column, neighbours with captions, and the report command."""

from __future__ import annotations

import csv
import html as html_lib
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from semspace.experiments.tokensets import token_source
from semspace.report import imagespace as R
from semspace.report.tables import DEMO_NOTE
from semspace.schemas import CAPTIONS


def test_paper_column_only_for_the_full_split():
    full = R.distance_rows(
        {"n": 5000, "symdiff_min": 3, "pearson_symdiff_intersection": -0.1}, "coco"
    )
    by_label = {r["quantity"]: r for r in full}
    assert by_label["|A Δ B| min"] == {"quantity": "|A Δ B| min", "reproduced": 3, "paper": 7}
    assert by_label["Pearson r(|A Δ B|, |A ∩ B|)"]["paper"] == -0.201
    small = R.distance_rows({"n": 120, "symdiff_min": 3}, "coco")
    assert all(r["paper"] == "" for r in small)
    llm = {
        r["quantity"]: r["paper"]
        for r in R.eigen_rows({"n": 5000, "n_positive": 1, "eigenvalues": [2.0]}, "llm")
    }
    assert llm["positive eigenvalues"] == 1904 and llm["λ2"] == ""


def test_reproduced_values_are_ours_not_the_papers():
    stats = {"images": 5000.0, "vocabulary": 12.0, "mean_set_size": 3.5}
    rows = {r["quantity"]: r for r in R.stats_rows(stats, "coco")}
    assert rows["distinct tokens (vocabulary)"]["reproduced"] == 12.0
    assert rows["distinct tokens (vocabulary)"]["paper"] == 7254


def _captions() -> pa.Table:
    return pa.table(
        {
            "image": [0, 0, 1, 2],
            "coco_id": [7, 7, 8, 9],
            "caption": [0, 1, 0, 0],
            "text": ["a cat ", "the cat", "a dog", "a bird"],
        },
        schema=CAPTIONS,
    )


def test_neighbour_rows_carry_captions_in_rank_order():
    from semspace.experiments.setdist import NEIGHBOURS

    nb = pa.table(
        {
            "image": [0, 0, 1, 1],
            "rank": [2, 1, 1, 2],
            "neighbour": [2, 1, 0, 2],
            "symdiff": [4, 3, 3, 2],
            "intersection": [1, 1, 1, 0],
            "union": [5, 4, 4, 2],
        },
        schema=NEIGHBOURS,
    )
    rows = R.neighbour_rows(nb, _captions(), image=0, k=5)
    assert [(r["rank"], r["image"]) for r in rows] == [(1, 1), (2, 2)]  # the query is no row
    assert rows[0]["symdiff"] == 3 and rows[0]["captions"] == "a dog" and rows[0]["coco_id"] == 8
    assert len(R.neighbour_rows(nb, _captions(), image=0, k=1)) == 1
    assert R.query_caption(_captions(), 0) == "image 0 (COCO id 7): a cat | the cat"


def test_markdown_escapes_pipes_and_formats_numbers():
    text = R.markdown([{"quantity": "x|y", "reproduced": 1234567.0, "paper": 0.123456}])
    assert "x\\|y" in text and "| 1234567 |" in text and "| 0.123 |" in text
    assert text.splitlines()[1] == "|---|---:|---:|"


def test_eigen_and_share_rows_read_in_one_style(tmp_path):
    eigen = {"n": 5000, "n_positive": 1266, "top2_share": 0.05498, "eigenvalues": [36310.2, 3973.0]}
    rows = R.eigen_rows(eigen, "coco")
    sections = {"eigen": ("Classical MDS", rows)}
    R.write_tables(tmp_path, "coco", sections, demo=True)
    md = (tmp_path / "tables.md").read_text()
    assert "| λ1 | 3.631e+04 |" in md and "| λ2 | 3.973e+03 |" in md
    assert "| share of the first two axes (of Σ positive λ) | 5.5 % | 6.0 % |" in md
    assert "| positive eigenvalues | 1266 | 1266 |" in md
    assert md.startswith("# demo: random tiny models")
    csv_lines = (tmp_path / "eigen.csv").read_text().splitlines()  # full precision in the CSV
    assert "share of the first two axes (of Σ positive λ),0.05498,0.06" in csv_lines
    html = (tmp_path / "eigen.html").read_text()
    assert '<td class="num">5.5 %</td>' in html and "demo: random tiny models" in html
    assert (tmp_path / "tables.html").read_text().count("<table>") == 1


def test_stats_paper_column_has_the_published_counts():
    stats = {
        "images": 5000.0,
        "texts": 25000.0,
        "characters": 1.0,
        "tokens": 2.0,
        "mean_set_size": 27.745,
    }
    rows = R.stats_rows(stats, "coco")
    coco = {r["quantity"]: r["paper"] for r in rows}
    assert coco["texts (captions or associations)"] == 25010 and coco["characters"] == 1310066
    # The paper's 138,627 = 5,000 x 27.7: distinct tokens per image summed, not all tokens.
    assert coco["tokens in the sets (sum of set sizes)"] == 138627 and coco["images"] == 5000
    assert coco["tokens, with repeats"] == ""
    ours = {r["quantity"]: r["reproduced"] for r in rows}
    assert ours["tokens in the sets (sum of set sizes)"] == 138725  # 5,000 x 27.745
    llm = {r["quantity"]: r["paper"] for r in R.stats_rows(stats, "llm")}
    assert llm["characters"] == 6895429 and llm["tokens in the sets (sum of set sizes)"] == 611131
    assert "tokens from" not in coco  # only when the caller says where the tokens came from


def test_stats_rows_say_where_the_tokens_came_from():
    full = {"images": 5000.0, "tokens": 2.0}
    rows = R.stats_rows(full, "coco", token_source="tokeniser")
    assert rows[-1] == {
        "quantity": "tokens from",
        "reproduced": "tokeniser",
        "paper": "karpathy_tokens",
    }
    # fewer images: the paper column stays empty, as for every other quantity
    few = R.stats_rows({"images": 40.0}, "coco", token_source="karpathy_tokens")
    assert few[-1] == {"quantity": "tokens from", "reproduced": "karpathy_tokens", "paper": ""}
    assert R.stats_rows(full, "llm", token_source="tokeniser")[-1]["paper"] == ""


def html_text_of(path: Path, text: str) -> bool:
    """Whether ``text`` appears, HTML-escaped, in the page at ``path``."""
    return html_lib.escape(text) in path.read_text()


@pytest.mark.slow
def test_report_command_end_to_end(tmp_path):
    """Demo captions -> token sets -> distances -> MDS -> tables and figures, through the CLI."""
    from semspace.cli import main

    def run(*argv: str) -> None:
        assert main(list(argv)) == 0

    d = tmp_path
    run(
        "imagespace",
        "demo-data",
        "--out",
        str(d / "c.json"),
        "--images",
        "40",
        "--format",
        "karpathy",
    )
    run(
        "imagespace",
        "captions",
        "--captions",
        str(d / "c.json"),
        "--options",
        '{"split": "test"}',
        "--out",
        str(d / "cap.parquet"),
    )
    run(
        "imagespace",
        "tokensets",
        "--captions",
        str(d / "cap.parquet"),
        "--out",
        str(d / "sets.parquet"),
        "--stats",
        str(d / "stats.parquet"),
    )
    run(
        "imagespace",
        "setdist",
        "--sets",
        str(d / "sets.parquet"),
        "--out",
        str(d / "sd"),
        "--top-k",
        "4",
    )
    run(
        "imagespace",
        "mds",
        "--distances",
        str(d / "sd" / "symdiff.npy"),
        "--out",
        str(d / "mds"),
        "--k",
        "3",
    )
    run(
        "imagespace",
        "report",
        "--branch",
        "coco",
        "--stats",
        str(d / "stats.parquet"),
        "--sets",
        str(d / "sets.parquet"),
        "--summary",
        str(d / "sd" / "summary.json"),
        "--pairs",
        str(d / "sd" / "pairs.parquet"),
        "--neighbours",
        str(d / "sd" / "neighbours.parquet"),
        "--eigen",
        str(d / "mds" / "eigen.json"),
        "--coords",
        str(d / "mds" / "coords.parquet"),
        "--captions",
        str(d / "cap.parquet"),
        "--coco-id",
        "100021",  # image 3 (demo ids are 100000 + 7 i)
        "--k",
        "4",
        "--out-dir",
        str(d / "report"),
        "--demo",
    )
    out = d / "report"
    for name in (
        "tables.md",
        "stats.csv",
        "distances.csv",
        "eigen.csv",
        "neighbours.csv",
        "mds_map.png",
        "token_counts.png",
        "symdiff_intersection.png",
    ):
        assert (out / name).stat().st_size > 0, name
    # every section also as HTML, and all of them in tables.html; --demo puts the note on each
    for name in ("stats", "distances", "eigen", "neighbours", "tables"):
        html = (out / f"{name}.html").read_text()
        assert "<table>" in html and DEMO_NOTE in html, name
    assert DEMO_NOTE in (out / "tables.md").read_text()
    assert (out / "tables.html").read_text().count("<table>") == 4
    # the neighbours table names its query; the stats say where the tokens came from
    captions = pq.read_table(d / "cap.parquet")
    assert html_text_of(out / "neighbours.html", R.query_caption(captions, 3))
    stats_rows = {r["quantity"]: r for r in csv.DictReader((out / "stats.csv").open())}
    assert stats_rows["tokens from"]["reproduced"] == token_source(captions)
    assert stats_rows["tokens from"]["paper"] == ""  # 40 images, not the paper's 5,000
    assert (out / "mds_map.png").read_bytes()[:4] == b"\x89PNG"
    summary = json.loads((d / "sd" / "summary.json").read_text())
    sym = np.load(d / "sd" / "symdiff.npy")
    iu = np.triu_indices(40, 1)
    assert summary["symdiff_max"] == sym[iu].max()
    table = (out / "tables.md").read_text()
    assert f"| {summary['symdiff_max']} |" in table
    neighbours = (out / "neighbours.csv").read_text().splitlines()
    assert len(neighbours) == 1 + 4 and neighbours[1].startswith("1,")  # first neighbour first
    assert R.image_of_coco_id(captions, 100021) == 3
    assert R.image_of_coco_id(captions, None) == 0
    # The configured image must exist.
    assert (
        main(
            [
                "imagespace",
                "report",
                "--branch",
                "coco",
                "--stats",
                str(d / "stats.parquet"),
                "--sets",
                str(d / "sets.parquet"),
                "--summary",
                str(d / "sd" / "summary.json"),
                "--pairs",
                str(d / "sd" / "pairs.parquet"),
                "--neighbours",
                str(d / "sd" / "neighbours.parquet"),
                "--eigen",
                str(d / "mds" / "eigen.json"),
                "--coords",
                str(d / "mds" / "coords.parquet"),
                "--captions",
                str(d / "cap.parquet"),
                "--coco-id",
                "473237",  # not among the demo's ids
                "--out-dir",
                str(d / "r2"),
            ]
        )
        == 2
    )
    assert pq.read_table(d / "sets.parquet").num_rows == 40


def test_eigen_rows_of_the_matrix_free_mds_give_method_and_intervals():
    """An estimated count and share are never shown as if exact: method and intervals follow."""
    eigen = {
        "n": 123287,
        "n_positive": 12596,
        "eigenvalues": [5.0, 4.0],
        "top2_share": 0.023417,
        "method": "matrix-free",
        "n_positive_ci": [4626, 102588],
        "top2_share_ci": [0.00894, 0.03117],
    }
    rows = {r["quantity"]: r["reproduced"] for r in R.eigen_rows(eigen, "coco")}
    assert rows["MDS method"] == "matrix-free (count and share estimated)"
    assert rows["positive eigenvalues, 95 % interval"] == "4626–102588"
    assert rows["share of the first two axes, 95 % interval"] == "0.9 %–3.1 %"
    exact = {
        r["quantity"]: r["reproduced"]
        for r in R.eigen_rows(
            {"n": 5000, "n_positive": 1268, "eigenvalues": [5.0], "method": "dense"}, "coco"
        )
    }
    assert exact["MDS method"] == "dense (exact)"
    assert "positive eigenvalues, 95 % interval" not in exact
