"""E1 scoring, metrics, prompts, tables and figure, and the CLI on demo data."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from scipy.special import softmax as scipy_softmax

from semspace.cli import main
from semspace.datasets.vwsd import VwsdItem, read_items
from semspace.demo.vwsd import DEMO_ITEMS, MISSING_AT, PNG_AT, write_demo_vwsd
from semspace.errors import ConfigError
from semspace.experiments import vwsd as E
from semspace.report import vwsd as R
from semspace.report.tables import DEMO_NOTE

CANDS = tuple(f"c{i}" for i in range(4))


def _unit(angle_deg: float) -> np.ndarray:
    a = np.deg2rad(angle_deg)
    return np.array([np.cos(a), np.sin(a)], dtype=np.float32)


def test_gold_rank_hand_worked() -> None:
    scores = np.array([0.1, 0.9, 0.5, 0.9])
    assert E.gold_rank(scores, 1) == 1  # tie with c3, but c1 comes first (as argmax)
    assert E.gold_rank(scores, 3) == 2
    assert E.gold_rank(scores, 2) == 3
    assert E.gold_rank(scores, 0) == 4


def test_score_items_hand_worked_ranking() -> None:
    # Images at 0°, 30°, 60°, 90°; a text at angle θ has cosine cos(θ - angle) with each.
    keys = list(CANDS)
    images = np.stack([_unit(a) for a in (0, 30, 60, 90)])
    items = [
        VwsdItem(0, "a", "a x", CANDS, "c0"),  # text at 0°: order c0 c1 c2 c3 -> rank 1
        VwsdItem(1, "b", "b x", CANDS, "c0"),  # text at 40°: order c1 c2 c0 c3 -> rank 3
        VwsdItem(2, "c", "c x", CANDS, "c3"),  # text at 90°: rank 1
        VwsdItem(3, "d", "d x", CANDS, "c2"),  # text at -50°: order c0 c1 c2 c3 -> rank 3
    ]
    prompts = [E.Prompt(i, "word", E.NO_STRATEGY, f"text {i}", False) for i in range(4)]
    texts = np.stack([_unit(a) for a in (0, 40, 90, -50)])
    table = E.score_items("s", "m", items, prompts, texts, keys, images, logit_scale=100.0)
    assert table.column("gold_rank").to_pylist() == [1, 3, 1, 3]
    assert table.column("hit").to_pylist() == [True, False, True, False]
    assert table.column("predicted").to_pylist() == ["c0", "c1", "c3", "c0"]
    cos = np.array(table.column("cosine").to_pylist()[1])
    np.testing.assert_allclose(cos, np.cos(np.deg2rad([40, 10, -20, -50])), atol=1e-6)
    prob = np.array(table.column("probability").to_pylist()[1])
    np.testing.assert_allclose(prob, scipy_softmax(100.0 * cos), atol=1e-6)
    metrics = E.metrics_table(table).to_pylist()[0]
    assert (metrics["hits"], metrics["scored"], metrics["items"]) == (2, 4, 4)
    assert metrics["accuracy"] == pytest.approx(0.5)
    assert metrics["mrr"] == pytest.approx((1 + 1 / 3 + 1 + 1 / 3) / 4)


def test_missing_candidates_partial_and_missing_gold() -> None:
    keys = ["c0", "c2", "c3"]  # c1 has no embedding
    images = np.stack([_unit(a) for a in (0, 60, 90)])
    items = [VwsdItem(0, "a", "a x", CANDS, "c2"), VwsdItem(1, "b", "b x", CANDS, "c1")]
    prompts = [
        E.Prompt(0, "word", E.NO_STRATEGY, "t0", False),
        E.Prompt(1, "word", E.NO_STRATEGY, "t1", False),
    ]
    texts = np.stack([_unit(70), _unit(0)])
    table = E.score_items("s", "m", items, prompts, texts, keys, images, logit_scale=10.0)
    rows = table.to_pylist()
    assert rows[0]["candidates"] == ["c0", "c2", "c3"] and rows[0]["missing"] == ["c1"]
    assert rows[0]["partial"] and rows[0]["gold_rank"] == 1
    assert sum(rows[0]["probability"]) == pytest.approx(1.0, abs=1e-6)
    assert rows[1]["gold_rank"] is None and rows[1]["hit"] is None  # gold image unavailable
    m = E.metrics_table(table).to_pylist()[0]
    assert (m["items"], m["scored"], m["hits"], m["partial"]) == (2, 1, 1, 2)
    # official: the unrankable item is a miss (RR 0) over both items; scored only: over one
    assert (m["official_accuracy"], m["official_mrr"]) == (pytest.approx(0.5), pytest.approx(0.5))
    assert (m["accuracy"], m["mrr"]) == (pytest.approx(1.0), pytest.approx(1.0))


def _glosses(
    items: list[VwsdItem], rows: list[tuple[str | None, str | None]], strategy: str
) -> pa.Table:
    return pa.table(
        {
            "item": [it.index for it in items],
            "target": [it.target for it in items],
            "phrase": [it.phrase for it in items],
            "synset": [s for s, _ in rows],
            "gloss": [g for _, g in rows],
            "similarity": [0.5 if g else 0.0 for _, g in rows],
            "strategy": [strategy] * len(items),
            "language": ["en"] * len(items),
            "note": [None] * len(items),
        },
        schema=E.GLOSSES,
    )


def test_build_prompts_per_strategy_with_fallback() -> None:
    items = [
        VwsdItem(0, "bank", "river bank", CANDS, "c0"),
        VwsdItem(1, "mouse", "computer mouse", CANDS, "c1"),
    ]
    glosses = {
        "wup_hypernym": _glosses(
            items, [("bank.n.01", "sloping land"), (None, None)], "wup_hypernym"
        ),
        "lesk": _glosses(
            items,
            [("bank.n.02", "a financial institution"), ("mouse.n.04", "a hand device")],
            "lesk",
        ),
    }
    prompts = E.build_prompts(items, E.DEFAULT_PROMPTS, glosses, "phrase")
    # per item: word, phrase once; definition and gloss_only once per strategy -> 2 + 2*2
    assert len(prompts) == 2 * 6
    texts = {(p.item, p.prompt, p.strategy): (p.text, p.fallback) for p in prompts}
    assert texts[(0, "word", "none")] == ("A photo of bank.", False)
    assert texts[(0, "definition", "wup_hypernym")] == (
        "A photo of river bank. bank means sloping land.",
        False,
    )
    assert texts[(1, "definition", "wup_hypernym")] == ("A photo of computer mouse.", True)
    assert texts[(1, "gloss_only", "lesk")] == ("A photo of a hand device.", False)
    with pytest.raises(ConfigError, match="vwsd.prompts.bad"):
        E.build_prompts(items, {"bad": "{word}", "phrase": "{phrase}"}, glosses)
    with pytest.raises(ConfigError, match="no_gloss_prompt"):
        E.build_prompts(items, E.DEFAULT_PROMPTS, glosses, "definition")


def test_non_english_items_get_no_gloss_and_say_so() -> None:
    items = [VwsdItem(0, "gomma", "gomma per smacchiare", CANDS, language="it")]
    table = E.gloss_table(items, "wup_hypernym")  # no WordNet needed: no English item
    row = table.to_pylist()[0]
    assert row["gloss"] is None and row["synset"] is None
    assert row["note"] == "no English WordNet gloss for a 'it' item"
    assert E.gloss_share(table) == 0.0


def test_metrics_markdown_and_paper_column() -> None:
    rows = [
        {
            "split": "trial",
            "model": "clip_b32",
            "prompt": "word",
            "strategy": "none",
            "gold_rank": r,
            "partial": False,
            "fallback": False,
            "gloss": None,
        }
        for r in (1, 2, 1, 5)
    ]
    table = pa.Table.from_pylist(rows)
    metrics = E.metrics_table(table, R.paper_lookup({"trial": "trial"}))
    row = metrics.to_pylist()[0]
    assert row["paper"] == "7/16 = 0.438 (thesis, ViT-B/32)"
    md = R.metrics_markdown(metrics)
    assert "| trial | clip_b32 | word | none | 2/4 = 0.500 | 0.675 | 2/4 = 0.500 | 0.675 |" in md
    assert "accuracy (official)" in md and "accuracy (scored only)" in md
    assert R.metrics_csv(metrics).splitlines()[0].split(",") == E.METRICS.names
    with pytest.raises(ConfigError, match="unknown paper reference"):
        R.paper_lookup({"trial": "nope"})


def test_demo_data_in_official_format(tmp_path: Path) -> None:
    write_demo_vwsd(tmp_path)
    items = read_items(
        tmp_path / "demo.data.txt", tmp_path / "demo.gold.txt", images=tmp_path / "images"
    )
    assert [(it.target, it.phrase) for it in items] == list(DEMO_ITEMS)
    lines = (tmp_path / "demo.data.txt").read_text().splitlines()
    assert all(len(line.split("\t")) == 12 for line in lines)
    missing = [name for it in items for name in it.missing]
    assert missing == [f"image.{MISSING_AT[0] * 10 + MISSING_AT[1]}.jpg"]
    png = tmp_path / "images" / f"image.{PNG_AT[0] * 10 + PNG_AT[1]}.png"
    assert png.is_file() and png.read_bytes()[:4] == b"\x89PNG"
    assert all(it.gold not in it.missing for it in items)


def _embed_demo(root: Path, clip_dir: Path, out: Path) -> None:
    """Image embeddings of the demo images as the shared embed stage would write them."""
    from PIL import Image

    from semspace.embed import embed_images, embedding_table, load_clip

    clip = load_clip(clip_dir, device="cpu")
    names = sorted(p.name for p in (root / "images").iterdir())
    vectors = embed_images(clip, [Image.open(root / "images" / n).convert("RGB") for n in names])
    pq.write_table(embedding_table(names, vectors, "clip", vectors.shape[1]), out)


@pytest.mark.slow
def test_cli_end_to_end_with_tiny_clip(tmp_path: Path, tiny_clip_dir: Path) -> None:
    """glosses -> score -> report -> figure on the demo items with the tiny random CLIP."""
    from semspace import wordnet

    try:
        wordnet.load_wordnet()
    except wordnet.WordNetUnavailable:
        pytest.skip("WordNet is not prepared (semspace wordnet prepare)")
    root = tmp_path / "demo"
    assert main(["vwsd", "demo-data", "--out", str(root)]) == 0
    assert (
        main(
            [
                "vwsd",
                "glosses",
                "--data",
                str(root / "demo.data.txt"),
                "--out",
                str(tmp_path / "g.parquet"),
            ]
        )
        == 0
    )
    glosses = pq.read_table(tmp_path / "g.parquet")
    assert glosses.column_names[:6] == ["item", "target", "phrase", "synset", "gloss", "similarity"]
    assert glosses.column("item").to_pylist() == list(range(len(DEMO_ITEMS)))
    assert glosses.column("synset").to_pylist()[0] == "andromeda.n.01"
    assert glosses.column("gloss").to_pylist()[-1] is None  # "jaguar xk120": support not in WordNet
    _embed_demo(root, tiny_clip_dir, tmp_path / "emb.parquet")
    items_path, cache = tmp_path / "items.parquet", tmp_path / "cache.parquet"
    args = [
        "vwsd",
        "score",
        "--split",
        "demo",
        "--data",
        str(root / "demo.data.txt"),
        "--glosses",
        str(tmp_path / "g.parquet"),
        "--embeddings",
        str(tmp_path / "emb.parquet"),
        "--model",
        str(tiny_clip_dir),
        "--model-id",
        "clip",
        "--prompts",
        json.dumps(E.DEFAULT_PROMPTS),
        "--device",
        "cpu",
        "--text-cache",
        str(cache),
        "--out",
        str(items_path),
    ]
    assert main(args) == 0
    table = pq.read_table(items_path)
    n = len(DEMO_ITEMS)
    assert table.num_rows == n * 4  # word, phrase, definition and gloss_only with one strategy
    ranks = [r for r in table.column("gold_rank").to_pylist()]
    assert all(1 <= r <= 10 for r in ranks)
    assert sum(table.column("partial").to_pylist()) == 4  # one item lacks one candidate
    for row in table.to_pylist():
        assert len(row["candidates"]) == len(row["probability"]) == 10 - len(row["missing"])
        assert sum(row["probability"]) == pytest.approx(1.0, abs=1e-5)
    # the text cache now holds every distinct prompt: a second run embeds nothing new
    cached = pq.read_table(cache).num_rows
    assert cached == len(set(table.column("text").to_pylist()))
    out = tmp_path / "report"
    assert (
        main(
            [
                "vwsd",
                "metrics",
                "--items",
                str(items_path),
                "--out",
                str(out / "m.parquet"),
                "--markdown",
                str(out / "m.md"),
                "--csv",
                str(out / "m.csv"),
                "--demo",
            ]
        )
        == 0
    )
    # --demo: the Markdown and its HTML twin (same stem) both say the models were demo ones
    assert DEMO_NOTE in (out / "m.md").read_text()
    html = (out / "m.html").read_text()
    assert "<table" in html and DEMO_NOTE in html and "wup_hypernym" in html
    metrics = pq.read_table(out / "m.parquet").to_pylist()
    assert {(m["prompt"], m["strategy"]) for m in metrics} == {
        ("word", "none"),
        ("phrase", "none"),
        ("definition", "wup_hypernym"),
        ("gloss_only", "wup_hypernym"),
    }
    for m in metrics:  # accuracy and MRR agree with the per-item ranks
        rows = [
            r
            for r in table.to_pylist()
            if (r["prompt"], r["strategy"]) == (m["prompt"], m["strategy"])
        ]
        assert m["hits"] == sum(r["gold_rank"] == 1 for r in rows)
        assert m["mrr"] == pytest.approx(np.mean([1 / r["gold_rank"] for r in rows]))
    assert (
        main(
            [
                "vwsd",
                "figure",
                "--items",
                str(items_path),
                "--images",
                str(root / "images"),
                "--out",
                str(out / "f.png"),
                "--correctness",
                str(out / "c.csv"),
            ]
        )
        == 0
    )
    assert (out / "f.png").read_bytes()[:4] == b"\x89PNG"
    # without --demo the correctness HTML beside the CSV carries no demo note
    c_html = (out / "c.html").read_text()
    assert "<table" in c_html and DEMO_NOTE not in c_html
    csv_lines = (out / "c.csv").read_text().splitlines()
    header = (
        "item,target,phrase,hit:word,hit:phrase,"
        "hit:definition/wup_hypernym,hit:gloss_only/wup_hypernym"
    )
    assert csv_lines[0] == header
    assert len(csv_lines) == n + 1
    # the phrase column holds each item's phrase, not the phrase prompt's hits
    phrases = {r["item"]: r["phrase"] for r in table.to_pylist()}
    for line in csv_lines[1:]:
        item, _, phrase, *_ = next(csv.reader([line]))
        assert phrase == phrases[int(item)]


@pytest.mark.realdata
def test_cli_glosses_on_real_trial(tmp_path: Path, shared_data: Path) -> None:
    from semspace import wordnet

    try:
        wordnet.load_wordnet()
    except wordnet.WordNetUnavailable:
        pytest.skip("WordNet is not prepared (semspace wordnet prepare)")
    out = tmp_path / "g.parquet"
    assert (
        main(
            [
                "vwsd",
                "glosses",
                "--data",
                str(shared_data / "vwsd-trial" / "trial.data.txt"),
                "--out",
                str(out),
            ]
        )
        == 0
    )
    table = pq.read_table(out)
    assert table.num_rows == 16
    assert table.column_names[:6] == ["item", "target", "phrase", "synset", "gloss", "similarity"]
    assert table.column("item").to_pylist() == list(range(16))
    first = table.to_pylist()[0]
    assert (first["target"], first["synset"], first["similarity"]) == (
        "andromeda",
        "andromeda.n.01",
        pytest.approx(0.9),
    )


def test_cli_reports_bad_input_with_status_2(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    bad = tmp_path / "bad.data.txt"
    bad.write_text("a\tb\timage.0.jpg\n")
    assert main(["vwsd", "glosses", "--data", str(bad), "--out", str(tmp_path / "g.parquet")]) == 2
    assert "bad.data.txt:1: expected 12" in capsys.readouterr().err
    assert not (tmp_path / "g.parquet").exists()
