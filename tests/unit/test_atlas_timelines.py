"""The atlas's transitions as tables: every change of verdict along the releases, spanning the
releases that say nothing; and the atlas of a run read back, summarised and rendered."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.evidence.atlas import (
    LANE_OWN,
    LANE_PREVIOUS,
    Between,
    Point,
    VerdictTransition,
    atlas_record,
    build_atlas,
    find_transitions,
)
from harness.evidence.model import Cell, PairingRecord, Requested, Results, RunInfo, ScenarioRecord
from harness.report.atlas import render_atlas, summary_lines


def points(*verdicts: str | None) -> list[Point]:
    return [Point(f"3.{i}.0", f"keras-3.{i}.0", v) for i, v in enumerate(verdicts)]


def test_one_change_names_the_releases_either_side() -> None:
    found = find_transitions("s", points("reproduced", "reproduced", "passed", "passed"))
    assert found == [VerdictTransition("s", LANE_OWN, "reproduced", "passed", "3.1.0", "3.2.0")]
    assert found[0].text == "s: reproduced → passed between 3.1.0 and 3.2.0"


def test_no_change_is_no_transition() -> None:
    assert find_transitions("s", points("passed", "passed", "passed")) == []
    assert find_transitions("s", points()) == []
    assert find_transitions("s", points("install_failed", "skipped")) == []


def test_every_change_is_found_in_order() -> None:
    found = find_transitions("s", points("wrong_values", "passed", "passed", "error", "passed"))
    assert [(t.before, t.after, t.last_before, t.first_after) for t in found] == [
        ("wrong_values", "passed", "3.0.0", "3.1.0"), ("passed", "error", "3.2.0", "3.3.0"), ("error", "passed", "3.3.0", "3.4.0")]


def test_a_transition_spans_releases_that_say_nothing_and_says_so() -> None:
    found = find_transitions("s", points("reproduced", "install_failed", "crashed", None, "passed"))
    assert len(found) == 1
    assert (found[0].last_before, found[0].first_after) == ("3.0.0", "3.4.0")
    assert found[0].across == (Between("3.1.0", "install_failed"), Between("3.2.0", "crashed"), Between("3.3.0", "missing"))
    assert found[0].text.endswith("between 3.0.0 and 3.4.0 (across 3.1.0: install_failed, 3.2.0: crashed, 3.3.0: missing, "
                                  "which say nothing)")


@pytest.mark.parametrize("verdicts", [
    ("passed", "timeout", "passed"),                      # the same verdict on both sides of a gap
    ("skipped", "reproduced", "reproduced", "skipped"),   # nothing told before the first or after the last
    ("interrupted", "passed", "install_failed"),
])
def test_releases_that_say_nothing_make_no_transition_of_their_own(verdicts: tuple[str, ...]) -> None:
    assert find_transitions("s", points(*verdicts)) == []


def test_a_skip_before_the_first_telling_release_is_not_spanned() -> None:
    [found] = find_transitions("s", points("skipped", "reproduced", "timeout", "passed"))
    assert (found.last_before, found.first_after, found.across) == ("3.1.0", "3.3.0", (Between("3.2.0", "timeout"),))


def _results(cross: str) -> tuple[Results, list[tuple[str, str]]]:
    versions = ["3.0.0", "3.1.0", "3.2.0"]
    releases = [(v, f"keras=={v},tensorflow==2.16.1") for v in versions]
    pairings = [PairingRecord(id=f"keras-{v}+tensorflow-2.16.1", requested=Requested(spec=spec)) for v, spec in releases]
    ids = [p.id for p in pairings]
    cells = [
        Cell(scenario="single", pairing=ids[0], verdict="reproduced", reason="<script>x</script>"),
        Cell(scenario="single", pairing=ids[1], verdict="passed"),
        Cell(scenario="single", pairing=ids[2], verdict="passed"),
        *(Cell(scenario="files", pairing=i, saved_with=i, verdict="passed") for i in ids),
        Cell(scenario="files", pairing=ids[1], saved_with=ids[0], verdict="error"),
        Cell(scenario="files", pairing=ids[2], saved_with=ids[1], verdict="passed"),
    ]
    run = RunInfo(id="r", started="2026-12-01T00:00:00Z", options={"cross": cross}, complete=True)
    scenarios = [ScenarioRecord(id="single", title="One env", path="/s.py"),
                 ScenarioRecord(id="files", title="Files", path="/f.py", kind="cross")]
    return Results(run=run, pairings=pairings, scenarios=scenarios, cells=cells), releases


def test_the_atlas_of_a_run_has_a_timeline_per_scenario_and_lane() -> None:
    results, releases = _results("adjacent")
    atlas = build_atlas(results, releases, "keras", "3.0.0", "3.2.0", ["tensorflow==2.16.1"], "tensorflow")
    lanes = {(t.scenario, t.lane): [p.verdict for p in t.points] for t in atlas.timelines}
    assert lanes == {("single", LANE_OWN): ["reproduced", "passed", "passed"],
                     ("files", LANE_OWN): ["passed", "passed", "passed"],
                     ("files", LANE_PREVIOUS): [None, "error", "passed"]}
    assert [t.text for t in atlas.transitions] == [
        "single: reproduced → passed between 3.0.0 and 3.1.0",
        "files (loading the previous release's save): error → passed between 3.1.0 and 3.2.0"]
    record = atlas_record(atlas)
    assert record["schema"] == 1 and record["releases"] == ["3.0.0", "3.1.0", "3.2.0"]
    assert [t["text"] for t in record["transitions"]] == [t.text for t in atlas.transitions]
    assert summary_lines(atlas)[-1] == "files: no transition (passed wherever it tells)"


def test_with_cross_same_there_is_no_previous_lane() -> None:
    results, releases = _results("same")
    atlas = build_atlas(results, releases, "keras", "3.0.0", "3.2.0", [], "tensorflow")
    assert [(t.scenario, t.lane) for t in atlas.timelines] == [("single", LANE_OWN), ("files", LANE_OWN)]


def test_a_release_the_run_lacks_is_a_point_without_a_verdict() -> None:
    results, releases = _results("same")
    releases.append(("3.3.0", "keras==3.3.0,tensorflow==2.16.1"))
    atlas = build_atlas(results, releases, "keras", "3.0.0", "3.3.0", [], "tensorflow")
    assert atlas.timelines[0].points[-1] == Point("3.3.0", "", None)


def test_the_page_marks_the_transition_and_escapes_the_evidence(tmp_path: Path) -> None:
    results, releases = _results("adjacent")
    atlas = build_atlas(results, releases, "keras", "3.0.0", "3.2.0", [], "tensorflow")
    render_atlas(atlas, tmp_path, title="Release atlas <keras>")
    page = (tmp_path / "atlas.html").read_text()
    assert "<script>x</script>" not in page and "&lt;script&gt;x&lt;/script&gt;" in page
    assert "<title>Release atlas &lt;keras&gt;</title>" in page
    timeline = page.split('id="t-single-own"', 1)[1].split("</section>", 1)[0]
    assert 'class="cell v-reproduced before"' in timeline and 'class="cell v-passed after"' in timeline
    assert "single: reproduced → passed between 3.0.0 and 3.1.0" in page
    markdown = (tmp_path / "atlas.md").read_text()
    assert "- single: reproduced → passed between 3.0.0 and 3.1.0" in markdown.replace("\\_", "_")
