"""E4's table and figures: zero-shot accuracy per prompt beside the paper's numbers, confusion
matrices, and UMAP maps of image features (dots) and text features (stars) by class."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from semspace.io import atomic_path, write_text
from semspace.report import tables as T

#: The paper's accuracies (%, CIFAR-10 test set, CLIP ViT-L/14), by our prompt names. Data for
#: the "paper" column only; nothing in the code computes or returns these.
PAPER_ACCURACY: dict[str, float] = {
    "hard": 96.19,
    "like": 85.56,
    "looks_like": 95.19,
    "resembles": 91.48,
}
PAPER_PROMPT_NAMES: dict[str, str] = {
    "hard": "hard text",
    "like": "like",
    "looks_like": "look like",
    "resembles": "resemble",
}

#: The report table: our accuracy (%) per prompt beside the paper's.
TABLE = pa.schema(
    [
        pa.field("prompt", pa.string(), nullable=False),
        pa.field("paper_prompt", pa.string()),
        pa.field("text", pa.string(), nullable=False),
        pa.field("n_images", pa.int64(), nullable=False),
        pa.field("n_texts", pa.int64(), nullable=False),
        pa.field("accuracy", pa.float64(), nullable=False),
        pa.field("paper", pa.float64()),
    ]
)


def accuracy_table(accuracy: pa.Table, paper: Mapping[str, float] = PAPER_ACCURACY) -> pa.Table:
    """One row per prompt: our accuracy in percent, and the paper's where it reported one."""
    rows = []
    for row in accuracy.to_pylist():
        rows.append(
            {
                "prompt": row["prompt"],
                "paper_prompt": PAPER_PROMPT_NAMES.get(row["prompt"]),
                "text": row["template"],
                "n_images": row["n_images"],
                "n_texts": row["n_texts"],
                "accuracy": round(100.0 * row["accuracy"], 2),
                "paper": paper.get(row["prompt"]),
            }
        )
    return pa.Table.from_pylist(rows, schema=TABLE)


COLUMNS = (
    T.Column("prompt", kind="text"),
    T.Column("paper_prompt", "paper's name", kind="text"),
    T.Column("text", kind="text"),
    T.Column("n_images", "images", kind="int"),
    T.Column("n_texts", "texts", kind="int"),
    T.Column("accuracy", "accuracy (%)", "float", 2),
    T.Column("paper", "paper (%)", "float", 2),
)


def report_table(
    table: pa.Table, classifier: Mapping[str, object], model: str, dataset: str, demo: bool = False
) -> T.Table:
    """The E4 table with its caption and footnotes (what `paper` is; the classifier's accuracy)."""
    notes = (
        (
            "Accuracy in % on the test images; `paper` is the value the paper reports "
            "(CIFAR-10, CLIP ViT-L/14)."
        ),
        (
            f"Classifier ({classifier.get('arch')}, {classifier.get('epochs')} epochs): "
            f"test accuracy {T.fmt_share(float(classifier.get('accuracy', 0.0)), 2)}, "
            f"top-2 accuracy {T.fmt_share(float(classifier.get('top2_accuracy', 0.0)), 2)} "
            f"on {classifier.get('n')} images."
        ),
    )
    caption = f"E4: soft-text prompts, CLIP zero-shot classification ({dataset}, model `{model}`)"
    return T.Table(table.to_pylist(), COLUMNS, caption, notes, demo)


def report_markdown(
    table: pa.Table, classifier: Mapping[str, object], model: str, dataset: str, demo: bool = False
) -> str:
    """The E4 table in Markdown with the classifier's own test accuracy underneath."""
    return T.to_markdown(report_table(table, classifier, model, dataset, demo), heading_level=1)


def write_table(
    table: pa.Table,
    csv_path: str | Path,
    md_path: str | Path,
    markdown: str,
    report: T.Table | None = None,
) -> Path | None:
    """The table as CSV (full precision) and Markdown; with ``report`` (see ``report_table``)
    also as HTML beside the Markdown, whose path is returned."""
    import pyarrow.csv as pacsv

    with atomic_path(csv_path, suffix=".csv") as tmp:
        pacsv.write_csv(table, tmp)
    write_text(markdown, md_path)
    if report is None:
        return None
    out = T.html_path(md_path)
    write_text(T.to_html(report.full_caption, [report]), out)
    return out


def confusion_matrices(confusion: pa.Table, n_classes: int) -> dict[str, np.ndarray]:
    """The long-form CONFUSION table back to one n x n matrix per prompt (in table order)."""
    out: dict[str, np.ndarray] = {}
    for row in confusion.to_pylist():
        matrix = out.setdefault(row["prompt"], np.zeros((n_classes, n_classes), dtype=np.int64))
        matrix[row["label"], row["predicted"]] = row["count"]
    return out


def plot_confusion(
    matrices: Mapping[str, np.ndarray],
    class_names: Sequence[str],
    out: str | Path,
    demo: bool = False,
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(matrices)
    k = len(class_names)
    # two matrices a row within the report's width; cells of >= 0.3 in hold 8-pt counts of up
    # to four digits
    n_cols = min(n, 2)
    n_rows = -(-n // n_cols) if n else 1
    side = (T.FIGURE_WIDTH_IN - 1.1) / max(n_cols, 1)
    fig, axes = plt.subplots(
        n_rows,
        max(n_cols, 1),
        figsize=(T.FIGURE_WIDTH_IN, (side + 0.35) * n_rows + 0.4),
        squeeze=False,
        layout="constrained",
    )
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    shown = None
    for ax, (name, matrix) in zip(axes.flat, matrices.items()):
        totals = matrix.sum(axis=1, keepdims=True)
        share = np.divide(matrix, totals, out=np.zeros(matrix.shape), where=totals > 0)
        shown = ax.imshow(share, vmin=0, vmax=1, cmap="Blues")
        acc = np.trace(matrix) / max(matrix.sum(), 1)
        ax.set_title(f"{name} ({100 * acc:.1f} %)", fontsize=10)
        ax.set_xticks(range(k), class_names, rotation=90, fontsize=8)
        ax.set_yticks(range(k), class_names, fontsize=8)
        ax.set_xlabel("predicted class", fontsize=9)
        ax.set_ylabel("true class", fontsize=9)
        for (i, j), count in np.ndenumerate(matrix):
            if count:
                colour = "white" if share[i, j] > 0.5 else "black"
                ax.text(j, i, str(count), ha="center", va="center", fontsize=8, color=colour)
    if shown is not None:
        bar = fig.colorbar(shown, ax=axes.ravel().tolist(), shrink=0.6)
        bar.set_label("share of the true class's images (numbers: counts)", fontsize=9)
        bar.ax.tick_params(labelsize=8)
    fig.suptitle(
        T.demo_title("E4 confusion matrix of each prompt (accuracy in brackets)", demo),
        fontsize=10,
    )
    _save(fig, out)


def sample_indices(labels: np.ndarray, max_images: int, seed: int) -> np.ndarray:
    """At most ``max_images`` indices, drawn at random (seeded), in increasing order."""
    if len(labels) <= max_images:
        return np.arange(len(labels))
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(len(labels), size=max_images, replace=False))


def plot_umap(
    image_xy: np.ndarray,
    image_labels: np.ndarray,
    text_xy: np.ndarray,
    text_classes: np.ndarray,
    class_names: Sequence[str],
    title: str,
    out: str | Path,
    demo: bool = False,
) -> None:
    """One UMAP fitted on images and texts together, drawn as two panels with their own limits:
    images as dots and texts as stars, coloured by class, each class named once among its stars.

    Image and text embeddings of CLIP sit in separate regions (the modality gap), so one shared
    frame leaves each modality a corner; separate limits show the structure within each.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colours = plt.get_cmap("tab10")
    fig, (ax_img, ax_txt) = plt.subplots(
        1, 2, figsize=(T.FIGURE_WIDTH_IN, 5.4), layout="constrained"
    )
    # one star a class reads at 160 pt²; a template set (~9 a class) would cover its panel
    star_size = 160 if len(text_xy) <= 2 * len(class_names) else 60
    class_labels: list = []
    for c, name in enumerate(class_names):
        dots = image_labels == c
        ax_img.scatter(
            image_xy[dots, 0], image_xy[dots, 1], s=10, color=colours(c % 10), alpha=0.7, label=name
        )
        stars = text_classes == c
        ax_txt.scatter(
            text_xy[stars, 0], text_xy[stars, 1], s=star_size, marker="*", color=colours(c % 10),
            edgecolors="black", linewidths=0.6, label=name,
        )  # fmt: skip
        if stars.any():  # the class named once, at its star nearest the class's median
            xy = text_xy[stars]
            x, y = xy[np.argmin(np.linalg.norm(xy - np.median(xy, axis=0), axis=1))]
            class_labels.append(
                ax_txt.annotate(
                    name, (x, y), xytext=(6, 4), textcoords="offset points", fontsize=8,
                    arrowprops={"arrowstyle": "-", "lw": 0.5, "color": "0.4", "shrinkA": 0,
                                "shrinkB": 3},
                    # readable where it lies over other classes' stars
                    bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "0.6", "lw": 0.4,
                          "alpha": 0.85},
                    zorder=5,
                )
            )  # fmt: skip
    for ax, what in ((ax_img, f"images ({len(image_xy)})"), (ax_txt, f"texts ({len(text_xy)})")):
        ax.set_title(what, fontsize=10)
        ax.set_xlabel("UMAP 1", fontsize=9)
        ax.set_ylabel("UMAP 2", fontsize=9)
        ax.tick_params(labelsize=8)
        ax.margins(0.12)  # room for the star labels
    # the class colours once, under both panels, so that no legend hides a point
    handles, labels = ax_img.get_legend_handles_labels()
    fig.legend(
        handles, labels, loc="outside lower center", ncol=min(len(labels), 5) or 1,
        fontsize=8, markerscale=2, title="class (dots: images, stars: texts)", title_fontsize=8,
    )  # fmt: skip
    note = (
        "one UMAP (cosine) fitted on images and texts together; each panel has its own axis "
        "limits, because the two modalities lie in separate regions (the modality gap)"
    )
    lines = [*textwrap.wrap(T.demo_title(title, demo), 95), *textwrap.wrap(note, 95)]
    fig.suptitle("\n".join(lines), fontsize=10)
    spread_labels(fig, class_labels)
    _save(fig, out)


def spread_labels(fig: object, labels: Sequence, gap_px: float = 4.0, rounds: int = 3) -> None:
    """Move point labels (annotations offset in points) vertically until no two overlap.

    Classes whose texts lie close together (the demo's soft prompts) put their names on top of
    each other. Overlapping labels are merged into groups, each group stacked around the mean
    height of its labels (lowest label lowest) and kept inside its axes; groups that then
    overlap are merged again. A leader line keeps each name tied to its star. The layout is
    drawn again after each round because constrained layout may move the axes a little.
    """
    if len(labels) < 2:
        return
    from matplotlib.text import Text

    px_to_pt = 72.0 / fig.dpi  # type: ignore[attr-defined]
    for _ in range(rounds):
        fig.canvas.draw()  # type: ignore[attr-defined]
        renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
        # the text alone: an annotation's own extent includes its leader line
        boxes = [Text.get_window_extent(a, renderer) for a in labels]
        frame = labels[0].axes.get_window_extent(renderer)
        groups = [[i] for i in range(len(labels))]
        placed = list(boxes)
        while True:
            for group in groups:
                _stack(group, boxes, placed, frame, gap_px)
            pair = _overlapping_groups(groups, placed)
            if pair is None:
                break
            a, b = pair
            groups[a] += groups.pop(b)
        if all(abs(p.y0 - b.y0) < 0.5 for p, b in zip(placed, boxes, strict=True)):
            return
        for label, box, target in zip(labels, boxes, placed, strict=True):
            dx, dy = label.xyann
            label.xyann = (dx, dy + (target.y0 - box.y0) * px_to_pt)


def _stack(group: list[int], boxes: list, placed: list, frame: object, gap_px: float) -> None:
    """Place the labels of one group one above another, centred on their mean height and
    inside ``frame``; a group of one keeps its own place."""
    if len(group) == 1:
        placed[group[0]] = boxes[group[0]]
        return
    order = sorted(group, key=lambda i: (boxes[i].y0 + boxes[i].y1) / 2)
    heights = [boxes[i].height for i in order]
    total = sum(heights) + gap_px * (len(order) - 1)
    centre = float(np.mean([(boxes[i].y0 + boxes[i].y1) / 2 for i in order]))
    bottom = min(max(centre - total / 2, frame.y0), frame.y1 - total)  # type: ignore[attr-defined]
    for i, height in zip(order, heights, strict=True):
        placed[i] = boxes[i].translated(0, bottom - boxes[i].y0)
        bottom += height + gap_px


def _overlapping_groups(groups: list[list[int]], placed: list) -> tuple[int, int] | None:
    """The first two groups with labels on top of each other, if any."""
    for a in range(len(groups)):
        for b in range(a + 1, len(groups)):
            if any(placed[i].overlaps(placed[j]) for i in groups[a] for j in groups[b]):
                return a, b
    return None


def _save(fig: object, out: str | Path) -> None:
    import matplotlib.pyplot as plt

    suffix = Path(out).suffix
    with atomic_path(out, suffix=suffix) as tmp:
        fig.savefig(tmp, dpi=T.FIGURE_DPI, format=suffix.lstrip(".") or "png")  # type: ignore[attr-defined]
    plt.close(fig)  # type: ignore[arg-type]


def best_soft_prompt(accuracy: pa.Table) -> str:
    """The soft prompt (any but ``hard``) with the highest accuracy; first in table order on
    ties."""
    best, best_acc = None, -1.0
    for row in accuracy.to_pylist():
        if row["prompt"] != "hard" and row["accuracy"] > best_acc:
            best, best_acc = row["prompt"], row["accuracy"]
    if best is None:
        raise ValueError("no soft prompt in the accuracy table")
    return best


def prompt_texts(texts: pa.Table, prompt: str) -> tuple[np.ndarray, np.ndarray]:
    """The text embeddings (float32, one row per class text) of one prompt of a ``TEXTS`` table
    and their classes (int64)."""
    import pyarrow.compute as pc

    rows = texts.filter(pc.equal(texts.column("prompt"), prompt))
    vectors = np.asarray(rows.column("embedding").to_pylist(), dtype=np.float32)
    classes = rows.column("class").to_numpy().astype(np.int64)
    return vectors, classes


@dataclass(frozen=True)
class UmapSettings:
    """How the E4 maps are drawn: images sampled (seeded) and the UMAP's parameters."""

    max_images: int = 2000
    n_neighbors: int = 15
    min_dist: float = 0.1
    seed: int = 0


@dataclass(frozen=True)
class UmapFigure:
    """One written map: its prompt, how many images and texts it shows, where it is."""

    prompt: str
    n_images: int
    n_texts: int
    out: Path


def write_umaps(
    image_embeddings: np.ndarray,
    image_labels: np.ndarray,
    texts: pa.Table,
    accuracy: pa.Table,
    class_names: Sequence[str],
    outputs: Mapping[str, str | Path],
    *,
    dataset: str,
    model: str,
    settings: UmapSettings = UmapSettings(),
    demo: bool = False,
) -> list[UmapFigure]:
    """E4's UMAP maps: for the hard prompt (``outputs["hard"]``) and the best soft prompt
    (``outputs["soft"]``), one UMAP of a seeded sample of the images with that prompt's class
    texts, drawn by :func:`plot_umap`. Both maps show the same sampled images."""
    from semspace.report.projection import umap_2d

    pick = sample_indices(image_labels, settings.max_images, settings.seed)
    acc = {row["prompt"]: row["accuracy"] for row in accuracy.to_pylist()}
    figures = []
    for prompt, out in (("hard", outputs["hard"]), (best_soft_prompt(accuracy), outputs["soft"])):
        text_vectors, text_classes = prompt_texts(texts, prompt)
        xy = umap_2d(
            np.concatenate([image_embeddings[pick], text_vectors]),
            settings.n_neighbors,
            settings.min_dist,
            settings.seed,
        )
        title = (
            f"{dataset}, {model}: {prompt} text ({100 * acc[prompt]:.1f} %), "
            f"{len(pick)} images, {len(text_classes)} texts"
        )
        plot_umap(
            xy[: len(pick)],
            image_labels[pick],
            xy[len(pick) :],
            text_classes,
            class_names,
            title,
            out,
            demo=demo,
        )
        figures.append(UmapFigure(prompt, len(pick), len(text_classes), Path(out)))
    return figures
