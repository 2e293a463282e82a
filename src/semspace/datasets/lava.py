"""LAVA (Berzak et al., 2015): ambiguous sentences, one parse tree per reading, one scene per
reading.

Files of a LAVA root (the official release, or the synthetic demo written by
:mod:`semspace.demo.lava`):

* ``lava.json`` — a list of variants: ``sentenceID`` (1-based), ``variantID``, ``text``,
  ``visualSetup`` ("chair with bag (left)"), ``visualFilename`` (the clip; absent where no video
  was shot), ``contrastVariants`` (``"sid,vid"`` of the scenes that show the other reading).
* ``corpus_parsed_toycfg.txt`` — ``index<TAB>tree`` lines; index = sentenceID - 1; an ambiguous
  sentence has one line per reading.
* ``frames/<visualFilename>.<ext>`` — one frame per clip, where the dataset ships them;
  ``semspace syntax frames`` writes the same layout under results/ (shipped frames copied, the
  others taken from the videos), and the items' frame paths are relative to that folder.

* ``sentencetoparse.org`` (optional) — ``sentenceID variantIDs |<TAB>tree`` lines: which scenes
  each tree shows, as the corpus authors wrote it down.

Which tree goes with which scene is not in ``lava.json``: it is read from
``sentencetoparse.org`` when present and consistent for a sentence; otherwise
:func:`assign_readings` works it out from the scene's description and the trees (attachment
site, adjective scope, and/or grouping). Scenes neither can decide are left out and counted.
"""

from __future__ import annotations

import json
import logging
import random
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import product
from pathlib import Path

import pyarrow as pa
from nltk import Tree

from semspace.errors import InputFormatError
from semspace.experiments.trees import parse_tree, tree_key
from semspace.io import read_text_file
from semspace.schemas import MANIFEST

log = logging.getLogger(__name__)

ANNOTATIONS = "lava.json"
PARSES = "corpus_parsed_toycfg.txt"
#: Optional: the corpus authors' own tree -> scenes list (gen_lava's data/sentencetoparse.org).
READING_MAP = "sentencetoparse.org"
FRAMES_DIR = "frames"

#: One row per scene that belongs to a contrasting pair of readings (the E3 items).
ITEMS = pa.schema(
    [
        pa.field("pair", pa.string(), nullable=False),  # "sid:va-vb", the two scenes of a pair
        pa.field("sentence_id", pa.int32(), nullable=False),
        pa.field("variant_id", pa.int32(), nullable=False),
        pa.field("reading", pa.int8(), nullable=False),  # index of the tree in the parse file
        pa.field("text", pa.string(), nullable=False),
        pa.field("tree", pa.string(), nullable=False),  # bracketed, one line, labels as in the file
        pa.field("visual_setup", pa.string(), nullable=False),
        pa.field("key", pa.string(), nullable=False),  # frame key (visualFilename)
        pa.field("path", pa.string(), nullable=False),  # frame path relative to the images folder
        pa.field("split", pa.string(), nullable=False),  # train | test, by sentence
    ]
)


@dataclass(frozen=True)
class Variant:
    sentence_id: int
    variant_id: int
    text: str
    visual_setup: str
    visual_filename: str | None
    contrast: tuple[tuple[int, int], ...]


def read_parses(path: str | Path) -> dict[int, list[Tree]]:
    """sentenceID -> its trees in file order (index + 1 = sentenceID)."""
    trees: dict[int, list[Tree]] = defaultdict(list)
    for number, line in enumerate(read_text_file(path).splitlines(), start=1):
        if not line.strip():
            continue
        index, sep, text = line.rstrip("\n").partition("\t")
        if not sep or not index.strip().isdigit():
            raise InputFormatError(path, "expected 'index<TAB>tree'", line=number)
        try:
            tree = parse_tree(text)
        except ValueError as exc:
            raise InputFormatError(path, f"bad tree: {exc}", line=number) from None
        trees[int(index) + 1].append(tree)
    return dict(trees)


def read_annotations(path: str | Path) -> list[Variant]:
    """The variants of ``lava.json``."""
    try:
        rows = json.loads(read_text_file(path))
    except json.JSONDecodeError as exc:
        raise InputFormatError(path, f"not JSON: {exc}", line=exc.lineno) from None
    if not isinstance(rows, list):
        raise InputFormatError(path, "expected a list of variants")
    variants = []
    for i, row in enumerate(rows):
        try:
            contrast = tuple(
                (int(a), int(b))
                for a, b in (str(c).split(",") for c in row.get("contrastVariants", []))
            )
            variants.append(
                Variant(
                    sentence_id=int(row["sentenceID"]),
                    variant_id=int(row["variantID"]),
                    text=str(row["text"]),
                    visual_setup=str(row.get("visualSetup", "")),
                    visual_filename=row.get("visualFilename") or None,
                    contrast=contrast,
                )
            )
        except (KeyError, ValueError, TypeError) as exc:
            raise InputFormatError(path, f"variant #{i}: missing or bad field ({exc})") from None
    return variants


# ---------------------------------------------------------------- which tree shows which scene


def read_reading_map(path: str | Path) -> dict[int, list[tuple[tuple[int, ...], Tree]]]:
    """sentenceID -> [(variantIDs, tree), ...] from a ``sentencetoparse.org`` file."""
    result: dict[int, list[tuple[tuple[int, ...], Tree]]] = defaultdict(list)
    for number, line in enumerate(read_text_file(path).splitlines(), start=1):
        if not line.strip():
            continue
        head, sep, text = line.rstrip("\n").partition("\t")
        fields = head.replace("|", " ").split()
        if not sep or not fields or not all(f.isdigit() for f in fields):
            raise InputFormatError(path, "expected 'sentenceID variantIDs |<TAB>tree'", line=number)
        try:
            tree = parse_tree(text)
        except ValueError as exc:
            raise InputFormatError(path, f"bad tree: {exc}", line=number) from None
        result[int(fields[0])].append((tuple(int(f) for f in fields[1:]), tree))
    return dict(result)


def readings_from_map(
    trees: Sequence[Tree],
    entries: Sequence[tuple[tuple[int, ...], Tree]],
    variants: Sequence[Variant],
) -> dict[int, int | None] | None:
    """variantID -> tree index from the authors' map; None when the map is inconsistent for this
    sentence (a scene listed under two trees, or a tree that is not in the parse file)."""
    keys = [tree_key(t) for t in trees]
    result: dict[int, int | None] = {v.variant_id: None for v in variants}
    seen: set[int] = set()
    for variant_ids, tree in entries:
        key = tree_key(tree)
        if key not in keys:
            return None
        for vid in variant_ids:
            if vid in seen:
                return None
            seen.add(vid)
            if vid in result:
                result[vid] = keys.index(key)
    return result


def _setup_core(setup: str) -> str:
    """The scene description without the camera side; ``NNP2`` (the corpus's stand-in for the
    unnamed second person) read as ``person``."""
    core = re.sub(r"\s*\((left|right)\)\s*$", "", setup).strip().lower()
    return re.sub(r"\bnnp2\b", "person", core)


def _is_verb(tree: Tree, word: str) -> bool:
    return any(
        t.label().startswith("VB") and t[0] == word
        for t in tree.subtrees()
        if len(t) == 1 and isinstance(t[0], str)
    )


def _positions(tree: Tree) -> list[tuple[int, ...]]:
    return [tree.leaf_treeposition(i) for i in range(len(tree.leaves()))]


def _covering_size(tree: Tree, i: int, j: int) -> int:
    """Number of leaves of the lowest constituent that holds leaves ``i`` and ``j``."""
    a, b = tree.leaf_treeposition(i), tree.leaf_treeposition(j)
    k = 0
    while k < min(len(a), len(b)) and a[k] == b[k]:
        k += 1
    return len(tree[a[:k]].leaves())


def _attachment_size(tree: Tree, host: str, marker: str) -> int | None:
    words = tree.leaves()
    if host not in words or marker not in words:
        return None
    return _covering_size(tree, words.index(host), words.index(marker))


def _in_adjective_scope(tree: Tree, noun: str, adjective: str) -> bool | None:
    words = tree.leaves()
    if noun not in words or adjective not in words:
        return None
    adj_pos = tree.leaf_treeposition(words.index(adjective))
    scope = tree[adj_pos[:-2]].leaves()  # the phrase the adjective's preterminal sits in
    return noun in scope


def _object_choices(np: Tree) -> list[frozenset[str]]:
    """What an and/or noun phrase can denote: a list of alternative sets of nouns."""
    if isinstance(np, str):
        return [frozenset([np])]
    conj = [c for c in np if isinstance(c, Tree) and c.label() == "C"]
    if not conj:
        nouns = [c[0] for c in np.subtrees() if c.label() == "N" and isinstance(c[0], str)]
        return [frozenset(nouns)] if nouns else [frozenset(np.leaves())]
    parts = [_object_choices(c) for c in np if not (isinstance(c, Tree) and c.label() == "C")]
    if conj[0].leaves() == ["or"]:
        return [choice for part in parts for choice in part]
    return [frozenset().union(*combo) for combo in product(*parts)]


def _verb_object(tree: Tree) -> Tree | None:
    for vp in tree.subtrees(lambda t: t.label() == "VP"):
        for child in vp:
            if isinstance(child, Tree) and child.label() == "NP":
                return child
    return None


def _preference(trees: Sequence[Tree], setup: str) -> tuple[int | None, str]:
    """The one tree that the scene description fits, when the rules can tell, and the rule
    tried: ``adjective_scope``, ``and_or_grouping``, ``attachment`` or ``none``."""
    core = _setup_core(setup)
    if m := re.fullmatch(
        r"(\S+) is (not )?(\S+)", core
    ):  # adjective scope: "chair is (not) yellow"
        rule = "adjective_scope"
        noun, negated, adjective = m.group(1), bool(m.group(2)), m.group(3)
        scopes = [_in_adjective_scope(t, noun, adjective) for t in trees]
        if None in scopes:
            return None, rule
        fits = [s != negated for s in scopes]
    elif (m := re.fullmatch(r"(\S+) (.+)", core)) and _is_verb(trees[0], m.group(1)):
        # and/or grouping: "held chair and bag"
        rule = "and_or_grouping"
        wanted = frozenset(w for w in m.group(2).split() if w != "and")
        objects = [_verb_object(t) for t in trees]
        if None in objects:
            return None, rule
        fits = [wanted in _object_choices(o) for o in objects]
    elif m := re.fullmatch(
        r"(\S+) (\S+) .+", core
    ):  # attachment: "chair with bag", "danny holding bag"
        rule = "attachment"
        host, marker = m.group(1), m.group(2)
        sizes = [_attachment_size(t, host, marker) for t in trees]
        if None in sizes or len(set(sizes)) == 1:
            return None, rule
        fits = [s == min(sizes) for s in sizes]  # type: ignore[type-var]
    else:
        return None, "none"
    return (fits.index(True) if fits.count(True) == 1 else None), rule


@dataclass(frozen=True)
class Decision:
    """How one scene got its reading (or none): one row of :data:`DECISIONS`."""

    sentence_id: int
    variant_id: int
    key: str | None  # visualFilename
    visual_setup: str
    reading: int | None
    source: str  # map | rules
    rule: str  # see DECISION_RULES
    detail: str


#: ``rule`` values of a decision. From the rules: the scene's own description picked the tree
#: (``adjective_scope``, ``and_or_grouping``, ``attachment``); ``complement``: it could not, and
#: the other scene group's tree was taken, so it gets the other one; ``conflict``: both groups
#: picked the same tree, so neither keeps it; ``undecided``: no tree; ``not_two_trees``: the
#: rules need two distinct trees. From the authors' map: ``map`` (reading null if unlisted).
DECISION_RULES = (
    "map",
    "adjective_scope",
    "and_or_grouping",
    "attachment",
    "complement",
    "conflict",
    "undecided",
    "not_two_trees",
)

DECISIONS = pa.schema(
    [
        pa.field("sentence_id", pa.int32(), nullable=False),
        pa.field("variant_id", pa.int32(), nullable=False),
        pa.field("key", pa.string()),  # visualFilename; null where no clip was shot
        pa.field("visual_setup", pa.string(), nullable=False),
        pa.field("reading", pa.int8()),  # tree index in the parse file; null = none assigned
        pa.field("source", pa.string(), nullable=False),
        pa.field("rule", pa.string(), nullable=False),
        pa.field("detail", pa.string(), nullable=False),
    ]
)


def explain_readings(
    trees: Sequence[Tree], variants: Sequence[Variant]
) -> dict[int, tuple[int | None, str, str]]:
    """variantID -> (tree index or None, rule, detail): :func:`assign_readings` with the rule
    (:data:`DECISION_RULES`) that decided each scene.

    Scenes are grouped by their description without the camera side; a group whose description
    picks one tree gets it; with two groups and two trees, a group left undecided gets the tree
    the other did not take.
    """
    if len(trees) != 2 or tree_key(trees[0]) == tree_key(trees[1]):
        why = f"{len(trees)} tree(s)" if len(trees) != 2 else "the two trees are identical"
        return {v.variant_id: (None, "not_two_trees", why) for v in variants}
    groups: dict[str, list[Variant]] = defaultdict(list)
    for v in variants:
        groups[_setup_core(v.visual_setup)].append(v)
    tried = {g: _preference(trees, g) for g in groups}
    decided: dict[str, tuple[int | None, str, str]] = {
        g: (c, rule, f"description {g!r}")
        if c is not None
        else (None, "undecided", f"description {g!r}: rule {rule} cannot tell")
        for g, (c, rule) in tried.items()
    }
    if len(groups) == 2:
        (g1, (c1, r1)), (g2, (c2, r2)) = tried.items()
        if c1 is None and c2 is not None:
            decided[g1] = (1 - c2, "complement", f"{g2!r} took tree {c2} by {r2}")
        elif c2 is None and c1 is not None:
            decided[g2] = (1 - c1, "complement", f"{g1!r} took tree {c1} by {r1}")
        elif c1 is not None and c1 == c2:
            why = f"{g1!r} ({r1}) and {g2!r} ({r2}) both picked tree {c1}"
            decided[g1] = decided[g2] = (None, "conflict", why)
    return {v.variant_id: decided[g] for g, members in groups.items() for v in members}


def assign_readings(trees: Sequence[Tree], variants: Sequence[Variant]) -> dict[int, int | None]:
    """variantID -> index of the tree its scene shows (None where the rules cannot tell); see
    :func:`explain_readings`."""
    return {vid: r for vid, (r, _, _) in explain_readings(trees, variants).items()}


def decisions_table(decisions: Sequence[Decision]) -> pa.Table:
    """The decisions as a table of schema :data:`DECISIONS`."""
    rows = {name: [getattr(d, name) for d in decisions] for name in DECISIONS.names}
    return pa.table(rows, schema=DECISIONS)


# ---------------------------------------------------------------- items, split, manifest


def split_sentences(sentence_ids: Sequence[int], test_fraction: float, seed: int) -> dict[int, str]:
    """sentence -> "train" | "test": a seeded shuffle; at least one of each when there are two."""
    ids = sorted(set(sentence_ids))
    rng = random.Random(seed)
    rng.shuffle(ids)
    n_test = round(len(ids) * test_fraction)
    if len(ids) >= 2:
        n_test = min(max(n_test, 1), len(ids) - 1)
    test = set(ids[:n_test])
    return {s: ("test" if s in test else "train") for s in ids}


def frame_path(filename: str, frame_ext: str = ".jpg") -> str:
    return f"{FRAMES_DIR}/{filename}{frame_ext}"


def build_items(
    root: str | Path,
    **options,
) -> tuple[pa.Table, dict[str, int]]:
    """The E3 items of a LAVA root (schema :data:`ITEMS`) and counts of what was left out; the
    options are :func:`build_items_and_decisions`'s."""
    table, counts, _ = build_items_and_decisions(root, **options)
    return table, counts


def build_items_and_decisions(
    root: str | Path,
    *,
    test_fraction: float = 0.2,
    seed: int = 0,
    frame_ext: str = ".jpg",
    require_frames: bool = True,
    use_reading_map: bool = True,
    images: str | Path | None = None,
) -> tuple[pa.Table, dict[str, int], list[Decision]]:
    """The E3 items of a LAVA root (schema :data:`ITEMS`), counts of what was left out, and how
    every scene of a sentence with two or more trees got its reading (one :class:`Decision`
    each). The frames are looked for under ``images`` (``frames/<visualFilename><ext>``; default
    the root itself: `syntax frames` writes such a folder under results/)."""
    root = Path(root)
    images = root if images is None else Path(images)
    parses = read_parses(root / PARSES)
    mapping = (
        read_reading_map(root / READING_MAP)
        if use_reading_map and (root / READING_MAP).is_file()
        else {}
    )
    variants = read_annotations(root / ANNOTATIONS)
    by_sentence: dict[int, list[Variant]] = defaultdict(list)
    for v in variants:
        by_sentence[v.sentence_id].append(v)
    counts = {
        "sentences": len(by_sentence),
        "no_parse": 0,
        "one_tree": 0,
        "readings_from_map": 0,
        "readings_from_rules": 0,
        "undecided_scenes": 0,
        "no_frame": 0,
        "missing_frame": 0,
        "pairs": 0,
    }
    pairs: list[tuple[Variant, int, Variant, int]] = []
    decisions: list[Decision] = []
    for sid, group in sorted(by_sentence.items()):
        trees = parses.get(sid)
        if not trees:
            counts["no_parse"] += 1
            continue
        if len(trees) < 2:
            counts["one_tree"] += 1
            continue
        from_map = readings_from_map(trees, mapping[sid], group) if sid in mapping else None
        if from_map is None:
            explained = explain_readings(trees, group)
            if sid in mapping:  # why the authors' map was not used for this sentence
                explained = {
                    vid: (r, rule, f"{detail}; authors' map inconsistent here")
                    for vid, (r, rule, detail) in explained.items()
                }
            source = "rules"
            counts["readings_from_rules"] += 1
        else:
            explained = {
                vid: (r, "map", READING_MAP if r is not None else f"scene not in {READING_MAP}")
                for vid, r in from_map.items()
            }
            source = "map"
            counts["readings_from_map"] += 1
        readings = {vid: r for vid, (r, _, _) in explained.items()}
        for v in group:
            r, rule, detail = explained[v.variant_id]
            decisions.append(
                Decision(
                    v.sentence_id,
                    v.variant_id,
                    v.visual_filename,
                    v.visual_setup,
                    r,
                    source,
                    rule,
                    detail,
                )
            )
        counts["undecided_scenes"] += sum(r is None for r in readings.values())
        by_id = {v.variant_id: v for v in group}
        seen: set[frozenset[int]] = set()
        for v in group:
            for other_sid, other_vid in v.contrast:
                w = by_id.get(other_vid)
                key = frozenset((v.variant_id, other_vid))
                if other_sid != sid or w is None or key in seen:
                    continue
                seen.add(key)
                ra, rb = readings[v.variant_id], readings[other_vid]
                if ra is None or rb is None or ra == rb:
                    continue
                if not v.visual_filename or not w.visual_filename:
                    counts["no_frame"] += 1
                    continue
                if require_frames and not all(
                    (images / frame_path(x.visual_filename, frame_ext)).is_file() for x in (v, w)
                ):
                    counts["missing_frame"] += 1
                    continue
                a, b = sorted([(v, ra), (w, rb)], key=lambda x: x[1])
                pairs.append((a[0], a[1], b[0], b[1]))
    counts["pairs"] = len(pairs)
    split = split_sentences([p[0].sentence_id for p in pairs], test_fraction, seed)
    rows: dict[str, list] = {name: [] for name in ITEMS.names}
    for va, ra, vb, rb in pairs:
        pair_id = f"{va.sentence_id}:{va.variant_id}-{vb.variant_id}"
        for v, r in ((va, ra), (vb, rb)):
            tree = parses[v.sentence_id][r]
            rows["pair"].append(pair_id)
            rows["sentence_id"].append(v.sentence_id)
            rows["variant_id"].append(v.variant_id)
            rows["reading"].append(r)
            rows["text"].append(v.text)
            rows["tree"].append(tree_key(tree))
            rows["visual_setup"].append(v.visual_setup)
            rows["key"].append(v.visual_filename)
            rows["path"].append(frame_path(v.visual_filename, frame_ext))  # type: ignore[arg-type]
            rows["split"].append(split[v.sentence_id])
    return pa.table(rows, schema=ITEMS), counts, decisions


def image_manifest(root: Path, annotations: str = ANNOTATIONS, frame_ext: str = ".jpg") -> pa.Table:
    """One row per clip of ``lava.json`` that has a frame on disk (key = visualFilename)."""
    root = Path(root)
    keys = sorted(
        {v.visual_filename for v in read_annotations(root / annotations) if v.visual_filename}
    )
    present = [k for k in keys if (root / frame_path(k, frame_ext)).is_file()]
    if len(present) < len(keys):
        log.warning(
            "%d of %d clips have no frame under %s/%s",
            len(keys) - len(present),
            len(keys),
            root,
            FRAMES_DIR,
        )
    return pa.table(
        {
            "key": present,
            "path": [frame_path(k, frame_ext) for k in present],
            "left": [None] * len(present),
            "top": [None] * len(present),
            "right": [None] * len(present),
            "bottom": [None] * len(present),
        },
        schema=MANIFEST,
    )
