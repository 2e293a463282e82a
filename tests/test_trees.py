"""Trees for E3: CFG induction and chart parsing, linearisations, tokenizer statistics."""

from __future__ import annotations

import pytest
from nltk import Tree

from semspace.errors import ConfigError
from semspace.experiments.trees import (
    LINEARISATIONS,
    induce_grammar,
    linearise,
    parse_all,
    parse_tree,
    sentence_words,
    token_stats,
    tree_key,
)

VP_ATTACH = (
    "(S (NP danny) (VP (V (VBD approached)) (NP (Det the) (N chair))"
    " (PP (P with) (NP (Det a) (N bag)))))"
)
NP_ATTACH = (
    "(S (NP danny) (VP (V (VBD approached)) (NP (NP (Det the) (N chair)) "
    "(PP (P with) (NP (Det a) (N bag))))))"
)


def test_bracket_linearisation_is_the_designs_form():
    tree = parse_tree(
        "(S   (NP danny)   (VP     (V (VBD approached))     (NP (Det the) (N chair))))"
    )
    assert linearise(tree) == "(s (np danny) (vp (v (vbd approached)) (np (det the) (n chair))))"


def test_spaced_and_compact_linearisations():
    tree = parse_tree(NP_ATTACH)
    spaced = linearise(tree, "spaced")
    assert "((" not in spaced and "))" not in spaced
    # same tokens as the bracketed form once brackets are split off
    assert spaced.split() == linearise(tree).replace("(", " ( ").replace(")", " ) ").split()
    compact = linearise(tree, "compact")
    assert (
        compact == "( s danny ( vp approached ( np ( np the chair ) ( pp with ( np a bag ) ) ) ) )"
    )
    # the two readings stay distinct in every style, with the same words
    other = parse_tree(VP_ATTACH)
    for style in LINEARISATIONS:
        assert linearise(tree, style) != linearise(other, style)


def test_unknown_style_is_an_error():
    with pytest.raises(ConfigError, match="unknown"):
        linearise(parse_tree(VP_ATTACH), "json")


def test_grammar_returns_every_parse_of_an_ambiguous_sentence():
    trees = [parse_tree(VP_ATTACH), parse_tree(NP_ATTACH)]
    grammar = induce_grammar(trees)
    parses = parse_all(grammar, ["danny", "approached", "the", "chair", "with", "a", "bag"])
    assert sorted(tree_key(t) for t in parses) == sorted(tree_key(t) for t in trees)
    # a new sentence of the same language: the grammar generalises across the lexicon
    new = parse_all(grammar, ["danny", "approached", "the", "bag", "with", "a", "chair"])
    assert len(new) == 2
    assert parse_all(grammar, ["danny", "approached", "the", "telescope"]) == []  # unknown word
    assert parse_all(grammar, ["the", "chair", "danny"]) == []  # no parse


def test_sentence_words():
    assert sentence_words("Andrei approached Danny; he held a chair") == [
        "andrei",
        "approached",
        "danny",
        ";",
        "he",
        "held",
        "a",
        "chair",
    ]


def test_token_stats_counts_tokens_and_bracket_runs():
    class Toy:  # a whitespace tokenizer with start/end tokens, runs of ) kept as one token
        def __call__(self, texts, add_special_tokens=True):
            return {"input_ids": [["<s>", *t.replace("(", " ( ").split(), "</s>"] for t in texts]}

        def convert_ids_to_tokens(self, ids):
            return list(ids)

    stats = token_stats(Toy(), ["(a b))", "(a)"], "x", limit=5)
    # "(a b))" -> <s> ( a b)) </s> = 5 tokens, "(a)" -> <s> ( a) </s> = 4
    assert (stats.n, stats.max_tokens, stats.over_limit) == (2, 5, 0)
    assert stats.mean_tokens == pytest.approx(4.5)
    assert stats.bracket_tokens == 0  # "b))" is not brackets only
    stats = token_stats(Toy(), ["(a ))))"], "x", limit=3)
    assert stats.bracket_tokens == 1 and stats.over_limit == 1


def test_cfg_recovers_the_lava_trees(shared_data):
    """Every sentence of LAVA's parse file gets back exactly its own trees from the induced CFG."""
    from semspace.datasets.lava import PARSES, read_parses

    path = shared_data / "lava" / PARSES
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    parses = read_parses(path)
    grammar = induce_grammar([t for ts in parses.values() for t in ts])
    assert len(parses) == 208
    readings = {}
    for sid, trees in parses.items():
        got = parse_all(grammar, trees[0].leaves())
        assert sorted(tree_key(t) for t in got) == sorted(tree_key(t) for t in trees), sid
        readings[len(got)] = readings.get(len(got), 0) + 1
    assert readings == {2: 160, 1: 48}
    assert isinstance(got[0], Tree)


def test_check_and_complete_trees_reports_matches_mismatches_and_new_sentences():
    from semspace.experiments.trees import check_and_complete_trees, trees_summary

    pp, np_ = parse_tree(VP_ATTACH), parse_tree(NP_ATTACH)
    parses = {1: [pp, np_], 2: [pp]}  # sentence 2 lists one reading of an ambiguous sentence
    texts = {
        1: "Danny approached the chair with a bag",
        2: "Danny approached the chair with a bag",
        3: "Danny approached the bag with a chair",  # no readings in the file
        4: "Danny approached the chair; it is yellow",  # unknown words
    }
    table = check_and_complete_trees(parses, texts, extra=["danny approached the bag"])
    rows = {(r["source"], r["sentence_id"]): r for r in table.to_pylist()}
    one, two, three, four = (rows[("lava", i)] for i in (1, 2, 3, 4))
    assert one["match"] and one["n_parses"] == one["n_file_readings"] == 2
    assert sorted(one["trees"]) == sorted([tree_key(pp), tree_key(np_)])
    assert two["match"] is False and (two["missing"], two["unexpected"]) == (0, 1)
    assert three["match"] is None and three["n_parses"] == 2 and three["words_match_file"] is None
    assert four["n_parses"] == 0 and four["unknown_words"] == [";", "is", "it", "yellow"]
    extra = rows[("extra", None)]
    assert extra["n_parses"] == 1 and extra["words"] == ["danny", "approached", "the", "bag"]
    summary = trees_summary(table)
    assert (summary["matched"], summary["mismatched"], summary["mismatch_ids"]) == (1, 1, [2])
    assert (summary["completed"], summary["unparsed"], summary["unparsed_ids"]) == (2, 1, [4])


def test_real_lava_sentences_parse_to_their_readings(shared_data):
    """All 208 sentences of the parse file: the CFG's parses of the *lava.json text* are the
    file's readings, except where the text's words differ from the trees' leaves (counted)."""
    from semspace.datasets.lava import ANNOTATIONS, PARSES, read_annotations, read_parses
    from semspace.experiments.trees import check_and_complete_trees, trees_summary

    root = shared_data / "lava"
    if not (root / PARSES).is_file() or not (root / ANNOTATIONS).is_file():
        pytest.skip(f"LAVA files absent under {root}")
    parses = read_parses(root / PARSES)
    texts = {v.sentence_id: v.text for v in read_annotations(root / ANNOTATIONS)}
    table = check_and_complete_trees(parses, texts)
    rows = table.to_pylist()
    with_file = [r for r in rows if r["match"] is not None]
    assert len(with_file) == len(parses) == 208
    for r in with_file:
        # independent check: a mismatch happens exactly where the words are not the leaves
        leaves = parses[r["sentence_id"]][0].leaves()
        assert r["match"] == (r["words"] == leaves), r["sentence_id"]
    summary = trees_summary(table)
    # the 12 "...; he held ..." sentences: the text has ";" where the parse file has "."
    assert summary["mismatched"] == summary["mismatched_words_differ"] == 12
    assert all(";" in texts[s] for s in summary["mismatch_ids"])
    assert summary["matched"] == 196
    # sentences of lava.json without readings: none parses, each for a word the grammar lacks
    without = [r for r in rows if r["match"] is None]
    assert len(without) == len(set(texts) - set(parses))
    assert all(r["n_parses"] == 0 and r["unknown_words"] for r in without)


def test_trees_command_writes_table_and_summary(tmp_path):
    import json

    import pyarrow.parquet as pq

    from semspace.cli import main
    from semspace.demo.lava import write_demo_lava

    root = write_demo_lava(tmp_path / "lava", seed=0, frame_size=8)
    extra = tmp_path / "extra.txt"
    extra.write_text("Danny approached the telescope\n\n")
    out, summary = tmp_path / "trees.parquet", tmp_path / "trees.json"
    status = main(
        ["syntax", "trees", "--root", str(root), "--sentence", "Danny approached the chair"]
        + ["--sentences-file", str(extra), "--out", str(out), "--summary", str(summary)]
    )
    assert status == 0
    table = pq.read_table(out)
    counts = json.loads(summary.read_text())
    assert counts["sentences"] == table.num_rows
    assert counts["matched"] == counts["with_file_readings"] > 0  # the demo's trees are its CFG's
    sources = table.column("source").to_pylist()
    assert sources.count("extra") == 2
