"""Legibility checks on every report figure, drawn from synthetic inputs: nothing outside the
canvas, labelled axes, text of at least 8 pt, colourbars where colour carries a value."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import numpy as np
import pyarrow as pa
import pytest
from matplotlib.figure import Figure
from matplotlib.text import Text

from semspace.experiments.vwsd import NO_STRATEGY
from semspace.report import imagespace as rs
from semspace.report import retrieval as rr
from semspace.report import softtext as rp
from semspace.report import syntax as rx
from semspace.report import tables as T
from semspace.report import vwsd as rv

MIN_PT = 8.0
#: The report's pane for a result is ~832 px wide at a 1280-px window: a figure of at most this
#: many inches shows at >= 96 px per inch there, so 8-pt text stays 8 pt on screen.
MAX_WIDTH_IN = 832 / 96
#: The report centres a result in a pane one window high; an image taller than ~876 px (a
#: 900-px window less its padding) loses its top, out of reach of the scroll bar.
MAX_HEIGHT_PX = 876


@pytest.fixture
def drawn(monkeypatch):
    """Every figure saved during the test, kept for inspection after the plotting function
    closed it."""
    figures: list[Figure] = []
    original = Figure.savefig

    def record(self, *args, **kwargs):
        self.saved_dpi = kwargs.get("dpi") or self.dpi  # the pixels per inch of the file
        self.saved_tight = kwargs.get("bbox_inches") == "tight"  # the file crops to the drawing
        figures.append(self)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", record)
    return figures


def _renderer(fig: Figure):
    """A renderer of the figure as saved (pyplot swaps a closed figure's canvas for a bare one)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    if not isinstance(fig.canvas, FigureCanvasAgg):
        FigureCanvasAgg(fig)
        fig.canvas.draw()
    return fig.canvas.get_renderer()


def _visible_texts(fig: Figure) -> list[Text]:
    return [t for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip()]


def check_legible(fig: Figure, max_height_px: float | None = MAX_HEIGHT_PX) -> None:
    """Assert the figure's readable properties: narrow enough for the report to show it at its
    printed size, drawn within the canvas, text ≥ 8 pt, tick labels of one axis apart from each
    other, both axis labels on every axes that has coordinates."""
    width_in = fig.get_size_inches()[0]
    assert width_in <= MAX_WIDTH_IN + 1e-9, f"{width_in:.2f} in: shrunk below 8 pt in the report"
    if max_height_px is not None and hasattr(fig, "saved_dpi"):
        height_in = fig.get_size_inches()[1]
        if getattr(fig, "saved_tight", False):
            height_in = fig.get_tightbbox(_renderer(fig)).height + 0.2  # pad_inches 0.1 a side
        height_px = height_in * fig.saved_dpi
        assert height_px <= max_height_px, f"{height_px:.0f} px tall: its top cut off in the report"
    renderer = _renderer(fig)
    canvas = fig.bbox
    # every drawn artist (suptitle and titles included) lies within the canvas (display units)
    tight = fig.get_tightbbox(renderer).transformed(fig.dpi_scale_trans)
    assert tight.x0 >= canvas.x0 - 1 and tight.y0 >= canvas.y0 - 1, (tight, canvas)
    assert tight.x1 <= canvas.x1 + 1 and tight.y1 <= canvas.y1 + 1, (tight, canvas)
    for text in _visible_texts(fig):
        assert text.get_fontsize() >= MIN_PT, (text.get_text(), text.get_fontsize())
    for ax in fig.axes:
        if not ax.axison or _is_colorbar(ax):
            continue
        if ax.get_xticks().size == 0 and ax.get_yticks().size == 0:
            continue  # an image tile without coordinates (E1's gold frame, E3's frame)
        # a marginal axes may take its label from the axes it shares that axis with
        xs = ax.get_shared_x_axes().get_siblings(ax)
        ys = ax.get_shared_y_axes().get_siblings(ax)
        assert any(a.get_xlabel() for a in xs) and any(a.get_ylabel() for a in ys), ax
        for axis in (ax.xaxis, ax.yaxis):
            _ticklabels_apart(axis, renderer)


def _ticklabels_apart(axis, renderer) -> None:
    """No two visible tick labels of one axis overlap (a 1-pt touch is allowed)."""
    boxes = [
        t.get_window_extent(renderer).padded(-0.5)
        for t in axis.get_ticklabels()
        if t.get_visible() and t.get_text().strip()
    ]
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            assert not a.overlaps(b), ("tick labels overlap", axis.axes.get_title(), a, b)


def _is_colorbar(ax) -> bool:
    return hasattr(ax, "_colorbar")


def _colorbars(fig: Figure) -> list:
    return [ax for ax in fig.axes if _is_colorbar(ax)]


def _titles_disjoint(fig: Figure) -> None:
    """No two axes titles overlap each other."""
    renderer = _renderer(fig)
    boxes = [ax.title.get_window_extent(renderer) for ax in fig.axes if ax.get_title()]
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            assert not a.overlaps(b), (a, b)


# ---------------------------------------------------------------- E1


def _vwsd_items(n: int) -> pa.Table:
    rng = np.random.default_rng(0)
    rows = []
    for i in range(n):
        candidates = [f"image.{i}.{k}.jpg" for k in range(10)]
        p = rng.dirichlet(np.ones(10)).tolist()
        rows.append(
            {
                "item": i,
                "target": "bank",
                "phrase": "bank of the river where herons stand all day long",
                "prompt": "phrase",
                "strategy": NO_STRATEGY,
                "candidates": candidates,
                "missing": [],
                "probability": p,
                "gold": candidates[0],
                "hit": bool(np.argmax(p) == 0),
                "gold_rank": int(np.argsort(-np.asarray(p)).tolist().index(0) + 1),
                "synset": "bank.n.01",
            }
        )
    return pa.Table.from_pylist(rows)


def test_ranking_figure_title_above_rows_and_label_column_used(tmp_path, drawn):
    n = rv.ranking_figure(_vwsd_items(16), tmp_path / "r.png", "phrase", NO_STRATEGY, demo=True)
    assert n == 16
    (fig,) = drawn
    # 16 rows do not fit the report's window height (the trial set's figure): legible, but
    # taller than the window; 8 rows (the demo's) fit, below
    check_legible(fig, max_height_px=None)
    renderer = _renderer(fig)
    title = fig._suptitle.get_window_extent(renderer)
    first_row = max(ax.get_window_extent(renderer).y1 for ax in fig.axes[:11])
    assert title.y0 >= first_row - 1, (title, first_row)
    # the label column's text fills most of its column instead of leaving it empty
    label_ax = fig.axes[0]
    (label,) = [t for t in label_ax.texts]
    text_w = label.get_window_extent(renderer).width
    assert text_w >= 0.6 * label_ax.get_window_extent(renderer).width
    _titles_disjoint(fig)


# ---------------------------------------------------------------- E3


def test_relevance_figure_legible_with_colourbar(tmp_path, drawn):
    rng = np.random.default_rng(1)
    tokens = [f"token{k}_" for k in range(40)]
    panel = {
        "image": rng.integers(0, 255, (64, 96, 3), dtype=np.uint8),
        "patches": rng.random((7, 7)),
        "tokens": tokens,
        "token_relevance": rng.random(len(tokens)),
        "label": "reading 1: the man holds the telescope and sees the girl with it (gold)",
    }
    rx.plot_relevance([panel, panel], tmp_path / "rel.png", title="pair 3: " + "x " * 80)
    (fig,) = drawn
    check_legible(fig)
    assert len(_colorbars(fig)) == 2
    _titles_disjoint(fig)


def test_loss_figure_legible(tmp_path, drawn):
    rx.plot_losses({"words": np.linspace(2, 1, 50), "trees": np.linspace(2, 0.5, 50)},
                   tmp_path / "l.png", demo=True)  # fmt: skip
    check_legible(drawn[0])


# ---------------------------------------------------------------- E4


def test_confusion_figure_has_colourbar_and_8pt_counts(tmp_path, drawn):
    rng = np.random.default_rng(2)
    names = [f"class{k}" for k in range(10)]
    matrices = {p: rng.integers(0, 300, (10, 10)) for p in ("hard", "soft")}
    rp.plot_confusion(matrices, names, tmp_path / "c.png", demo=True)
    (fig,) = drawn
    check_legible(fig)
    assert len(_colorbars(fig)) == 1
    # each count fits within its cell
    renderer = _renderer(fig)
    ax = fig.axes[0]
    cell = ax.get_window_extent(renderer).width / 10
    assert max(t.get_window_extent(renderer).width for t in ax.texts) < cell


def test_umap_figure_gives_each_modality_its_own_frame(tmp_path, drawn):
    rng = np.random.default_rng(3)
    labels = np.repeat(np.arange(10), 20)
    image_xy = rng.normal(size=(200, 2)) + labels[:, None]
    text_xy = rng.normal(size=(10, 2)) * 0.05 + 40.0  # far from the images: the modality gap
    names = [f"class{k}" for k in range(10)]
    rp.plot_umap(image_xy, labels, text_xy, np.arange(10), names, "cifar10", tmp_path / "u.png")
    (fig,) = drawn
    check_legible(fig)
    ax_img, ax_txt = fig.axes[:2]
    # the text stars span most of their panel (not a corner of a shared frame)
    for ax, xy in ((ax_img, image_xy), (ax_txt, text_xy)):
        lo, hi = ax.get_xlim()
        assert (xy[:, 0].max() - xy[:, 0].min()) / (hi - lo) > 0.6
    # each star is named, and the caption says how the projection was fitted
    assert sorted(t.get_text() for t in ax_txt.texts) == sorted(names)
    assert "fitted on images and texts together" in fig._suptitle.get_text()


# ---------------------------------------------------------------- E2


@pytest.mark.parametrize("method", ["pca", "umap"])
def test_retrieval_map_names_projection(tmp_path, drawn, method):
    rng = np.random.default_rng(4)
    coords = rng.normal(size=(30, 2))
    modality = ["image"] * 10 + ["text"] * 20
    item = list(range(10)) + [k % 10 for k in range(20)]
    rr.draw_map(coords, modality, item, "flickr8k, vgg16, sum loss", str(tmp_path / "m.png"),
                method=method)  # fmt: skip
    (fig,) = drawn
    check_legible(fig)
    ax = fig.axes[0]
    assert rr.MAP_NAMES[method] in ax.get_title()
    assert ("UMAP" if method == "umap" else "principal component") in ax.get_xlabel()


def test_retrieval_map_title_keeps_a_long_setting_on_one_line(tmp_path, drawn):
    """A demo map's long setting is not split mid-name: the demo note gets a line of its own."""
    coords = np.random.default_rng(5).normal(size=(20, 2))
    title = rr.map_title("clip", "sum", "flickr30k_entities", "flickr30k")
    rr.draw_map(coords, ["image"] * 10 + ["text"] * 10, list(range(10)) * 2, title,
                str(tmp_path / "m.png"), demo=True, method="pca")  # fmt: skip
    (fig,) = drawn
    check_legible(fig)
    lines = fig.axes[0].get_title().split("\n")
    assert lines[:2] == [T.DEMO_NOTE, title]


# ---------------------------------------------------------------- E5


def test_imagespace_figures_legible(tmp_path, drawn):
    rng = np.random.default_rng(5)
    coords = pa.table({"dim1": rng.normal(size=100), "dim2": rng.normal(size=100)})
    rs.mds_map_figure(coords, tmp_path / "m.png", "MDS", highlight=[0, 1, 2], demo=True)
    rs.token_count_figure(rng.integers(5, 30, 200), tmp_path / "t.png", "token sets")
    it, sd = np.meshgrid(np.arange(6), np.arange(12))
    hist = pa.table(
        {
            "intersection": it.ravel(),
            "symdiff": sd.ravel(),
            "pairs": rng.integers(1, 1000, it.size),
        }
    )
    rs.pair_histogram_figure(hist, tmp_path / "p.png", "pairs")
    assert len(drawn) == 3
    for fig in drawn:
        check_legible(fig, max_height_px=None)  # heights: the test below
    assert len(_colorbars(drawn[2])) == 1
    # set sizes are whole numbers of tokens: no 2.5 on the histogram's axes
    main = drawn[2].axes[0]
    for ticks in (main.get_xticks(), main.get_yticks()):
        np.testing.assert_array_equal(ticks, np.round(ticks))


def test_imagespace_figures_fit_the_report_window(tmp_path, drawn):
    test_imagespace_figures_legible(tmp_path, drawn)
    for fig in drawn:
        check_legible(fig)


def test_checker_catches_small_text_and_missing_labels():
    """The checker itself fails on the defects it is meant to find."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.plot([0, 1])
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.set_title("fine", fontsize=5)
    fig.canvas.draw()
    with pytest.raises(AssertionError):
        check_legible(fig)
    ax.set_title("fine", fontsize=10)
    ax.set_ylabel("")
    with pytest.raises(AssertionError):
        check_legible(fig)
    plt.close(fig)


def test_checker_catches_wide_figures_and_crowded_ticks():
    """A figure wider than the report shows at printed size fails, and so do tick labels drawn
    over each other."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(12, 4))
    ax.plot([0, 1])
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    with pytest.raises(AssertionError, match="in the report"):
        check_legible(fig)
    fig.set_size_inches(6, 4)
    check_legible(fig)
    ax.set_xticks(np.linspace(0, 1, 80), [f"token{k}" for k in range(80)], fontsize=8)
    with pytest.raises(AssertionError, match="tick labels overlap"):
        check_legible(fig)
    plt.close(fig)


def test_report_width_constant_is_the_checked_one():
    assert T.FIGURE_WIDTH_IN <= MAX_WIDTH_IN


def test_relevance_figure_keeps_70_token_labels_apart(tmp_path, drawn):
    """A demo-sized bracketed tree (≈ 70 tokens, single characters included) stays legible."""
    rng = np.random.default_rng(6)
    tokens = list("(s(np danny)(vp approached(np the chair)(pp with(np a yellow bag))))")[:70]
    panel = {
        "image": rng.integers(0, 255, (32, 32, 3), dtype=np.uint8),
        "patches": rng.random((4, 4)),
        "tokens": tokens,
        "token_relevance": rng.random(len(tokens)),
        "label": "reading 0: Danny with bag (left)",
    }
    rx.plot_relevance([panel, panel], tmp_path / "rel.png", title="pair 1", demo=True)
    (fig,) = drawn
    check_legible(fig)


def test_confusion_figure_of_four_prompts_fits_the_report(tmp_path, drawn):
    rng = np.random.default_rng(7)
    names = [f"class{k}" for k in range(10)]
    prompts = ("hard", "like", "sims_like", "resembles")
    rp.plot_confusion({p: rng.integers(0, 1000, (10, 10)) for p in prompts}, names,
                      tmp_path / "c.png", demo=True)  # fmt: skip
    (fig,) = drawn
    check_legible(fig)
    _titles_disjoint(fig)
    renderer = _renderer(fig)
    for ax in fig.axes[: len(prompts)]:
        cell = ax.get_window_extent(renderer).width / 10
        assert max(t.get_window_extent(renderer).width for t in ax.texts) < cell


def test_ranking_figure_of_eight_items_fits_the_report_window(tmp_path, drawn):
    rv.ranking_figure(_vwsd_items(8), tmp_path / "r.png", "phrase", NO_STRATEGY, demo=True)
    check_legible(drawn[0])


def test_checker_catches_a_figure_taller_than_the_window(tmp_path, drawn):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 9.5))
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    fig.savefig(tmp_path / "tall.png", dpi=100)
    with pytest.raises(AssertionError, match="top cut off"):
        check_legible(fig)
    plt.close(fig)


def test_figure_outputs_exist(tmp_path):
    out = Path(tmp_path) / "sub" / "r.png"
    rv.ranking_figure(_vwsd_items(2), out, "phrase", NO_STRATEGY)
    assert out.stat().st_size > 0


def test_umap_figure_names_each_class_once_among_many_texts(tmp_path, drawn):
    """A template set (9 texts a class, as the demo's soft prompts) names each class once."""
    rng = np.random.default_rng(8)
    labels = np.repeat(np.arange(10), 10)
    text_classes = np.repeat(np.arange(10), 9)
    text_xy = rng.normal(size=(90, 2)) * 0.3 + text_classes[:, None]
    names = [f"class{k}" for k in range(10)]
    rp.plot_umap(rng.normal(size=(100, 2)), labels, text_xy, text_classes, names, "cifar10",
                 tmp_path / "u.png")  # fmt: skip
    (fig,) = drawn
    check_legible(fig)
    ax_txt = fig.axes[1]
    assert sorted(t.get_text() for t in ax_txt.texts) == sorted(names)


def test_umap_figure_keeps_class_names_of_one_cluster_apart(tmp_path, drawn):
    """Soft prompts of several classes in one cluster (as in the demo's soft UMAP): their names
    are moved apart, none on top of another, each still tied to its stars."""
    rng = np.random.default_rng(3)
    labels = np.repeat(np.arange(10), 6)
    text_classes = np.repeat(np.arange(10), 9)
    centres = np.where(text_classes[:, None] < 7, 0.0, 5.0 + text_classes[:, None])
    text_xy = centres + rng.normal(size=(90, 2)) * 0.05
    names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "x"]
    rp.plot_umap(rng.normal(size=(60, 2)), labels, text_xy, text_classes, names, "cifar10",
                 tmp_path / "u.png")  # fmt: skip
    (fig,) = drawn
    check_legible(fig)
    renderer = _renderer(fig)
    boxes = [Text.get_window_extent(t, renderer) for t in fig.axes[1].texts]  # without leaders
    assert len(boxes) == 10
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            assert not a.overlaps(b), ("class names overlap", a, b)
