"""E3: paired minibatches, contrastive loss, pairwise accuracy, fine-tuning that learns."""

from __future__ import annotations

import random
from dataclasses import replace

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from semspace.errors import ConfigError, InputFormatError
from semspace.experiments.syntax import (
    TrainConfig,
    batch_schedule,
    clip_loss,
    evaluate,
    finetune,
    item_texts,
    pair_correct,
    pair_groups,
    paired_batches,
    score_pairs,
    summarise,
    write_train_log,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_pair_groups_and_their_check():
    assert pair_groups(["a", "b", "a", "b"]) == [[0, 2], [1, 3]]
    with pytest.raises(InputFormatError, match="exactly two"):
        pair_groups(["a", "a", "a", "b", "b"])


@pytest.mark.parametrize("batch_size", [2, 4, 6])
def test_paired_batches_never_split_a_pair(batch_size):
    rng = random.Random(7)
    rows = list(range(46))
    rng.shuffle(rows)
    groups = [sorted(rows[i : i + 2]) for i in range(0, 46, 2)]  # 23 pairs, scattered rows
    pair_of = {r: i for i, g in enumerate(groups) for r in g}
    batches = paired_batches(groups, batch_size, random.Random(0))
    assert len(batches) == 23 // (batch_size // 2)
    seen = []
    for batch in batches:
        assert len(batch) == batch_size
        pairs = [pair_of[r] for r in batch]
        assert all(pairs.count(p) == 2 for p in pairs)  # both scenes of every pair present
        seen.extend(set(pairs))
    assert len(seen) == len(set(seen))  # each pair at most once per epoch


def test_odd_batch_size_is_refused():
    with pytest.raises(ConfigError, match="even"):
        paired_batches([[0, 1]], 3, random.Random(0))


def test_schedule_is_reproducible_for_resume():
    groups = [[2 * i, 2 * i + 1] for i in range(5)]
    long = batch_schedule(groups, 4, 12, seed=1)
    assert batch_schedule(groups, 4, 5, seed=1) == long[:5]
    assert batch_schedule(groups, 4, 12, seed=2) != long
    assert len(long) == 12  # several epochs of 2 batches


def test_clip_loss_matches_hand_computation():
    torch = pytest.importorskip("torch")
    logits = np.array([[2.0, 0.5, -1.0], [0.0, 1.0, 3.0], [1.0, 1.0, 1.0]])

    def ce(rows):
        return np.mean([np.log(np.exp(r).sum()) - r[i] for i, r in enumerate(rows)])

    expected = (ce(logits) + ce(logits.T)) / 2
    assert float(clip_loss(torch.tensor(logits))) == pytest.approx(expected, rel=1e-6)


def test_pair_correct_ties_count_half():
    own = np.array([0.9, 0.2, 0.5], np.float32)
    other = np.array([0.1, 0.3, 0.5], np.float32)
    assert pair_correct(own, other).tolist() == [1.0, 0.0, 0.5]


def _items(n_pairs: int) -> pa.Table:
    pairs = [f"{i}:1-2" for i in range(n_pairs) for _ in range(2)]
    return pa.table(
        {
            "pair": pairs,
            "sentence_id": [i for i in range(n_pairs) for _ in range(2)],
            "variant_id": [1, 2] * n_pairs,
            "reading": [0, 1] * n_pairs,
            "text": ["t"] * (2 * n_pairs),
            "tree": ["(S (NP a) (VP b))", "(S (NP a) (VP (V b)))"] * n_pairs,
        }
    )


def test_text_only_is_fifty_percent_by_construction():
    rng = np.random.default_rng(0)
    items = _items(25)
    images = rng.normal(size=(50, 8)).astype(np.float32)
    texts = np.repeat(rng.normal(size=(25, 8)).astype(np.float32), 2, axis=0)  # same text per pair
    scores = score_pairs(items, texts, images, "text")
    assert summarise(scores)["accuracy"] == 50.0
    # a pair with two identical scenes ties: one half for each item
    images[1] = images[0]
    assert summarise(score_pairs(items, texts, images, "text"))["accuracy"] == 50.0
    # unit text embeddings equal to their own scenes' (distinct, unit) embeddings score 100
    unit = rng.normal(size=(50, 8)).astype(np.float32)
    unit /= np.linalg.norm(unit, axis=1, keepdims=True)
    assert summarise(score_pairs(items, unit, unit, "bracket"))["accuracy"] == 100.0


def test_item_texts():
    items = _items(1)
    assert item_texts(items, "text") == ["t", "t"]
    assert item_texts(items, "bracket") == ["(s (np a) (vp b))", "(s (np a) (vp (v b)))"]
    with pytest.raises(ConfigError):
        item_texts(items, "tree")


class RunTokenizer:
    """A stand-in CLIP tokenizer: runs of "(", runs of ")" and words are tokens, between a start
    and an end token (the interface ``token_stats`` uses)."""

    def __init__(self) -> None:
        self.vocab: dict[str, int] = {"<start>": 0, "<end>": 1}

    def __call__(self, texts, add_special_tokens=True):
        import re

        ids = []
        for text in texts:
            toks = ["<start>", *re.findall(r"\(+|\)+|[^\s()]+", text), "<end>"]
            ids.append([self.vocab.setdefault(t, len(self.vocab)) for t in toks])
        return {"input_ids": ids}

    def convert_ids_to_tokens(self, ids):
        names = {i: t for t, i in self.vocab.items()}
        return [names[i] for i in ids]


def test_token_table_counts_distinct_strings_tokens_and_bracket_runs():
    from semspace.experiments.syntax import token_table
    from semspace.report.syntax import TOKENS_TABLE

    table = token_table(_items(1), RunTokenizer(), ["text", "bracket"])
    assert table.schema.equals(TOKENS_TABLE)
    rows = table.to_pylist()
    assert [r["input"] for r in rows] == ["text", "bracket"]
    # "t" twice: one distinct string of 1 token + start and end
    assert rows[0] | {"example": None} == {
        "input": "text", "strings": 1, "mean_tokens": 3.0, "max_tokens": 3, "over_limit": 0,
        "bracket_token_types": 0, "example": None,
    }  # fmt: skip
    # (s (np a) (vp b)): ( s ( np a ) ( vp b )) = 10 + 2; (s (np a) (vp (v b))): 12 + 2;
    # runs of two or more brackets: "))" and ")))"
    assert rows[1] | {"example": None} == {
        "input": "bracket", "strings": 2, "mean_tokens": 13.0, "max_tokens": 14, "over_limit": 0,
        "bracket_token_types": 2, "example": None,
    }  # fmt: skip
    assert rows[1]["example"] == "( s ( np a ) ( vp b ))"


def test_pair_counts_and_sentences_file(tmp_path):
    from semspace.experiments.syntax import pair_counts, read_sentences

    items = _items(3).append_column("split", pa.array(["train"] * 4 + ["test"] * 2))
    assert pair_counts(items) == {"train_pairs": 2, "test_pairs": 1}
    path = tmp_path / "s.txt"
    path.write_text("  Danny left \n\n\t\nthe chair\n", encoding="utf-8")
    assert read_sentences(path) == ["Danny left", "the chair"]


def test_lava_trees_has_one_row_per_sentence_and_extra(tmp_path):
    import json

    from semspace.datasets.lava import ANNOTATIONS
    from semspace.demo.lava import write_demo_lava
    from semspace.experiments.syntax import lava_trees

    root = write_demo_lava(tmp_path / "lava", seed=0, frame_size=8)
    variants = json.loads((root / ANNOTATIONS).read_text())
    first_text = {}
    for v in variants:
        first_text.setdefault(v["sentenceID"], v["text"])
    table = lava_trees(root, ["Danny approached the chair"])
    rows = table.to_pylist()
    lava_rows = [r for r in rows if r["source"] != "extra"]
    assert {r["sentence_id"]: r["text"] for r in lava_rows} == first_text
    assert [r["text"] for r in rows if r["source"] == "extra"] == ["Danny approached the chair"]


def test_read_train_logs_names_each_log_by_its_run_folder(tmp_path):
    from semspace.experiments.syntax import read_train_logs

    for run, history in (("bracket_b2", [(0, 2.0), (1, 1.5)]), ("compact_b4", [(0, 3.0)])):
        write_train_log(history, tmp_path / run / "loss.parquet")
    logs = read_train_logs(
        [tmp_path / "compact_b4" / "loss.parquet", tmp_path / "bracket_b2" / "loss.parquet"]
    )
    assert list(logs) == ["compact_b4", "bracket_b2"]
    assert logs == {"compact_b4": [3.0], "bracket_b2": [2.0, 1.5]}


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    from semspace.datasets.lava import build_items
    from semspace.demo.lava import write_demo_lava

    root = write_demo_lava(tmp_path_factory.mktemp("lava"), seed=0)
    items, _ = build_items(root, test_fraction=0.25, seed=0, frame_ext=".png")
    split = np.array(items.column("split").to_pylist())
    return root, items.filter(pa.array(split == "train")), items.filter(pa.array(split == "test"))


def test_frames_go_to_their_own_folder_and_the_items_read_them_there(demo, tmp_path, monkeypatch):
    """`syntax frames` copies the frames the demo ships into its --out folder (no ffmpeg on PATH),
    writes nothing into the dataset's folder, and the items built on that folder are those built
    on the root."""
    from semspace.cli import main
    from semspace.datasets.lava import build_items

    root = demo[0]
    before = sorted(p.relative_to(root) for p in root.rglob("*"))
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    out = tmp_path / "images"
    argv = ["syntax", "frames", "--root", str(root), "--videos", str(root / "videos")]
    assert main([*argv, "--frame-ext", ".png", "--out", str(out)]) == 0
    assert sorted(p.relative_to(root) for p in root.rglob("*")) == before
    shipped = sorted((root / "frames").glob("*.png"))
    copied = sorted((out / "frames").glob("*.png"))
    assert len(copied) == len(shipped) == 128
    assert all(a.read_bytes() == b.read_bytes() for a, b in zip(shipped, copied, strict=True))
    from_root, counts = build_items(root, test_fraction=0.25, seed=0, frame_ext=".png")
    from_out, counts_out = build_items(
        root, test_fraction=0.25, seed=0, frame_ext=".png", images=out
    )
    assert from_out.equals(from_root) and counts_out == counts
    # a frame missing from --images leaves its pair out, as a frame missing from the root did
    copied[0].unlink()
    fewer, counts_fewer = build_items(
        root, test_fraction=0.25, seed=0, frame_ext=".png", images=out
    )
    assert counts_fewer["missing_frame"] == 1 and fewer.num_rows == from_root.num_rows - 2


def test_loss_falls_and_training_resumes(demo, tiny_clip_dir, tmp_path):
    root, train, _ = demo
    cfg = TrainConfig(
        input_kind="compact",
        batch_size=4,
        steps=60,
        learning_rate=1e-3,
        weight_decay=0.0,
        warmup_steps=10,
        checkpoint_every=30,
        device="cpu",
        dtype="float32",
    )
    full = finetune(
        train,
        root,
        tiny_clip_dir,
        tmp_path / "full",
        cfg,
        checkpoint_dir=tmp_path / "ckpt",
        keep_checkpoint=True,
    )
    losses = np.array([loss for _, loss in full])
    assert [s for s, _ in full] == list(range(60))
    assert losses[-20:].mean() < losses[:20].mean() - 0.15
    # the checkpoint of step 30 was kept: a rerun resumes there and repeats steps 30..59 exactly,
    # and its history still holds steps 0..29 (issue 17.4: loss.parquet lost them)
    resumed = finetune(
        train,
        root,
        tiny_clip_dir,
        tmp_path / "resumed",
        cfg,
        checkpoint_dir=tmp_path / "ckpt",
        keep_checkpoint=True,
    )
    assert [s for s, _ in resumed] == list(range(60))
    assert resumed[:30] == full[:30]  # the saved history, bit for bit
    np.testing.assert_allclose([v for _, v in resumed], losses, rtol=1e-4, atol=1e-5)
    assert (tmp_path / "resumed" / "config.json").is_file()
    write_train_log(full, tmp_path / "full.parquet")
    write_train_log(resumed, tmp_path / "resumed.parquet")
    assert pq.read_table(tmp_path / "resumed.parquet")["step"].to_pylist() == list(range(60))
    # a checkpoint without its history (an older run's) is not resumed from: all 60 steps rerun
    (tmp_path / "ckpt" / "history.json").unlink()
    again = finetune(
        train,
        root,
        tiny_clip_dir,
        tmp_path / "again",
        cfg,
        checkpoint_dir=tmp_path / "ckpt",
        keep_checkpoint=True,
    )
    assert [s for s, _ in again] == list(range(60))
    np.testing.assert_allclose([v for _, v in again], losses, rtol=1e-4, atol=1e-5)
    # a checkpoint made with other settings is not resumed from; it is removed at the end
    other = replace(cfg, steps=31, learning_rate=5e-4)
    fresh = finetune(
        train, root, tiny_clip_dir, tmp_path / "other", other, checkpoint_dir=tmp_path / "ckpt"
    )
    assert [s for s, _ in fresh] == list(range(31))
    assert not (tmp_path / "ckpt").exists()


def test_demo_syntax_beats_text_only(demo, tiny_clip_dir, tmp_path):
    """The learning code learns: trees tell the readings apart, the sentence cannot.
    (About 4 s on one free core: 200 steps of the tiny CLIP on 32-px frames.)"""
    root, train, test = demo
    cfg = TrainConfig(
        input_kind="bracket",
        batch_size=2,
        steps=200,
        learning_rate=1e-3,
        weight_decay=0.0,
        warmup_steps=10,
        device="cpu",
        dtype="float32",
    )
    finetune(train, root, tiny_clip_dir, tmp_path / "model", cfg)
    syntax = summarise(evaluate(test, root, tmp_path / "model", "bracket", "cpu", "float32"))
    text_only = summarise(evaluate(test, root, tmp_path / "model", "text", "cpu", "float32"))
    assert text_only["accuracy"] == 50.0
    assert syntax["accuracy"] > 75.0, syntax


@pytest.mark.parametrize("demo_flag", [True, False])
def test_table_command_writes_markdown_html_csv_and_loss_figure(tmp_path, demo_flag):
    """`syntax table`: the report as Markdown and HTML beside it (``.md`` → ``.html``), the
    accuracy CSV at full precision, the loss figure; the demo note only with --demo."""
    import json

    from semspace.cli import main
    from semspace.report.syntax import TOKENS_TABLE
    from semspace.report.tables import DEMO_NOTE

    summaries = [
        {"input": "bracket", "train_batch": 4, "model": "ft-b4", "pairs": 12, "accuracy": 75.0},
        {"input": "text", "train_batch": 0, "model": "clip", "pairs": 12, "accuracy": 50.0},
    ]
    paths = []
    for k, s in enumerate(summaries):
        paths.append(tmp_path / f"s{k}.json")
        paths[-1].write_text(json.dumps(s))
    tokens = pa.table(
        {"input": ["text", "bracket"], "strings": [12, 12], "mean_tokens": [9.25, 21.5],
         "max_tokens": [12, 30], "over_limit": [0, 0], "bracket_token_types": [0, 3],
         "example": ["a man sees a dog", "( ( a man ) sees )"]},
        schema=TOKENS_TABLE,
    )  # fmt: skip
    pq.write_table(tokens, tmp_path / "tokens.parquet")
    (tmp_path / "counts.json").write_text(json.dumps({"test_pairs": 12, "train_pairs": 40}))
    (tmp_path / "bracket_b4").mkdir()
    pq.write_table(
        pa.table({"loss": np.linspace(2.0, 1.0, 30)}), tmp_path / "bracket_b4" / "l.parquet"
    )
    out = tmp_path / "report"
    argv = [
        "syntax",
        "table",
        "--summaries",
        *map(str, paths),
        "--tokens",
        str(tmp_path / "tokens.parquet"),
        "--counts",
        str(tmp_path / "counts.json"),
        "--loss-logs",
        str(tmp_path / "bracket_b4" / "l.parquet"),
        "--md",
        str(out / "e3.md"),
        "--csv",
        str(out / "e3.csv"),
        "--loss-figure",
        str(out / "loss.png"),
    ]
    assert main(argv + (["--demo"] if demo_flag else [])) == 0
    md, html = (out / "e3.md").read_text(), (out / "e3.html").read_text()
    # rows sorted text first; the paper's 50 % beside text only, 83.66 beside bracket batch 4
    assert "| text | 0 | clip | 12 | 50.00 | 50.00 |" in md
    assert "| bracket | 4 | ft-b4 | 12 | 75.00 | 83.66 |" in md
    assert html.count("<table>") == 3 and "83.66" in html
    assert '<td>test_pairs</td><td class="num">12</td>' in html  # the data counts
    assert (DEMO_NOTE in md) is demo_flag and (DEMO_NOTE in html) is demo_flag
    csv_rows = (out / "e3.csv").read_text().splitlines()
    assert len(csv_rows) == 3 and csv_rows[1].startswith('"text",0,"clip",12,50')
    assert (out / "loss.png").read_bytes()[:4] == b"\x89PNG"
