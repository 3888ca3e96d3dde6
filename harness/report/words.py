"""How verdicts and pairings are named in words: the symbol and word of each verdict, the short
labels that tell pairings apart, the version order of pairings, and a scenario's headline as short
facts ("reproduced on all 3", "fixed in 3.6.0 (wrong values before)", "files from 3.15.1 do not
load in 3.5.0, 3.6.0").
"""

from __future__ import annotations

from itertools import groupby
from typing import Sequence

from packaging.version import InvalidVersion, Version

from harness.evidence.model import PairingRecord, ScenarioRecord

#: How each verdict is shown: a symbol and a word (never colour alone).
VERDICT_STYLE: dict[str, dict[str, str]] = {
    "reproduced": {"symbol": "●", "word": "reproduced"},
    "passed": {"symbol": "✓", "word": "passed"},
    "wrong_values": {"symbol": "≠", "word": "wrong values"},
    "error": {"symbol": "!", "word": "error"},
    "crashed": {"symbol": "✖", "word": "crashed"},
    "timeout": {"symbol": "⧗", "word": "timeout"},
    "install_failed": {"symbol": "⊘", "word": "install failed"},
    "skipped": {"symbol": "–", "word": "skipped"},
    "interrupted": {"symbol": "‖", "word": "interrupted"},
    "missing": {"symbol": "?", "word": "missing"},
}

#: What files saved with one pairing do in another, by the verdict of the load.
_LOAD_PHRASE: dict[str, str] = {
    "reproduced": "reproduce the failure in",
    "wrong_values": "load wrong values in",
    "error": "do not load in",
    "crashed": "crash the load in",
    "timeout": "time out in",
    "install_failed": "cannot be loaded (install failed) in",
    "interrupted": "were interrupted in",
    "missing": "have no result in",
}

#: Verdicts that say how the scenario behaved (a change between them is a fix or a break).
_BEHAVIOUR = ("reproduced", "wrong_values", "error")

#: Package names most worth naming when telling pairings apart, in order.
_LABEL_PREFERENCE = ("keras", "keras-nightly", "tensorflow", "tf-nightly", "jax", "torch")
#: The frameworks that order pairings, each with the distributions that count as it.
_ORDER_BY = (("keras", "keras-nightly"), ("tensorflow", "tf-nightly"), ("jax",), ("torch",))


def verdict_word(verdict: str, scenario: ScenarioRecord | None = None) -> str:
    """The word for a verdict in a sentence. An error of a scenario with a SIGNATURE is "another
    error" (not the one looked for); without a SIGNATURE every error is simply an error."""
    if verdict == "error" and scenario is not None and scenario.signature:
        return "another error"
    return VERDICT_STYLE.get(verdict, VERDICT_STYLE["missing"])["word"]


# --------------------------------------------------------------------------- pairings


def version_order(pairings: Sequence[PairingRecord]) -> list[PairingRecord]:
    """Pairings in version order: by Keras, then TensorFlow, JAX and torch (installed versions);
    pairings that tie, or whose versions do not parse, keep their given order."""

    def key(pairing: PairingRecord) -> tuple[tuple[int, Version], ...]:
        found = {**pairing.packages, **pairing.versions}
        parts = []
        for names in _ORDER_BY:
            text = next((found[n] for n in names if n in found), None)
            parts.append(_parsed(text))
        return tuple(parts)

    return sorted(pairings, key=key)


def _parsed(text: str | None) -> tuple[int, Version]:
    if text is None:
        return (0, Version("0"))
    try:
        return (1, Version(text))
    except InvalidVersion:
        return (0, Version("0"))


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
    fields = {p.id: _label_fields(p) for p in pairings}
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


def _label_fields(pairing: PairingRecord) -> dict[str, str]:
    values = dict(pairing.versions)
    for name in _LABEL_PREFERENCE:  # a framework installed as a dependency tells pairings apart too
        if name in pairing.packages and name not in values:
            values[name] = pairing.packages[name]
    values["backend"] = pairing.backend
    if pairing.requested.python:
        values["python"] = pairing.requested.python
    return values


def short_labels(labels: dict[str, str], own: Sequence[str]) -> dict[str, str]:
    """The labels without the package name they all share: ``keras 3.5.0`` → ``3.5.0`` when every
    own pairing's label is ``keras <version>`` (the column headers name the package)."""
    split = [labels[p].split(" ", 1) for p in own if p in labels]
    if not split or any(len(s) != 2 or " " in s[1] for s in split) or len({s[0] for s in split}) != 1:
        return dict(labels)
    prefix = split[0][0] + " "
    return {pid: label.removeprefix(prefix) for pid, label in labels.items()}


# --------------------------------------------------------------------------- headlines


def headline(
    scenario: ScenarioRecord,
    same: Sequence[tuple[str, str]],
    across: Sequence[tuple[str, str, str]],
    labels: dict[str, str],
) -> str:
    """A scenario's headline: short facts, ``"; "``-joined.

    ``same`` holds ``(pairing, verdict)`` of the scenario's own-pairing cells in column (version)
    order; ``across`` holds ``(saved_with, loaded_with, verdict)`` of its cross-version loads (saver
    and loader differ), savers and loaders in version order. ``labels`` name the pairings (short
    labels read best: ``3.6.0``). When every own-pairing cell is skipped and loads across versions
    ran, only the loads are told.
    """
    ran = [a for a in across if a[2] != "skipped"]
    verdicts = [v for _, v in same]
    parts = []
    if same and not (ran and all(v == "skipped" for v in verdicts)):
        parts.append(same_facts(scenario, same, labels))
    if ran:
        uniform = len(set(verdicts)) == 1 and all(a[2] == verdicts[0] for a in ran)
        if uniform and verdicts[0] != "passed" and parts:
            parts[-1] += ", across versions too"
        else:
            parts.extend(_load_facts(ran, labels))
    return "; ".join(parts)


def same_facts(scenario: ScenarioRecord, same: Sequence[tuple[str, str]], labels: dict[str, str]) -> str:
    """The own-pairing facts: ``reproduced on all 3``, ``fixed in 3.6.0 (wrong values before)``,
    ``wrong values from 3.15.1 on (passed before)``, ``wrong values until 3.6.0, another error from
    3.15.1``; otherwise each verdict with its pairings."""
    names = [(labels.get(p, p), v) for p, v in same]
    runs = [(verdict, [name for name, _ in group]) for verdict, group in groupby(names, key=lambda n: n[1])]
    word = {v: verdict_word(v, scenario) for _, v in names}
    if len(runs) == 1:
        verdict, where = runs[0]
        return f"{word[verdict]} on all {len(where)}" if len(where) > 1 else f"{word[verdict]} on {where[0]}"
    if len(runs) == 2 and all(_is_version(name) for name, _ in names):
        (before, old), (after, new) = runs
        if before in _BEHAVIOUR and after == "passed":
            return f"fixed in {new[0]} ({word[before]} before)"
        if before == "passed" and after in _BEHAVIOUR:
            return f"{word[after]} from {new[0]} on (passed before)"
        if before in _BEHAVIOUR and after in _BEHAVIOUR:
            return f"{word[before]} until {old[-1]}, {word[after]} from {new[0]}"
    grouped: dict[str, list[str]] = {}
    for name, verdict in names:
        grouped.setdefault(verdict, []).append(name)
    return "; ".join(f"{word[v]} on {', '.join(where)}" for v, where in grouped.items())


def _load_facts(ran: Sequence[tuple[str, str, str]], labels: dict[str, str]) -> list[str]:
    """``files from 3.15.1 do not load in 3.5.0, 3.6.0``: for each saver, the loads that went wrong,
    by verdict; ``files load across versions`` when every load passed."""
    if all(v == "passed" for _, _, v in ran):
        return ["files load across versions"]
    facts = []
    savers = list(dict.fromkeys(s for s, _, _ in ran))
    for saver in savers:
        wrong: dict[str, list[str]] = {}
        for _, loader, verdict in (a for a in ran if a[0] == saver and a[2] != "passed"):
            wrong.setdefault(verdict, []).append(labels.get(loader, loader))
        if wrong:
            told = "; ".join(f"{_LOAD_PHRASE.get(v, v)} {', '.join(where)}" for v, where in wrong.items())
            facts.append(f"files from {labels.get(saver, saver)} {told}")
    return facts


def _is_version(name: str) -> bool:
    try:
        Version(name)
    except InvalidVersion:
        return False
    return True


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
