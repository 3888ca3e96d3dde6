"""The commands' pure decisions under hostile or unlucky inputs: readiness classes, merge
conflicts, which known cells bisect may reuse, flaky and hidden bisect answers, bisect's input
checks, inspect's failure sentences and the size of summary.md."""

from __future__ import annotations

import datetime

import pytest

from harness.commands.bisect import BisectOptions, _check, answer_line, candidate_dates
from harness.commands.inspect import _failure
from harness.commands.readiness import classify, compare, scenario_classes
from harness.errors import BadInput
from harness.evidence.known import KnownCells
from harness.evidence.model import Cell, PairingRecord, Results, RunInfo, ScenarioRecord
from harness.evidence.phase import PhaseOutcome
from harness.evidence.runs import merge_results
from harness.plan.bisection import find_transition, probe_budget
from harness.report.model import build_report
from harness.report.render import SUMMARY_BYTES, SUMMARY_CUT, render_markdown
from support.reportdata import sample_results

PACKAGES = {"harness-fake": "1.0"}


def results(cells: list[Cell], run_id: str = "run-a", started: str = "2026-01-01T00:00:00Z",
            options: dict | None = None, scenarios: tuple[tuple[str, str], ...] = (("s", "run"),),
            pairings: tuple[str, ...] = ("p",)) -> Results:
    return Results(
        run=RunInfo(id=run_id, started=started, python="3.11.7", platform="Linux", complete=True,
                    options=options if options is not None else {"timeout": 300.0, "isolation": "fork", "cross": "all"}),
        pairings=[PairingRecord(id=p, packages=dict(PACKAGES), python="3.11.7") for p in pairings],
        scenarios=[ScenarioRecord(id=s, title=s, path=f"/x/{s}.py", kind=kind, sha256=f"sha-{s}") for s, kind in scenarios],
        cells=cells,
    )


# --------------------------------------------------------------------------- readiness


@pytest.mark.parametrize("baseline, candidate", [
    ("reproduced", "install_failed"), ("reproduced", "crashed"), ("reproduced", "timeout"), ("error", "timeout"),
    ("wrong_values", "crashed"), ("reproduced", "missing"), ("passed", "timeout"),
])
def test_a_candidate_that_cannot_run_where_the_baseline_ran_regressed(baseline: str, candidate: str) -> None:
    assert classify(baseline, candidate) == "regressed"


@pytest.mark.parametrize("baseline, candidate, change", [
    ("crashed", "timeout", "changed"), ("timeout", "crashed", "changed"), ("install_failed", "crashed", "changed"),
    ("reproduced", "skipped", "changed"), ("crashed", "crashed", "unchanged"),
])
def test_a_baseline_that_says_nothing_is_never_a_regression(baseline: str, candidate: str, change: str) -> None:
    assert classify(baseline, candidate) == change


def test_a_cross_scenario_only_the_candidate_has_is_new_even_with_equal_pairing_ids() -> None:
    stored = results([Cell(scenario="s", pairing="p", verdict="passed")])
    candidate = results([Cell(scenario="s", pairing="p", verdict="passed"),
                         Cell(scenario="c", pairing="p", saved_with="p", verdict="passed")],
                        scenarios=(("s", "run"), ("c", "cross")))
    assert scenario_classes(compare(stored, "p", candidate, "p")) == {"s": "unchanged", "c": "new"}


# --------------------------------------------------------------------------- merge


def test_a_merge_conflict_keeps_both_verdicts_whatever_the_order() -> None:
    a = ("shard-a", results([Cell(scenario="s", pairing="p", verdict="passed", reason="ran clean")], "run-a",
                            "2026-01-01T00:00:00Z"))
    b = ("shard-b", results([Cell(scenario="s", pairing="p", verdict="reproduced")], "run-b", "2026-01-02T00:00:00Z"))
    forward, backward = merge_results([a, b]), merge_results([b, a])
    for merged in (forward, backward):
        [conflict] = merged.conflicts
        assert conflict.sides == (("shard-a", "passed"), ("shard-b", "reproduced")) and conflict.shown == "shard-a"
        assert "shard-a says passed; shard-b says reproduced" in conflict.text
        [cell] = merged.results.cells
        assert cell.verdict == "passed" and "shard-b says reproduced" in cell.reason and "ran clean" in cell.reason
        assert merged.results.run.options["merge_conflicts"] == [conflict.record()]
    assert forward.results == backward.results


def test_a_finished_verdict_still_wins_over_interrupted_without_a_conflict() -> None:
    a = ("a", results([Cell(scenario="s", pairing="p", verdict="interrupted")], "run-a", "2026-01-01T00:00:00Z"))
    b = ("b", results([Cell(scenario="s", pairing="p", verdict="reproduced")], "run-b", "2026-01-02T00:00:00Z"))
    for parts in ([a, b], [b, a]):
        merged = merge_results(parts)
        assert merged.conflicts == [] and [c.verdict for c in merged.results.cells] == ["reproduced"]
        assert "merge_conflicts" not in merged.results.run.options


# --------------------------------------------------------------------------- known cells


def test_known_cells_are_reused_only_under_the_same_limit_and_isolation() -> None:
    known = KnownCells([])
    known.add(results([Cell(scenario="s", pairing="p", verdict="timeout")],
                      options={"timeout": 1.0, "isolation": "fork"}), "quick-run")
    known.add(results([Cell(scenario="s", pairing="p", verdict="crashed")], "run-b",
                      options={"timeout": 60, "isolation": "spawn"}), "spawn-run")
    assert known.lookup("sha-s", "tensorflow", "3.11.7", PACKAGES, 60.0, "fork") is None
    assert known.lookup("sha-s", "tensorflow", "3.11.7", PACKAGES, 1.0, "fork")[1] == "quick-run"  # type: ignore[index]
    assert known.lookup("sha-s", "tensorflow", "3.11.7", PACKAGES, 60.0, "spawn")[1] == "spawn-run"  # type: ignore[index]
    unsaid = KnownCells([])
    unsaid.add(results([Cell(scenario="s", pairing="p", verdict="passed")], options={}), "old-run")
    assert unsaid.lookup("sha-s", "tensorflow", "3.11.7", PACKAGES, 300.0, "fork") is None


# --------------------------------------------------------------------------- bisect search


def scripted(answers: dict[str, list[str]]):
    """A probe answering each version from its own script, one answer per call."""
    calls: list[str] = []

    def probe(version: str) -> str | None:
        calls.append(version)
        said = answers[version]
        return said[min(calls.count(version), len(said)) - 1]

    return probe, calls


def test_confirm_repeats_the_probes_around_the_transition() -> None:
    versions = [f"1.{i}" for i in range(8)]
    probe, calls = scripted({v: ["passed"] if i < 5 else ["reproduced"] for i, v in enumerate(versions)})
    result = find_transition(versions, probe, confirm=3)
    assert result.status == "found" and (result.last_old, result.first_new) == ("1.4", "1.5")
    assert calls.count("1.4") == calls.count("1.5") == 3
    assert len(calls) <= probe_budget(len(versions), 3)


def test_an_answer_that_does_not_hold_up_is_unstable() -> None:
    versions = [f"1.{i}" for i in range(4)]
    probe, _ = scripted({"1.0": ["passed"], "1.1": ["passed", "reproduced"], "1.2": ["reproduced"], "1.3": ["reproduced"]})
    result = find_transition(versions, probe, confirm=2)
    assert result.status == "unstable" and result.unstable == [("1.1", ["passed", "reproduced"])]
    same, _ = scripted({"1.0": ["passed", None], "1.1": ["passed"], "1.2": ["passed"], "1.3": ["passed"]})  # type: ignore[list-item]
    assert find_transition(versions, same, confirm=2).status == "unstable"
    with pytest.raises(ValueError):
        find_transition(versions, probe, confirm=0)


def test_equal_ends_with_another_verdict_inside_say_a_change_may_be_hidden() -> None:
    versions = [f"1.{i}" for i in range(5)]
    probe, _ = scripted({v: ["reproduced" if v == "1.2" else "passed"] for v in versions})
    result = find_transition(versions, probe)
    assert result.status == "same" and result.inside == [("1.2", "reproduced")]
    options = BisectOptions(scenario="s", package="keras", old="1.0", new="1.4")
    line = answer_line(options, result, len(versions))
    assert line.startswith("no transition: keras==1.0 and keras==1.4 both give passed, but keras==1.2 gives reproduced: "
                           "a change may be hidden inside the range;")
    quiet, _ = scripted({v: ["passed"] for v in versions})
    assert "hidden" not in answer_line(options, find_transition(versions, quiet), len(versions))


# --------------------------------------------------------------------------- bisect input


@pytest.mark.parametrize("package", ["rtfake>=1", "rtfake[extra]", "rtfake; python_version>'3'", "rt fake", "-rtfake"])
def test_bisect_takes_a_bare_project_name(package: str) -> None:
    with pytest.raises(BadInput, match="is not a bare project name"):
        _check(BisectOptions(scenario="s", package=package, old="1.0", new="1.1"))
    _check(BisectOptions(scenario="s", package="Keras_nightly.x-1", old="1.0", new="1.1"))


def test_by_date_refuses_a_day_in_the_future() -> None:
    options = BisectOptions(scenario="s", package="keras", old="2026-01-01", new="2026-01-09", by_date=True)
    with pytest.raises(BadInput, match="is in the future"):
        candidate_dates(options, today=datetime.date(2026, 1, 8))


# --------------------------------------------------------------------------- inspect


@pytest.mark.parametrize("outcome, words", [
    (PhaseOutcome(op="layout", status="timed_out", duration_s=5.0), "it did not finish within 2.5 s (--timeout)"),
    (PhaseOutcome(op="layout", status="died", duration_s=1.0, signal=9), "the process died (signal 9) before it gave a result"),
    (PhaseOutcome(op="layout", status="died", duration_s=1.0, exit_status=3), "the process died (exit status 3)"),
    (PhaseOutcome(op="layout", status="worker_lost", duration_s=1.0), "the worker process was lost"),
])
def test_inspect_failures_read_as_sentences(outcome: PhaseOutcome, words: str) -> None:
    text = _failure(outcome, 2.5)
    assert words in text and "timed_out" not in text


# --------------------------------------------------------------------------- summary.md


def test_the_summary_of_5000_by_3_cells_fits_a_job_summary() -> None:
    big = sample_results(pairings=3, scenarios=5000, hostile=False)
    text = render_markdown(build_report(big))
    assert len(text.encode("utf-8")) <= SUMMARY_BYTES < 2**20
    assert text.rstrip().endswith("</details>") or SUMMARY_CUT.strip() in text
    small = render_markdown(build_report(sample_results()))
    assert SUMMARY_CUT.strip() not in small
