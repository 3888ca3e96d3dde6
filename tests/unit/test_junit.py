"""junit.xml as JUnit readers take it: checked against a JUnit schema (tests/support/junit.xsd) and
read back with junitparser, a JUnit reader from the package index."""

from __future__ import annotations

import re
from pathlib import Path

import junitparser
import pytest
import xmlschema

from harness.evidence.model import Cell
from harness.evidence.runs import merge_results
from harness.report.model import build_report
from harness.report.render import junit_kind, render_junit
from support.reportdata import DEEP_CAUSE, default_matrix_results, sample_results

SCHEMA = xmlschema.XMLSchema(str(Path(__file__).resolve().parent.parent / "support" / "junit.xsd"))


def read(tmp_path: Path, xml: str) -> junitparser.JUnitXml:
    path = tmp_path / "junit.xml"
    path.write_text(xml, encoding="utf-8")
    SCHEMA.validate(str(path))
    parsed = junitparser.JUnitXml.fromfile(str(path))
    assert isinstance(parsed, junitparser.JUnitXml)
    return parsed


def cases(parsed: junitparser.JUnitXml) -> dict[str, junitparser.TestCase]:
    return {f"{case.classname}/{case.name}": case for suite in parsed for case in suite}


def case_name(cell: Cell) -> str:
    """``classname/name`` of a cell's testcase: the pairing, or ``saver -> loader`` across versions."""
    name = cell.pairing if cell.saved_with in (None, cell.pairing) else f"{cell.saved_with} -> {cell.pairing}"
    return f"{cell.scenario}/{name}"


@pytest.mark.parametrize("verdict, kind", [
    ("reproduced", "failure"), ("wrong_values", "failure"), ("error", "failure"),
    ("install_failed", "error"), ("crashed", "error"), ("timeout", "error"), ("interrupted", "error"),
    ("missing", "error"), ("skipped", "skipped"), ("passed", "passed"),
])
def test_junit_kinds(verdict: str, kind: str) -> None:
    assert junit_kind(verdict) == kind


def test_junit_follows_the_schema_and_readers_see_failures_errors_and_skips(tmp_path: Path) -> None:
    results = sample_results()
    parsed = read(tmp_path, render_junit(build_report(results)))
    found = cases(parsed)
    assert len(found) == len(results.cells)
    for cell in results.cells:
        case = found[case_name(cell)]
        outcome = {type(r).__name__: r for r in case.result}
        if cell.verdict in ("reproduced", "wrong_values", "error"):
            assert list(outcome) == ["Failure"], cell.verdict
            assert outcome["Failure"].type == (cell.exception_type or cell.verdict)
        elif cell.verdict in ("install_failed", "crashed", "timeout"):
            assert list(outcome) == ["Error"] and outcome["Error"].type == cell.verdict
        elif cell.verdict == "skipped":
            assert list(outcome) == ["Skipped"]
        else:
            assert outcome == {} and case.is_passed
    total = sum(suite.tests for suite in parsed)
    assert total == len(results.cells)
    assert sum(suite.failures for suite in parsed) == sum(junit_kind(c.verdict) == "failure" for c in results.cells)
    assert sum(suite.errors for suite in parsed) == sum(junit_kind(c.verdict) == "error" for c in results.cells)


def test_junit_types_are_exception_classes_with_the_root_cause_first(tmp_path: Path) -> None:
    parsed = read(tmp_path, render_junit(build_report(default_matrix_results())))
    failures = [r for case in cases(parsed).values() for r in case.result if isinstance(r, junitparser.Failure)]
    assert {f.type for f in failures} == {"ValueError", "TypeError", "wrong_values"}
    keras = next(f for f in failures if f.type == "TypeError")
    assert keras.message == f"TypeError: {DEEP_CAUSE}"
    assert (keras.text or "").startswith(f"TypeError: {DEEP_CAUSE}")


def test_junit_suites_carry_timestamp_hostname_versions_and_files(tmp_path: Path) -> None:
    results = sample_results()
    parsed = read(tmp_path, render_junit(build_report(results)))
    for suite in parsed:
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}", suite.timestamp or "")
        assert suite.hostname
        props = {p.name: p.value for p in suite.properties()}
        for record in results.pairings:
            assert props[f"pairing {record.id}"].startswith(
                ", ".join(f"{n} {v}" for n, v in sorted(record.versions.items())))
        for case in suite:
            assert case._elem.get("file") == f"/work/scenarios/{suite.name}.py"


def test_cells_missing_from_a_merged_run_are_errors(tmp_path: Path) -> None:
    whole = sample_results()
    first, second = sample_results(), sample_results()
    first.cells, second.cells = whole.cells[:5], whole.cells[5:-2]
    first.run.shard, second.run.shard = "1/2", "2/2"
    second.run.id = "second"  # two shards are two runs
    merged = merge_results([("a", first), ("b", second)]).results
    parsed = read(tmp_path, render_junit(build_report(merged)))
    found = cases(parsed)
    assert len(found) == len(whole.cells)
    for cell in whole.cells[-2:]:
        case = found[case_name(cell)]
        [error] = case.result
        assert isinstance(error, junitparser.Error) and error.type == "missing"
    # a shard's own report leaves out the cells of the other shards
    shard = read(tmp_path, render_junit(build_report(first)))
    assert len(cases(shard)) == 5


def test_junit_has_no_terminal_escapes_left(tmp_path: Path) -> None:
    results = sample_results()
    for cell in results.cells:
        cell.output_tail = "\x1b[31mred\x1b[0m text \x1b]0;title\x07 and \x1b(B done \x07"
        cell.reason = "why \x1b[1mbold\x1b[22m"
    xml = render_junit(build_report(results))
    read(tmp_path, xml)
    assert "\x1b" not in xml and "[0m" not in xml and "[31m" not in xml and "[1m" not in xml
    assert "red text  and  done" in xml
    odd = sample_results()
    odd.cells[0].exception_type = "Bad\x1bType"
    assert 'type="BadType"' in render_junit(build_report(odd))
