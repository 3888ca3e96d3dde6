"""The expectations file: its keys, stable writing, checked reading, and a run compared with it
(pure: results are built in the test)."""

from __future__ import annotations

import datetime
from dataclasses import replace
from pathlib import Path

import pytest

from harness.errors import BadInput
from harness.evidence.expect import (
    Expectation,
    ExpectKey,
    compare,
    expectations_of,
    expectations_text,
    parse_toml,
    parse_verdicts,
    read_expectations,
    write_expectations,
)
from harness.evidence.model import Cell, PairingRecord, Requested, Results, RunInfo, ScenarioRecord, Verdict

TODAY = datetime.date(2026, 6, 1)
OLD, LATEST = "keras==3.5.0,tensorflow==2.16.1", "keras,tensorflow"
OLD_KEY, LATEST_KEY = "keras-3.5.0_tensorflow-2.16.1", "keras-latest_tensorflow-latest"


def record(spec: str, pid: str, source: str | None = None) -> PairingRecord:
    return PairingRecord(id=pid, requested=Requested(spec=spec, requirements=spec.split(",")), source=source)


def run_of(cells: list[Cell], latest: str = "keras-3.15.1+tensorflow-2.21.0", **run: object) -> Results:
    """Two pairings (a pinned one and "latest"), a single-env and a cross-version scenario."""
    pairings = [record(OLD, "keras-3.5.0+tensorflow-2.16.1"), record(LATEST, latest)]
    scenarios = [ScenarioRecord(id="single", title="S", path="/s.py"), ScenarioRecord(id="cross", title="C", path="/c.py", kind="cross")]
    return Results(run=RunInfo(id="r", started="2026-06-01T00:00:00Z", complete=True, **run),  # type: ignore[arg-type]
                   pairings=pairings, scenarios=scenarios, cells=cells)


def full_run(latest: str = "keras-3.15.1+tensorflow-2.21.0", single_latest: str = "passed") -> Results:
    old = "keras-3.5.0+tensorflow-2.16.1"
    cells = [Cell(scenario="single", pairing=old, verdict="reproduced", reason="it raised the signature"),
             Cell(scenario="single", pairing=latest, verdict=single_latest, reason=f"it is {single_latest}")]
    cells += [Cell(scenario="cross", pairing=loader, saved_with=saver, verdict="passed", reason="ran clean")
              for loader in (old, latest) for saver in (old, latest)]
    return run_of(cells, latest)


def test_keys_are_labels_of_the_pairings_as_asked_for_and_stay_when_latest_moves() -> None:
    before = expectations_of(full_run())
    after = expectations_of(full_run(latest="keras-3.16.0+tensorflow-2.22.0"))
    assert set(before.cells) == set(after.cells)
    assert ExpectKey("single", None, LATEST_KEY) in before.cells
    assert ExpectKey("cross", OLD_KEY, LATEST_KEY) in before.cells
    assert before.pairings[LATEST_KEY].id == "keras-3.15.1+tensorflow-2.21.0" and before.pairings[LATEST_KEY].spec == LATEST
    found = compare(full_run(latest="keras-3.16.0+tensorflow-2.22.0"), before, TODAY)
    assert found.changes == [] and found.matched == 6
    assert found.moved == [(LATEST_KEY, "keras-3.15.1+tensorflow-2.21.0", "keras-3.16.0+tensorflow-2.22.0")]


def test_an_imported_saver_of_the_same_spec_resolved_earlier_is_keyed_by_its_id() -> None:
    results = full_run()
    earlier = record(LATEST, "keras-3.14.0+tensorflow-2.20.0", source="run-1")
    results.pairings.append(earlier)
    results.cells.append(Cell(scenario="cross", pairing="keras-3.5.0+tensorflow-2.16.1", saved_with=earlier.id, verdict="error"))
    keys = set(expectations_of(results).cells)
    assert ExpectKey("cross", earlier.id, OLD_KEY) in keys and ExpectKey("cross", LATEST_KEY, OLD_KEY) in keys


def test_writing_is_sorted_and_byte_identical_and_reads_back(tmp_path: Path) -> None:
    results = full_run()
    shuffled = replace(results, cells=list(reversed(results.cells)), pairings=list(results.pairings))
    text = expectations_text(expectations_of(results))
    assert text == expectations_text(expectations_of(shuffled))
    assert text.index("[expect.cross]") < text.index("[expect.single]")
    assert f'"{OLD_KEY} -> {LATEST_KEY}" = "passed"' in text
    path = tmp_path / "expect.toml"
    write_expectations(path, expectations_of(results))
    first = path.read_bytes()
    write_expectations(path, read_expectations(path))
    assert path.read_bytes() == first
    assert read_expectations(path) == expectations_of(results)


def test_reasons_and_dates_are_kept_for_an_unchanged_verdict_only() -> None:
    previous = expectations_of(full_run())
    annotated = Expectation("passed", reason='known upstream, "keras#20407" \\ \u00e9\n', until=datetime.date(2027, 6, 1))
    previous.cells[ExpectKey("single", None, LATEST_KEY)] = annotated
    previous.cells[ExpectKey("single", None, OLD_KEY)] = Expectation("reproduced", reason="still")
    rewritten = expectations_of(full_run(single_latest="error"), previous)
    assert rewritten.cells[ExpectKey("single", None, LATEST_KEY)] == Expectation("error")
    assert rewritten.cells[ExpectKey("single", None, OLD_KEY)].reason == "still"
    kept = expectations_of(full_run(), previous)
    text = expectations_text(kept)
    assert parse_toml(text)["expect"]["single"][LATEST_KEY] == {
        "verdict": "passed", "reason": 'known upstream, "keras#20407" \\ \u00e9\n', "until": "2027-06-01"}


def test_changed_new_gone_and_expired_fail_and_are_sorted() -> None:
    expected = expectations_of(full_run())
    expected.cells[ExpectKey("single", None, LATEST_KEY)] = Expectation("passed", reason="r", until=datetime.date(2026, 5, 31))
    expected.cells[ExpectKey("single", None, "keras-3.6.0_tensorflow-2.16.1")] = Expectation("passed")
    expected.cells[ExpectKey("cross", LATEST_KEY, LATEST_KEY)] = Expectation("error")
    del expected.cells[ExpectKey("cross", OLD_KEY, OLD_KEY)]
    found = compare(full_run(), expected, TODAY)
    kinds = [(c.kind, c.key.scenario, c.key.cell, c.was, c.now) for c in found.changes]
    assert kinds == [
        ("new", "cross", f"{OLD_KEY} -> {OLD_KEY}", None, "passed"),
        ("changed", "cross", f"{LATEST_KEY} -> {LATEST_KEY}", "error", "passed"),
        ("gone", "single", "keras-3.6.0_tensorflow-2.16.1", "passed", None),
        ("expired", "single", LATEST_KEY, "passed", "passed"),
    ]
    assert found.counts() == {"changed": 1, "new": 1, "gone": 1, "expired": 1}
    assert found.by_pairing("new") == {OLD_KEY: 1} and found.by_pairing("gone") == {"keras-3.6.0_tensorflow-2.16.1": 1}
    assert "expected until 2026-05-31 (r)" in found.changes[-1].reason
    assert found.changes[1].reason == "ran clean"  # the cell's own reason


def test_an_expectation_holds_through_its_last_day() -> None:
    expected = expectations_of(full_run())
    expected.cells[ExpectKey("single", None, OLD_KEY)] = Expectation("reproduced", until=TODAY)
    assert compare(full_run(), expected, TODAY).changes == []
    assert [c.kind for c in compare(full_run(), expected, TODAY + datetime.timedelta(days=1)).changes] == ["expired"]


def raising_run(exception: str | None, verdict: str = "error") -> Results:
    """:func:`full_run` with its pinned single-env cell ``verdict``, carrying ``exception`` as its exception type."""
    results = full_run()
    results.cells[0] = replace(results.cells[0], verdict=verdict, exception_type=exception, reason=f"run raised {exception}: x")
    return results


RAISING = ExpectKey("single", None, OLD_KEY)


def test_a_failing_cell_records_its_exception_type_and_a_passed_one_none(tmp_path: Path) -> None:
    written = expectations_of(raising_run("TypeError"))
    assert written.cells[RAISING] == Expectation("error", "TypeError")
    assert expectations_of(raising_run("TypeError", verdict="reproduced")).cells[RAISING] == Expectation("reproduced", "TypeError")
    assert expectations_of(raising_run("TypeError", verdict="passed")).cells[RAISING] == Expectation("passed")
    assert expectations_of(raising_run(None, verdict="timeout")).cells[RAISING] == Expectation("timeout")
    text = expectations_text(written)
    assert f'[expect.single]\n"{OLD_KEY}" = {{ verdict = "error", exception = "TypeError" }}\n' in text
    path = tmp_path / "expect.toml"
    write_expectations(path, written)
    assert read_expectations(path) == written


def test_the_same_exception_type_matches_and_another_one_is_a_change() -> None:
    expected = expectations_of(raising_run("TypeError"))
    assert compare(raising_run("TypeError"), expected, TODAY).changes == []
    found = compare(raising_run("ValueError"), expected, TODAY)
    assert [(c.kind, c.key, c.was, c.now, c.reason) for c in found.changes] == [
        ("changed", RAISING, "error (TypeError)", "error (ValueError)", "run raised ValueError: x")]
    assert found.counts() == {"changed": 1} and found.matched == 5
    # a cell that no longer carries an exception type is a change too; a changed verdict shows both types
    assert [c.now for c in compare(raising_run(None), expected, TODAY).changes] == ["error"]
    moved = compare(raising_run("ValueError", verdict="reproduced"), expected, TODAY).changes
    assert [(c.was, c.now) for c in moved] == [("error (TypeError)", "reproduced (ValueError)")]


def test_an_entry_without_an_exception_type_compares_the_verdict_only(tmp_path: Path) -> None:
    path = tmp_path / "old.toml"  # as written before exception types were recorded
    write_expectations(path, expectations_of(full_run()))
    path.write_text(path.read_text().replace(f'"{OLD_KEY}" = "reproduced"', f'"{OLD_KEY}" = {{ verdict = "error", reason = "known" }}'))
    old = read_expectations(path)
    assert old.cells[RAISING] == Expectation("error", reason="known")
    found = compare(raising_run("ValueError"), old, TODAY)
    assert found.changes == [] and found.matched == 6
    # written again, the entry keeps its reason and takes the cell's exception type
    assert expectations_of(raising_run("ValueError"), old).cells[RAISING] == Expectation("error", "ValueError", reason="known")


def test_verdicts_only_ignores_the_exception_types_recorded() -> None:
    expected = expectations_of(raising_run("TypeError"))
    found = compare(raising_run("ValueError"), expected, TODAY, verdicts_only=True)
    assert found.changes == [] and found.matched == 6
    changed = compare(raising_run("ValueError", verdict="reproduced"), expected, TODAY, verdicts_only=True).changes
    assert [(c.kind, c.was, c.now) for c in changed] == [("changed", "error", "reproduced")]


def test_a_reason_is_kept_only_while_the_exception_type_is_the_same() -> None:
    previous = expectations_of(raising_run("TypeError"))
    previous.cells[RAISING] = Expectation("error", "TypeError", reason="known upstream", until=datetime.date(2027, 6, 1))
    assert expectations_of(raising_run("TypeError"), previous).cells[RAISING] == previous.cells[RAISING]
    assert expectations_of(raising_run("ValueError"), previous).cells[RAISING] == Expectation("error", "ValueError")


@pytest.mark.parametrize("run, outside", [({"options": {"only": ["single"]}}, 1), ({"options": {"tags": ["x"]}}, 1),
                                          ({"shard": "1/2"}, 2), ({}, 0)])
def test_a_narrowed_run_leaves_the_other_expectations_uncompared(run: dict, outside: int) -> None:
    expected = expectations_of(full_run())
    expected.cells[ExpectKey("other", None, OLD_KEY)] = Expectation("passed")
    results = full_run()
    results.cells = results.cells[1:]  # the shard's slice, say
    results.run = replace(results.run, **run)
    found = compare(results, expected, TODAY)
    assert found.outside == outside
    assert len([c for c in found.changes if c.kind == "gone"]) == 2 - outside


@pytest.mark.parametrize("text, fragment", [
    ("version = 1\n[expect.single]\n\"a\" = \"pased\"\n", "'pased' is not a verdict"),
    ("version = 1\n[expect.single]\n\"a\" = 3\n", "must be a verdict or a table"),
    ("version = 1\n[expect.single]\n\"a\" = { verdict = \"passed\", until = \"2027-13-01\" }\n", "until must be a date"),
    ("version = 1\n[expect.single]\n\"a\" = { verdict = \"passed\", until = \"soon\" }\n", "until must be a date"),
    ("version = 1\n[expect.single]\n\"a\" = { verdict = \"passed\", until = 2027-06-01T10:00:00 }\n", "until must be a date"),
    ("version = 1\n[expect.single]\n\"a\" = { verdict = \"passed\", untill = \"2027-06-01\" }\n", "unknown key 'untill'"),
    ("version = 1\n[expect.single]\n\"a\" = { verdict = \"passed\", reason = 5 }\n", "reason must be a non-empty string"),
    ("version = 1\n[expect.single]\n\"a\" = { verdict = \"error\", exception = 5 }\n", "exception must be the name of an exception type"),
    ("version = 1\n[expect.single]\n\"a\" = { verdict = \"error\", exception = \" \" }\n", "exception must be the name"),
    ("version = 1\n[expect.single]\n\"a\" = { verdict = \"passed\", exception = \"TypeError\" }\n", "a passed cell raised no exception"),
    ("version = 1\n[expect.single]\n\"a -> b -> c\" = \"passed\"\n", "is neither"),
    ("version = 1\n[expect.single]\n\"../etc\" = \"passed\"\n", "is not a pairing key"),
    ("version = 1\n[expect.\"not-an-id\"]\n\"a\" = \"passed\"\n", "does not name a scenario"),
    ("version = 1\nexpect = 5\n", "[expect] must be a table"),
    ("version = 1\n[pairings]\na = { spec = 1, id = \"x\" }\n", "spec and id must both be strings"),
    ("version = 2\n", "version must be 1"),
    ("[expect.single]\n\"a\" = \"passed\"\n", "version must be 1"),
    ("version = 1\nverdicts = {}\n", "unknown key 'verdicts' at the top level"),
    ("version = 1\n[expect\n", "is not valid TOML"),
])
def test_a_bad_file_is_one_sentence_naming_the_file(tmp_path: Path, text: str, fragment: str) -> None:
    path = tmp_path / "expect.toml"
    path.write_text(text)
    with pytest.raises(BadInput) as caught:
        read_expectations(path)
    message = str(caught.value)
    assert fragment in message and str(path) in message and "\n" not in message, message


def test_a_missing_or_binary_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="does not exist"):
        read_expectations(tmp_path / "none.toml")
    (tmp_path / "bin.toml").write_bytes(b"\xff\xfe")
    with pytest.raises(BadInput, match="not UTF-8"):
        read_expectations(tmp_path / "bin.toml")


def test_a_toml_date_is_accepted_and_written_as_a_string(tmp_path: Path) -> None:
    path = tmp_path / "expect.toml"
    path.write_text('version = 1\n[expect.single]\n"a" = { verdict = "passed", until = 2027-06-01 }\n')
    assert read_expectations(path).cells[ExpectKey("single", None, "a")].until == datetime.date(2027, 6, 1)
    assert 'until = "2027-06-01"' in expectations_text(read_expectations(path))


def test_fail_on_names_verdicts() -> None:
    assert parse_verdicts("timeout,crashed") == (Verdict.CRASHED, Verdict.TIMEOUT)
    for bad in ("", "passed,", "pased"):
        with pytest.raises(BadInput, match="is not a verdict"):
            parse_verdicts(bad)
