"""WordNet 3.0 through NLTK, offline or online, and the gloss-selection strategies of E1.

Offline, Debian's ``wordnet-base`` files (``/usr/share/wordnet``) are copied into an NLTK data
folder (``<dir>/corpora/wordnet/``) together with ``lexnames``, which Debian does not ship;
online, ``nltk.download("wordnet")`` fills the same folder. :func:`load_wordnet` finds the folder
through ``$NLTK_DATA``, ``resources/nltk_data`` or NLTK's own search path.

A gloss strategy maps ``(target, phrase)`` to a :class:`GlossChoice`; strategies are registered
by name in :data:`STRATEGIES`. Every strategy picks the target synset with the strictly greatest
score starting from 0 (ties keep the first synset in WordNet order), and gives no gloss when no
synset scores above 0.
"""

from __future__ import annotations

import functools
import math
import os
import re
import shutil
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from semspace.errors import SemspaceError

#: Debian's wordnet-base (+ wordnet-sense-index for index.sense) files that NLTK reads.
WORDNET_FILES: tuple[str, ...] = (
    "index.noun",
    "index.verb",
    "index.adj",
    "index.adv",
    "data.noun",
    "data.verb",
    "data.adj",
    "data.adv",
    "noun.exc",
    "verb.exc",
    "adj.exc",
    "adv.exc",
    "index.sense",
)
#: Copied when present; NLTK only needs them for lemma counts.
OPTIONAL_FILES: tuple[str, ...] = ("cntlist.rev", "cntlist")
DEBIAN_WORDNET = Path("/usr/share/wordnet")
#: Which Debian package ships each file (for the error message).
DEBIAN_PACKAGE = {"index.sense": "wordnet-sense-index"}

#: The 45 lexicographer files of WordNet 3.0 (``lexnames``): number, name, syntactic category.
LEXNAMES: tuple[str, ...] = (
    "adj.all",
    "adj.pert",
    "adv.all",
    "noun.Tops",
    "noun.act",
    "noun.animal",
    "noun.artifact",
    "noun.attribute",
    "noun.body",
    "noun.cognition",
    "noun.communication",
    "noun.event",
    "noun.feeling",
    "noun.food",
    "noun.group",
    "noun.location",
    "noun.motive",
    "noun.object",
    "noun.person",
    "noun.phenomenon",
    "noun.plant",
    "noun.possession",
    "noun.process",
    "noun.quantity",
    "noun.relation",
    "noun.shape",
    "noun.state",
    "noun.substance",
    "noun.time",
    "verb.body",
    "verb.change",
    "verb.cognition",
    "verb.communication",
    "verb.competition",
    "verb.consumption",
    "verb.contact",
    "verb.creation",
    "verb.emotion",
    "verb.motion",
    "verb.perception",
    "verb.possession",
    "verb.social",
    "verb.stative",
    "verb.weather",
    "adj.ppl",
)
_CATEGORY = {"noun": 1, "verb": 2, "adj": 3, "adv": 4}


class WordNetUnavailable(SemspaceError):
    """WordNet data could not be found or prepared."""


# ---------------------------------------------------------------- preparing the data folder


def lexnames_text() -> str:
    """The ``lexnames`` file: ``NN name category`` per line, 45 lines."""
    return "".join(
        f"{i:02d} {name} {_CATEGORY[name.split('.')[0]]}\n" for i, name in enumerate(LEXNAMES)
    )


def prepare_wordnet(out: str | Path, source: str | Path = DEBIAN_WORDNET) -> Path:
    """Copy Debian's WordNet files into ``out/corpora/wordnet`` and write ``lexnames``.

    Idempotent: files already there with the same size are kept. Returns the corpus folder.
    """
    source = Path(source)
    missing = [name for name in WORDNET_FILES if not (source / name).is_file()]
    if missing:
        packages = sorted({DEBIAN_PACKAGE.get(name, "wordnet-base") for name in missing})
        raise WordNetUnavailable(
            f"{source / missing[0]} is missing ({len(missing)} WordNet file(s) absent: "
            f"{', '.join(missing)}); "
            f"install them with `sudo apt-get install {' '.join(packages)}`, "
            "or run `semspace wordnet prepare --download` where the internet is reachable"
        )
    corpus = Path(out) / "corpora" / "wordnet"
    corpus.mkdir(parents=True, exist_ok=True)
    for name in WORDNET_FILES + OPTIONAL_FILES:
        src = source / name
        dst = corpus / name
        if not src.is_file():
            continue
        if dst.is_file() and not dst.is_symlink() and dst.stat().st_size == src.stat().st_size:
            continue
        tmp = dst.with_name(f".{name}.tmp")
        shutil.copyfile(src, tmp)  # a copy, not a link: NLTK's reader seeks in these files
        os.replace(tmp, dst)
    lexnames = corpus / "lexnames"
    text = lexnames_text()
    if not lexnames.is_file() or lexnames.read_text(encoding="utf-8") != text:
        tmp = corpus / ".lexnames.tmp"
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, lexnames)
    return corpus


def download_wordnet(out: str | Path) -> Path:
    """Online path: ``nltk.download('wordnet')`` into ``out``."""
    import nltk

    Path(out).mkdir(parents=True, exist_ok=True)
    if not nltk.download("wordnet", download_dir=str(out), quiet=True, raise_on_error=True):
        raise WordNetUnavailable(f"nltk.download('wordnet') into {out} failed")
    return Path(out) / "corpora"


def default_data_dirs() -> list[Path]:
    """Where to look for a prepared NLTK data folder, in order."""
    dirs = [Path(p) for p in os.environ.get("NLTK_DATA", "").split(os.pathsep) if p]
    dirs.append(Path("resources/nltk_data"))
    dirs.append(Path(__file__).resolve().parents[2] / "resources" / "nltk_data")
    return dirs


@functools.lru_cache(maxsize=1)
def load_wordnet() -> Any:
    """The NLTK WordNet reader (loaded once), or :class:`WordNetUnavailable` with what to do."""
    import nltk
    from nltk.corpus import wordnet

    for folder in default_data_dirs():
        if folder.is_dir() and str(folder) not in nltk.data.path:
            nltk.data.path.insert(0, str(folder))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            wordnet.ensure_loaded()
    except LookupError:
        raise WordNetUnavailable(
            "WordNet is not available to NLTK; "
            "run `semspace wordnet prepare --out resources/nltk_data` "
            "(offline, from Debian's wordnet-base) or `semspace wordnet prepare --download`, "
            "or point $NLTK_DATA at a folder holding corpora/wordnet"
        ) from None
    # NLTK re-reads data.adj to find the version on every similarity call (via _needs_root);
    # the version cannot change, so read it once. This halves the time of a gloss run.
    version = wordnet.get_version()
    wordnet.get_version = lambda: version
    return wordnet


# ---------------------------------------------------------------- gloss strategies


@dataclass(frozen=True)
class GlossChoice:
    """A strategy's choice for one item; ``synset`` and ``gloss`` are None when it has none."""

    synset: str | None
    gloss: str | None
    similarity: float | None
    note: str | None = None


_TOKEN = re.compile(r"[a-z0-9]+")


def support_phrase(target: str, phrase: str) -> str:
    """The phrase without the tokens exactly equal to the target, joined by ``_``.

    The thesis's rule (``s == problem['target_word']``): case matters, so in the train item
    "Ammobium ammobium" the support phrase is "ammobium".
    """
    return "_".join(token for token in phrase.split() if token != target)


class GlossSelector:
    """Gloss strategies over one WordNet reader, with synset and similarity look-ups cached."""

    def __init__(self, wn: Any | None = None) -> None:
        from nltk.corpus.reader.wordnet import WordNetError

        self.wn = wn if wn is not None else load_wordnet()
        self._wordnet_error = WordNetError
        self._synsets: dict[str, tuple[Any, ...]] = {}
        self._sims: dict[tuple[str, str, str], float] = {}
        self._distances: dict[tuple[str, bool], dict[str, int]] = {}
        self._hypernym_sets: dict[str, dict[str, tuple[int, str, Any]]] = {}
        self._choices: dict[tuple[str, str, str], GlossChoice] = {}
        self._depths: dict[str, int] = {}

    # -- cached look-ups
    def synsets(self, lemma: str) -> tuple[Any, ...]:
        key = lemma.strip().replace(" ", "_")
        if key not in self._synsets:
            self._synsets[key] = tuple(self.wn.synsets(key)) if key else ()
        return self._synsets[key]

    def similarity(self, measure: str, a: Any, b: Any) -> float:
        """``a.<measure>_similarity(b)`` with None and cross-POS errors read as 0."""
        key = (measure, a.name(), b.name())
        if key not in self._sims:
            try:
                if measure == "wup":
                    value = self._wup(a, b)
                elif measure == "path":
                    value = self._path(a, b)
                elif measure == "lch":
                    value = self._lch(a, b)
                else:
                    value = getattr(a, f"{measure}_similarity")(b)
            except self._wordnet_error:  # e.g. NLTK's lch across parts of speech
                value = None
            self._sims[key] = float(value) if value is not None else 0.0
        return self._sims[key]

    # NLTK's wup_similarity and path_similarity (defaults: simulate_root=True), computed with
    # each synset's hypernym distances cached. NLTK recomputes them on every call, which made a
    # gloss run over the 12,869 train items take minutes. tests/test_wordnet.py checks that the
    # values equal NLTK's on random pairs of every part of speech.
    def _hypernym_distances(self, s: Any | None, root: bool) -> dict[str, int]:
        """Shortest distance to every hypernym (by name); ``None`` is NLTK's simulated root."""
        if s is None:
            return {_ROOT: 0}
        key = (s.name(), root)
        if key not in self._distances:
            # public API: every (hypernym, distance) along every path; keep the shortest
            plain: dict[str, int] = {}
            for h, d in s.hypernym_distances(simulate_root=False):
                plain[h.name()] = min(d, plain.get(h.name(), d))
            if root:
                plain[_ROOT] = max(plain.values()) + 1
            self._distances[key] = plain
        return self._distances[key]

    def _shortest_path(self, a: Any, b: Any | None, root: bool) -> int | None:
        if b is not None and a.name() == b.name():
            return 0
        da, db = self._hypernym_distances(a, root), self._hypernym_distances(b, root)
        return min((d + db[name] for name, d in da.items() if name in db), default=None)

    def _ancestors(self, s: Any) -> dict[str, tuple[int, str, Any]]:
        """NLTK's ``common_hypernyms`` set of ``s`` (itself included): name → (min_depth, name,
        synset)."""
        key = s.name()
        if key not in self._hypernym_sets:
            # the same synsets as NLTK's _iter_hypernym_lists: s and all (instance) hypernyms
            self._hypernym_sets[key] = {
                h.name(): (h.min_depth(), h.name(), h) for h, _ in s.hypernym_distances()
            }
        return self._hypernym_sets[key]

    @staticmethod
    def _needs_root(a: Any, b: Any) -> bool:
        return a.pos() != "n" or b.pos() != "n"  # WordNet 3.0: only nouns share one root

    def _wup(self, a: Any, b: Any) -> float | None:
        root = self._needs_root(a, b)
        ha, hb = self._ancestors(a), self._ancestors(b)
        candidates = [ha[name] for name in ha.keys() & hb.keys()]
        if root:
            candidates.append((0, _ROOT, None))
        if not candidates:
            return None
        deepest = max(c[0] for c in candidates)
        subsumers = sorted((c for c in candidates if c[0] == deepest), key=lambda c: c[1])
        if any(name == a.name() for _, name, _ in subsumers):
            subsumer = a
        else:
            subsumer = subsumers[0][2]
        depth = (subsumer.max_depth() if subsumer is not None else 0) + 1
        len1, len2 = self._shortest_path(a, subsumer, root), self._shortest_path(b, subsumer, root)
        if len1 is None or len2 is None:
            return None
        return (2.0 * depth) / (len1 + depth + len2 + depth)

    def _path(self, a: Any, b: Any) -> float | None:
        distance = self._shortest_path(a, b, self._needs_root(a, b))
        return None if distance is None else 1.0 / (distance + 1)

    def _lch(self, a: Any, b: Any) -> float | None:
        if a.pos() != b.pos():
            return None  # NLTK raises WordNetError: no lch across parts of speech
        root = a.pos() != "n"
        depth = self._taxonomy_depth(a)
        distance = self._shortest_path(a, b, root)
        if distance is None or distance < 0 or depth == 0:
            return None
        return -math.log((distance + 1) / (2.0 * depth))

    def _taxonomy_depth(self, a: Any) -> int:
        """The taxonomy depth of ``a``'s part of speech that NLTK's lch uses.

        Read through the public API: ``a.lch_similarity(a) = log(2 * depth)``, since the
        distance of a synset to itself is 0. (NLTK's private depth cache changed its keys
        between 3.9 and 3.10.)
        """
        if a.pos() not in self._depths:
            self._depths[a.pos()] = round(math.exp(a.lch_similarity(a)) / 2.0)
        return self._depths[a.pos()]

    # -- the choice
    def choose(self, strategy: str, target: str, phrase: str) -> GlossChoice:
        key = (strategy, target, phrase)
        if key not in self._choices:
            self._choices[key] = strategy_function(strategy)(self, target, phrase)
        return self._choices[key]


_ROOT = "*ROOT*"


def _argmax_choice(candidates: tuple[Any, ...], scores: list[float], what: str) -> GlossChoice:
    """Strictly greatest score from 0 (ties keep the first); no gloss when none is above 0."""
    best, best_score = None, 0.0
    for synset, score in zip(candidates, scores):
        if score > best_score:
            best, best_score = synset, score
    if best is None:
        return GlossChoice(None, None, 0.0, f"no target synset scores above 0 ({what})")
    return GlossChoice(best.name(), best.definition(), best_score)


def _target_synsets_or_note(
    sel: GlossSelector, target: str
) -> tuple[tuple[Any, ...], GlossChoice | None]:
    targets = sel.synsets(target)
    if not targets:
        return targets, GlossChoice(None, None, 0.0, f"target {target!r} is not in WordNet")
    return targets, None


def _similarity_strategy(measure: str, hypernym_comparator: bool) -> Callable[..., GlossChoice]:
    def choose(sel: GlossSelector, target: str, phrase: str) -> GlossChoice:
        targets, note = _target_synsets_or_note(sel, target)
        if note:
            return note
        support = support_phrase(target, phrase)
        supports = sel.synsets(support)
        if not supports:
            return GlossChoice(None, None, 0.0, f"support phrase {support!r} is not in WordNet")
        scores = []
        for t in targets:
            comparator = t
            if hypernym_comparator:
                hypernyms = t.hypernyms()
                comparator = hypernyms[0] if len(hypernyms) == 1 else t
            scores.append(max(sel.similarity(measure, comparator, s) for s in supports))
        return _argmax_choice(targets, scores, f"{measure} with {support!r}")

    return choose


def _lesk(sel: GlossSelector, target: str, phrase: str) -> GlossChoice:
    """Simplified Lesk: overlap of the phrase's other words with each synset's definition,
    examples and lemma names (distinct lower-case tokens)."""
    targets, note = _target_synsets_or_note(sel, target)
    if note:
        return note
    target_key = target.strip().lower()
    context = {tok for tok in _TOKEN.findall(phrase.lower()) if tok != target_key}
    scores = []
    for t in targets:
        words = " ".join(
            [t.definition(), *t.examples(), *(n.replace("_", " ") for n in t.lemma_names())]
        )
        scores.append(float(len(context & set(_TOKEN.findall(words.lower())))))
    return _argmax_choice(targets, scores, "lesk overlap")


def _first_sense(sel: GlossSelector, target: str, phrase: str) -> GlossChoice:
    """Most frequent sense: WordNet's first synset of the target (synsets are ordered by
    frequency)."""
    targets, note = _target_synsets_or_note(sel, target)
    if note:
        return note
    first = targets[0]
    return GlossChoice(first.name(), first.definition(), None)


#: Gloss strategies by name.
STRATEGIES: dict[str, Callable[[GlossSelector, str, str], GlossChoice]] = {
    "wup_hypernym": _similarity_strategy("wup", hypernym_comparator=True),
    "wup": _similarity_strategy("wup", hypernym_comparator=False),
    "path": _similarity_strategy("path", hypernym_comparator=False),
    "lch": _similarity_strategy("lch", hypernym_comparator=False),
    "lesk": _lesk,
    "first_sense": _first_sense,
}


def strategy_function(name: str) -> Callable[[GlossSelector, str, str], GlossChoice]:
    try:
        return STRATEGIES[name]
    except KeyError:
        raise SemspaceError(
            f"unknown gloss strategy {name!r}; known strategies: {', '.join(STRATEGIES)}"
        ) from None
