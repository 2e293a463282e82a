"""Trees for E3: CFG induction and chart parsing, linearisations, tokenizer statistics."""

from __future__ import annotations

import pytest
from nltk import Tree

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

VP_ATTACH = "(S (NP danny) (VP (V (VBD approached)) (NP (Det the) (N chair)) (PP (P with) (NP (Det a) (N bag)))))"
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
    with pytest.raises(ValueError, match="unknown linearisation"):
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
