"""How verdicts and pairings are named in words: the symbol and word of each verdict, the short
labels that tell pairings apart, and the one-sentence headline of a scenario.
"""

from __future__ import annotations

from typing import Sequence

from harness.evidence.model import VERDICTS, Cell, PairingRecord, ScenarioRecord

#: How each verdict is shown: a symbol and a word (never colour alone), and a phrase for headlines.
VERDICT_STYLE: dict[str, dict[str, str]] = {
    "reproduced": {"symbol": "●", "word": "reproduced", "phrase": "reproduces on"},
    "passed": {"symbol": "✓", "word": "passed", "phrase": "passes on"},
    "wrong_values": {"symbol": "≠", "word": "wrong values", "phrase": "loads wrong values on"},
    "error": {"symbol": "!", "word": "error", "phrase": "fails with another error on"},
    "crashed": {"symbol": "✖", "word": "crashed", "phrase": "crashes on"},
    "timeout": {"symbol": "⧗", "word": "timeout", "phrase": "times out on"},
    "install_failed": {"symbol": "⊘", "word": "install failed", "phrase": "could not be installed on"},
    "skipped": {"symbol": "–", "word": "skipped", "phrase": "is skipped on"},
    "interrupted": {"symbol": "‖", "word": "interrupted", "phrase": "was interrupted on"},
    "missing": {"symbol": "?", "word": "missing", "phrase": "has no result on"},
}

#: Package names most worth naming when telling pairings apart, in order.
_LABEL_PREFERENCE = ("keras", "keras-nightly", "tensorflow", "tf-nightly", "jax", "torch")


def all_labels(pairings: Sequence[PairingRecord]) -> dict[str, str]:
    """Labels for the run's own pairings, and for imported savers the same with their origin."""
    own = [p for p in pairings if p.source is None]
    labels = pairing_labels(own)
    for imported in (p for p in pairings if p.source is not None):
        candidate = pairing_labels([*own, imported]).get(imported.id, imported.id)
        run_id = imported.source.split(" ")[0] if imported.source else ""
        labels[imported.id] = f"{candidate} (saved in run {run_id})"
    return labels


def pairing_labels(pairings: Sequence[PairingRecord]) -> dict[str, str]:
    """Short names telling pairings apart: only what differs between them, keras first.

    With the defaults this gives ``keras 3.5.0``, ``keras 3.6.0``, ``keras 3.15.1``.
    """
    fields: dict[str, dict[str, str]] = {}
    for p in pairings:
        values = dict(p.versions)
        for name in _LABEL_PREFERENCE:  # a framework installed as a dependency tells pairings apart too
            if name in p.packages and name not in values:
                values[name] = p.packages[name]
        values["backend"] = p.backend
        if p.requested.python:
            values["python"] = p.requested.python
        fields[p.id] = values
    names = sorted({n for v in fields.values() for n in v}, key=_label_rank)
    varying = [n for n in names if len({fields[p.id].get(n) for p in pairings}) > 1]
    chosen: list[str] = []
    for name in varying:
        chosen.append(name)
        unique = len({tuple(fields[p.id].get(n) for n in chosen) for p in pairings}) == len(pairings)
        named = all(any(fields[p.id].get(n) is not None for n in chosen) for p in pairings)
        if unique and named:
            break
    if not chosen:
        chosen = [n for n in names if n != "backend"] or names
    labels = {}
    for p in pairings:
        parts = [_field_text(n, fields[p.id].get(n)) for n in chosen if fields[p.id].get(n) is not None]
        labels[p.id] = " + ".join(parts) or p.id
    if len(set(labels.values())) != len(labels):
        return {p.id: p.id for p in pairings}
    return labels


def headline(scenario: ScenarioRecord, cells: Sequence[Cell], labels: dict[str, str]) -> str:
    """One sentence answering "where does it happen?", e.g.
    ``reproduces on keras 3.5.0, 3.6.0, 3.15.1; passes on none``.

    ``cells`` may be all of the scenario's cells. Same-pairing cells (``saved_with`` empty or equal
    to ``pairing``) give the sentence above; cells loading what another pairing saved add an
    ``across versions (saved → loaded):`` clause, one part per verdict grouped by saver, e.g.
    ``passes keras 2.15.0 → keras 3.5.0, 3.6.0``, leaving out skipped loads. When every
    same-pairing cell is skipped (a scenario whose save needs another generation), only the
    across-versions clause is given, if there is one.
    """
    same = [c for c in cells if c.saved_with in (None, c.pairing)]
    across = [c for c in cells if c.saved_with not in (None, c.pairing) and c.verdict != "skipped"]
    by_verdict: dict[str, list[str]] = {}
    for cell in same:
        by_verdict.setdefault(cell.verdict, []).append(labels.get(cell.pairing, cell.pairing))
    parts = []
    if not (across and all(c.verdict == "skipped" for c in same)):
        always = ("reproduced", "passed") if scenario.signature else ("passed",)
        for verdict in VERDICTS:
            found = by_verdict.get(verdict, [])
            if found or verdict in always:
                parts.append(f"{VERDICT_STYLE[verdict]['phrase']} {_join_labels(found)}")
    if across:
        order = {name: i for i, name in enumerate(labels)}
        directions: dict[str, dict[str, list[Cell]]] = {}
        for cell in across:
            directions.setdefault(cell.verdict, {}).setdefault(cell.saved_with or "", []).append(cell)
        clauses = []
        for verdict in VERDICTS:
            groups = []
            for saver in sorted(directions.get(verdict, {}), key=lambda name: (order.get(name, len(order)), name)):
                loaders = sorted(directions[verdict][saver], key=lambda c: (order.get(c.pairing, len(order)), c.pairing))
                groups.append(f"{labels.get(saver, saver)} → {_join_labels([labels.get(c.pairing, c.pairing) for c in loaders])}")
            if groups:
                clauses.append(f"{VERDICT_STYLE[verdict]['phrase'].removesuffix(' on')} " + " and ".join(groups))
        parts.append("across versions (saved → loaded): " + "; ".join(clauses))
    return "; ".join(parts)


def _join_labels(labels: list[str]) -> str:
    if not labels:
        return "none"
    split = [label.split(" ", 1) for label in labels]
    if all(len(s) == 2 and " " not in s[1] for s in split) and len({s[0] for s in split}) == 1:
        return f"{split[0][0]} " + ", ".join(s[1] for s in split)
    return ", ".join(labels)


def _label_rank(name: str) -> tuple[int, str]:
    if name in _LABEL_PREFERENCE:
        return (_LABEL_PREFERENCE.index(name), name)
    if name == "backend":
        return (len(_LABEL_PREFERENCE), name)
    if name == "python":
        return (len(_LABEL_PREFERENCE) + 2, name)
    return (len(_LABEL_PREFERENCE) + 1, name)


def _field_text(name: str, value: str | None) -> str:
    if name == "backend":
        return f"backend {value}"
    return f"{name} {value}"
