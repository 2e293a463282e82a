"""Syntax trees for E3: a CFG induced from LAVA's parses, chart parsing, linearisations.

Trees are ``nltk.Tree`` objects. The induced grammar holds every production of the given
trees; NLTK's chart parser then returns *every* parse of a sentence of that language, so an
ambiguous sentence gets all its readings.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import nltk
import pyarrow as pa
from nltk import CFG, Nonterminal, Tree

from semspace.errors import ConfigError, SemspaceError

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
    """LAVA's sentence as the grammar's terminals: lower-case, split on spaces, ``;`` and ``.``
    apart."""
    text = re.sub(r"([;,.])", r" \1 ", text.lower())
    return text.split()


def linearise(tree: Tree, style: str = "bracket") -> str:
    """The tree as one line of lower-case tokens (see :data:`LINEARISATIONS`)."""
    if style not in LINEARISATIONS:
        raise ConfigError(
            f"syntax.linearisations: unknown {style!r}; use one of {', '.join(LINEARISATIONS)}"
        )

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
    """A CFG holding every production of ``trees`` (duplicates once), with start symbol
    ``start``."""
    productions: dict[nltk.grammar.Production, None] = {}
    for tree in trees:
        for production in tree.productions():
            productions.setdefault(production, None)
    if not productions:
        raise SemspaceError("LAVA parse file: no trees to induce a grammar from")
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


# ---------------------------------------------------------------- check the file, complete it

#: One row per sentence: do the induced CFG's parses of its words equal the parse file's
#: readings, and which trees does it get (all its parses).
TREES = pa.schema(
    [
        pa.field("sentence_id", pa.int32()),  # null for an extra sentence (not in the LAVA files)
        pa.field("source", pa.string(), nullable=False),  # lava | parse_file | extra
        pa.field("text", pa.string(), nullable=False),
        pa.field("words", pa.list_(pa.string()), nullable=False),  # the terminals parsed
        pa.field("n_file_readings", pa.int32(), nullable=False),
        pa.field("n_parses", pa.int32(), nullable=False),
        pa.field("match", pa.bool_()),  # parses == file readings; null where the file has none
        pa.field("words_match_file", pa.bool_()),  # words == the file trees' leaves; null if none
        pa.field("missing", pa.int32(), nullable=False),  # file readings the parser did not give
        pa.field("unexpected", pa.int32(), nullable=False),  # parses not among the file readings
        pa.field("trees", pa.list_(pa.string()), nullable=False),  # every parse, tree_key form
        pa.field("unknown_words", pa.list_(pa.string()), nullable=False),  # not in the grammar
    ]
)


def check_and_complete_trees(
    parses: Mapping[int, Sequence[Tree]],
    texts: Mapping[int, str],
    extra: Sequence[str] = (),
    start: str = "S",
) -> pa.Table:
    """Chart-parse every sentence with the CFG induced from all of ``parses`` (schema
    :data:`TREES`).

    ``parses``: sentenceID -> the parse file's readings; ``texts``: sentenceID -> its text
    (``lava.json``); ``extra``: more sentences to give trees. A sentence with a text is parsed
    from its text's words, one with readings only from their leaves. Mismatches are rows, not
    errors.
    """
    grammar = induce_grammar([t for trees in parses.values() for t in trees], start=start)
    rows: dict[str, list] = {name: [] for name in TREES.names}
    known = {sym for p in grammar.productions() for sym in p.rhs() if isinstance(sym, str)}

    def add(sid: int | None, source: str, text: str, words: list[str]) -> None:
        file_trees = list(parses.get(sid, ())) if sid is not None else []
        got = parse_all(grammar, words)
        got_keys = {tree_key(t) for t in got}
        file_keys = {tree_key(t) for t in file_trees}
        rows["sentence_id"].append(sid)
        rows["source"].append(source)
        rows["text"].append(text)
        rows["words"].append(words)
        rows["n_file_readings"].append(len(file_keys))
        rows["n_parses"].append(len(got))
        rows["match"].append(got_keys == file_keys if file_keys else None)
        rows["words_match_file"].append(
            all(t.leaves() == words for t in file_trees) if file_trees else None
        )
        rows["missing"].append(len(file_keys - got_keys))
        rows["unexpected"].append(len(got_keys - file_keys) if file_keys else 0)
        rows["trees"].append([tree_key(t) for t in got])
        rows["unknown_words"].append(sorted({w for w in words if w not in known}))

    for sid in sorted(set(parses) | set(texts)):
        if sid in texts:
            add(sid, "lava", texts[sid], sentence_words(texts[sid]))
        else:  # a parse-file entry without a lava.json sentence: its words are the leaves
            leaves = list(parses[sid][0].leaves())
            add(sid, "parse_file", " ".join(leaves), leaves)
    for text in extra:
        add(None, "extra", text, sentence_words(text))
    return pa.table(rows, schema=TREES)


def trees_summary(table: pa.Table) -> dict[str, object]:
    """Counts of a :data:`TREES` table, and the sentence ids of every mismatch."""
    rows = table.to_pylist()
    with_file = [r for r in rows if r["match"] is not None]
    without = [r for r in rows if r["match"] is None]
    return {
        "sentences": len(rows),
        "with_file_readings": len(with_file),
        "matched": sum(r["match"] for r in with_file),
        "mismatched": sum(not r["match"] for r in with_file),
        "mismatched_words_differ": sum(
            not r["match"] and r["words_match_file"] is False for r in with_file
        ),
        "without_file_readings": len(without),
        "completed": sum(r["n_parses"] > 0 for r in without),
        "unparsed": sum(r["n_parses"] == 0 for r in without),
        "mismatch_ids": [r["sentence_id"] for r in with_file if not r["match"]],
        "unparsed_ids": [r["sentence_id"] for r in without if r["n_parses"] == 0],
        "unknown_words": dict(sorted(Counter(w for r in rows for w in r["unknown_words"]).items())),
        "parses_per_sentence": {
            str(k): v for k, v in sorted(Counter(r["n_parses"] for r in rows).items())
        },
    }
