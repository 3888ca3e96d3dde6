"""``readiness``: a candidate pairing against a baseline, one change class per scenario.

The baseline and the candidate run every scenario (the baseline can come from a stored run);
cross-version scenarios also load the baseline's saves with the candidate and, when the
baseline runs here, the candidate's saves with the baseline. :func:`classify` turns each
scenario's pair of verdicts into ``regressed``, ``fixed``, ``changed``, ``unchanged``, ``new``
or ``gone``; anything regressed (or changed, with ``--strict``) makes the candidate NOT READY.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence, TextIO

from harness.commands.common import add_scenario_dirs, envs_dir_help, nested_run, options_from_args, positive_float, positive_int
from harness.envs.install import ensure_env, resolve_pairing
from harness.errors import BadInput, InstallError
from harness.evidence.codec import write_json_atomic
from harness.evidence.model import NOT_RUN, SAYS_NOTHING, Cell, PairingRecord, Results, Verdict
from harness.evidence.run_folder import RunStore
from harness.evidence.runs import load_run
from harness.paths import SCENARIOS, check_output_folder, default_envs_dir, new_output_folder
from harness.plan.cells import CellKey
from harness.plan.pairings import Pairing, parse_pairing, pinned_pairing
from harness.plan.scenarios import load_scenarios
from harness.report.render import environment, render_page
from harness.run.launch import parse_pairings
from harness.run.options import MatrixOptions

NAME = "readiness"
HELP = "a candidate pairing against a baseline: regressions fail it"
READINESS_SCHEMA = 1
CLASSES = ("regressed", "changed", "fixed", "unchanged", "new", "gone")
#: The verdict of a side that has no cell for a scenario it ran.
MISSING = "missing"
#: A candidate that gives one of these where the baseline ran could not run the scenario at all:
#: it cannot be installed, it crashed or hung, or it has no cell. Never a mere change.
CANNOT_RUN = frozenset({Verdict.INSTALL_FAILED, Verdict.CRASHED, Verdict.TIMEOUT, MISSING})


@dataclass
class Side:
    """One side's cell of a comparison (None fields when it has no such cell)."""

    pairing: str | None
    verdict: str | None
    reason: str = ""
    exception_type: str | None = None
    message: str | None = None
    max_abs_diff: float | None = None


@dataclass
class Comparison:
    """One scenario (or one cross-version direction of it) compared across the two sides."""

    scenario: str
    title: str
    what: str
    change: str
    baseline: Side
    candidate: Side
    note: str = ""


@dataclass
class Readiness:
    baseline: str
    candidate: str
    comparisons: list[Comparison] = field(default_factory=list)
    strict: bool = False
    run_dir: str = ""
    baseline_source: str = ""

    @property
    def counts(self) -> dict[str, int]:
        by_scenario = scenario_classes(self.comparisons)
        return {c: sum(1 for v in by_scenario.values() if v == c) for c in CLASSES}

    @property
    def ready(self) -> bool:
        counts = self.counts
        return counts["regressed"] == 0 and not (self.strict and counts["changed"])

    def last_line(self) -> str:
        counts = self.counts
        parts = ", ".join(f"{counts[c]} {c}" for c in CLASSES if counts[c])
        return f"readiness: {'READY' if self.ready else 'NOT READY'} — {parts or 'no scenarios'}"


def classify(baseline: str | None, candidate: str | None) -> str:
    """The change class of one pair of verdicts (None: the scenario is absent on that side).

    ``regressed``: passed with the baseline, not with the candidate; or the baseline ran to a
    verdict and the candidate could not run at all (:data:`CANNOT_RUN`: it cannot be installed,
    crashed, timed out), whatever the baseline's verdict was. ``fixed``: passed with the candidate,
    not with the baseline. ``changed``: any other difference (error became reproduced, a side
    skipped by REQUIRES, a baseline cell that says nothing).
    """
    if baseline is None:
        return "new"
    if candidate is None:
        return "gone"
    if baseline == candidate:
        return "unchanged"
    if baseline == MISSING or baseline in NOT_RUN:  # the baseline says nothing: never a fix, only a change
        return "changed"
    if candidate in CANNOT_RUN and baseline not in SAYS_NOTHING:
        return "regressed"
    if candidate == Verdict.SKIPPED:
        return "changed"
    if baseline == Verdict.PASSED:
        return "regressed"
    if candidate == Verdict.PASSED:
        return "fixed"
    return "changed"


def scenario_classes(comparisons: Sequence[Comparison]) -> dict[str, str]:
    """A scenario takes the worst class of its comparisons (regressed before changed before fixed)."""
    order = {c: i for i, c in enumerate(CLASSES)}
    result: dict[str, str] = {}
    for comparison in comparisons:
        kept = result.get(comparison.scenario)
        if kept is None or order[comparison.change] < order[kept]:
            result[comparison.scenario] = comparison.change
    return result


def compare(baseline: Results, baseline_id: str, candidate: Results, candidate_id: str) -> list[Comparison]:
    """Every comparison between the two sides, scenario by scenario."""
    base_cells = _cells_by_key(baseline)
    cand_cells = _cells_by_key(candidate)
    base_scenarios = {s.id: s for s in baseline.scenarios}
    cand_scenarios = {s.id: s for s in candidate.scenarios}
    comparisons = []
    for scenario_id in sorted(set(base_scenarios) | set(cand_scenarios)):
        scenario = cand_scenarios.get(scenario_id) or base_scenarios[scenario_id]
        own = CellKey(scenario.id, baseline_id if scenario.kind == "cross" else None, baseline_id)
        cand_own = CellKey(scenario.id, candidate_id if scenario.kind == "cross" else None, candidate_id)
        b = base_cells.get(own) if scenario_id in base_scenarios else None
        c = cand_cells.get(cand_own) if scenario_id in cand_scenarios else None
        note = ""
        if scenario_id in base_scenarios and scenario_id in cand_scenarios and \
                base_scenarios[scenario_id].sha256 != cand_scenarios[scenario_id].sha256:
            note = "the scenario's text differs between the two runs"
        change = classify(_verdict(b, scenario_id in base_scenarios), _verdict(c, scenario_id in cand_scenarios))
        comparisons.append(Comparison(scenario.id, scenario.title, "same pairing", change, _side(b, baseline_id),
                                      _side(c, candidate_id), note))
        if scenario.kind != "cross" or scenario_id not in cand_scenarios or scenario_id not in base_scenarios:
            continue  # a scenario on one side only is new or gone, nothing more
        forward = cand_cells.get(CellKey(scenario.id, baseline_id, candidate_id))
        if forward is not None and b is not None:
            # the candidate loading the baseline's save: a regression when the baseline read its own
            change = classify(b.verdict, forward.verdict)
            comparisons.append(Comparison(scenario.id, scenario.title, "baseline's save loaded by the candidate",
                                          change, _side(b, baseline_id), _side(forward, candidate_id)))
        backward_key = CellKey(scenario.id, candidate_id, baseline_id)
        backward = cand_cells.get(backward_key) or base_cells.get(backward_key)
        if backward is not None and c is not None:
            change = classify(c.verdict, backward.verdict)
            change = "changed" if change == "regressed" else change  # an older release reading newer files: noted, not blocking
            comparisons.append(Comparison(scenario.id, scenario.title, "candidate's save loaded by the baseline",
                                          change, _side(backward, baseline_id), _side(c, candidate_id),
                                          "older releases reading newer files is shown, never counted as a regression"))
    return comparisons


@dataclass
class ReadinessOptions:
    baseline: str
    candidate: str
    baseline_results: Path | None = None
    strict: bool = False
    scenario_dirs: list[Path] = field(default_factory=list)
    only: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    out: Path | None = None
    timeout: float = 300.0
    jobs: int = 1
    envs_dir: Path | None = None


def run_readiness(options: ReadinessOptions, stream: TextIO) -> tuple[int, Path]:
    """Run the comparison for real; returns the exit status (0 ready, 1 not) and the folder.

    Before any cell runs, both sides are resolved and installed: a baseline that cannot be
    installed, a stored baseline that is not the ``--baseline`` asked for, and a candidate that is
    the baseline are bad input (:class:`BadInput`). A candidate that cannot be installed is not:
    its cells are ``install_failed``, so it is not ready.
    """
    [candidate_spec] = parse_pairings([options.candidate])
    out = options.out or new_output_folder("readiness-")
    check_output_folder(out)
    load_scenarios(options.scenario_dirs, options.only, options.tags)  # bad scenarios are refused before any install
    envs_dir = options.envs_dir or default_envs_dir()
    pairings = [options.candidate]
    stored: Results | None = None
    stored_baseline: PairingRecord | None = None
    baseline_pairing: Pairing | None = None
    load_from: list[Path] = []
    if options.baseline_results is not None:
        stored = load_run(options.baseline_results)
        stored_baseline = _stored_baseline(stored, options.baseline)
        if stored_baseline.install_error:
            raise BadInput(f"The stored baseline {stored_baseline.id} was never installed; there is nothing to compare with.")
        folder = options.baseline_results if options.baseline_results.is_dir() else options.baseline_results.parent
        if RunStore.is_run_folder(folder) and RunStore(folder).artifacts_dir.is_dir():
            load_from = [folder]
        baseline_id = stored_baseline.id
    else:
        [baseline_spec] = parse_pairings([options.baseline])
        baseline_pairing = resolve_pairing(baseline_spec)
        baseline_id = baseline_pairing.id
        pairings = [options.baseline, options.candidate]
    candidate_pairing = resolve_pairing(candidate_spec)
    if candidate_pairing.id == baseline_id:
        raise BadInput(f"The candidate {options.candidate!r} is the baseline ({baseline_id}); "
                       "a readiness check needs two different pairings.")
    if baseline_pairing is not None:
        try:
            ensure_env(baseline_pairing, envs_dir)
        except InstallError as exc:
            raise _uninstallable_baseline(options.baseline, str(exc)) from None
    try:
        ensure_env(candidate_pairing, envs_dir)
    except InstallError:
        pass  # not bad input: the run records the candidate's cells as install_failed, and that is not ready
    run_dir = out / "run"
    matrix = MatrixOptions(
        scenario_dirs=options.scenario_dirs, pairings=pairings, only=options.only, tags=options.tags, out=run_dir,
        timeout=options.timeout, jobs=options.jobs, envs_dir=options.envs_dir, load_artifacts=load_from,
        command=["python", "-m", "harness", "readiness", "--baseline", options.baseline, "--candidate", options.candidate],
    )
    stream.write(f"readiness of {candidate_spec.text} against {options.baseline}"
                 + (f" (stored run {options.baseline_results})" if stored else "") + "\n")
    results = nested_run(matrix, stream, what="the comparison")  # an interrupted one says nothing about readiness
    own = [p for p in results.pairings if p.source is None]
    candidate_id = own[-1].id
    if stored is None or stored_baseline is None:
        baseline, baseline_id = results, own[0].id
        if own[0].install_error:
            raise _uninstallable_baseline(options.baseline, own[0].install_error)
    else:
        baseline, baseline_id = stored, stored_baseline.id
        imported = [p for p in results.pairings if p.source is not None and p.id.split("@")[0] == baseline_id]
        if imported:
            _rename_saver(results, imported[0].id, baseline_id)
    readiness = Readiness(
        baseline=baseline_id, candidate=candidate_id, comparisons=compare(baseline, baseline_id, results, candidate_id),
        strict=options.strict, run_dir="run", baseline_source=str(options.baseline_results or "this run"),
    )
    write_outputs(readiness, out)
    for comparison in readiness.comparisons:
        if comparison.change != "unchanged":
            stream.write(f"{comparison.change:<10} {comparison.scenario} ({comparison.what}): "
                         f"{comparison.baseline.verdict} -> {comparison.candidate.verdict}\n")
    stream.write(f"report: {out / 'index.html'}\n")
    stream.write(readiness.last_line() + "\n")
    return (0 if readiness.ready else 1), out


def _uninstallable_baseline(spec_text: str, message: str) -> BadInput:
    """The one-line refusal of a baseline that cannot be installed, with the installer's whole message."""
    said = " ".join(message.split()) or "the installer gave no message"
    return BadInput(f"The baseline {spec_text!r} could not be installed, so there is nothing to compare with. "
                    f"The installer said: {said}")


def write_outputs(readiness: Readiness, out: Path) -> None:
    data = {"schema": READINESS_SCHEMA, "kind": "readiness", "baseline": readiness.baseline,
            "candidate": readiness.candidate, "ready": readiness.ready, "strict": readiness.strict,
            "counts": readiness.counts, "scenarios": scenario_classes(readiness.comparisons),
            "comparisons": [asdict(c) for c in readiness.comparisons], "last_line": readiness.last_line(),
            "run_dir": readiness.run_dir, "baseline_source": readiness.baseline_source}
    write_json_atomic(out / "readiness.json", data)
    context: dict[str, Any] = {"r": readiness, "data": data, "title": f"Readiness of {readiness.candidate}"}
    (out / "readiness.md").write_text(environment(trim=False).get_template("readiness.md.j2").render(**context))
    render_page("readiness.html.j2", out, **context)


def _stored_baseline(stored: Results, spec_text: str) -> PairingRecord:
    """The stored run's pairing that is the ``--baseline`` asked for: the one with that spec's
    pairing id (a pinned spec), or the one asked for with exactly that spec text. Anything else
    is refused (:class:`BadInput`): comparing with another pairing would answer another question."""
    own = [p for p in stored.pairings if p.source is None]
    spec = parse_pairing(spec_text)
    wanted = pinned_pairing(spec).id if spec.is_pinned else None
    for record in own:
        if record.id == wanted or record.requested.spec == spec.text:
            return record
    listed = ", ".join(p.id for p in own) or "none"
    raise BadInput(f"The stored run holds no pairing that is --baseline {spec_text!r} "
                   f"(it has {listed}); give --baseline exactly as one of them.")


def _rename_saver(results: Results, old: str, new: str) -> None:
    for cell in results.cells:
        if cell.saved_with == old:
            cell.saved_with = new


def _cells_by_key(results: Results) -> dict[CellKey, Cell]:
    return {c.key: c for c in results.cells}


def _verdict(cell: Cell | None, present: bool) -> str | None:
    if not present:
        return None
    return cell.verdict if cell is not None else MISSING


def _side(cell: Cell | None, pairing: str) -> Side:
    if cell is None:
        return Side(pairing=pairing, verdict=None)
    return Side(pairing=pairing, verdict=cell.verdict, reason=cell.reason, exception_type=cell.exception_type,
                message=(cell.message or "")[:3000] or None, max_abs_diff=cell.max_abs_diff)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--baseline", required=True, metavar="SPEC", help="the baseline pairing, e.g. keras==3.15.1,tensorflow==2.21.0")
    parser.add_argument("--candidate", required=True, metavar="SPEC",
                        help="the candidate: a release, a pre-release, keras-nightly,tf-nightly or a wheel path")
    parser.add_argument("--baseline-results", type=Path, metavar="RESULTS",
                        help="reuse a stored run (results.json or its folder) instead of running the baseline")
    parser.add_argument("--strict", action="store_true", help="any change, not only a regression, makes the candidate not ready")
    add_scenario_dirs(parser)
    parser.add_argument("--only", action="append", default=[], metavar="ID", help="only this scenario (repeatable)")
    parser.add_argument("--tag", dest="tags", action="append", default=[], metavar="TAG", help="only scenarios with this tag (repeatable)")
    parser.add_argument("--out", type=Path, metavar="DIR", help="output folder (default: reports/runs/readiness-<time>)")
    parser.add_argument("--timeout", type=positive_float, default=300.0, metavar="S", help="per-cell time limit")
    parser.add_argument("--jobs", type=positive_int, default=1, metavar="N", help="cells in flight at once (default 1)")
    parser.add_argument("--envs-dir", type=Path, metavar="DIR", help=envs_dir_help())


def run(args: argparse.Namespace) -> int:
    options = options_from_args(ReadinessOptions, args, scenario_dirs=args.scenario_dirs or [SCENARIOS])
    status, _ = run_readiness(options, sys.stdout)
    return status
