"""One place to write a report table: the same rows as Markdown, CSV (full precision) and a
self-contained HTML file (caption, table, footnotes) that a Snakemake report shows inline.

Numbers are formatted for reading by one function set: ints plain (no thousands separators, so
ids read as ids), floats rounded, shares (0..1) as percentages, eigenvalues in one style.
"""

from __future__ import annotations

import csv
import html
import io
import math
import numbers
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from semspace.io import write_text

Kind = Literal["auto", "text", "int", "float", "share", "percent", "eigen"]

#: What a table made with the demo models says in its caption and figures in their title.
DEMO_NOTE = "demo: random tiny models"

#: The widest a report figure may be, in inches: the Snakemake report shows a result in a pane
#: of about 832 px beside its side bar in a 1280-px window, so a figure of at most 8.6 in shows
#: at >= 96 px per inch and its 8-pt labels at their printed size (scripts/report-check.py
#: measures it in a browser).
FIGURE_WIDTH_IN = 8.6
#: Pixels per inch of a saved report figure, and the tallest it may be: the report centres a
#: result in a pane one window high (about 870 px in a 900-px window) and a taller image loses
#: its top, out of reach of the scroll bar; at 100 dpi a figure of at most 8.6 in keeps it.
FIGURE_DPI = 100
FIGURE_HEIGHT_IN = 8.6

#: Shown for a missing number (None or NaN) in the readable formats; the CSV leaves it empty.
MISSING = "–"


def is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def fmt_int(value: Any) -> str:
    """An integer, plainly: ``473237``, never ``473,237``."""
    return MISSING if is_missing(value) else str(int(value))


def fmt_float(value: Any, digits: int = 3) -> str:
    """A float rounded to ``digits`` decimals."""
    return MISSING if is_missing(value) else f"{float(value):.{digits}f}"


def fmt_share(value: Any, digits: int = 1) -> str:
    """A share in 0..1 as a percentage: ``0.05498`` → ``5.5 %``."""
    return MISSING if is_missing(value) else f"{100.0 * float(value):.{digits}f} %"


def fmt_percent(value: Any, digits: int = 1) -> str:
    """A value already in percent: ``60.48`` → ``60.5 %``."""
    return MISSING if is_missing(value) else f"{float(value):.{digits}f} %"


def fmt_eigen(value: Any, digits: int = 3) -> str:
    """An eigenvalue, always in scientific notation: ``3973`` → ``3.973e+03``."""
    return MISSING if is_missing(value) else f"{float(value):.{digits}e}"


def fmt_auto(value: Any, digits: int = 3) -> str:
    """Ints (and integral floats) plain, other floats rounded to ``digits`` decimals without
    trailing zeros (a paper's 27.7 stays 27.7 beside our 27.68), anything else as text."""
    if is_missing(value):
        return MISSING
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int) or (
        isinstance(value, float) and value.is_integer() and abs(value) < 1e15
    ):
        return fmt_int(value)
    if isinstance(value, float):
        text = fmt_float(value, digits).rstrip("0").rstrip(".")
        return "0" if text == "-0" else text
    return str(value)


_FORMATTERS: dict[str, Callable[..., str]] = {
    "int": fmt_int,
    "float": fmt_float,
    "share": fmt_share,
    "percent": fmt_percent,
    "eigen": fmt_eigen,
    "auto": fmt_auto,
}


def fmt(value: Any, kind: Kind = "auto", digits: int | None = None) -> str:
    """``value`` formatted for reading as ``kind``; ``digits`` overrides the kind's default."""
    if kind == "text":
        return "" if value is None else str(value)
    if kind not in _FORMATTERS:
        raise ValueError(f"unknown number kind {kind!r}; known: text, {', '.join(_FORMATTERS)}")
    if isinstance(value, str):  # a text cell in a number column (e.g. a note) stays as written
        return value
    return _FORMATTERS[kind](value) if digits is None else _FORMATTERS[kind](value, digits)


@dataclass(frozen=True)
class Column:
    """A column: the row key, its heading, and how its numbers read (``kind`` may depend on the
    row, e.g. a ``quantity | value`` table whose rows hold counts, shares and eigenvalues)."""

    key: str
    heading: str | None = None
    kind: Kind | Callable[[dict[str, Any]], Kind] = "auto"
    digits: int | None = None

    @property
    def title(self) -> str:
        return self.key if self.heading is None else self.heading

    def cell(self, row: dict[str, Any]) -> str:
        kind = self.kind(row) if callable(self.kind) else self.kind
        return fmt(row.get(self.key), kind, self.digits)

    @property
    def numeric(self) -> bool:
        return callable(self.kind) or self.kind != "text"


@dataclass(frozen=True)
class Table:
    """Rows with their columns, a caption and footnotes (Markdown-lite: `code` only)."""

    rows: Sequence[dict[str, Any]]
    columns: Sequence[Column]
    caption: str = ""
    footnotes: Sequence[str] = field(default_factory=tuple)
    demo: bool = False

    @property
    def full_caption(self) -> str:
        return demo_title(self.caption, self.demo)


def columns_of(rows: Sequence[dict[str, Any]]) -> list[Column]:
    """Default columns: every key of the first row, numbers formatted automatically."""
    return [Column(k) for k in (rows[0] if rows else {})]


def demo_title(title: str, demo: bool) -> str:
    """``title`` with the demo note in front when the models were the random tiny demo ones."""
    if not demo:
        return title
    return f"{DEMO_NOTE} — {title}" if title else DEMO_NOTE


# ---------------------------------------------------------------- Markdown


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def to_markdown(table: Table, heading_level: int = 0) -> str:
    """The caption (as a heading when ``heading_level`` > 0), the table, then its footnotes."""
    parts = []
    if table.full_caption:
        prefix = "#" * heading_level + " " if heading_level else ""
        parts.append(f"{prefix}{table.full_caption}\n")
    if table.rows:
        cols = table.columns
        lines = [
            "| " + " | ".join(_md_cell(c.title) for c in cols) + " |",
            "|" + "|".join("---:" if c.numeric else "---" for c in cols) + "|",
        ]
        lines += ["| " + " | ".join(_md_cell(c.cell(r)) for c in cols) + " |" for r in table.rows]
        parts.append("\n".join(lines) + "\n")
    else:
        parts.append("(no rows)\n")
    if table.footnotes:
        parts.append("\n".join(table.footnotes) + "\n")
    return "\n".join(parts)


# ---------------------------------------------------------------- CSV


def to_csv(table: Table) -> str:
    """The rows at full precision (no rounding), empty for missing values; headings = keys."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([c.key for c in table.columns])
    for row in table.rows:
        writer.writerow(
            ["" if is_missing(row.get(c.key)) else row.get(c.key) for c in table.columns]
        )
    return buffer.getvalue()


# ---------------------------------------------------------------- HTML

_STYLE = """
body { font-family: system-ui, sans-serif; font-size: 14px; margin: 1em; color: #222; }
h1 { font-size: 1.3em; margin: 0 0 0.6em; }
table { border-collapse: collapse; margin: 0.5em 0 1em; font-size: 13px; }
caption { caption-side: top; text-align: left; font-weight: 600; padding-bottom: 0.4em; }
th, td { border-bottom: 1px solid #ddd; padding: 0.25em 0.45em; vertical-align: top; }
th { background: #f3f3f3; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.notes { font-size: 12px; color: #444; max-width: 60em; }
code { background: #f3f3f3; padding: 0 0.2em; }
""".strip()


def _inline(text: str) -> str:
    """Escape ``text`` for HTML, turning `code` spans into <code> elements."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(text))


def _right_aligned(column: Column, rows: Sequence[dict[str, Any]]) -> bool:
    """A numeric column's cells align right; an ``auto`` column counts as numeric only when
    every value it holds is a number (a column of names reads left-aligned)."""
    if not column.numeric:
        return False
    if column.kind != "auto":
        return True
    values = [row.get(column.key) for row in rows]
    return all(
        is_missing(v) or (isinstance(v, numbers.Real) and not isinstance(v, bool)) for v in values
    )


def to_html_fragment(table: Table, caption: bool = True) -> str:
    """One <table> with its <caption> (unless ``caption`` is false), then its footnotes."""
    out = ["<table>"]
    if caption and table.full_caption:
        out.append(f"<caption>{_inline(table.full_caption)}</caption>")
    out.append(
        "<thead><tr>"
        + "".join(f"<th>{_inline(c.title)}</th>" for c in table.columns)
        + "</tr></thead>"
    )
    out.append("<tbody>")
    numeric = [_right_aligned(c, table.rows) for c in table.columns]
    for row in table.rows:
        cells = "".join(
            f'<td class="num">{html.escape(c.cell(row))}</td>'
            if right
            else f"<td>{html.escape(c.cell(row))}</td>"
            for c, right in zip(table.columns, numeric, strict=True)
        )
        out.append(f"<tr>{cells}</tr>")
    out.append("</tbody></table>")
    if table.footnotes:
        out.append(
            '<div class="notes">'
            + "".join(f"<p>{_inline(n)}</p>" for n in table.footnotes)
            + "</div>"
        )
    return "\n".join(out)


def to_html(title: str, blocks: Sequence[Table | str]) -> str:
    """A self-contained HTML page (inline style, no scripts or links): tables and paragraphs."""
    body = [f"<h1>{_inline(title)}</h1>"] if title else []
    for block in blocks:
        body.append(
            # a table whose caption is the page's title is not captioned twice
            to_html_fragment(block, caption=block.full_caption != title)
            if isinstance(block, Table)
            else f"<p>{_inline(block)}</p>"
        )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>\n{_STYLE}\n</style></head>\n<body>\n"
        + "\n".join(body)
        + "\n</body></html>\n"
    )


def html_path(path: str | Path) -> Path:
    """Where a table's HTML goes: beside it, same name, suffix ``.html``."""
    return Path(path).with_suffix(".html")


def write_table(
    table: Table,
    md: str | Path | None = None,
    csv_path: str | Path | None = None,
    html_out: str | Path | None = None,
    title: str = "",
) -> list[Path]:
    """Write the table to each path given (Markdown, CSV, HTML; the HTML page headed by
    ``title``, by default the caption); returns the paths written."""
    written = []
    if md is not None:
        write_text(to_markdown(table), md)
        written.append(Path(md))
    if csv_path is not None:
        write_text(to_csv(table), csv_path)
        written.append(Path(csv_path))
    if html_out is not None:
        # the page's heading is the table's caption unless a title is given
        write_text(to_html(demo_title(title or table.caption, table.demo), [table]), html_out)
        written.append(Path(html_out))
    return written
