"""The page model, its words and index.html, parsed (no browser here)."""

from __future__ import annotations

import re

from harness.evidence.model import PairingRecord, ScenarioRecord
from harness.report.cause import LONG_MESSAGE, final_clause, root_cause
from harness.report.model import build_report
from harness.report.payload import page_data
from harness.report.render import render_html
from harness.report.words import headline, pairing_labels, short_labels, version_order
from support.pages import embedded_data, parse
from support.reportdata import DEEP_CAUSE, HOSTILE, SEED, default_matrix_results, keras_config_error, pairing, sample_results

# --------------------------------------------------------------------------- root causes


def test_root_cause_is_the_last_chained_cause_and_the_final_clause_of_a_long_keras_message() -> None:
    message, traceback = keras_config_error()
    assert len(message) > 15000 and message.index(DEEP_CAUSE) > 15000
    cause = root_cause("TypeError", message, traceback)
    assert cause is not None and cause.chained
    assert (cause.type, cause.text) == ("TypeError", DEEP_CAUSE)
    # without the traceback, the long message is cut to its final clause, never the config dump
    alone = root_cause("TypeError", message, None)
    assert alone is not None and not alone.chained and alone.text == DEEP_CAUSE


def test_a_short_message_is_its_own_root_cause_and_a_long_one_loses_its_dump() -> None:
    short = "Layer 'gru_cell' expected 3 variables, but received 0 variables during loading."
    cause = root_cause("ValueError", short, "Traceback (most recent call last):\n  File \"x\"\nValueError: " + short)
    assert cause is not None and (cause.type, cause.text, cause.chained) == ("ValueError", short, False)
    long = "A total of 2 objects could not be loaded.\n\n" + "config={'a': 1}" * 60 + "\n\nLayer 'x' expected 3 variables."
    assert len(long) > LONG_MESSAGE and final_clause(long) == "Layer 'x' expected 3 variables."
    assert root_cause(None, "no exception", None) is None


# --------------------------------------------------------------------------- labels, order, headlines


def test_labels_and_the_version_order_of_columns() -> None:
    records = [pairing("3.15.1", "2.21.0"), pairing("3.5.0", "2.16.1"), pairing("3.6.0", "2.16.1")]
    assert [p.versions["keras"] for p in version_order(records)] == ["3.5.0", "3.6.0", "3.15.1"]
    labels = pairing_labels(records)
    assert sorted(labels.values()) == ["keras 3.15.1", "keras 3.5.0", "keras 3.6.0"]
    assert set(short_labels(labels, list(labels)).values()) == {"3.5.0", "3.6.0", "3.15.1"}
    same_keras = [pairing("3.5.0", "2.16.1"), pairing("3.5.0", "2.17.0")]
    assert list(pairing_labels(same_keras).values()) == ["tensorflow 2.16.1", "tensorflow 2.17.0"]
    # the model's columns follow version order whatever order the run lists its pairings in
    results = sample_results()
    results.pairings.reverse()
    assert [p.label for p in build_report(results).pairings] == ["keras 3.5.0", "keras 3.6.0", "keras 3.15.1"]


def test_headlines_are_short_facts() -> None:
    signed = ScenarioRecord(id="s", title="S", path="s.py", signature="x")
    plain = ScenarioRecord(id="s", title="S", path="s.py")
    labels = {"a": "3.5.0", "b": "3.6.0", "c": "3.15.1"}

    def say(scenario: ScenarioRecord, verdicts: str, across: tuple[tuple[str, str, str], ...] = ()) -> str:
        names = {"R": "reproduced", "P": "passed", "W": "wrong_values", "E": "error", "S": "skipped"}
        return headline(scenario, list(zip("abc", (names[v] for v in verdicts))), list(across), labels)

    assert say(signed, "RRR") == "reproduced on all 3"
    assert say(signed, "WPP") == "fixed in 3.6.0 (wrong values before)"
    assert say(signed, "PPW") == "wrong values from 3.15.1 on (passed before)"
    assert say(signed, "WWE") == "wrong values until 3.6.0, another error from 3.15.1"
    assert say(plain, "WWE") == "wrong values until 3.6.0, error from 3.15.1"  # no SIGNATURE: an error is an error
    assert say(plain, "PEP") == "passed on 3.5.0, 3.15.1; error on 3.6.0"
    assert "another error" not in say(plain, "EEE") and say(plain, "EEE") == "error on all 3"
    newer = (("c", "a", "error"), ("c", "b", "error"), ("a", "c", "passed"), ("b", "c", "passed"))
    assert say(signed, "PPP", newer) == "passed on all 3; files from 3.15.1 do not load in 3.5.0, 3.6.0"
    assert say(signed, "RRR", (("a", "b", "reproduced"), ("c", "a", "reproduced"))) == "reproduced on all 3, across versions too"
    assert say(signed, "PPP", (("a", "b", "passed"),)) == "passed on all 3; files load across versions"
    # a file only another generation can write: the skipped own cells are not told, the loads are
    keras2 = (("a", "b", "reproduced"), ("a", "c", "reproduced"), ("b", "a", "skipped"))
    assert say(signed, "SSS", keras2) == "files from 3.5.0 reproduce the failure in 3.6.0, 3.15.1"


# --------------------------------------------------------------------------- the page model


def test_rows_are_scenarios_seed_pinned_then_rows_that_differ_then_by_tag() -> None:
    model = build_report(default_matrix_results())
    titles = [g.title for g in model.groups]
    assert titles[:2] == ["seed (pinned)", "differs across versions"]
    assert titles[2:] == sorted(titles[2:])
    seed_rows = model.groups[0].rows
    assert SEED in [r.scenario.id for r in seed_rows] and all("seed" in r.scenario.tags for r in seed_rows)
    assert all(r.differs for r in model.groups[1].rows)
    assert all(not r.differs for g in model.groups[2:] for r in g.rows)
    for group in model.groups[2:]:
        assert {r.scenario.tags[0] for r in group.rows} == {group.title}
    assert [c.pairing for c in seed_rows[0].cells] == [p.id for p in model.pairings]


def test_scenarios_skipped_on_every_pairing_fold_into_one_line_saying_why() -> None:
    model = build_report(default_matrix_results())
    assert model.folded is not None and len(model.folded.rows) == 6
    assert model.folded.why == "SAVE_REQUIRES keras<3 fits no pairing of this run"
    assert not any(r.folded for g in model.groups for r in g.rows)
    assert model.skipped_grids == []  # their grids are folded with them, not named again


def test_counts_add_up_matrix_and_cross_version_cells_apart() -> None:
    results = default_matrix_results()
    model = build_report(results)
    assert model.counts.matrix_total == 48 * 3 == sum(n for _, n in model.counts.matrix)
    assert model.counts.cross_total == 11 * 6 == sum(n for _, n in model.counts.cross)
    assert model.counts.total == len(results.cells) == len(model.cells)
    html = render_html(model)
    page = parse(html)
    header = "".join(page.text)
    assert "144 matrix cells" in " ".join(header.split()) and "66 cross-version cells" in " ".join(header.split())
    [counter] = [a for t, a in page.tags if a.get("id") == "filter-count"]
    assert "144 of 144 matrix cells, 66 of 66 cross-version cells match" in html
    roles = [c.get("k") for c in embedded_data(page)["cells"]]
    assert roles.count("m") == 144 and roles.count("x") == 66


def test_missing_cells_are_shown_and_counted() -> None:
    results = sample_results()
    gone = results.cells.pop(0)
    model = build_report(results)
    [missing] = [c for c in model.cells if c.missing]
    assert (missing.scenario, missing.pairing) == (gone.scenario, gone.pairing)
    assert dict(model.counts.matrix)["missing"] == 1
    assert model.counts.total == len(results.cells) + 1
    assert "no result was recorded" in render_html(model)


def test_error_cells_name_their_exception_and_tip_the_root_cause() -> None:
    model = build_report(default_matrix_results())
    errors = [c for c in model.cells if c.verdict == "error"]
    assert errors and {c.text for c in errors} == {"TypeError"}
    assert all(DEEP_CAUSE in c.tip for c in errors)
    wrong = next(c for c in model.cells if c.verdict == "wrong_values")
    assert wrong.text == "Δ 0.56"


def test_a_grid_where_nothing_ran_is_named_not_drawn() -> None:
    results = sample_results()
    for cell in results.cells:
        if cell.scenario == "cross_one" and cell.saved_with != cell.pairing:
            cell.verdict = "skipped"
    model = build_report(results)
    assert model.grids == [] and [s.id for s in model.skipped_grids] == ["cross_one"]
    html = render_html(model)
    assert 'id="skipped-grids"' in html and '<table class="heat"' not in html
    assert model.counts.cross_total == 6  # not drawn, still counted


def test_cross_version_grids_mark_the_diagonal() -> None:
    model = build_report(default_matrix_results())
    assert len(model.grids) == 5
    page = parse(render_html(model))
    heat = [a for a in page.all("td", "cell") if "diag" in (a.get("class") or "") or " x" in " " + (a.get("class") or "")]
    assert sum("diag" in (a.get("class") or "").split() for a in heat) == 5 * 3
    assert sum("x" in (a.get("class") or "").split() for a in heat) == 5 * 6


# --------------------------------------------------------------------------- index.html


def test_every_cell_has_its_evidence_embedded_once() -> None:
    results = sample_results()
    model = build_report(results)
    page = parse(render_html(model))
    data = embedded_data(page)
    assert len(data["cells"]) == len(model.cells) == len(results.cells)
    tds = page.all("td", "cell")
    for td in tds:
        record = data["cells"][int(td["data-i"] or -1)]
        assert record["v"] == td["data-verdict"]
    links = {a["href"] for a in page.all("a") if (a.get("href") or "").startswith("#cell-")}
    assert links == {"#" + c["id"] for c in data["cells"]}
    verdicts = {a.get("data-verdict") for a in tds}
    assert {"reproduced", "passed", "wrong_values", "error", "crashed", "timeout", "install_failed", "skipped"} <= verdicts


def test_search_data_holds_the_whole_message_and_traceback() -> None:
    model = build_report(default_matrix_results())
    data = page_data(model)
    [error] = [c for c in data["cells"] if c["v"] == "error"][:1]

    def text(index: int) -> str:
        return "\n".join(data["pieces"][i] for i in data["texts"][index])

    message, traceback = text(error["m"]), text(error["tb"])
    assert message.endswith(DEEP_CAUSE) and len(message) > 15000
    assert "deep_frame_only_in_the_traceback" in traceback


def test_hostile_text_is_escaped_and_shown_as_text() -> None:
    html = render_html(build_report(sample_results()))
    assert "<script>window.__pwned" not in html
    assert '<img src="x"' not in html
    assert "&lt;script&gt;window.__pwned = 1&lt;/script&gt;" in html
    page = parse(html)
    assert any(HOSTILE in chunk for chunk in page.text)  # the parser decodes entities back to the text
    kinds = [kind for kind, _ in page.scripts]
    assert sorted(set(kinds)) == ["application/json", "text/javascript"]
    assert all("__pwned" not in text for kind, text in page.scripts if kind != "application/json")
    assert HOSTILE in embedded_data(page)["pieces"]  # the data holds it as data
    assert not page.all("img")


def test_the_script_builds_no_markup_from_data() -> None:
    page = parse(render_html(build_report(sample_results())))
    script = "".join(text for kind, text in page.scripts if kind != "application/json")
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function", "DOMParser"):
        assert sink not in script, sink
    [data] = [text for kind, text in page.scripts if kind == "application/json"]
    assert "<" not in data and ">" not in data and "&" not in data  # |tojson escapes what could close the script


def test_the_page_is_self_contained() -> None:
    html = render_html(build_report(sample_results()))
    page = parse(html)
    for tag, attrs in page.tags:
        assert "src" not in attrs, (tag, attrs)
        assert tag not in ("link", "iframe", "object", "embed", "img")
        if tag == "a":
            href = attrs.get("href") or ""
            assert href.startswith("#") or href.startswith("https://github.com/"), href
    assert "@import" not in html and "url(" not in html
    assert not re.search(r"https?://(?!github\.com/)", html.split('id="page-data"')[0])


def test_pairing_labels_with_imported_savers_name_their_run() -> None:
    results = sample_results()
    imported = PairingRecord(id="keras-3.4.0+tensorflow-2.16.1", versions={"keras": "3.4.0", "tensorflow": "2.16.1"},
                             source="earlier1 (/runs/earlier1)")
    results.pairings.append(imported)
    model = build_report(results)
    assert [p.label for p in model.all_pairings][-1] == "keras 3.4.0 (saved in run earlier1)"
    assert len(model.pairings) == 3
