"""The matrix as a text table for the terminal, oriented like the page and summary.md: scenarios
as rows in the page's order, pairings as columns, each row's headline last. Column widths are
computed from what the columns hold (symbols that take two columns on a terminal count twice).
"""

from __future__ import annotations

import unicodedata
from typing import Sequence, TextIO

from harness.evidence.model import Results
from harness.report.model import CellView, Counts, ReportModel, build_report

GAP = "  "


def print_summary(results: Results, stream: TextIO) -> None:
    """The matrix, the cross-version grids and the counts, as text."""
    model = build_report(results)
    stream.write("\n" + "\n".join(summary_lines(model)) + "\n")


def summary_lines(model: ReportModel) -> list[str]:
    """The lines :func:`print_summary` writes."""
    header = ["scenario", *(p.label for p in model.pairings), "what it says"]
    body: list[list[str] | str] = []
    for group in model.groups:
        body.append(f"-- {group.title} --")
        body.extend([r.scenario.id, *(cell_text(c) for c in r.cells), r.scenario.headline] for r in group.rows)
    lines = [*(f"routes: {line}" for line in model.routes), *([""] if model.routes else []), *table(header, body)]
    if model.folded:
        ids = ", ".join(r.scenario.id for r in model.folded.rows)
        lines.append(f"{len(model.folded.rows)} scenarios skipped on every pairing ({model.folded.why}): {ids}")
    for grid in model.grids:
        lines += ["", f"{grid.scenario.id}: saved with (rows) -> loaded with (columns)"]
        cells = [[p.label, *(cell_text(c) if c else "" for c in row)] for p, row in zip(grid.savers, grid.rows)]
        lines += ["  " + line for line in table(["", *(p.label for p in grid.loaders)], list(cells), rule=False)]
    lines += ["", counts_line(model.counts)]
    if model.run["reused"]:
        lines.append(f"{model.run['reused']} cells reused from earlier runs (the cell cache; --fresh runs them again)")
    return lines


def cell_text(cell: CellView) -> str:
    """A cell as the page's grid shows it: symbol, then Δ, exception type or verdict word."""
    return f"{cell.symbol} {cell.text}"


def counts_line(counts: Counts) -> str:
    """``144 matrix cells: reproduced 26, passed 83, …; 66 cross-version cells: …``."""
    def told(pairs: Sequence[tuple[str, int]]) -> str:
        return ", ".join(f"{verdict} {count}" for verdict, count in pairs)

    line = f"{counts.matrix_total} matrix cells: {told(counts.matrix)}"
    if counts.cross_total:
        line += f"; {counts.cross_total} cross-version cells: {told(counts.cross)}"
    return line


def table(header: list[str], rows: Sequence[list[str] | str], rule: bool = True) -> list[str]:
    """Rows padded to the widest entry of each column (a string row is a full-width caption);
    the last column is not padded."""
    grid = [header, *(r for r in rows if not isinstance(r, str))]
    widths = [max(width(r[i]) for r in grid if i < len(r)) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        padded = [c + " " * (widths[i] - width(c)) if i < len(cells) - 1 else c for i, c in enumerate(cells)]
        return GAP.join(padded).rstrip()

    lines = [line(header)]
    if rule:
        lines.append("-" * width(lines[0]))
    lines += [r if isinstance(r, str) else line(r) for r in rows]
    return lines


def width(text: str) -> int:
    """Terminal columns ``text`` takes: wide and full-width characters take two, combining marks none."""
    return sum(0 if unicodedata.combining(ch) else 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
               for ch in text)
