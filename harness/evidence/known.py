"""Cells already known from earlier runs, found by what decides them: the scenario's text, the
backend, the Python, the env's full installed package set, and the run options that change a
verdict (the per-cell time limit and the isolation); a bisect reuses them as probes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from harness.errors import BadInput
from harness.evidence.codec import read_results
from harness.evidence.model import UNFINISHED, Cell, Results
from harness.evidence.run_folder import RESULTS_FILE


class KnownCells:
    """Cells of earlier runs, found by scenario text, backend, Python, installed versions, time
    limit and isolation (a ``timeout`` under a 1 s limit says nothing about a 60 s one).

    Each folder may be a run folder (holding ``results.json``) or a folder of run folders. A run
    whose record does not say its limit and isolation is never reused.
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
        """Remember the final single-env cells of ``results`` (``source``: where they came from)."""
        limits = run_limits(results)
        if limits is None:
            return
        scenarios = {s.id: s.sha256 for s in results.scenarios}
        pairings = {p.id: p for p in results.pairings}
        for cell in results.cells:
            pairing = pairings.get(cell.pairing)
            if pairing is None or not pairing.packages or cell.saved_with not in (None, cell.pairing):
                continue
            if cell.verdict in UNFINISHED:
                continue
            key = (scenarios.get(cell.scenario), pairing.backend, pairing.python, tuple(sorted(pairing.packages.items())),
                   *limits)
            self._cells.setdefault(key, (cell, source))

    def lookup(self, sha256: str, backend: str, python: str, packages: dict[str, str], timeout: float,
               isolation: str) -> tuple[Cell, str] | None:
        """The cell of an earlier run with this scenario text, backend, Python, package set, time
        limit and isolation, and where it came from; None when no run knows it."""
        return self._cells.get((sha256, backend, python, tuple(sorted(packages.items())), float(timeout), isolation))


def run_limits(results: Results) -> tuple[float, str] | None:
    """The recorded options of a run that change its verdicts: (time limit, isolation); None when
    the record does not say them plainly."""
    timeout, isolation = results.run.options.get("timeout"), results.run.options.get("isolation")
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not isinstance(isolation, str):
        return None
    return float(timeout), isolation
