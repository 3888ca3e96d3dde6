"""Cells already known from earlier runs, found by what decides them: the scenario's text, the
backend, the Python and the env's full installed package set (a bisect reuses them as probes).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from harness.errors import BadInput
from harness.evidence.codec import read_results
from harness.evidence.model import UNFINISHED, Cell, Results
from harness.evidence.run_folder import RESULTS_FILE


class KnownCells:
    """Cells of earlier runs, found by scenario text, backend, Python and installed versions.

    Each folder may be a run folder (holding ``results.json``) or a folder of run folders.
    """

    def __init__(self, folders: Sequence[Path]):
        self._cells: dict[tuple[Any, ...], tuple[Cell, str]] = {}
        for folder in folders:
            # a run folder itself, or a folder of runs (reports/runs/), bisect folders' probes included
            patterns = [RESULTS_FILE, f"probes/*/{RESULTS_FILE}", f"*/{RESULTS_FILE}", f"*/probes/*/{RESULTS_FILE}"]
            for path in [found for pattern in patterns for found in sorted(folder.glob(pattern))]:
                try:
                    self.add(read_results(path), str(path.parent))
                except BadInput:
                    continue  # an unreadable earlier run is simply not reused

    def add(self, results: Results, source: str) -> None:
        scenarios = {s.id: s.sha256 for s in results.scenarios}
        pairings = {p.id: p for p in results.pairings}
        for cell in results.cells:
            pairing = pairings.get(cell.pairing)
            if pairing is None or not pairing.packages or cell.saved_with not in (None, cell.pairing):
                continue
            if cell.verdict in UNFINISHED:
                continue
            key = (scenarios.get(cell.scenario), pairing.backend, pairing.python, tuple(sorted(pairing.packages.items())))
            self._cells.setdefault(key, (cell, source))

    def lookup(self, sha256: str, backend: str, python: str, packages: dict[str, str]) -> tuple[Cell, str] | None:
        """The cell of an earlier run with this scenario text, backend, Python and package set, and
        where it came from; None when no run knows it."""
        return self._cells.get((sha256, backend, python, tuple(sorted(packages.items()))))
