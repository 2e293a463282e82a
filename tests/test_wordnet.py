"""WordNet preparation and the gloss strategies, against hand-worked cases."""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from semspace import wordnet
from semspace.wordnet import GlossSelector, WordNetUnavailable, lexnames_text, support_phrase


def test_lexnames_is_the_fixed_45_line_list() -> None:
    lines = lexnames_text().splitlines()
    assert len(lines) == 45
    assert lines[0] == "00 adj.all 3"
    assert lines[3] == "03 noun.Tops 1"
    assert lines[29] == "29 verb.body 2"
    assert lines[44] == "44 adj.ppl 3"
    # numbers run 0..44 and the category matches the file's part of speech
    for i, line in enumerate(lines):
        number, name, category = line.split()
        assert int(number) == i
        assert int(category) == {"noun": 1, "verb": 2, "adj": 3, "adv": 4}[name.split(".")[0]]


def test_prepare_names_the_missing_debian_file(tmp_path: Path) -> None:
    source = tmp_path / "debian"
    source.mkdir()
    (source / "index.noun").write_text("x")
    with pytest.raises(
        WordNetUnavailable, match=r"index\.verb is missing.*apt-get install wordnet-base"
    ):
        wordnet.prepare_wordnet(tmp_path / "out", source)
    assert not (tmp_path / "out").exists()


def test_prepare_copies_and_is_idempotent(tmp_path: Path) -> None:
    source = tmp_path / "debian"
    source.mkdir()
    for name in wordnet.WORDNET_FILES:
        (source / name).write_text(f"content of {name}\n")
    corpus = wordnet.prepare_wordnet(tmp_path / "nltk", source)
    assert corpus == tmp_path / "nltk" / "corpora" / "wordnet"
    for name in wordnet.WORDNET_FILES:
        copied = corpus / name
        assert copied.is_file() and not copied.is_symlink()
        assert copied.read_text() == f"content of {name}\n"
    assert (corpus / "lexnames").read_text() == lexnames_text()
    before = {p.name: p.stat().st_mtime_ns for p in corpus.iterdir()}
    wordnet.prepare_wordnet(tmp_path / "nltk", source)
    assert {p.name: p.stat().st_mtime_ns for p in corpus.iterdir()} == before


def test_support_phrase_drops_target_tokens() -> None:
    assert support_phrase("administration", "administration prime minister") == "prime_minister"
    assert support_phrase("bank", "river bank") == "river"
    assert support_phrase("tree", "tree") == ""


def test_support_phrase_compares_exactly_as_the_thesis() -> None:
    # thesis: [s for s in phrase.split() if s != problem['target_word']]
    assert support_phrase("Bank", "bank of the Bank") == "bank_of_the"
    assert support_phrase("Ammobium", "Ammobium ammobium") == "ammobium"
    assert support_phrase("bank", "BANK bank") == "BANK"


TRAIN = Path("/work/shared/data/vwsd-text/train.data.v1.txt")


@pytest.mark.skipif(not TRAIN.is_file(), reason="real VWSD train data not present")
def test_exact_rule_changes_one_real_train_item() -> None:
    """Exactly one train item has a token equal to its target up to case only (line 918)."""
    from semspace.datasets.vwsd import read_data

    items = read_data(TRAIN)
    assert len(items) == 12869
    changed = [
        (i, it.target, it.phrase)
        for i, it in enumerate(items)
        if support_phrase(it.target, it.phrase)
        != "_".join(t for t in it.phrase.split() if t.lower() != it.target.lower())
    ]
    assert changed == [(917, "Ammobium", "Ammobium ammobium")]


def test_ammobium_gets_a_gloss_with_the_exact_rule(selector: GlossSelector) -> None:
    # case-insensitive, the support phrase was empty and the item had no gloss
    choice = selector.choose("wup_hypernym", "Ammobium", "Ammobium ammobium")
    assert choice.synset == "ammobium.n.01"
    assert choice.gloss == selector.wn.synset("ammobium.n.01").definition()


def test_similarity_code_uses_only_public_nltk_attributes() -> None:
    """No private NLTK attribute (``x._name``) is read outside our own objects (self/sel)."""
    import ast

    tree = ast.parse(Path(wordnet.__file__).read_text(encoding="utf-8"))
    private = [
        (node.lineno, node.attr)
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and node.attr.startswith("_")
        and not node.attr.startswith("__")
        and not (isinstance(node.value, ast.Name) and node.value.id in {"self", "sel", "cls"})
    ]
    assert private == []


# ---------------------------------------------------------------- the selection rule, no WordNet


@dataclass(frozen=True)
class FakeSynset:
    label: str
    parents: tuple[FakeSynset, ...] = field(default=())

    def name(self) -> str:
        return self.label

    def definition(self) -> str:
        return f"definition of {self.label}"

    def hypernyms(self) -> list[FakeSynset]:
        return list(self.parents)


class FakeSelector(GlossSelector):
    """Synsets and similarities from tables, to check the choice rule by hand."""

    def __init__(
        self, synsets: dict[str, tuple[FakeSynset, ...]], sims: dict[tuple[str, str], float]
    ) -> None:
        super().__init__(wn=object())
        self.table, self.sims = synsets, sims
        self.asked: list[tuple[str, str]] = []

    def synsets(self, lemma: str) -> tuple[FakeSynset, ...]:
        return self.table.get(lemma, ())

    def similarity(self, measure: str, a: FakeSynset, b: FakeSynset) -> float:
        self.asked.append((a.label, b.label))
        return self.sims.get((a.label, b.label), 0.0)


H1, H2a, H2b, H3 = FakeSynset("h1"), FakeSynset("h2a"), FakeSynset("h2b"), FakeSynset("h3")
T1 = FakeSynset("t1", (H1,))  # one hypernym: compared through it
T2 = FakeSynset("t2", (H2a, H2b))  # two hypernyms: compared as itself
T3 = FakeSynset("t3", (H3,))
S1, S2 = FakeSynset("s1"), FakeSynset("s2")
TABLE = {"word": (T1, T2, T3), "context": (S1, S2)}


def test_wup_hypernym_uses_sole_hypernym_and_strict_maximum() -> None:
    sims = {
        ("h1", "s1"): 0.5,
        ("h1", "s2"): 0.6,
        ("t2", "s1"): 0.7,
        ("h3", "s2"): 0.7,
        ("t1", "s1"): 0.99,
    }
    sel = FakeSelector(TABLE, sims)
    choice = sel.choose("wup_hypernym", "word", "word context")
    # t1 scores max(0.5, 0.6) via h1 (its own 0.99 is never asked); t2 0.7; t3 ties at 0.7: first
    # kept
    assert (choice.synset, choice.similarity) == ("t2", 0.7)
    assert choice.gloss == "definition of t2"
    assert ("t1", "s1") not in sel.asked and ("h1", "s1") in sel.asked and ("t2", "s2") in sel.asked


def test_plain_wup_compares_the_synset_itself() -> None:
    sims = {("h1", "s1"): 0.9, ("t1", "s2"): 0.4, ("t3", "s1"): 0.5}
    choice = FakeSelector(TABLE, sims).choose("wup", "word", "word context")
    assert (choice.synset, choice.similarity) == ("t3", 0.5)


def test_no_gloss_when_nothing_scores_above_zero() -> None:
    choice = FakeSelector(TABLE, {}).choose("wup_hypernym", "word", "word context")
    assert (choice.synset, choice.gloss, choice.similarity) == (None, None, 0.0)
    assert "above 0" in choice.note
    missing = FakeSelector(TABLE, {}).choose("wup_hypernym", "word", "word elsewhere")
    assert missing.gloss is None and "not in WordNet" in missing.note
    unknown = FakeSelector(TABLE, {}).choose("path", "nothing", "nothing context")
    assert unknown.gloss is None and "'nothing' is not in WordNet" in unknown.note


def test_unknown_strategy_is_an_error() -> None:
    with pytest.raises(wordnet.SemspaceError, match="unknown gloss strategy 'nope'"):
        FakeSelector(TABLE, {}).choose("nope", "word", "word context")


# ---------------------------------------------------------------- real WordNet


@pytest.fixture(scope="module")
def selector() -> GlossSelector:
    try:
        wordnet.load_wordnet()
    except wordnet.WordNetUnavailable:
        pytest.skip("WordNet is not prepared (semspace wordnet prepare)")
    return GlossSelector()


def test_wup_hypernym_andromeda_tree_by_hand(selector: GlossSelector) -> None:
    # andromeda.n.01 and .n.02 both have the sole hypernym shrub.n.01; shrub and tree.n.01 meet at
    # woody_plant.n.01 (depth 8 from entity, so d = 9) one step from each: wup = 2·9/(2·9+2) = 0.9.
    # The tie between .n.01 and .n.02 keeps the first in WordNet order.
    choice = selector.choose("wup_hypernym", "andromeda", "andromeda tree")
    assert choice.synset == "andromeda.n.01"
    assert choice.similarity == pytest.approx(0.9)
    assert choice.gloss == selector.wn.synset("andromeda.n.01").definition()


def test_other_similarity_strategies_andromeda_tree_by_hand(selector: GlossSelector) -> None:
    # andromeda.n.01 -> shrub -> woody_plant <- tree.n.01: path length 3
    wup = selector.choose("wup", "andromeda", "andromeda tree")
    assert (wup.synset, wup.similarity) == ("andromeda.n.01", pytest.approx(18 / 21))
    path = selector.choose("path", "andromeda", "andromeda tree")
    assert (path.synset, path.similarity) == ("andromeda.n.01", pytest.approx(1 / 4))


@pytest.mark.slow  # NLTK's lch walks the whole noun taxonomy once for its depth
def test_lch_andromeda_tree_by_hand_and_equal_to_nltk(selector: GlossSelector) -> None:
    import math

    from nltk.corpus.reader.wordnet import WordNetError

    lch = selector.choose("lch", "andromeda", "andromeda tree")  # noun taxonomy depth 19, path 3
    assert (lch.synset, lch.similarity) == ("andromeda.n.01", pytest.approx(-math.log(4 / 38)))
    wn = selector.wn
    rng = random.Random(1)
    pools = {pos: list(itertools.islice(wn.all_synsets(pos), 2000)) for pos in "nv"}
    for i in range(100):
        a = rng.choice(pools["nv"[i % 2]])
        b = rng.choice(pools[a.pos()] if i % 3 else pools["nv"[(i + 1) % 2]])
        try:
            expected = a.lch_similarity(b)
        except WordNetError:  # NLTK refuses lch across parts of speech
            expected = None
        assert selector._lch(a, b) == expected


def test_lesk_counts_overlap_with_definition_examples_and_lemmas(selector: GlossSelector) -> None:
    wn = selector.wn
    choice = selector.choose("lesk", "andromeda", "andromeda tree")
    # "tree" is in andromeda.n.01's lemma lily-of-the-valley_tree and in no earlier synset
    assert "lily-of-the-valley_tree" in wn.synset("andromeda.n.01").lemma_names()
    assert (choice.synset, choice.similarity) == ("andromeda.n.01", 1.0)
    none = selector.choose("lesk", "bank", "bank zzzz")
    assert none.gloss is None


def test_first_sense_is_wordnets_first_synset(selector: GlossSelector) -> None:
    choice = selector.choose("first_sense", "bank", "river bank")
    assert choice.synset == "bank.n.01"
    assert choice.gloss == "sloping land (especially the slope beside a body of water)"
    assert choice.similarity is None


def test_cached_similarities_equal_nltk(selector: GlossSelector) -> None:
    """The cached wup/path equal NLTK's own methods on random pairs of all parts of speech."""
    wn = selector.wn
    rng = random.Random(0)
    pools = {pos: list(itertools.islice(wn.all_synsets(pos), 2000)) for pos in "nvasr"}
    for i in range(300):
        a = rng.choice(pools[rng.choice("nvasr")])
        b = rng.choice(pools[a.pos()] if i % 2 else pools[rng.choice("nvasr")])
        assert selector._wup(a, b) == a.wup_similarity(b)
        assert selector._path(a, b) == a.path_similarity(b)
        assert set(selector._ancestors(a)) == {
            h.name() for hs in a._iter_hypernym_lists() for h in hs
        }


def test_cli_prepare(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from semspace.cli import main

    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["wordnet", "prepare", "--out", str(tmp_path / "o"), "--source", str(empty)]) == 2
    assert "index.noun is missing" in capsys.readouterr().err
    source = tmp_path / "debian"
    source.mkdir()
    for name in wordnet.WORDNET_FILES:
        (source / name).write_text(name)
    assert main(["wordnet", "prepare", "--out", str(tmp_path / "o"), "--source", str(source)]) == 0
    assert (tmp_path / "o" / "corpora" / "wordnet" / "lexnames").read_text() == lexnames_text()
