"""E2 tables and figures: the retrieval table with the paper's numbers beside ours, and 2-D maps
of images and sentences in a joint space."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa

from semspace.experiments.retrieval import DIRECTIONS, METRICS, MapPoints
from semspace.report import tables as T

#: The paper's figures, as data for the "paper" columns only (DESIGN.md, E2; VGG16 fc7 image
#: features, trained joint space). Keyed by (train set, eval set) as named in the default
#: config; cells the design does not give are absent and stay empty.
PAPER: dict[tuple[str, str], dict[str, dict[str, float]]] = {
    ("flickr30k", "flickr30k"): {
        "sentence": {"r1": 11.7, "r5": 33.9, "r10": 47.5, "medr": 11.5},
        "image": {"r1": 6.1, "r5": 14.4, "r10": 19.0, "medr": 77.0},
    },
    ("vg", "vg"): {
        "sentence": {"r1": 16.3, "r5": 43.3, "r10": 57.7, "medr": 7.7},
        "image": {"r1": 7.6, "r5": 16.2, "r10": 20.8, "medr": 75.4},
    },
}

FIGURES = ("r1", "r5", "r10", "medr")
HEADINGS = {"r1": "R@1", "r5": "R@5", "r10": "R@10", "medr": "Med r"}

#: The wide table: one row per (features, loss, train, eval), ours and the paper's side by side.
TABLE = pa.schema(
    [pa.field(n, pa.string(), nullable=False) for n in ("features", "loss", "train", "eval")]
    + [
        pa.field(f"{d}_{f}{suffix}", pa.float64())
        for d in DIRECTIONS
        for f in FIGURES
        for suffix in ("", "_paper")
    ]
    + [pa.field("images", pa.int32()), pa.field("texts", pa.int32()), pa.field("folds", pa.int32())]
)


def retrieval_table(
    metrics: pa.Table, train_order: Sequence[str] = (), eval_order: Sequence[str] = ()
) -> pa.Table:
    """Long METRICS rows → the wide TABLE, zero-shot first, then train sets in config order."""
    metrics = metrics.select(METRICS.names)
    rows: dict[tuple[str, str, str, str], dict] = {}
    for r in metrics.to_pylist():
        key = (r["features"], r["loss"], r["train"], r["eval"])
        row = rows.setdefault(
            key, dict(zip(("features", "loss", "train", "eval"), key, strict=True))
        )
        paper = PAPER.get((r["train"], r["eval"]), {}).get(r["direction"], {})
        for f in FIGURES:
            row[f"{r['direction']}_{f}"] = r[f]
            row[f"{r['direction']}_{f}_paper"] = paper.get(f)
        row.update(images=r["images"], texts=r["texts"], folds=r["folds"])

    def order(key: tuple[str, str, str, str]) -> tuple:
        features, loss, train, eval_set = key
        t = list(train_order).index(train) if train in train_order else len(train_order)
        e = list(eval_order).index(eval_set) if eval_set in eval_order else len(eval_order)
        return (features, loss != "none", loss, e, eval_set, train != "zeroshot", t, train)

    return pa.Table.from_pylist([rows[k] for k in sorted(rows, key=order)], schema=TABLE)


TABLE_NOTES = (
    (
        "Sentence retrieval = image → text, image retrieval = text → image; "
        "R@K in %, Med r = median "
        "rank, averaged over folds of images. `zeroshot` = CLIP's own space, no training."
    ),
    (
        "Rows `paper`: the paper's figure under each metric for that (train, eval) cell, where the "
        "paper reports it (VGG16 fc7 features and its own text encoder); – where it does not."
    ),
)


def _paper_row(row: dict) -> dict | None:
    """The paper's figures of this row's cell as a row of their own, or None when it has none."""
    values = {f"{d}_{f}": row[f"{d}_{f}_paper"] for d in DIRECTIONS for f in FIGURES}
    if all(v is None for v in values.values()):
        return None
    return {
        "features": "paper",
        "loss": "",
        "train": row["train"],
        "eval": row["eval"],
        **values,
        "images": None,
        "texts": None,
    }


def table_report(table: pa.Table, demo: bool = False) -> T.Table:
    """The wide TABLE for reading: our rows, each followed by the paper's numbers under each
    metric."""
    rows = []
    for r in table.to_pylist():
        rows.append(r)
        paper = _paper_row(r)
        if paper is not None:
            rows.append(paper)
    columns = [T.Column(k, kind="text") for k in ("features", "loss", "train", "eval")]
    columns += [
        T.Column(f"{d}_{f}", f"{'sent.' if d == 'sentence' else 'image'} {HEADINGS[f]}", "float", 1)
        for d in DIRECTIONS
        for f in FIGURES
    ]
    columns += [T.Column("images", kind="int"), T.Column("texts", kind="int")]
    return T.Table(rows, columns, "E2: image–sentence retrieval", TABLE_NOTES, demo)


def table_markdown(table: pa.Table, demo: bool = False) -> str:
    """Markdown: ours per metric, the paper's numbers in a row under ours where it has them."""
    return T.to_markdown(table_report(table, demo))


def table_html(table: pa.Table, demo: bool = False) -> str:
    report = table_report(table, demo)
    return T.to_html(report.full_caption, [report])


def write_table_views(table: pa.Table, md_path: str | Path, demo: bool = False) -> Path:
    """The table as Markdown and as HTML beside it (``table.md`` → ``table.html``); returns the
    HTML."""
    from semspace.io import write_text

    write_text(table_markdown(table, demo), md_path)
    out = T.html_path(md_path)
    write_text(table_html(table, demo), out)
    return out


# ---------------------------------------------------------------- 2-D maps


def pca_2d(x: np.ndarray) -> np.ndarray:
    """First two principal components (signs fixed so the largest loading is positive)."""
    x = np.asarray(x, dtype=np.float64)
    x = x - x.mean(axis=0)
    if len(x) < 2:
        return np.zeros((len(x), 2))
    _, _, vt = np.linalg.svd(x, full_matrices=False)
    vt = vt[:2]
    signs = np.sign(vt[np.arange(len(vt)), np.abs(vt).argmax(axis=1)])
    out = x @ (vt * signs[:, None]).T
    if out.shape[1] < 2:
        out = np.pad(out, ((0, 0), (0, 2 - out.shape[1])))
    return out


def map_2d(x: np.ndarray, method: str = "pca", seed: int = 0) -> np.ndarray:
    """2-D coordinates of the rows of ``x`` by PCA or UMAP (cosine metric)."""
    if method == "pca" or len(x) < 5:
        return pca_2d(x)
    if method == "umap":
        from semspace.report.projection import umap_2d

        return umap_2d(x, seed=seed)
    raise ValueError(f"unknown map method {method!r}; use pca or umap")


#: How each map method is named on a figure.
MAP_NAMES = {"pca": "PCA (first two components)", "umap": "UMAP (cosine metric)"}


def draw_map(
    coords: np.ndarray,
    modality: Sequence[str],
    item: Sequence[int],
    title: str,
    out: str,
    demo: bool = False,
    method: str | None = None,
) -> None:
    """Scatter of images (dots) and sentences (crosses), coloured by modality, with faint lines
    from each sentence to its image; ``method`` (``pca``/``umap``) names the projection on the
    axes and in the title."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from semspace.io import atomic_path

    modality = np.asarray(modality)
    item = np.asarray(item)
    fig, ax = plt.subplots(figsize=(6.5, 5.5), dpi=120)
    is_image = modality == "image"
    image_pos = {int(i): coords[k] for k, i in enumerate(item) if is_image[k]}
    for k in np.flatnonzero(~is_image):
        if int(item[k]) in image_pos:
            a, b = coords[k], image_pos[int(item[k])]
            ax.plot([a[0], b[0]], [a[1], b[1]], color="0.8", lw=0.4, zorder=1)
    ax.scatter(*coords[~is_image].T, s=14, marker="x", c="tab:orange", label="sentences", zorder=2)
    ax.scatter(*coords[is_image].T, s=18, marker="o", c="tab:blue", label="images", zorder=3)
    name = MAP_NAMES.get(method or "", "2-D map")
    axis = {"pca": "principal component", "umap": "UMAP"}.get(method or "", "map axis")
    ax.set_xlabel(f"{axis} 1", fontsize=9)
    ax.set_ylabel(f"{axis} 2", fontsize=9)
    ax.tick_params(labelsize=8)
    # 90 characters of 9 pt fit the axes' width (the projection line below is 89); a title
    # too long for one line keeps the demo note on a line of its own, not split mid-name
    heading = T.demo_title(title, demo)
    long_demo = demo and len(heading) > 90
    lines = [T.DEMO_NOTE, *textwrap.wrap(title, 90)] if long_demo else textwrap.wrap(heading, 90)
    lines.append(f"{name} of images and sentences together (lines: sentence → its image)")
    ax.set_title("\n".join(lines), fontsize=9)
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    with atomic_path(out, suffix=".png") as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)


#: A drawn map: the 2-D coordinates of each point.
COORDS = pa.schema(
    [
        pa.field("modality", pa.string(), nullable=False),
        pa.field("key", pa.string(), nullable=False),
        pa.field("text", pa.string()),
        pa.field("item", pa.int32(), nullable=False),
        pa.field("x", pa.float64(), nullable=False),
        pa.field("y", pa.float64(), nullable=False),
    ]
)


def coords_table(
    modality: Sequence[str],
    keys: Sequence[str],
    texts: Sequence[str | None],
    item: Sequence[int],
    coords: np.ndarray,
) -> pa.Table:
    return pa.table(
        {
            "modality": list(modality),
            "key": list(keys),
            "text": list(texts),
            "item": list(item),
            "x": coords[:, 0].astype(float),
            "y": coords[:, 1].astype(float),
        },
        schema=COORDS,
    )


def map_title(features: str, loss: str, train: str, eval_name: str) -> str:
    """What a map shows: the features, loss and training set, or zero-shot CLIP."""
    if train == "zeroshot":
        return f"zero-shot CLIP; eval {eval_name}"
    return f"{features} features, {loss} loss, trained on {train}; eval {eval_name}"


def write_map(
    points: MapPoints,
    title: str,
    png: str | Path,
    coords_out: str | Path,
    method: str = "pca",
    seed: int = 0,
    demo: bool = False,
) -> None:
    """Project ``points`` to 2-D (``method``), draw the map to ``png`` and write its
    coordinates (schema :data:`COORDS`) to ``coords_out``."""
    from semspace.io import write_parquet

    coords = map_2d(points.vectors, method, seed)
    draw_map(coords, points.modality, points.item, title, str(png), demo=demo, method=method)
    table = coords_table(points.modality, points.keys, points.texts, points.item, coords)
    write_parquet(table, coords_out, schema=COORDS)


def write_retrieval_table(
    metrics: Sequence[str | Path],
    train_order: Sequence[str],
    eval_order: Sequence[str],
    out_md: str | Path,
    out_csv: str | Path,
    out_parquet: str | Path,
    demo: bool = False,
) -> pa.Table:
    """The E2 table from ``retrieval evaluate``'s metrics files, as Parquet, CSV, Markdown and
    HTML (beside the Markdown)."""
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    from semspace.io import atomic_path, write_parquet

    rows = pa.concat_tables([pq.read_table(p).select(METRICS.names).cast(METRICS) for p in metrics])
    table = retrieval_table(rows, train_order, eval_order)
    write_parquet(table, out_parquet, schema=TABLE)
    with atomic_path(out_csv, suffix=".csv") as tmp:
        pcsv.write_csv(table, tmp)
    write_table_views(table, out_md, demo=demo)
    return table
