"""Reports (placeholder until the report model lands)."""

from __future__ import annotations

from pathlib import Path
from typing import TextIO

from harness.results import Results


def render_all(results: Results, folder: Path) -> list[Path]:
    return []


def print_summary(results: Results, stream: TextIO) -> None:
    for cell in results.cells:
        stream.write(f"{cell.scenario:<40} {cell.saved_with or '':<35} {cell.pairing:<35} {cell.verdict:<14} {cell.reason}\n")
