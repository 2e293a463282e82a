"""LAVA ingest: parse file and annotations, which tree shows which scene, items and split."""

from __future__ import annotations

import json
from collections import Counter

import pyarrow.compute as pc
import pytest

from semspace.datasets.lava import (
    ANNOTATIONS,
    PARSES,
    Variant,
    assign_readings,
    build_items,
    image_manifest,
    read_annotations,
    read_parses,
    split_sentences,
)
from semspace.errors import InputFormatError
from semspace.experiments.trees import parse_tree, tree_key
from semspace.schemas import MANIFEST

PP = [
    parse_tree(
        "(S (NP danny) (VP (V (VBD approached)) (NP (Det the) (N chair))"
        " (PP (P with) (NP (Det a) (N bag)))))"
    ),
    parse_tree(
        "(S (NP danny) (VP (V (VBD approached)) (NP (NP (Det the) (N chair))"
        " (PP (P with) (NP (Det a) (N bag))))))"
    ),
]
ADJ = [
    parse_tree(
        "(S (NP danny) (VP (V (VBD moved))"
        " (NP (NP (Det the) (JJ yellow) (N bag)) (C and) (N chair))))"
    ),
    parse_tree(
        "(S (NP danny) (VP (V (VBD moved))"
        " (NP (Det the) (JJ yellow) (NP (N bag) (C and) (N chair)))))"
    ),
]
OR_AND = [
    parse_tree(
        "(S (NP danny) (VP (V (VBD held))"
        " (NP (NP (NP (Det the) (N telescope)) (C or) (NP (Det the) (N chair)))"
        " (C and) (NP (Det the) (N bag)))))"
    ),
    parse_tree(
        "(S (NP danny) (VP (V (VBD held)) (NP (NP (Det the) (N telescope)) (C or)"
        " (NP (NP (Det the) (N chair)) (C and) (NP (Det the) (N bag))))))"
    ),
]


def variants(*setups: str) -> list[Variant]:
    return [Variant(1, i + 1, "t", s, f"clip{i}", ()) for i, s in enumerate(setups)]


def test_attachment_scenes_get_their_trees():
    got = assign_readings(
        PP, variants("Danny with bag (left)", "Danny with bag (right)", "chair with bag (left)")
    )
    # "chair with bag" needs the NP attachment (tree 1); "Danny with bag" gets the other by
    # elimination
    assert got == {1: 0, 2: 0, 3: 1}


def test_adjective_scope_scenes_get_their_trees():
    got = assign_readings(ADJ, variants("chair is yellow (left)", "chair is not yellow (left)"))
    assert got == {1: 1, 2: 0}


def test_and_or_scenes_get_their_trees_or_none():
    got = assign_readings(
        OR_AND,
        variants(
            "held telescope (left)", "held chair and bag (left)", "held telescope and bag (left)"
        ),
    )
    # {telescope} only under "telescope or (chair and bag)"; {telescope, bag} only under the other;
    # {chair, bag} fits both trees, so that scene is left out
    assert got == {1: 1, 2: None, 3: 0}


def test_undecidable_or_one_tree_gives_none():
    assert assign_readings(PP[:1], variants("Danny with bag")) == {1: None}
    assert assign_readings(PP, variants("same bag", "different bag")) == {1: None, 2: None}


def test_read_parses_names_the_bad_line(tmp_path):
    path = tmp_path / PARSES
    path.write_text("0\t(S (NP a))\n0 (S (NP b))\n")
    with pytest.raises(InputFormatError, match=r":2: expected 'index<TAB>tree'"):
        read_parses(path)
    path.write_text("0\t(S (NP a)\n")
    with pytest.raises(InputFormatError, match=r":1: bad tree"):
        read_parses(path)


def test_read_annotations_reports_missing_fields(tmp_path):
    path = tmp_path / ANNOTATIONS
    path.write_text(json.dumps([{"sentenceID": 1, "text": "x"}]))
    with pytest.raises(InputFormatError, match="variant #0"):
        read_annotations(path)


def test_split_is_by_sentence_and_seeded():
    ids = list(range(1, 41))
    split = split_sentences(ids, 0.25, seed=3)
    assert Counter(split.values()) == {"train": 30, "test": 10}
    assert split == split_sentences(list(reversed(ids)), 0.25, seed=3)
    assert split != split_sentences(ids, 0.25, seed=4)
    assert set(split_sentences([1, 2], 0.01, 0).values()) == {"train", "test"}


@pytest.fixture(scope="module")
def demo_root(tmp_path_factory):
    from semspace.demo.lava import write_demo_lava

    return write_demo_lava(tmp_path_factory.mktemp("lava"), seed=0, frame_size=32)


def test_demo_items_pair_readings_and_keep_pairs_whole(demo_root):
    table, counts = build_items(demo_root, test_fraction=0.25, seed=0, frame_ext=".png")
    assert counts["pairs"] == 64 and counts["undecided_scenes"] == 0
    rows = table.to_pylist()
    by_pair: dict[str, list[dict]] = {}
    for r in rows:
        by_pair.setdefault(r["pair"], []).append(r)
    for members in by_pair.values():
        assert len(members) == 2
        assert {m["reading"] for m in members} == {0, 1}
        assert len({m["split"] for m in members}) == 1
        assert members[0]["text"] == members[1]["text"]
        assert members[0]["tree"] != members[1]["tree"]
        # the demo draws reading 0 with the subject holding the thing: "Danny/Andrei with ..."
        for m in members:
            assert m["visual_setup"].split()[0].lower() in (
                ("danny", "andrei") if m["reading"] == 0 else ("chair", "person")
            )
    split_of = {}
    for r in rows:
        assert split_of.setdefault(r["sentence_id"], r["split"]) == r["split"]
    assert Counter(split_of.values()) == {"train": 24, "test": 8}


def test_missing_frames_are_counted_not_used(demo_root, tmp_path):
    import shutil

    root = tmp_path / "lava"
    shutil.copytree(demo_root, root)
    (root / "frames" / "demo-00001-1.png").unlink()
    table, counts = build_items(root, frame_ext=".png")
    assert counts["missing_frame"] == 1 and counts["pairs"] == 63
    assert "1:1-3" not in set(table.column("pair").to_pylist())


def test_image_manifest_lists_frames(demo_root):
    manifest = image_manifest(demo_root, frame_ext=".png")
    assert manifest.schema.equals(MANIFEST)
    assert manifest.num_rows == 128 == len(list((demo_root / "frames").glob("*.png")))
    assert pc.all(pc.is_null(manifest.column("left"))).as_py()


def test_real_lava_items(shared_data):
    root = shared_data / "lava"
    if not (root / ANNOTATIONS).is_file():
        pytest.skip("LAVA annotations absent")
    table, counts = build_items(root, require_frames=False)
    assert counts["sentences"] == 237
    assert counts["pairs"] == table.num_rows // 2 > 150
    rows = {(r["sentence_id"], r["variant_id"]): r for r in table.to_pylist()}
    # sentence 1: "Danny with bag" scenes show the VP attachment (tree 0), "chair with bag" the NP
    # one
    assert rows[(1, 1)]["reading"] == 0 and rows[(1, 3)]["reading"] == 1
    # sentence 97 "... the yellow bag and chair": "chair is yellow" needs the adjective over both
    # nouns
    assert (
        rows[(97, 1)]["reading"] == 1 and "(NP (N bag) (C and) (N chair))" in rows[(97, 1)]["tree"]
    )


def test_frames_command_needs_ffmpeg(demo_root, tmp_path, monkeypatch, capsys):
    from semspace.cli import main

    monkeypatch.setenv("PATH", str(tmp_path))  # no ffmpeg on this PATH
    status = main(
        [
            "syntax",
            "frames",
            "--root",
            str(demo_root),
            "--videos",
            str(tmp_path),
            "--out",
            str(tmp_path / "images"),
        ]
    )
    assert status == 2
    assert "ffmpeg" in capsys.readouterr().err
    assert not (tmp_path / "images").exists()


def test_authors_reading_map_overrides_rules_and_conflicts_fall_back(demo_root, tmp_path):
    import shutil

    from semspace.datasets.lava import READING_MAP

    root = tmp_path / "lava"
    shutil.copytree(demo_root, root)
    trees = read_parses(root / PARSES)
    # sentence 1: the map swaps the readings the rules would give; sentence 2: a scene under
    # both trees (as gen_lava's own file has for sentence 40), so the rules decide
    lines = [
        f"1 3 4 |\t{tree_key(trees[1][0])}",
        f"1 1 2 |\t{tree_key(trees[1][1])}",
        f"2 1 2 |\t{tree_key(trees[2][0])}",
        f"2 1 2 |\t{tree_key(trees[2][1])}",
    ]
    (root / READING_MAP).write_text("\n".join(lines) + "\n")
    table, counts = build_items(root, frame_ext=".png")
    assert counts["readings_from_map"] == 1 and counts["readings_from_rules"] == 31
    rows = {(r["sentence_id"], r["variant_id"]): r["reading"] for r in table.to_pylist()}
    assert rows[(1, 1)] == 1 and rows[(1, 3)] == 0
    assert rows[(2, 1)] == 0 and rows[(2, 3)] == 1
    _, counts = build_items(root, frame_ext=".png", use_reading_map=False)
    assert counts["readings_from_map"] == 0
    (root / READING_MAP).write_text("1 1 2 (S (NP a))\n")
    with pytest.raises(InputFormatError, match=":1:"):
        build_items(root, frame_ext=".png")


def test_explain_readings_names_the_rule_of_each_scene():
    from semspace.datasets.lava import explain_readings

    got = explain_readings(PP, variants("Danny with bag (left)", "chair with bag (right)"))
    # "chair with bag": the smallest constituent over chair..with is the NP -> tree 1; "Danny with
    # bag" cannot be told by attachment (danny is outside both), so it takes the other tree
    assert got[2][:2] == (1, "attachment")
    assert got[1][:2] == (0, "complement") and "'chair with bag'" in got[1][2]
    got = explain_readings(ADJ, variants("chair is yellow", "chair is yellow (right)"))
    assert {r[:2] for r in got.values()} == {(1, "adjective_scope")}
    got = explain_readings(PP, variants("same bag", "different bag"))
    assert {r[:2] for r in got.values()} == {(None, "undecided")}
    # two descriptions that both pick tree 1: neither keeps it
    got = explain_readings(PP, variants("chair with bag", "chair with a bag"))
    assert {r[:2] for r in got.values()} == {(None, "conflict")}
    assert {r[1] for r in explain_readings(PP[:1], variants("a")).values()} == {"not_two_trees"}


def test_demo_decisions_cover_every_scene_and_agree_with_items(demo_root, tmp_path):
    import pyarrow.parquet as pq

    from semspace.cli import main
    from semspace.datasets.lava import DECISION_RULES, DECISIONS

    out, counts, decisions = (tmp_path / n for n in ("i.parquet", "c.json", "d.parquet"))
    args = ["syntax", "items", "--root", str(demo_root), "--frame-ext", ".png"]
    args += ["--out", str(out), "--counts", str(counts), "--decisions", str(decisions)]
    assert main(args) == 0
    table = pq.read_table(decisions)
    assert table.schema.equals(DECISIONS)
    n_scenes = len(read_annotations(demo_root / ANNOTATIONS))
    assert table.num_rows == n_scenes  # every demo sentence has two trees
    assert set(table.column("rule").to_pylist()) <= set(DECISION_RULES)
    decided = {(r["sentence_id"], r["variant_id"]): r["reading"] for r in table.to_pylist()}
    for item in pq.read_table(out).to_pylist():  # every item's reading is its scene's decision
        assert decided[(item["sentence_id"], item["variant_id"])] == item["reading"]
    undecided = sum(r is None for r in decided.values())
    assert undecided == json.loads(counts.read_text())["undecided_scenes"]


def test_real_lava_decisions(shared_data):
    from semspace.datasets.lava import DECISIONS, build_items_and_decisions, decisions_table

    root = shared_data / "lava"
    if not (root / ANNOTATIONS).is_file():
        pytest.skip("LAVA annotations absent")
    table, counts, decisions = build_items_and_decisions(root, require_frames=False)
    frame = decisions_table(decisions)
    assert frame.schema.equals(DECISIONS) and frame.num_rows > 0
    rows = frame.to_pylist()
    # one row per scene of every sentence that has two or more trees
    parses = read_parses(root / PARSES)
    multi = {s for s, ts in parses.items() if len(ts) >= 2}
    scenes = [v for v in read_annotations(root / ANNOTATIONS) if v.sentence_id in multi]
    assert len(rows) == len(scenes)
    assert sum(r["reading"] is None for r in rows) == counts["undecided_scenes"]
    by_rule = Counter(r["rule"] for r in rows)
    assert by_rule["attachment"] > 0 and by_rule["adjective_scope"] > 0
    assert by_rule["and_or_grouping"] > 0 and by_rule["complement"] > 0
    none_rules = {r["rule"] for r in rows if r["reading"] is None}
    assert none_rules <= {"undecided", "conflict", "not_two_trees", "map"}
    decided = {(r["sentence_id"], r["variant_id"]): r["reading"] for r in rows}
    for item in table.to_pylist():
        assert decided[(item["sentence_id"], item["variant_id"])] == item["reading"]
