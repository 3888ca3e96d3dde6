"""Claims judged from measured cells only: ``holds``, ``does not hold`` (naming the cells that
contradict it) or ``not enough evidence`` (naming what would decide it).

A cell counts for a claim only when it ran to a verdict about the behaviour: ``passed`` means
the behaviour works there; ``reproduced``, ``wrong_values`` and ``error`` mean it fails; every
verdict that says nothing (install failed, skipped, crashed, timed out, interrupted) is left
out. A cell's versions are the installed ones (never the requested spec), so the judgement
never rests on a version number alone.

- ``fixed_in P V``: every counted cell with P >= V passes, and at least one does.
- ``broken_since P V``: every counted cell with P >= V fails, and at least one does.
- ``works_with SPEC``: the counted cells whose installed packages meet SPEC pass, and there is one.
- ``not_supported``: every counted load of a file written by P in ``saved_with`` into P in
  ``loaded_with`` fails, and there is one.

For the first three, a cross-version scenario's cells count where the file was read by the
pairing that wrote it, or, when no pairing both wrote and read it (a file only Keras 2 writes),
every load, by the loading pairing's versions; ``not_supported`` counts the loads across pairings.

A ``works_with`` spec counts every part it names: each requirement and local wheel, and its
``backend=`` and ``python=`` when it names them. Only cells of the scenario's current text (the
scenario record's ``sha256``) are judged; the runs whose cells were made with another text are
named as left out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Sequence

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name, parse_wheel_filename
from packaging.version import InvalidVersion, Version

from harness.evidence.model import SAYS_NOTHING, Cell, PairingRecord, Results, ScenarioRecord, Verdict
from harness.plan.claims import Claim
from harness.plan.pairings import parse_pairing

HOLDS, DOES_NOT_HOLD, NOT_ENOUGH = "holds", "does not hold", "not enough evidence"
STATUSES = (HOLDS, DOES_NOT_HOLD, NOT_ENOUGH)
#: Verdicts that say the behaviour fails where the cell ran.
FAILS = frozenset({Verdict.REPRODUCED, Verdict.WRONG_VALUES, Verdict.ERROR})


@dataclass
class Evidence:
    """A cell that decides a claim: which one, its verdict, and the versions it ran with."""

    scenario: str
    pairing: str
    saved_with: str | None
    verdict: str
    label: str


@dataclass
class Judgement:
    """How a claim stands against the cells."""

    scenario: str
    claim: Claim
    status: str
    detail: str
    against: list[Evidence] = field(default_factory=list)
    supporting: list[Evidence] = field(default_factory=list)

    @property
    def statement(self) -> str:
        claim = self.claim
        if claim.kind == "fixed_in":
            return f"fixed in {claim.package} {claim.version}"
        if claim.kind == "broken_since":
            return f"broken since {claim.package} {claim.version}"
        if claim.kind == "works_with":
            return f"works with {claim.pairing}"
        return f"not supported: {claim.package}{claim.saved_with} files read by {claim.package}{claim.loaded_with}"


def judge_all(runs: Sequence[Results], library: Results | None = None) -> list[Judgement]:
    """Every claim of every scenario in ``runs``, judged against all their cells together. A
    scenario's current text, and its claims, are the ``library``'s when it has the scenario (the
    scenarios as they are now), else those of the newest run that records it."""
    scenarios: dict[str, ScenarioRecord] = {}
    for results in sorted(runs, key=lambda r: r.run.started or ""):
        for scenario in results.scenarios:
            scenarios[scenario.id] = scenario
    for scenario in library.scenarios if library is not None else ():
        scenarios[scenario.id] = scenario
    judged = []
    for scenario in sorted(scenarios.values(), key=lambda s: s.id):
        for claim in scenario.claims:
            judged.append(judge(scenario, claim, runs))
    return judged


def judge(scenario: ScenarioRecord, claim: Claim, runs: Sequence[Results]) -> Judgement:
    """One claim of ``scenario`` against the cells of ``runs`` made with its text (the others
    are named as left out)."""
    current, left_out = _of_this_text(scenario, runs)
    judgement = _judge(scenario, claim, current)
    if left_out:
        judgement.detail += (f"; left out: the cells of {_runs_named(left_out)}, made with another text of "
                             f"{scenario.id}")
    return judgement


def _of_this_text(scenario: ScenarioRecord, runs: Sequence[Results]) -> tuple[list[Results], list[Results]]:
    """The runs whose record of ``scenario`` is of its text (the same ``sha256``), and the others
    that hold cells of it."""
    current, other = [], []
    for results in runs:
        record = next((s for s in results.scenarios if s.id == scenario.id), None)
        if record is None or not scenario.sha256 or record.sha256 == scenario.sha256:
            current.append(results)
        elif any(cell.scenario == scenario.id for cell in results.cells):
            other.append(results)
    return current, other


def _runs_named(runs: list[Results], most: int = 4) -> str:
    names = [f"run {r.run.id}" + (f" ({r.run.started})" if r.run.started else "") for r in runs]
    more = f" and {len(names) - most} more" if len(names) > most else ""
    return ", ".join(names[:most]) + more


def _judge(scenario: ScenarioRecord, claim: Claim, runs: Sequence[Results]) -> Judgement:
    counted = list(_counted(scenario, runs, across=claim.kind == "not_supported"))
    if not counted and claim.kind != "not_supported":  # files only ever written elsewhere (e.g. by Keras 2)
        counted = list(_counted(scenario, runs, across=True))
    if claim.kind in ("fixed_in", "broken_since"):
        wanted = SpecifierSet(f">={claim.version}")
        inside = [(cell, ev) for cell, ev, loader, _ in counted if _meets(loader, claim.package, wanted)]
        return _all_of(scenario.id, claim, inside, fails=claim.kind == "broken_since",
                       wanted=f"a pairing with {claim.package} >= {claim.version}")
    if claim.kind == "works_with":
        inside = [(cell, ev) for cell, ev, loader, _ in counted if _fits(loader, claim.pairing)]
        return _all_of(scenario.id, claim, inside, fails=False, wanted=f"a run of the pairing {claim.pairing}")
    saved, loaded = SpecifierSet(claim.saved_with), SpecifierSet(claim.loaded_with)
    inside = [(cell, ev) for cell, ev, loader, saver in counted
              if saver is not None and _meets(saver, claim.package, saved) and _meets(loader, claim.package, loaded)]
    return _all_of(scenario.id, claim, inside, fails=True,
                   wanted=f"a load of a file saved with {claim.package}{claim.saved_with} by {claim.package}{claim.loaded_with}")


def _all_of(scenario: str, claim: Claim, inside: list[tuple[Cell, Evidence]], fails: bool, wanted: str) -> Judgement:
    """The claim holds when every counted cell inside its range shows what it says (and one does)."""
    agree = [ev for cell, ev in inside if (cell.verdict in FAILS) == fails]
    disagree = [ev for cell, ev in inside if (cell.verdict in FAILS) != fails]
    if disagree:
        return Judgement(scenario, claim, DOES_NOT_HOLD, _named(disagree), disagree, agree)
    if not agree:
        return Judgement(scenario, claim, NOT_ENOUGH, f"no cell decides it: {wanted} would")
    return Judgement(scenario, claim, HOLDS, _named(agree), [], agree)


def _named(evidence: list[Evidence], most: int = 8) -> str:
    """``reproduced on keras 3.6.0, reproduced on keras 3.15.1``: each verdict and versions once
    (several runs may hold the same cell), at most ``most`` of them."""
    texts = list(dict.fromkeys(f"{ev.verdict} on {ev.label}" for ev in evidence))
    more = f" and {len(texts) - most} more" if len(texts) > most else ""
    return ", ".join(texts[:most]) + more


def _counted(scenario: ScenarioRecord, runs: Sequence[Results], across: bool
             ) -> Iterable[tuple[Cell, Evidence, PairingRecord, PairingRecord | None]]:
    for results in runs:
        pairings = {p.id: p for p in results.pairings}
        for cell in results.cells:
            if cell.scenario != scenario.id or cell.verdict in SAYS_NOTHING or cell.pairing not in pairings:
                continue
            loader = pairings[cell.pairing]
            saver = pairings.get(cell.saved_with) if cell.saved_with else None
            is_across = cell.saved_with not in (None, cell.pairing)
            if across != is_across:
                continue
            label = _label(loader) if saver is None or saver.id == loader.id else f"{_label(saver)} → {_label(loader)}"
            yield cell, Evidence(cell.scenario, cell.pairing, cell.saved_with, cell.verdict, label), loader, saver


def _installed(pairing: PairingRecord, package: str) -> str | None:
    name = canonicalize_name(package)
    for key in (name, f"{name}-nightly", "tf-nightly" if name == "tensorflow" else ""):
        version = pairing.packages.get(key) or pairing.versions.get(key)
        if version:
            return version
    return None


def _meets(pairing: PairingRecord, package: str, spec: SpecifierSet) -> bool:
    found = _installed(pairing, package)
    if found is None:
        return False
    try:
        return spec.contains(Version(Version(found).base_version), prereleases=True)
    except InvalidVersion:
        return False


def _fits(pairing: PairingRecord, spec_text: str) -> bool:
    """The pairing's installed packages, backend and Python meet every part of the spec: each
    requirement and local wheel, and the ``backend=`` and ``python=`` it names."""
    spec = parse_pairing(spec_text)
    items = [item.strip() for item in spec_text.split(",")]
    if any(item.startswith("backend=") for item in items) and pairing.backend != spec.backend:
        return False
    if spec.python is not None and not _same_python(pairing.python, spec.python):
        return False
    for text in spec.requirements:
        try:
            requirement = Requirement(text)
        except InvalidRequirement:
            return False  # a part that cannot be checked is not met
        if not _meets(pairing, requirement.name, requirement.specifier):
            return False
    for wheel in spec.wheels:
        try:
            name, version, _, _ = parse_wheel_filename(wheel.rsplit("/", 1)[-1])
        except ValueError:
            return False
        if not _meets(pairing, name, SpecifierSet(f"=={version}")):
            return False
    return True


def _same_python(found: str | None, wanted: str) -> bool:
    """``3.9.18`` is Python ``3.9`` (and ``3.9.18``); an unknown Python meets no ``python=``."""
    if not found:
        return False
    return found == wanted or found.startswith(wanted + ".")


def _label(pairing: PairingRecord) -> str:
    keras = _installed(pairing, "keras")
    tensorflow = _installed(pairing, "tensorflow")
    parts = [f"keras {keras}" if keras else "", f"tensorflow {tensorflow}" if tensorflow and not keras else ""]
    return " + ".join(p for p in parts if p) or pairing.id
