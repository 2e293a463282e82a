"""E3 tables and figures: pairwise accuracy beside the paper's, tokenizer statistics,
training losses, relevance maps."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa

from semspace.io import atomic_path, write_text
from semspace.report import tables as T

#: The paper's pairwise accuracies (MIRU 2023, CLIP ViT-B/32 on LAVA, held-out pairs, batch 2
#: at test time). Data for the "paper" column only; never returned as a result.
PAPER_ACCURACY = {("text", 0): 50.00, ("syntax", 2): 76.24, ("syntax", 4): 83.66}

ACCURACY_TABLE = pa.schema(
    [
        pa.field("input", pa.string(), nullable=False),  # text | bracket | spaced | compact
        pa.field("train_batch", pa.int32(), nullable=False),  # 0 = no fine-tuning
        pa.field("model", pa.string(), nullable=False),
        pa.field("test_pairs", pa.int32(), nullable=False),
        pa.field("accuracy", pa.float64(), nullable=False),
        pa.field("paper", pa.float64()),
    ]
)

TOKENS_TABLE = pa.schema(
    [
        pa.field("input", pa.string(), nullable=False),
        pa.field("strings", pa.int32(), nullable=False),
        pa.field("mean_tokens", pa.float64(), nullable=False),
        pa.field("max_tokens", pa.int32(), nullable=False),
        pa.field("over_limit", pa.int32(), nullable=False),
        pa.field("bracket_token_types", pa.int32(), nullable=False),
        pa.field("example", pa.string(), nullable=False),
    ]
)


def paper_value(input_kind: str, batch: int) -> float | None:
    """The paper's number for a row: text only, or syntax (the paper's bracketed trees) by batch."""
    if input_kind == "text":
        return PAPER_ACCURACY[("text", 0)]
    if input_kind == "bracket":
        return PAPER_ACCURACY.get(("syntax", batch))
    return None


def accuracy_table(summaries: Sequence[dict]) -> pa.Table:
    """One row per evaluated model (summaries written by ``semspace syntax evaluate``)."""
    order = {"text": 0, "bracket": 1, "spaced": 2, "compact": 3}
    rows = sorted(summaries, key=lambda s: (order.get(s["input"], 9), s.get("train_batch", 0)))
    return pa.table(
        {
            "input": [s["input"] for s in rows],
            "train_batch": [int(s.get("train_batch", 0)) for s in rows],
            "model": [str(s.get("model", "")) for s in rows],
            "test_pairs": [int(s["pairs"]) for s in rows],
            "accuracy": [float(s["accuracy"]) for s in rows],
            "paper": [paper_value(s["input"], int(s.get("train_batch", 0))) for s in rows],
        },
        schema=ACCURACY_TABLE,
    )


ACCURACY_NOTE = (
    "Pairwise accuracy (%) on held-out pairs: for each tree (or sentence), is its own scene closer "
    "than the other reading's? Exact ties count one half, so the text-only input (the same "
    "sentence for both readings) scores 50 % by construction. `train_batch` 0 = the model without "
    "fine-tuning. `paper`: MIRU 2023 (CLIP ViT-B/32, bracketed trees)."
)
TOKENS_NOTE = (
    "`over_limit`: strings longer than the 77-token context (truncated at the end). "
    "`bracket_token_types`: distinct tokens made only of brackets, e.g. `((` or `))))`."
)


def accuracy_report(accuracy: pa.Table, demo: bool = False) -> T.Table:
    columns = [
        T.Column("input", kind="text"),
        T.Column("train_batch", kind="int"),
        T.Column("model", kind="text"),
        T.Column("test_pairs", kind="int"),
        T.Column("accuracy", "accuracy (%)", "float", 2),
        T.Column("paper", "paper (%)", "float", 2),
    ]
    return T.Table(
        accuracy.to_pylist(), columns, "E3: pairwise accuracy on LAVA", (ACCURACY_NOTE,), demo
    )


def tokens_report(tokens: pa.Table, demo: bool = False) -> T.Table:
    columns = [
        T.Column("input", kind="text"),
        T.Column("strings", kind="int"),
        T.Column("mean_tokens", kind="float", digits=1),
    ]
    columns += [
        T.Column(k, kind="int") for k in ("max_tokens", "over_limit", "bracket_token_types")
    ]
    return T.Table(
        tokens.to_pylist(),
        columns,
        "How the CLIP tokenizer splits the linearised trees",
        (TOKENS_NOTE,),
        demo,
    )


def data_report(counts: dict) -> T.Table:
    """The data counts (sentences, trees, frames, pairs) as a two-column table (the page's title
    carries the demo note)."""
    rows = [{"quantity": k, "count": v} for k, v in counts.items()]
    return T.Table(
        rows,
        [T.Column("quantity"), T.Column("count", kind="int")],
        "Data: sentences, readings and pairs",
    )


def write_tables(
    accuracy: pa.Table,
    tokens: pa.Table,
    counts: dict,
    md_path: str | Path,
    csv_path: str | Path,
    demo: bool = False,
) -> Path:
    """The report (accuracy, tokenizer check, data counts) as Markdown and as HTML beside it, and
    the accuracy CSV at full precision; returns the HTML path."""
    import pyarrow.csv as pacsv

    title = T.demo_title("E3: syntax trees as CLIP text input (LAVA)", demo)
    acc, tok = accuracy_report(accuracy), tokens_report(tokens)
    examples = [f"`{row['input']}`: {row['example']}" for row in tokens.to_pylist()]
    data = data_report(counts)
    text = [
        f"# {title}\n",
        T.to_markdown(acc),
        "\n## " + T.to_markdown(tok),
        "\nFirst tree of each input as tokens (`_` ends a word):\n",
    ]
    text += [f"- {line}" for line in examples]
    text += ["\n## " + T.to_markdown(data)]
    write_text("\n".join(text) + "\n", md_path)
    html_out = T.html_path(md_path)
    blocks: list[T.Table | str] = [
        acc,
        tok,
        "First tree of each input as tokens (`_` ends a word):",
    ]
    blocks += [*examples, data]
    write_text(T.to_html(title, blocks), html_out)
    with atomic_path(csv_path, suffix=".csv") as tmp:
        pacsv.write_csv(accuracy, tmp)
    return html_out


def plot_losses(logs: dict[str, Sequence[float]], out: str | Path, demo: bool = False) -> None:
    """Training loss per step of each fine-tuning run (a running mean over 10 steps)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.8))
    smoothed = False
    for name, losses in sorted(logs.items()):
        y = np.asarray(losses, np.float64)
        if len(y) >= 10:
            y = np.convolve(y, np.ones(10) / 10, mode="valid")
            smoothed = True
        ax.plot(np.arange(len(y)), y, label=name)
    ax.set_xlabel("step")
    ax.set_ylabel("contrastive loss" + (" (mean of 10 steps)" if smoothed else ""))
    ax.legend(fontsize=8, title="fine-tuning run", title_fontsize=8)
    ax.set_title(T.demo_title("E3 fine-tuning loss per step", demo), fontsize=10)
    fig.tight_layout()
    with atomic_path(out, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", dpi=T.FIGURE_DPI)
    plt.close(fig)


def plot_relevance(
    panels: Sequence[dict], out: str | Path, title: str = "", demo: bool = False
) -> None:
    """The readings' frames with their patch relevance side by side, then each reading's tree
    token relevance as a full-width row.

    Each panel: ``image`` (h, w, 3 uint8), ``patches`` (g, g), ``tokens`` (list of str),
    ``token_relevance`` (array), ``label`` (str).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # within the report's width and window height: the readings' frames side by side on top,
    # then one full-width row of token bars per reading (rotated 8-pt labels, ~8.5 pt apart
    # for a 70-token bracketed tree)
    n = len(panels)
    fig = plt.figure(figsize=(T.FIGURE_WIDTH_IN, 2.7 + 2.1 * n + 0.5), layout="constrained")
    grid = fig.add_gridspec(1 + n, max(n, 1), height_ratios=[2.7] + [2.1] * n)
    for k, panel in enumerate(panels):
        ax_img = fig.add_subplot(grid[0, k])
        ax_tok = fig.add_subplot(grid[1 + k, :])
        image = panel["image"]
        ax_img.imshow(image)
        heat = np.asarray(panel["patches"], np.float64)
        heat = heat / heat.max() if heat.max() > 0 else heat
        shown = ax_img.imshow(
            heat,
            cmap="jet",
            alpha=0.45,
            vmin=0.0,
            vmax=1.0,
            extent=(0, image.shape[1], image.shape[0], 0),
            interpolation="bilinear",
        )
        ax_img.set_xticks([])
        ax_img.set_yticks([])
        ax_img.set_xlabel("image patches", fontsize=8)
        ax_img.set_ylabel("")
        bar = fig.colorbar(shown, ax=ax_img, fraction=0.08, pad=0.02)
        bar.set_label("patch relevance (÷ max)", fontsize=8)
        bar.ax.tick_params(labelsize=8)
        ax_img.set_title("\n".join(textwrap.wrap(panel["label"], 40)[:3]), fontsize=8)
        rel = np.asarray(panel["token_relevance"], np.float64)
        ax_tok.bar(np.arange(len(rel)), rel, color="tab:red")
        ax_tok.set_xticks(np.arange(len(rel)))
        ax_tok.set_xticklabels(panel["tokens"], rotation=90, fontsize=8)
        ax_tok.set_xlim(-0.5, max(len(rel), 1) - 0.5)
        ax_tok.set_xlabel(f"tree token ({panel['label'].split(':')[0]})", fontsize=8)
        ax_tok.set_ylabel("relevance", fontsize=8)
        ax_tok.tick_params(axis="y", labelsize=8)
    if title or demo:
        fig.suptitle("\n".join(textwrap.wrap(T.demo_title(title, demo), 95)), fontsize=10)
    with atomic_path(out, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", dpi=T.FIGURE_DPI)
    plt.close(fig)
