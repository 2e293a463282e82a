"""E1 tables and figures: metrics with the paper's numbers beside them, per-item correctness,
and a figure per split with each item's candidates ordered by probability."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from semspace.errors import ConfigError
from semspace.experiments.vwsd import METRICS, NO_STRATEGY

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


def _fmt(value: float | None, digits: int = 3) -> str:
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def metrics_markdown(metrics: pa.Table) -> str:
    """The metrics table as Markdown, accuracy as k/n and ratio, with the paper column."""
    header = "| split | model | prompt | strategy | accuracy | MRR | partial | glossed | paper |"
    lines = [header, "|" + "---|" * 9]
    for r in metrics.to_pylist():
        acc = f"{r['hits']}/{r['scored']} = {_fmt(r['accuracy'])}"
        lines.append(
            f"| {r['split']} | {r['model']} | {r['prompt']} | {r['strategy']} | {acc} | {_fmt(r['mrr'])} "
            f"| {r['partial']} | {r['glossed']}/{r['items']} | {r['paper'] or ''} |"
        )
    notes = ["", "Paper figures (shown in the paper column of the split they belong to):"]
    for reference, rows in PAPER.items():
        for (prompt, strategy), text in rows.items():
            notes.append(f"- {reference}, prompt `{prompt}`, strategy `{strategy}`: {text}")
    notes.append(
        "\n`partial`: items scored over fewer than 10 candidates (images missing or unreadable). "
        "`glossed`: prompts built with a WordNet gloss (the others fell back to `no_gloss_prompt`)."
    )
    return "\n".join(lines + notes) + "\n"


def metrics_csv(metrics: pa.Table) -> str:
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(METRICS.names)
    for row in metrics.to_pylist():
        writer.writerow(["" if row[n] is None else row[n] for n in METRICS.names])
    return buffer.getvalue()


def correctness_csv(items: pa.Table) -> str:
    """Per item: one column per prompt/strategy, 1 = gold ranked first, 0 = not, empty = unscored."""
    import csv
    import io

    rows = items.select(["item", "target", "phrase", "prompt", "strategy", "hit"]).to_pylist()
    columns: list[str] = []
    table: dict[int, dict[str, object]] = {}
    for r in rows:
        column = r["prompt"] if r["strategy"] == NO_STRATEGY else f"{r['prompt']}/{r['strategy']}"
        if column not in columns:
            columns.append(column)
        entry = table.setdefault(r["item"], {"item": r["item"], "target": r["target"], "phrase": r["phrase"]})
        entry[column] = "" if r["hit"] is None else int(r["hit"])
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["item", "target", "phrase", *columns])
    for entry in table.values():
        writer.writerow([entry["item"], entry["target"], entry["phrase"], *(entry.get(c, "") for c in columns)])
    return buffer.getvalue()


def _thumbnail(path: Path, size: int) -> object | None:
    from PIL import Image, ImageOps

    try:
        with Image.open(path) as img:
            img = ImageOps.exif_transpose(img).convert("RGB")
            img.thumbnail((size, size))
            return img.copy()
    except (OSError, ValueError):
        return None


def ranking_figure(
    items: pa.Table, out: str | Path, prompt: str, strategy: str,
    image_dir: str | Path | None = None, max_items: int = 16, thumb_size: int = 96, title: str = "",
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
            f"config key vwsd.figure: no scored rows for prompt {prompt!r} and strategy {strategy!r}"
        )
    n_cols = max(max(len(r["candidates"]) + len(r["missing"]) for r in rows), 1)
    fig, axes = plt.subplots(
        len(rows), n_cols + 1, figsize=(1.25 * (n_cols + 2.5), 1.45 * len(rows) + 0.6),
        gridspec_kw={"width_ratios": [2.5] + [1] * n_cols}, squeeze=False,
    )
    image_dir = Path(image_dir) if image_dir else None
    for row_axes, r in zip(axes, rows):
        label_ax = row_axes[0]
        label_ax.axis("off")
        mark = {True: "✓", False: "✗", None: "–"}[r["hit"]]
        extra = f" (+{len(r['missing'])} missing)" if r["missing"] else ""
        label_ax.text(
            0.0, 0.5,
            f"{r['item']}: {r['phrase']}\n[{r['target']}] {mark} rank {r['gold_rank']}{extra}"
            + (f"\n{r['synset']}" if r["synset"] else ""),
            va="center", ha="left", fontsize=7, wrap=True,
        )
        order = np.argsort(-np.asarray(r["probability"]), kind="stable")
        for ax in row_axes[1:]:
            ax.axis("off")
        # candidates by probability, then those that could not be scored (no image)
        tiles = [(r["candidates"][i], f"{r['probability'][i]:.2f}") for i in order]
        tiles += [(name, "missing") for name in r["missing"]]
        for col, (name, label) in enumerate(tiles):
            ax = row_axes[1 + col]
            thumb = _thumbnail(image_dir / name, thumb_size) if image_dir and label != "missing" else None
            if thumb is not None:
                ax.imshow(thumb)
            else:
                ax.imshow(np.full((8, 8, 3), 0.85))
                ax.text(0.5, 0.5, name, ha="center", va="center", fontsize=5, transform=ax.transAxes)
            ax.set_title(label, fontsize=7)
            if name == r["gold"]:
                colour = "tab:green" if r["hit"] else "tab:orange"
                ax.axis("on")
                ax.set_xticks([])
                ax.set_yticks([])
                for spine in ax.spines.values():
                    spine.set_edgecolor(colour)
                    spine.set_linewidth(3)
    label = f"prompt {prompt}" + ("" if strategy == NO_STRATEGY else f", glosses {strategy}")
    fig.suptitle(f"{title} — {label}: candidates by probability, gold framed".strip(" —"), fontsize=9)
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    from semspace.io import atomic_path

    with atomic_path(out, suffix=out.suffix) as tmp:
        fig.savefig(tmp, dpi=110, format=out.suffix.lstrip(".") or "png")
    plt.close(fig)
    return len(rows)


def concat_items(tables: Sequence[pa.Table]) -> pa.Table:
    return pa.concat_tables(tables)
