"""E1 tables and figures: metrics with the paper's numbers beside them, per-item correctness,
and a figure per split with each item's candidates ordered by probability."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from semspace.errors import ConfigError
from semspace.experiments.vwsd import METRICS, NO_STRATEGY
from semspace.report import tables as T

#: The papers' figures, as text for the "paper" column, by reference name and (prompt, strategy).
#: Data for the table only; no code path returns them as results.
PAPER: dict[str, dict[tuple[str, str], str]] = {
    "trial": {  # master's thesis (Ibaraki Univ., 2023), trial set, CLIP ViT-B/32
        ("word", NO_STRATEGY): "7/16 = 0.438 (thesis, ViT-B/32)",
        ("phrase", NO_STRATEGY): "10/16 = 0.625 (thesis, ViT-B/32)",
        ("definition", "wup_hypernym"): "11/16 = 0.688 (thesis, ViT-B/32)",
    },
    "test_en": {  # SemEval-2023 Task 1 official baseline, English test set
        ("phrase", NO_STRATEGY): "hit@1 60.48, MRR 73.88 (task baseline, ViT-L/14@336)",
    },
}


def paper_lookup(references: Mapping[str, str]) -> dict[tuple[str, str, str], str]:
    """(split, prompt, strategy) → paper text, for splits whose reference is known."""
    out = {}
    for split, reference in references.items():
        if reference not in PAPER:
            raise ConfigError(f"unknown paper reference {reference!r}; known: {', '.join(PAPER)}")
        for (prompt, strategy), text in PAPER[reference].items():
            out[(split, prompt, strategy)] = text
    return out


METRIC_NOTES = (
    (
        "accuracy and MRR (official): over all items, as the task's scorer counts them; "
        "an item whose "
        "gold image cannot be ranked (no image or embedding) is a miss with reciprocal rank 0. "
        "(scored only): over the items whose gold image was ranked; the count is `scored`."
    ),
    (
        "`partial`: items scored over fewer than 10 candidates (images missing or unreadable). "
        "`glossed`: prompts built with a WordNet gloss (the others fell back to `no_gloss_prompt`)."
    ),
)


def _accuracy_cell(hits: int, n: int, value: float | None) -> str:
    return f"{hits}/{n} = {T.fmt_float(value)}"


def metrics_report(metrics: pa.Table, demo: bool = False) -> T.Table:
    """The E1 metrics table for reading: official accuracy/MRR first, the scored-only figures
    beside them, the paper's figure last; footnotes say how each is counted."""
    rows = []
    for r in metrics.to_pylist():
        rows.append(
            {
                **r,
                "official": _accuracy_cell(r["hits"], r["items"], r["official_accuracy"]),
                "scored_only": _accuracy_cell(r["hits"], r["scored"], r["accuracy"]),
                "glossed_of": f"{r['glossed']}/{r['items']}",
            }
        )
    columns = [
        T.Column("split", kind="text"),
        T.Column("model", kind="text"),
        T.Column("prompt", kind="text"),
        T.Column("strategy", kind="text"),
        T.Column("official", "accuracy (official)", kind="text"),
        T.Column("official_mrr", "MRR (official)", kind="float"),
        T.Column("scored_only", "accuracy (scored only)", kind="text"),
        T.Column("mrr", "MRR (scored only)", kind="float"),
        T.Column("partial", kind="int"),
        T.Column("glossed_of", "glossed", kind="text"),
        T.Column("paper", kind="text"),
    ]
    notes = ["Paper figures (shown in the paper column of the split they belong to):"]
    for reference, figures in PAPER.items():
        for (prompt, strategy), text in figures.items():
            notes.append(f"- {reference}, prompt `{prompt}`, strategy `{strategy}`: {text}")
    return T.Table(
        rows, columns, "E1: visual WSD, hit@1 accuracy and MRR", (*METRIC_NOTES, *notes), demo
    )


def metrics_markdown(metrics: pa.Table, demo: bool = False) -> str:
    """The metrics table as Markdown: official and scored-only accuracy (k/n = ratio), MRR,
    paper."""
    return T.to_markdown(metrics_report(metrics, demo))


def metrics_html(metrics: pa.Table, demo: bool = False) -> str:
    """The same table as a self-contained HTML page, footnotes included."""
    table = metrics_report(metrics, demo)
    return T.to_html(table.full_caption, [table])


def metrics_csv(metrics: pa.Table) -> str:
    """Every METRICS column at full precision."""
    return T.to_csv(T.Table(metrics.to_pylist(), [T.Column(n) for n in METRICS.names]))


def write_metrics(
    metrics: pa.Table, markdown: str | Path, csv_path: str | Path, demo: bool = False
) -> Path:
    """Write the metrics as Markdown, CSV and HTML (beside the Markdown); returns the HTML path."""
    from semspace.io import write_text

    write_text(metrics_markdown(metrics, demo), markdown)
    write_text(metrics_csv(metrics), csv_path)
    out = T.html_path(markdown)
    write_text(metrics_html(metrics, demo), out)
    return out


def hit_column(prompt: str, strategy: str) -> str:
    """The correctness column of a prompt/strategy, prefixed so that a prompt named like a data
    column (the ``phrase`` prompt) never overwrites it."""
    return f"hit:{prompt}" if strategy == NO_STRATEGY else f"hit:{prompt}/{strategy}"


def correctness_rows(items: pa.Table) -> tuple[list[dict[str, object]], list[str]]:
    """One row per item (item, target, phrase, then a hit column per prompt/strategy: 1 = gold
    ranked first, 0 = not, None = unscored) and the hit columns in first-seen order."""
    rows = items.select(["item", "target", "phrase", "prompt", "strategy", "hit"]).to_pylist()
    columns: list[str] = []
    table: dict[int, dict[str, object]] = {}
    for r in rows:
        column = hit_column(r["prompt"], r["strategy"])
        if column not in columns:
            columns.append(column)
        entry = table.setdefault(
            r["item"], {"item": r["item"], "target": r["target"], "phrase": r["phrase"]}
        )
        entry[column] = None if r["hit"] is None else int(r["hit"])
    return [{**{c: None for c in columns}, **e} for e in table.values()], columns


ITEM_COLUMNS = (
    T.Column("item", kind="int"),
    T.Column("target", kind="text"),
    T.Column("phrase", kind="text"),
)
CORRECTNESS_NOTE = "1 = gold image ranked first, 0 = not, – = not scored (gold image missing)."


def correctness_report(items: pa.Table, demo: bool = False) -> T.Table:
    """Every hit column in one table (the CSV's rows and columns)."""
    rows, hits = correctness_rows(items)
    columns = [*ITEM_COLUMNS, *(T.Column(h, kind="int") for h in hits)]
    return T.Table(rows, columns, "E1: per-item correctness", (CORRECTNESS_NOTE,), demo)


def correctness_tables(items: pa.Table, demo: bool = False) -> list[T.Table]:
    """The same rows, one table per prompt for the gloss prompts (a column per gloss strategy)
    after one of the prompts without a gloss: 14 hit columns side by side would scroll
    sideways in the report."""
    rows, _ = correctness_rows(items)
    groups: dict[str | None, list[T.Column]] = {}
    pairs = items.select(["prompt", "strategy"]).to_pylist()
    for prompt, strategy in dict.fromkeys((r["prompt"], r["strategy"]) for r in pairs):
        glossless = strategy == NO_STRATEGY
        groups.setdefault(None if glossless else prompt, []).append(
            T.Column(hit_column(prompt, strategy), prompt if glossless else strategy, "int")
        )
    tables = []
    for prompt, hits in sorted(groups.items(), key=lambda g: g[0] is not None):
        caption = (
            "E1: per-item correctness, prompts without a gloss"
            if prompt is None
            else f"E1: per-item correctness, prompt `{prompt}` by gloss strategy"
        )
        tables.append(T.Table(rows, [*ITEM_COLUMNS, *hits], caption, (), demo))
    return tables


def write_correctness(items: pa.Table, csv_path: str | Path, demo: bool = False) -> Path:
    """The correctness CSV (every hit column) and its HTML beside it (a table per gloss
    prompt); returns the HTML path."""
    from semspace.io import write_text

    write_text(T.to_csv(correctness_report(items, demo)), csv_path)
    out = T.html_path(csv_path)
    title = T.demo_title("E1: per-item correctness", demo)
    write_text(T.to_html(title, [CORRECTNESS_NOTE, *correctness_tables(items, demo)]), out)
    return out


def _thumbnail(path: Path, size: int) -> object | None:
    from PIL import Image, ImageOps

    try:
        with Image.open(path) as img:
            img = ImageOps.exif_transpose(img).convert("RGB")
            img.thumbnail((size, size))
            return img.copy()
    except (OSError, ValueError):
        return None


def _wrap(text: str, width: int, max_lines: int) -> str:
    """``text`` wrapped to ``width`` characters, at most ``max_lines`` lines (… marks a cut)."""
    import textwrap

    lines = textwrap.wrap(text, width, break_long_words=True) or [""]
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        lines[-1] = lines[-1][: width - 1] + "…"
    return "\n".join(lines)


#: Characters a line of a ranking row's label holds (8 pt in its ~1.1-in column).
LABEL_CHARS = 18


def _item_label(r: Mapping[str, object]) -> str:
    """The left-hand label of a ranking row: item and phrase, target, hit mark and gold rank."""
    mark = {True: "✓", False: "✗", None: "–"}[r["hit"]]  # type: ignore[index]
    extra = f" (+{len(r['missing'])} missing)" if r["missing"] else ""  # type: ignore[arg-type]
    lines = [_wrap(f"{r['item']}: {r['phrase']}", LABEL_CHARS, 2), f"[{r['target']}] {mark}"]
    lines.append(f"gold rank {r['gold_rank']}")
    if extra:
        lines.append(extra.strip())
    if r["synset"]:
        lines.append(_wrap(str(r["synset"]), LABEL_CHARS, 1))
    return "\n".join(lines)


def ranking_figure(
    items: pa.Table,
    out: str | Path,
    prompt: str,
    strategy: str,
    image_dir: str | Path | None = None,
    max_items: int = 16,
    thumb_size: int = 96,
    title: str = "",
    demo: bool = False,
) -> int:
    """Each item's candidates ordered by probability (left = most probable; unscored ones last,
    titled "missing"), gold framed in green when ranked first and orange otherwise; thumbnails
    where the image file exists. Returns the number of items drawn."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    of_prompt = items.filter(pc.equal(items["prompt"], prompt))
    if strategy not in set(of_prompt["strategy"].to_pylist()):
        strategy = NO_STRATEGY  # a prompt without {gloss} has only strategy "none"
    rows = of_prompt.filter(pc.equal(of_prompt["strategy"], strategy)).to_pylist()[:max_items]
    if not rows:
        raise ConfigError(
            f"config key vwsd.figure: no scored rows for prompt {prompt!r} "
            f"and strategy {strategy!r}"
        )
    n_cols = max(max(len(r["candidates"]) + len(r["missing"]) for r in rows), 1)
    # the report's width (T.FIGURE_WIDTH_IN) shared by the label column (≈ 18 characters at
    # 8 pt) and the tiles; constrained layout keeps the suptitle above the first row
    tile = (T.FIGURE_WIDTH_IN - 0.3) / (n_cols + 1.6)
    fig, axes = plt.subplots(
        len(rows),
        n_cols + 1,
        figsize=(T.FIGURE_WIDTH_IN, (tile + 0.28) * len(rows) + 0.7),
        gridspec_kw={"width_ratios": [1.6] + [1] * n_cols},
        squeeze=False,
        layout="constrained",
    )
    image_dir = Path(image_dir) if image_dir else None
    for row_axes, r in zip(axes, rows):
        label_ax = row_axes[0]
        label_ax.axis("off")
        label_ax.text(
            1.0, 0.5, _item_label(r), va="center", ha="right", fontsize=8,
            transform=label_ax.transAxes,
        )  # fmt: skip
        order = np.argsort(-np.asarray(r["probability"]), kind="stable")
        for ax in row_axes[1:]:
            ax.axis("off")
        # candidates by probability, then those that could not be scored (no image)
        tiles = [(r["candidates"][i], f"p = {r['probability'][i]:.2f}") for i in order]
        tiles += [(name, "missing") for name in r["missing"]]
        for col, (name, label) in enumerate(tiles):
            ax = row_axes[1 + col]
            thumb = (
                _thumbnail(image_dir / name, thumb_size)
                if image_dir and label != "missing"
                else None
            )
            if thumb is not None:
                ax.imshow(thumb)
            else:
                ax.imshow(np.full((8, 8, 3), 0.85))
                ax.text(
                    0.5, 0.5, _wrap(Path(name).stem, 9, 3), ha="center", va="center",
                    fontsize=8, transform=ax.transAxes,
                )  # fmt: skip
            ax.set_title(label, fontsize=8, pad=2)
            if name == r["gold"]:
                colour = "tab:green" if r["hit"] else "tab:orange"
                ax.axis("on")
                ax.set_xticks([])
                ax.set_yticks([])
                for spine in ax.spines.values():
                    spine.set_edgecolor(colour)
                    spine.set_linewidth(3)
    label = f"prompt {prompt}" + ("" if strategy == NO_STRATEGY else f", glosses {strategy}")
    import textwrap

    text = f"{title} — {label}: candidates by probability (left = most probable)".strip(" —")
    lines = textwrap.wrap(T.demo_title(text, demo), 95)
    lines.append("gold framed: green = ranked first, orange = not")
    fig.suptitle("\n".join(lines), fontsize=10)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    from semspace.io import atomic_path

    with atomic_path(out, suffix=out.suffix) as tmp:
        fig.savefig(tmp, dpi=T.FIGURE_DPI, format=out.suffix.lstrip(".") or "png")
    plt.close(fig)
    return len(rows)
