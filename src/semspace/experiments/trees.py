"""Syntax trees for E3: a CFG induced from LAVA's parses, chart parsing, linearisations.

Trees are ``nltk.Tree`` objects. The induced grammar holds every production of the given
trees; NLTK's chart parser then returns *every* parse of a sentence of that language, so an
ambiguous sentence gets all its readings.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import nltk
from nltk import CFG, Nonterminal, Tree

#: Linearisation styles. ``bracket`` is the design's (and the paper's) form; ``spaced`` puts
#: every bracket in its own word so that BPE cannot fuse ``((`` or ``))))`` into rare tokens;
#: ``compact`` is ``spaced`` without part-of-speech nodes (a constituent whose children are all
#: words is written as its words), which keeps the phrase structure that tells readings apart
#: in about half the tokens, so that fewer trees overrun CLIP's 77-token context.
LINEARISATIONS = ("bracket", "spaced", "compact")


def parse_tree(text: str) -> Tree:
    """A tree from its bracketed form (any whitespace between tokens)."""
    return Tree.fromstring(text)


def sentence_words(text: str) -> list[str]:
    """LAVA's sentence as the grammar's terminals: lower-case, split on spaces, ``;`` and ``.`` apart."""
    text = re.sub(r"([;,.])", r" \1 ", text.lower())
    return text.split()


def linearise(tree: Tree, style: str = "bracket") -> str:
    """The tree as one line of lower-case tokens (see :data:`LINEARISATIONS`)."""
    if style not in LINEARISATIONS:
        raise ValueError(f"unknown linearisation {style!r}; use one of {', '.join(LINEARISATIONS)}")

    def walk(node: Tree | str) -> str:
        if isinstance(node, str):
            return node.lower()
        label = node.label().lower()
        inner = " ".join(walk(child) for child in node)
        if style == "bracket":
            return f"({label} {inner})"
        if style == "spaced":
            return f"( {label} {inner} )"
        if _words_only(node):
            return inner
        return f"( {label} {inner} )"

    return walk(tree)


def _words_only(node: Tree) -> bool:
    """True for a preterminal or a unary chain down to words: ``(v (vbd left))``."""
    while len(node) == 1 and isinstance(node[0], Tree):
        node = node[0]
    return all(isinstance(child, str) for child in node)


def induce_grammar(trees: Iterable[Tree], start: str = "S") -> CFG:
    """A CFG holding every production of ``trees`` (duplicates once), with start symbol ``start``."""
    productions: dict[nltk.grammar.Production, None] = {}
    for tree in trees:
        for production in tree.productions():
            productions.setdefault(production, None)
    if not productions:
        raise ValueError("no trees to induce a grammar from")
    return CFG(Nonterminal(start), list(productions))


def parse_all(grammar: CFG, words: Sequence[str]) -> list[Tree]:
    """Every parse of ``words`` under ``grammar`` (empty if a word is unknown or none exists),
    deduplicated and sorted by their bracketed form so that the order is stable."""
    known = {sym for p in grammar.productions() for sym in p.rhs() if isinstance(sym, str)}
    if any(word not in known for word in words):
        return []
    parser = nltk.ChartParser(grammar)
    unique = {tree_key(t): t for t in parser.parse(list(words))}
    return [unique[k] for k in sorted(unique)]


def tree_key(tree: Tree) -> str:
    """A canonical one-line form of ``tree`` (labels kept as they are) to compare trees."""
    return tree.pformat(margin=10**9)


@dataclass(frozen=True)
class TokenStats:
    """How a tokenizer splits linearised trees."""

    style: str
    n: int
    mean_tokens: float
    max_tokens: int
    over_limit: int  # strings longer than the model's context (they are truncated)
    bracket_tokens: int  # distinct tokens made only of brackets (``((``, ``))))`` ...)
    examples: str  # the tokens of the first string, space-joined


def token_stats(tokenizer, texts: Sequence[str], style: str, limit: int = 77) -> TokenStats:
    """Token counts (with start/end tokens) of ``texts`` under a CLIP tokenizer."""
    ids = tokenizer(list(texts), add_special_tokens=True)["input_ids"]
    lengths = [len(x) for x in ids]
    vocab_brackets: set[str] = set()
    for row in ids:
        for tok in tokenizer.convert_ids_to_tokens(row):
            core = tok.replace("</w>", "")
            if core and set(core) <= {"(", ")"} and len(core) > 1:
                vocab_brackets.add(core)
    first = tokenizer.convert_ids_to_tokens(ids[0][1:-1]) if ids else []
    return TokenStats(
        style=style,
        n=len(lengths),
        mean_tokens=float(sum(lengths) / max(len(lengths), 1)),
        max_tokens=max(lengths, default=0),
        over_limit=sum(length > limit for length in lengths),
        bracket_tokens=len(vocab_brackets),
        examples=" ".join(t.replace("</w>", "_") for t in first),
    )
