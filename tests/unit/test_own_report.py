"""The report of a run of a user's own model or file (``matrix --model`` / ``--file``): its first
screen is a grid per format, saved with × loaded with, every cell in words and every failed
direction with its root cause; summary.md gives each failing cell's reason (no browser here)."""

from __future__ import annotations

import cmarkgfm
from cmarkgfm.cmark import Options

from harness.evidence.model import Cell, Results, RunInfo, SaveRecord, ScenarioRecord
from harness.report.model import GIVEN, build_report, own_run
from harness.report.render import render_html, render_markdown
from support.pages import github, parse, texts_inside
from support.reportdata import DEEP_CAUSE, HOSTILE, OWN_CAUSE, default_matrix_results, own_model_results, pairing, sample_results

OLD, MID, NEW = "keras-3.5.0+tensorflow-2.16.1", "keras-3.6.0+tensorflow-2.16.1", "keras-3.15.1+tensorflow-2.21.0"
LOAD_FAILS = f"ValueError: {OWN_CAUSE}"


def file_results(reference: bool) -> Results:
    """Results shaped like ``matrix --file model.keras`` on 3.5.0, 3.6.0 and 3.15.1, the file
    written by 3.15.1: without ``--reference`` only 3.15.1 saves (the others' rows are skipped);
    with it, one load per pairing against the outputs given."""
    records = [pairing("3.5.0", "2.16.1"), pairing("3.6.0", "2.16.1"), pairing("3.15.1", "2.21.0")]
    scenario = ScenarioRecord(id="file_model_keras", title="model.keras: will it load, and load right, on these versions?",
                              path="/runs/f1/scenarios/file_model_keras.py", kind="run" if reference else "cross", tags=["file"],
                              save_requires=None if reference else {"keras": "==3.15.1"})
    cells = []
    for loader in records:
        fails = loader.id != NEW
        verdict = "error" if fails else "passed"
        base = dict(scenario=scenario.id, pairing=loader.id, verdict=verdict, duration_s=1.0, compared=not fails,
                    max_abs_diff=None if fails else 0.0, exception_type="ValueError" if fails else None,
                    message=OWN_CAUSE if fails else None, reason=f"load raised ValueError: {OWN_CAUSE}" if fails else "ran clean")
        if reference:
            cells.append(Cell(**base))
            continue
        for saver in records:
            if saver.id == NEW:
                cells.append(Cell(**base, saved_with=saver.id, save=SaveRecord(status="done", pairing=saver.id, ok=True)))
            else:
                cells.append(Cell(scenario=scenario.id, pairing=loader.id, saved_with=saver.id, verdict="skipped",
                                  reason=f"the saving pairing {saver.id} does not save it: SAVE_REQUIRES keras==3.15.1"))
    command = ["keras-compat", "matrix", "--file", "/home/me/model.keras"] + (["--reference", "y.npy"] if reference else [])
    return Results(run=RunInfo(id="f1", started="2026-12-02T09:00:00Z", python="3.11.7", platform="Linux", command=command,
                               complete=True), pairings=records, scenarios=[scenario], cells=cells)


def cell_text(html: str, index: int) -> list[str]:
    """The texts of the own-model grid cell whose ``data-i`` is ``index``."""
    own = html.split('<section id="own"')[1].split("</section>")[0]
    [found] = texts_inside(own, "td", data_i=str(index))
    return found


# --------------------------------------------------------------------------- the model


def test_an_own_model_run_has_a_saved_with_by_loaded_with_grid_per_format() -> None:
    model = build_report(own_model_results())
    assert model.own_run and model.own_title == "mymodel.py:build across versions"
    assert [(g.what, g.scenario.id) for g in model.own] == [
        (".keras", "mymodel_formats[keras]"), (".weights.h5", "mymodel_formats[weights_h5]"),
        ("legacy .h5", "mymodel_formats[legacy_h5]"), ("SavedModel export", "mymodel_saved_model")]
    keras = model.own[0]
    assert keras.savers == ["keras 3.5.0", "keras 3.6.0", "keras 3.15.1"] == [p.label for p in keras.loaders]
    assert keras.saver_ids == [OLD, MID, NEW]
    shown = [[(c.symbol, c.word, c.detail) for c in row if c is not None] for row in keras.rows]
    assert shown[2] == [("!", "error", "TypeError"), ("!", "error", "TypeError"), ("✓", "passed", "Δ 0")]
    assert shown[0] == [("✓", "passed", "Δ 0")] * 3
    assert [(c.saved_with, c.pairing) for row in keras.rows for c in row if c is not None and c.failed] == [(NEW, OLD), (NEW, MID)]
    [why] = keras.why
    assert why.direction == "saved with keras 3.15.1 → loaded with keras 3.5.0, keras 3.6.0"
    assert (why.symbol, why.word, why.line) == ("!", "error", LOAD_FAILS)  # the chain's root cause, not the config dump
    [wrong] = model.own[2].why
    assert (wrong.word, wrong.loaders) == ("wrong values", "keras 3.5.0") and "max abs diff 0.31" in wrong.line
    assert model.own[1].why == [] and model.own[1].ok_line == "Every direction loads and gives the same values."
    # the grids are not drawn twice, and every failing cell's reason is in its grid
    assert model.heat_grids == [] and model.failing == []


def test_what_makes_a_run_an_own_run() -> None:
    assert own_run(own_model_results())
    assert own_run(own_model_results(command=[]))  # every scenario is a generated one
    assert not own_run(default_matrix_results()) and build_report(default_matrix_results()).own == []
    mixed = own_model_results(command=["python", "-m", "harness", "matrix"])
    mixed.scenarios.append(default_matrix_results().scenarios[0])
    assert not own_run(mixed)  # a library run with a scenario that happens to carry the tag
    mixed.run.command = ["keras-compat", "matrix", "--model=mymodel.py:build"]
    assert own_run(mixed)


def test_a_file_run_draws_the_writers_row_and_names_the_pairings_that_did_not_save() -> None:
    model = build_report(file_results(reference=False))
    assert model.own_title == "model.keras across versions"
    [grid] = model.own
    assert grid.what == "model.keras" and grid.savers == ["keras 3.15.1"]
    assert grid.left_out == ["keras 3.5.0", "keras 3.6.0"] and "SAVE_REQUIRES keras==3.15.1" in grid.left_out_why
    [why] = grid.why
    assert why.direction == "saved with keras 3.15.1 → loaded with keras 3.5.0, keras 3.6.0" and why.line == LOAD_FAILS


def test_a_file_loaded_against_given_outputs_is_one_row() -> None:
    [grid] = build_report(file_results(reference=True)).own
    assert grid.savers == [GIVEN] and grid.saver_ids == [""]
    assert [c.word for c in grid.rows[0] if c is not None] == ["error", "error", "passed"]
    [why] = grid.why
    assert why.saver is None and why.direction == "on keras 3.5.0, keras 3.6.0" and why.line == LOAD_FAILS


def test_a_load_of_a_failed_save_gives_the_saves_root_cause() -> None:
    results = own_model_results()
    message, traceback = "boom in save", "Traceback (most recent call last):\n  File \"x\"\nRuntimeError: boom in save\n"
    failed = SaveRecord(status="done", pairing=OLD, ok=False, exception_type="RuntimeError", message=message, traceback=traceback)
    for cell in results.cells:
        if cell.scenario == "mymodel_saved_model" and cell.saved_with == OLD:
            cell.verdict, cell.compared, cell.max_abs_diff, cell.save = "error", False, None, failed
            cell.reason = f"save failed in {OLD}: save raised RuntimeError: boom in save"
    [why] = build_report(results).own[3].why
    assert why.direction == "saved with keras 3.5.0 → loaded with keras 3.5.0, keras 3.6.0, keras 3.15.1"
    assert why.line == "the save failed: RuntimeError: boom in save"


# --------------------------------------------------------------------------- index.html


def test_index_html_of_an_own_run_opens_with_its_grids_in_words_and_root_causes() -> None:
    model = build_report(own_model_results())
    html = render_html(model)
    page = parse(html)
    assert html.index('<section id="own"') < html.index('id="filters"') < html.index('id="matrix"')
    assert 'id="grids"' not in html  # the heatmaps would repeat the grids above
    assert [f["id"] for f in page.all("figure", "own-grid")] == [f"grid-{g.scenario.id}" for g in model.own]
    failing, passing = model.own[0].rows[2][0], model.own[0].rows[0][1]
    assert failing is not None and passing is not None
    assert cell_text(html, failing.index) == ["!", "error", "TypeError"]
    assert cell_text(html, passing.index) == ["✓", "passed", "Δ 0"]
    why = texts_inside(html, "li", class_="why-line")[0]
    assert why == ["keras 3.15.1 → ", "keras 3.5.0", ", ", "keras 3.6.0", ":", "! error", LOAD_FAILS]
    # the cell is linked twice: from the grid and from its loader's name in the root cause line
    assert [a.get("href") for a in page.all("a")].count(f"#{failing.dom_id}") == 2
    assert '<body class="own-run">' in html


def test_hostile_text_in_an_own_run_stays_text() -> None:
    results = own_model_results()
    for cell in results.cells:
        if cell.verdict == "error":
            cell.message, cell.traceback = HOSTILE, None
    html = render_html(build_report(results))
    assert "<script>window.__pwned" not in html and '<img src="x"' not in html
    assert "&lt;script&gt;window.__pwned = 1&lt;/script&gt;" in html
    assert [f"TypeError: {HOSTILE}"] in texts_inside(html, "span", class_="cause")


def test_a_library_run_has_no_own_view() -> None:
    html = render_html(build_report(default_matrix_results()))
    assert 'id="own"' not in html and "own-run" not in html.split("</style>")[1] and 'id="grids"' in html


# --------------------------------------------------------------------------- summary.md


def test_summary_md_of_an_own_run_has_the_grids_in_words_and_each_failing_cells_reason() -> None:
    text = render_markdown(build_report(own_model_results()))
    rendered = github(text)
    keras = rendered.tables[0]
    assert [c.strip() for c in keras[0]] == ["saved ↓ · loaded →", "keras 3.5.0", "keras 3.6.0", "keras 3.15.1"]
    assert [c.strip() for c in keras[3]] == ["keras 3.15.1", "! error TypeError", "! error TypeError", "✓ passed Δ 0 (same)"]
    words = " ".join("".join(rendered.text).split())
    assert f"saved with keras 3.15.1 → loaded with keras 3.5.0, keras 3.6.0: ! error: {LOAD_FAILS}" in words
    assert "saved with keras 3.15.1 → loaded with keras 3.5.0: ≠ wrong values: ran clean but values differ" in words
    assert text.index("## mymodel.py:build across versions") < text.index("| scenario |")
    assert len(rendered.tables) == 4 + 1  # a grid per format, then the matrix


def test_summary_md_gives_every_failing_cells_reason() -> None:
    model = build_report(default_matrix_results())
    text = render_markdown(model)
    failed = [c for c in model.cells if c.failed]
    assert model.failing_cells == len(failed) and {id(c) for w in model.failing for c, _ in w.loads} == {id(c) for c in failed}
    folded = text.split("<details><summary>Why cells did not pass")[1].split("</details>")[0]
    words = " ".join("".join(github(folded).text).split())
    assert f"gru_keras_file_roundtrip saved with keras 3.15.1 → loaded with keras 3.5.0, keras 3.6.0: ! error: TypeError: {DEEP_CAUSE}" \
        in words
    assert "formats_mixed_model_legacy_h5 on keras 3.5.0: ≠ wrong values: ran clean but values differ" in words
    hostile = render_markdown(build_report(sample_results()))
    html = cmarkgfm.github_flavored_markdown_to_html(hostile, options=Options.CMARK_OPT_UNSAFE)
    assert "<script>" not in html and "<img" not in html
    assert HOSTILE in "".join(github(hostile).text)
