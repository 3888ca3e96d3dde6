"""The headline of a SavedModel folder given with ``--file DIR``: which of the routes a user would
take to it (``load_model``, ``TFSMLayer``, ``tf.saved_model.load``: the scenario's formats) load
it, on which versions, and with what difference; e.g. "load_model fails on keras 3.5.0, 3.15.1
(ValueError: File format not supported …); TFSMLayer loads it on keras 3.5.0, 3.15.1, Δ 0".

Pure: it reads the run's cells (the loads of the save each route was measured on) and decides
nothing; the words come from the cells' verdicts and root causes.
"""

from __future__ import annotations

import re

from packaging.version import InvalidVersion, Version

from harness.evidence.model import Cell, PairingRecord, Results
from harness.report.cause import root_cause

#: The routes' formats in the order a user tries them, with the words that name them.
ROUTE_WORDS = {"load_model": "load_model", "tfsmlayer": "TFSMLayer", "saved_model": "tf.saved_model.load"}
_LOADS = ("passed",)


def route_lines(results: Results) -> list[str]:
    """One line per SavedModel scenario of the run (scenarios tagged ``saved-model`` whose formats
    are the routes): each route, where it loads the folder and where it fails, with the first
    failure's root cause. Empty for any other run."""
    labels = {p.id: _label(p) for p in results.pairings}
    lines: list[str] = []
    modules = sorted({s.id.partition("[")[0] for s in results.scenarios
                      if s.format in ROUTE_WORDS and "saved-model" in s.tags and "file" in s.tags})
    for module in modules:
        parts = []
        for route, words in ROUTE_WORDS.items():
            cells = [c for c in results.cells if c.scenario == f"{module}[{route}]" and c.saved_with is not None
                     and c.verdict not in ("skipped", "missing")]
            if cells:
                parts.append(_route_words(words, cells, labels))
        if parts:
            lines.append(f"{module}: " + "; ".join(parts))
    return lines


def _route_words(words: str, cells: list[Cell], labels: dict[str, str]) -> str:
    loads = sorted({labels.get(c.pairing, c.pairing) for c in cells if c.verdict in _LOADS}, key=_by_version)
    fails = [c for c in cells if c.verdict not in _LOADS]
    said = []
    if loads:
        worst = max((c.max_abs_diff or 0.0 for c in cells if c.verdict in _LOADS), default=0.0)
        said.append(f"{words} loads it on {', '.join(loads)}, Δ {worst:.3g}")
    if fails:
        readers = sorted({labels.get(c.pairing, c.pairing) for c in fails}, key=_by_version)
        first = fails[0]
        cause = root_cause(first.exception_type, first.message, first.traceback)
        why = re.sub(r":?\s*filepath=\S+", "", cause.line if cause is not None else first.reason)
        verb = "gives wrong values" if {c.verdict for c in fails} == {"wrong_values"} else "fails"
        said.append(f"{words} {verb} on {', '.join(readers)} ({why[:160]})")
    return "; ".join(said)


def _label(pairing: PairingRecord) -> str:
    """A pairing named by its Keras: ``keras 3.5.0`` (the Keras 2 of a TensorFlow pairing too)."""
    for name in ("keras", "tf-keras"):
        version = pairing.packages.get(name)
        if version:
            return f"{name} {version}"
    return pairing.id


def _by_version(label: str) -> tuple[int, Version | str]:
    """``keras 3.5.0`` before ``keras 3.15.1``; a label that is no version after them, by its text."""
    try:
        return 0, Version(label.rpartition(" ")[2])
    except InvalidVersion:
        return 1, label
