"""Facts ↔ stored records, both ways, in one place: the cell and save records a run writes from
what its phases did, the phase facts rebuilt from a stored save, and the scenario and pairing
records of a run (and the pairing a record names, for a resumed run).
"""

from __future__ import annotations

import dataclasses

from harness.evidence.model import Cell, PairingRecord, PhaseEvidence, Requested, SaveRecord, ScenarioRecord, Verdict
from harness.evidence.phase import RESULT_FORMAT, PhaseFacts, PhaseOutcome
from harness.plan.cells import CellKey
from harness.plan.pairings import Pairing, parse_pairing, unresolved_pairing
from harness.plan.scenarios import Scenario

_EVIDENCE_FIELDS = tuple(f.name for f in dataclasses.fields(PhaseEvidence))


def phase_evidence(outcome: PhaseOutcome) -> PhaseEvidence:
    """The evidence fields of a phase's facts, as both cell and save records store them."""
    facts = outcome.facts
    return PhaseEvidence(
        exception_type=facts.exception_type if facts else None,
        message=facts.message if facts else None,
        traceback=facts.traceback if facts else None,
        exit_status=outcome.exit_status,
        signal=outcome.signal,
        duration_s=outcome.duration_s,
        output_tail=outcome.output_tail,
        started=outcome.started,
    )


def _evidence_values(evidence: PhaseEvidence) -> dict[str, object]:
    return {name: getattr(evidence, name) for name in _EVIDENCE_FIELDS}


def cell_record(
    key: CellKey, verdict: Verdict, reason: str, outcome: PhaseOutcome | None = None, save: SaveRecord | None = None,
    save_outcome: PhaseOutcome | None = None,
) -> Cell:
    """A cell record from its verdict and the evidence of the phase that decided it: the final
    phase's ``outcome``, or the save's when the save failed."""
    deciding = save_outcome if save_outcome is not None and not save_outcome.ok else outcome
    cell = Cell(scenario=key.scenario, pairing=key.pairing, saved_with=key.saved_with, verdict=verdict.value,
                reason=reason, save=save)
    if deciding is None:
        return cell
    for name, value in _evidence_values(phase_evidence(deciding)).items():
        setattr(cell, name, value)
    facts = deciding.facts
    comparison = deciding.comparison
    if comparison is not None:
        cell.compared = comparison.compared
        cell.compared_count = comparison.count
        cell.max_abs_diff = comparison.max_abs_diff
        cell.mismatch = comparison.mismatch
    if facts is not None:
        cell.warnings = list(facts.warnings)
        cell.probe = facts.probe
    return cell


def save_record(outcome: PhaseOutcome, scenario: Scenario, pairing_id: str, artifact: str, sha256: str) -> SaveRecord:
    """The record of a cross-version save (``save.json``)."""
    return SaveRecord(
        **_evidence_values(phase_evidence(outcome)),  # type: ignore[arg-type]
        status=outcome.status,
        ok=outcome.ok,
        outcome=outcome.facts.outcome if outcome.facts else None,
        signature_matched=outcome.facts.signature_matched if outcome.facts else None,
        pairing=pairing_id,
        scenario=scenario.id,
        scenario_sha256=scenario.sha256,
        artifact=artifact,
        sha256=sha256,
    )


def save_outcome(record: SaveRecord) -> PhaseOutcome:
    """A save's outcome rebuilt from its record (resumed runs, saves imported from another run)."""
    facts = PhaseFacts(format=RESULT_FORMAT, op="save", outcome=record.outcome, exception_type=record.exception_type,
                       message=record.message, traceback=record.traceback, signature_matched=record.signature_matched)
    return PhaseOutcome(op="save", status=record.status, duration_s=record.duration_s, facts=facts,
                        exit_status=record.exit_status, signal=record.signal, output_tail=record.output_tail,
                        started=record.started or "")


def scenario_record(scenario: Scenario) -> ScenarioRecord:
    return ScenarioRecord(
        id=scenario.id,
        title=scenario.title,
        path=str(scenario.path),
        kind=scenario.kind,
        description=scenario.description,
        links=list(scenario.links),
        signature=scenario.signature,
        tags=list(scenario.tags),
        requires=dict(scenario.requires),
        save_requires=dict(scenario.save_requires) if scenario.save_requires is not None else None,
        rtol=scenario.rtol,
        atol=scenario.atol,
        sha256=scenario.sha256,
        claims=list(scenario.claims),
        format=scenario.format,
    )


def pairing_record(pairing: Pairing) -> PairingRecord:
    spec = pairing.spec
    return PairingRecord(
        id=pairing.id,
        requested=Requested(spec=spec.text, requirements=list(spec.requirements), wheels=list(spec.wheels),
                            backend=spec.backend, python=spec.python),
        versions=dict(pairing.versions),
        pins=list(pairing.pins),
        backend=spec.backend,
        install_error=pairing.resolve_error,
    )


def pairing_from_record(record: PairingRecord) -> Pairing:
    """The exact pairing a recorded run installed (its pins, not "latest" again)."""
    spec = parse_pairing(record.requested.spec)
    if not record.pins:
        return unresolved_pairing(spec, record.install_error or "it was never resolved")
    return Pairing(spec=spec, pins=tuple(record.pins), versions=dict(record.versions), id=record.id)
