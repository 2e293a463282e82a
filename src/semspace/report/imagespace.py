"""E5's tables and figures: token statistics, distance and eigen summaries (with the paper's
numbers in a "paper" column), nearest neighbours, MDS maps, token counts, |AΔB| vs |A∩B|.

The paper's numbers below are data for the "paper" column only; nothing computed returns them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from semspace.errors import ConfigError
from semspace.io import atomic_path, write_text
from semspace.report import tables as T

#: Numbers reported by the paper (DESIGN.md, E5), per branch: shown beside ours, never used.
PAPER: dict[str, dict[str, float | str]] = {
    "coco": {
        "images": 5000,
        "texts": 25010,
        "characters": 1310066,
        # The paper's token counts equal images × mean set size (5,000 × 27.7; 5,000 × 122.2):
        # distinct tokens per image summed, so they sit beside our sum of set sizes.
        "set_tokens": 138627,
        "mean_set_size": 27.7,
        "vocabulary": 7254,
        "symdiff_min": 7,
        "symdiff_max": 95,
        "intersection_min": 0,
        "intersection_max": 22,
        "union_min": 21,
        "union_max": 101,
        "pearson_symdiff_intersection": -0.201,
        "n_positive": 1266,
        "top2_share": 0.06,
        "token_source": "karpathy_tokens",  # the captions' own tokens in Karpathy's file
    },
    "llm": {
        "characters": 6895429,
        "set_tokens": 611131,
        "mean_set_size": 122.2,
        "vocabulary": 20113,
        "symdiff_min": 69,
        "symdiff_max": 425,
        "intersection_min": 9,
        "intersection_max": 84,
        "union_min": 105,
        "union_max": 467,
        "pearson_symdiff_intersection": 0.217,
        "n_positive": 1904,
        "top2_share": 0.04,
    },
}

PAPER_IMAGES = 5000  # the paper's numbers are for the 5,000 Karpathy test images

STAT_LABELS = {
    "images": "images",
    "texts": "texts (captions or associations)",
    "characters": "characters",
    "tokens": "tokens, with repeats",
    "set_tokens": "tokens in the sets (sum of set sizes)",
    "vocabulary": "distinct tokens (vocabulary)",
    "mean_texts_per_image": "texts per image (mean)",
    "mean_characters_per_text": "characters per text (mean)",
    "mean_tokens_per_text": "tokens per text (mean)",
    "mean_tokens_per_image": "tokens per image, with repeats (mean)",
    "mean_set_size": "tokens per image, distinct = set size (mean)",
    "min_set_size": "set size (min)",
    "max_set_size": "set size (max)",
}

DISTANCE_LABELS = {
    "pairs": "distinct pairs",
    "symdiff_min": "|A Δ B| min",
    "symdiff_max": "|A Δ B| max",
    "symdiff_mean": "|A Δ B| mean",
    "intersection_min": "|A ∩ B| min",
    "intersection_max": "|A ∩ B| max",
    "intersection_mean": "|A ∩ B| mean",
    "union_min": "|A ∪ B| min",
    "union_max": "|A ∪ B| max",
    "union_mean": "|A ∪ B| mean",
    "pearson_symdiff_intersection": "Pearson r(|A Δ B|, |A ∩ B|)",
}

EIGEN_LABELS = {
    "n": "points (n)",
    "n_positive": "positive eigenvalues",
    "n_negative": "negative eigenvalues",
    "top2_share": "share of the first two axes (of Σ positive λ)",
    "lambda1": "λ1",
    "lambda2": "λ2",
}


def _row(label: str, value: Any, paper: Any) -> dict[str, Any]:
    return {"quantity": label, "reproduced": value, "paper": "" if paper is None else paper}


def _paper(branch: str, n_images: int | None) -> dict[str, float | str]:
    """The paper's numbers apply to the full 5,000-image split only (else the column stays
    empty)."""
    if n_images is not None and n_images != PAPER_IMAGES:
        return {}
    return PAPER.get(branch, {})


def stats_rows(
    stats: dict[str, float], branch: str, token_source: str | None = None
) -> list[dict[str, Any]]:
    """The token statistics; with ``token_source`` (``tokensets.token_source``) also a row saying
    where the tokens came from, since a re-tokenised caption counts differently."""
    paper = _paper(branch, int(stats.get("images", 0)) or None)
    stats = dict(stats)
    if "mean_set_size" in stats and "images" in stats and "set_tokens" not in stats:
        # The mean is the sum over the images divided by their number: the product is exact.
        stats["set_tokens"] = round(stats["mean_set_size"] * stats["images"])
    rows = [_row(STAT_LABELS.get(k, k), v, paper.get(k)) for k, v in stats.items()]
    if token_source is not None:
        rows.append(_row("tokens from", token_source, paper.get("token_source")))
    return rows


def distance_rows(summary: dict[str, Any], branch: str) -> list[dict[str, Any]]:
    paper = _paper(branch, summary.get("n"))
    return [_row(label, summary.get(key), paper.get(key)) for key, label in DISTANCE_LABELS.items()]


def eigen_rows(eigen: dict[str, Any], branch: str) -> list[dict[str, Any]]:
    paper = _paper(branch, eigen.get("n"))
    values = dict(eigen)
    lambdas = eigen.get("eigenvalues") or []
    values["lambda1"] = lambdas[0] if len(lambdas) > 0 else None
    values["lambda2"] = lambdas[1] if len(lambdas) > 1 else None
    rows = [_row(label, values.get(key), paper.get(key)) for key, label in EIGEN_LABELS.items()]
    rows.append(
        _row("distances", "√|A Δ B|" if eigen.get("sqrt_distances") else "|A Δ B|", "|A Δ B|")
    )
    # The matrix-free MDS estimates the count and the share (stochastic Lanczos quadrature):
    # the table says so and gives the 95 % intervals beside the estimates.
    if eigen.get("method"):
        estimated = "n_positive_ci" in eigen
        method = f"{eigen['method']} ({'count and share estimated' if estimated else 'exact'})"
        rows.append(_row("MDS method", method, ""))
    if "n_positive_ci" in eigen:
        lo, hi = eigen["n_positive_ci"]
        rows.append(
            _row("positive eigenvalues, 95 % interval", f"{T.fmt_int(lo)}–{T.fmt_int(hi)}", "")
        )
    if "top2_share_ci" in eigen:
        lo, hi = eigen["top2_share_ci"]
        rows.append(
            _row(
                "share of the first two axes, 95 % interval",
                f"{T.fmt_share(lo)}–{T.fmt_share(hi)}",
                "",
            )
        )
    return rows


def _captions_by_image(captions: pa.Table) -> tuple[dict[int, list[str]], dict[int, Any]]:
    texts: dict[int, list[str]] = {}
    coco: dict[int, Any] = {}
    for i, cid, text in zip(
        captions.column("image").to_pylist(),
        captions.column("coco_id").to_pylist(),
        captions.column("text").to_pylist(),
    ):
        texts.setdefault(i, []).append(text.strip())
        coco[i] = cid
    return texts, coco


def image_of_coco_id(captions: pa.Table, coco_id: int | None) -> int:
    """The image index (split order) of the image with COCO id ``coco_id``; None = the first.

    Raises :class:`ConfigError` naming ``imagespace.neighbours.coco_id`` when no caption has it.
    """
    images = captions.column("image").to_pylist()
    if coco_id is None:
        return min(images)
    for image, cid in zip(images, captions.column("coco_id").to_pylist(), strict=True):
        if cid == coco_id:
            return int(image)
    raise ConfigError(
        f"config key imagespace.neighbours.coco_id: COCO id {coco_id} is not among the "
        f"{len(set(images))} images of the captions"
    )


def query_caption(captions: pa.Table, image: int) -> str:
    """The configured image as a line for the neighbours table's caption: its ids and captions."""
    texts, coco = _captions_by_image(captions)
    return f"image {image} (COCO id {T.fmt_int(coco.get(image))}): " + " | ".join(
        texts.get(image, [])
    )


def neighbour_rows(
    neighbours: pa.Table, captions: pa.Table, image: int, k: int | None = None
) -> list[dict[str, Any]]:
    """The nearest neighbours of ``image`` (rank 1 first; the image itself is not a row; see
    ``query_caption``), each with its captions."""
    texts, coco = _captions_by_image(captions)
    mask = np.asarray(neighbours.column("image").to_numpy()) == image
    rows = neighbours.filter(pa.array(mask)).sort_by("rank").to_pylist()
    if k is not None:
        rows = rows[:k]
    return [
        {
            "rank": r["rank"],
            "image": r["neighbour"],
            "coco_id": coco.get(r["neighbour"]),
            "symdiff": r["symdiff"],
            "intersection": r["intersection"],
            "union": r["union"],
            "captions": " | ".join(texts.get(r["neighbour"], [])),
        }
        for r in rows
    ]


#: How each quantity's numbers read (by its label); the rest are formatted automatically.
KIND_BY_LABEL: dict[str, T.Kind] = {
    EIGEN_LABELS["top2_share"]: "share",
    EIGEN_LABELS["lambda1"]: "eigen",
    EIGEN_LABELS["lambda2"]: "eigen",
}

QUANTITY_COLUMNS = (
    T.Column("quantity", kind="text"),
    T.Column("reproduced", kind=lambda row: KIND_BY_LABEL.get(row["quantity"], "auto")),
    T.Column("paper", kind=lambda row: KIND_BY_LABEL.get(row["quantity"], "auto")),
)

NEIGHBOUR_COLUMNS = (
    *(
        T.Column(k, kind="int")
        for k in ("rank", "image", "coco_id", "symdiff", "intersection", "union")
    ),
    T.Column("captions", kind="text"),
)

PAPER_NOTE = (
    "The paper column is the published figure (5,000 Karpathy test images); it is left empty "
    "when fewer images were used. Shares in % of the sum of positive eigenvalues."
)


def section_table(
    title: str, rows: Sequence[dict[str, Any]], demo: bool = False, notes: Sequence[str] = ()
) -> T.Table:
    """A section's rows as a report table: quantity tables or the neighbours table."""
    columns = NEIGHBOUR_COLUMNS if rows and "rank" in rows[0] else QUANTITY_COLUMNS
    return T.Table(list(rows), columns, title, tuple(notes), demo)


def markdown(rows: Sequence[dict[str, Any]]) -> str:
    if not rows:
        return "(no rows)\n"
    return T.to_markdown(section_table("", rows))


def write_csv(rows: Sequence[dict[str, Any]], path: str | Path) -> None:
    """The rows at full precision."""
    write_text(T.to_csv(T.Table(list(rows), T.columns_of(rows))), path)


def tables_markdown(
    branch: str, sections: dict[str, Sequence[dict[str, Any]]], demo: bool = False
) -> str:
    title = T.demo_title(f"E5 semantic space, branch `{branch}`", demo)
    parts = [f"# {title}\n\n", PAPER_NOTE + "\n"]
    for name, rows in sections.items():
        parts.append(f"\n## {name}\n\n{markdown(rows)}")
    return "".join(parts)


def write_tables(
    out_dir: str | Path,
    branch: str,
    sections: Mapping[str, tuple[str, Sequence[dict[str, Any]]]],
    demo: bool = False,
    notes: Mapping[str, Sequence[str]] | None = None,
) -> list[Path]:
    """Each section (file stem → (title, rows)) as ``<stem>.csv`` (full precision) and
    ``<stem>.html``, and all of them as ``tables.md`` and ``tables.html``; returns the paths."""
    out = Path(out_dir)
    title = T.demo_title(f"E5 semantic space, branch `{branch}`", demo)
    tables = {
        stem: section_table(t, rows, demo, (notes or {}).get(stem, ()))
        for stem, (t, rows) in sections.items()
    }
    written = []
    for stem, table in tables.items():
        write_text(T.to_csv(table), out / f"{stem}.csv")
        write_text(T.to_html(title, [PAPER_NOTE, table]), out / f"{stem}.html")
        written += [out / f"{stem}.csv", out / f"{stem}.html"]
    parts = [f"# {title}\n", PAPER_NOTE + "\n"]
    parts += [
        "## " + T.to_markdown(T.Table(t.rows, t.columns, t.caption, t.footnotes))
        for t in tables.values()
    ]
    write_text("\n".join(parts), out / "tables.md")
    write_text(T.to_html(title, [PAPER_NOTE, *tables.values()]), out / "tables.html")
    return [*written, out / "tables.md", out / "tables.html"]


EXAMPLE_COLUMNS = (
    T.Column("image", kind="int"),
    T.Column("coco_id", "COCO id", kind="int"),
    T.Column("caption", kind="int"),
    T.Column("text", "caption text", kind="text"),
    T.Column("association", "association (last round)", kind="text"),
)


EXAMPLES_NOTE = (
    "image: the position in the captions table; caption: the caption's number within its "
    "image. Each round continues the previous one, so an association begins with its caption."
)


def examples_table(rows: Sequence[dict[str, Any]], rounds: int, demo: bool = False) -> T.Table:
    """The LLM association examples (``association.examples_rows``) as a report table."""
    return T.Table(
        list(rows),
        EXAMPLE_COLUMNS,
        f"E5 LLM associations of the first images' captions ({rounds} rounds)",
        (EXAMPLES_NOTE,),
        demo,
    )


# ---------------------------------------------------------------- figures


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: str | Path) -> None:
    suffix = Path(path).suffix
    with atomic_path(path, suffix=suffix) as tmp:
        fig.savefig(tmp, dpi=T.FIGURE_DPI, bbox_inches="tight", format=suffix.lstrip(".") or "png")
    _plt().close(fig)


def mds_map_figure(
    coords: pa.Table,
    path: str | Path,
    title: str,
    highlight: Sequence[int] = (),
    demo: bool = False,
) -> None:
    """Scatter of the first two MDS axes; ``highlight`` images (e.g. a query and its neighbours)
    marked."""
    plt = _plt()
    x = coords.column("dim1").to_numpy()
    y = coords.column("dim2").to_numpy() if "dim2" in coords.column_names else np.zeros_like(x)
    fig, ax = plt.subplots(figsize=(6, 6))
    # dots that a few thousand points do not blot out, and that a demo's hundred still show
    size = float(np.clip(2000 / max(len(x), 1), 3, 16))
    ax.scatter(x, y, s=size, alpha=0.4 if size < 8 else 0.7, linewidths=0, color="tab:blue")
    if len(highlight):
        h = np.asarray(highlight)
        ax.scatter(x[h[1:]], y[h[1:]], s=18, color="tab:orange", label="nearest neighbours")
        ax.scatter(x[h[:1]], y[h[:1]], s=40, marker="*", color="tab:red", label=f"image {h[0]}")
        ax.legend(loc="best", fontsize=8)
    ax.set_xlabel("MDS axis 1")
    ax.set_ylabel("MDS axis 2")
    ax.set_title(T.demo_title(title, demo))
    _save(fig, path)


def token_count_figure(sizes: np.ndarray, path: str | Path, title: str, demo: bool = False) -> None:
    """Distribution of token-set sizes (distinct tokens per image)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 4))
    sizes = np.asarray(sizes)
    lo, hi = (int(sizes.min()), int(sizes.max())) if sizes.size else (0, 1)
    ax.hist(sizes, bins=np.arange(lo, hi + 2) - 0.5 if hi - lo <= 120 else 60, color="tab:blue")
    if sizes.size:
        ax.axvline(sizes.mean(), color="tab:red", linestyle="--", label=f"mean {sizes.mean():.1f}")
        ax.legend()
    ax.set_xlabel("tokens per image (set size)")
    ax.set_ylabel("images")
    ax.set_title(T.demo_title(title, demo))
    _save(fig, path)


def pair_histogram_figure(
    histogram: pa.Table, path: str | Path, title: str, demo: bool = False
) -> None:
    """2-D histogram of (|A∩B|, |AΔB|) over all distinct pairs, with both marginals."""
    plt = _plt()
    from matplotlib.colors import LogNorm

    sd = histogram.column("symdiff").to_numpy()
    it = histogram.column("intersection").to_numpy()
    c = histogram.column("pairs").to_numpy().astype(np.float64)
    fig = plt.figure(figsize=(7, 7))
    grid = fig.add_gridspec(
        2, 2, width_ratios=(4, 1), height_ratios=(1, 4), wspace=0.05, hspace=0.05
    )
    ax = fig.add_subplot(grid[1, 0])
    top = fig.add_subplot(grid[0, 0], sharex=ax)
    right = fig.add_subplot(grid[1, 1], sharey=ax)
    if c.size:
        xb = np.arange(it.min(), it.max() + 2) - 0.5
        yb = np.arange(sd.min(), sd.max() + 2) - 0.5
        *_, image = ax.hist2d(it, sd, bins=[xb, yb], weights=c, norm=LogNorm(), cmap="viridis")
        fig.colorbar(image, ax=right, label="pairs")
        top.hist(it, bins=xb, weights=c, color="tab:blue")
        right.hist(sd, bins=yb, weights=c, orientation="horizontal", color="tab:blue")
    ax.set_xlabel("|A ∩ B| (intersection)")
    ax.set_ylabel("|A Δ B| (symmetric difference)")
    top.set_ylabel("pairs")
    right.set_xlabel("pairs")
    from matplotlib.ticker import MaxNLocator

    for axis in (ax.xaxis, ax.yaxis):  # set sizes count whole tokens
        axis.set_major_locator(MaxNLocator(integer=True))
    top.tick_params(labelbottom=False)
    right.tick_params(labelleft=False)
    top.set_title(T.demo_title(title, demo))
    _save(fig, path)
