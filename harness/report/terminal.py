"""The matrix as a text table for the terminal (the same rows as summary.md)."""

from __future__ import annotations

from typing import TextIO

from harness.evidence.model import Results
from harness.report.model import CellView, build_report


def print_summary(results: Results, stream: TextIO) -> None:
    """The matrix as a text table for the terminal (the same rows as summary.md)."""
    model = build_report(results)
    width = max([len(s.id) for s in model.scenarios] + [8])

    def text(cell: CellView) -> str:
        return f"{f'{cell.symbol} {cell.word}' + (' ' + cell.diff if cell.diff else ''):<16}"

    header = f"{'scenario':<{width}}  " + "  ".join(f"{p.label:<16}" for p in model.pairings)
    stream.write("\n" + header + "\n" + "-" * len(header) + "\n")
    for index, scenario in enumerate(model.scenarios):
        row = [cells[index] for _, cells in model.rows]
        stream.write(f"{scenario.id:<{width}}  " + "  ".join(text(c) for c in row) + "\n")
    for grid in model.grids:
        side = max([len(p.label) for p in grid.savers] + [10])
        stream.write(f"\n{grid.scenario.id}: saved with (rows) -> loaded with (columns)\n")
        stream.write(f"  {'':<{side}}  " + "  ".join(f"{p.label:<16}" for p in grid.loaders) + "\n")
        for pairing, grid_row in zip(grid.savers, grid.rows):
            stream.write(f"  {pairing.label:<{side}}  " + "  ".join(text(c) for c in grid_row) + "\n")
    stream.write("\n" + "; ".join(f"{v} {n}" for v, n in model.counts) + f" ({model.total} cells)\n")
    for scenario in model.scenarios:
        stream.write(f"{scenario.id}: {scenario.headline}\n")
