"""The report model and the rendered files, parsed (no browser here)."""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

from harness.evidence.model import Cell, PairingRecord, ScenarioRecord
from harness.report.model import build_report
from harness.report.render import render_all, render_html, render_junit, render_markdown
from harness.report.terminal import print_summary
from harness.report.words import headline, pairing_labels
from support.reportdata import HOSTILE, pairing, sample_results


class Collector(HTMLParser):
    """Collects tags, attributes and text of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.scripts: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        (self.scripts if self._in_script else self.text).append(data)


def parse(html: str) -> Collector:
    collector = Collector()
    collector.feed(html)
    return collector


def test_every_cell_is_present_once_with_its_panel() -> None:
    results = sample_results()
    page = parse(render_html(build_report(results)))
    cell_links = [a["href"] for tag, a in page.tags if tag == "a" and (a.get("href") or "").startswith("#cell-")]
    panels = {a["id"] for tag, a in page.tags if tag == "section" and "panel" in (a.get("class") or "")}
    # every cell has a panel; the matrix shows the run cells and the diagonal, the grid every cross cell
    assert {h[1:] for h in cell_links} == panels
    assert len(panels) == len(results.cells)
    tds = [a for tag, a in page.tags if tag == "td" and "cell" in (a.get("class") or "")]
    assert len(tds) == 3 * 3 + 3 + 3 * 3  # matrix (3 run scenarios + the cross diagonal) + the 3x3 grid
    verdict_words = {a.get("data-verdict") for a in tds}
    assert {"reproduced", "passed", "wrong_values", "error", "crashed", "timeout", "install_failed", "skipped"} <= verdict_words


def test_hostile_text_is_escaped_and_shown_as_text() -> None:
    html = render_html(build_report(sample_results()))
    assert "<script>window.__pwned" not in html
    assert '<img src="x"' not in html
    assert "&lt;script&gt;window.__pwned = 1&lt;/script&gt;" in html
    page = parse(html)
    assert any(HOSTILE in chunk for chunk in page.text)  # the parser decodes entities back to the text
    scripts = [tag for tag, _ in page.tags if tag == "script"]
    assert len(scripts) == 1 and "__pwned" not in "".join(page.scripts)
    assert not [a for tag, a in page.tags if tag == "img"]


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


def test_labels_and_headlines() -> None:
    records = [pairing("3.5.0", "2.16.1"), pairing("3.6.0", "2.16.1"), pairing("3.15.1", "2.21.0")]
    labels = pairing_labels(records)
    assert list(labels.values()) == ["keras 3.5.0", "keras 3.6.0", "keras 3.15.1"]
    same_keras = [pairing("3.5.0", "2.16.1"), pairing("3.5.0", "2.17.0")]
    assert list(pairing_labels(same_keras).values()) == ["tensorflow 2.16.1", "tensorflow 2.17.0"]
    scenario = ScenarioRecord(id="s", title="S", path="s.py", signature="x")
    cells = [Cell(scenario="s", pairing=p.id, verdict="reproduced") for p in records]
    assert headline(scenario, cells, labels) == "reproduces on keras 3.5.0, 3.6.0, 3.15.1; passes on none"
    mixed = [Cell(scenario="s", pairing=records[0].id, verdict="reproduced"),
             Cell(scenario="s", pairing=records[1].id, verdict="passed"),
             Cell(scenario="s", pairing=records[2].id, verdict="wrong_values")]
    assert headline(scenario, mixed, labels) == (
        "reproduces on keras 3.5.0; passes on keras 3.6.0; loads wrong values on keras 3.15.1")
    no_signature = ScenarioRecord(id="s", title="S", path="s.py")
    assert headline(no_signature, mixed[1:2], labels) == "passes on keras 3.6.0"


def test_cross_headline_names_directions_and_leaves_out_skipped_loads() -> None:
    keras2, k35, k36 = pairing("2.15.0", "2.15.1"), pairing("3.5.0", "2.16.1"), pairing("3.6.0", "2.16.1")
    labels = pairing_labels([keras2, k35, k36])
    cross = ScenarioRecord(id="c", title="C", path="c.py", signature="x", kind="cross")

    def cell(saver: PairingRecord, loader: PairingRecord, verdict: str) -> Cell:
        return Cell(scenario="c", pairing=loader.id, saved_with=saver.id, verdict=verdict)

    # a file only Keras 2 can write: the same-pairing cells are all skipped, only directions are told
    written_by_keras2 = [cell(keras2, keras2, "skipped"), cell(k35, k35, "skipped"), cell(k36, k36, "skipped"),
                         cell(keras2, k36, "reproduced"), cell(keras2, k35, "reproduced"),
                         cell(k35, keras2, "skipped")]
    assert headline(cross, written_by_keras2, labels) == (
        "across versions (saved → loaded): reproduces keras 2.15.0 → keras 3.5.0, 3.6.0")
    both = [cell(k35, k35, "passed"), cell(k36, k36, "passed"),
            cell(k36, k35, "error"), cell(k35, k36, "passed")]
    assert headline(cross, both, labels) == (
        "reproduces on none; passes on keras 3.5.0, 3.6.0; across versions (saved → loaded): "
        "passes keras 3.5.0 → keras 3.6.0; fails with another error keras 3.6.0 → keras 3.5.0")


def test_reproduce_commands_name_the_cell() -> None:
    model = build_report(sample_results())
    [cell] = [c for c in model.cells if c.scenario == "scenario_1" and c.pairing == "keras-3.6.0+tensorflow-2.16.1"]
    assert cell.reproduce_nox.startswith("nox -s matrix -- --pairing keras==3.6.0,tensorflow==2.16.1 --only scenario_1")
    assert "uv run --no-project --isolated --python 3.11.7 --with keras==3.6.0 --with tensorflow==2.16.1 python -c" in cell.reproduce_uv
    assert cell.reproduce_uv.startswith("KERAS_BACKEND=tensorflow ")
    [cross] = [c for c in model.cells if c.scenario == "cross_one" and c.saved_with != c.pairing][:1]
    assert cross.reproduce_nox.count("--pairing") == 2 and " && " in cross.reproduce_uv


def test_markdown_summary_is_a_table() -> None:
    text = render_markdown(build_report(sample_results()))
    rows = [line for line in text.splitlines() if line.startswith("| ")]
    assert rows[0] == "| scenario | keras 3.5.0 | keras 3.6.0 | keras 3.15.1 |"
    assert len(rows) == 1 + 4 + 1 + 3  # header, 4 scenarios, grid header, 3 grid rows
    assert all(row.count(" | ") >= 3 for row in rows)
    assert "<script>" not in text  # markup in data stays text


def test_junit_is_standard_xml() -> None:
    results = sample_results()
    root = ET.fromstring(render_junit(build_report(results)).encode())
    cases = root.findall(".//testcase")
    assert len(cases) == len(results.cells)
    kinds = {c.get("classname") + "/" + c.get("name"): [child.tag for child in c if child.tag != "system-out"] for c in cases}
    by_verdict = {cell.verdict: kinds[f"{cell.scenario}/{cell.pairing}"] for cell in results.cells if cell.saved_with is None}
    assert by_verdict["reproduced"] == ["failure"]
    assert by_verdict["passed"] == []
    assert by_verdict["skipped"] == ["skipped"]
    for verdict in ("wrong_values", "error", "crashed", "timeout", "install_failed"):
        assert by_verdict[verdict] == ["error"], verdict
    suites = root.findall("testsuite")
    assert sum(int(s.get("tests")) for s in suites) == len(cases)
    assert "\x1b" not in render_junit(build_report(results))


def test_render_all_writes_three_files(tmp_path: Path) -> None:
    written = render_all(sample_results(), tmp_path)
    assert sorted(p.name for p in written) == ["index.html", "junit.xml", "summary.md"]
    assert all(p.stat().st_size > 0 for p in written)


def test_unknown_pairing_cells_and_missing_cells_render() -> None:
    results = sample_results()
    results.cells = [c for c in results.cells if not (c.scenario == "scenario_0" and c.pairing == results.pairings[0].id)]
    model = build_report(results)
    first_row = model.rows[0][1]
    assert first_row[0].verdict == "missing"
    html = render_html(model)
    assert "no result was recorded" in html
    assert isinstance(results.pairings[0], PairingRecord)


def test_a_grid_where_nothing_ran_is_named_not_drawn() -> None:
    results = sample_results()
    for cell in results.cells:
        if cell.scenario == "cross_one":
            cell.verdict = "skipped"
    model = build_report(results)
    assert model.grids == [] and [s.id for s in model.skipped_grids] == ["cross_one"]
    html = render_html(model)
    assert 'id="skipped-grids"' in html and '<table class="grid"' not in html


def test_terminal_summary_labels_grid_rows_and_columns() -> None:
    out = io.StringIO()
    print_summary(sample_results(), out)
    lines = out.getvalue().splitlines()
    start = lines.index("cross_one: saved with (rows) -> loaded with (columns)")
    header, rows = lines[start + 1], lines[start + 2:start + 5]
    assert header.split() == ["keras", "3.5.0", "keras", "3.6.0", "keras", "3.15.1"]
    # rows: saver label, then one cell per loader; older savers load into newer loaders in this data
    assert rows[0].split()[:2] == ["keras", "3.5.0"] and rows[0].count("passed") == 3
    assert rows[2].split()[:2] == ["keras", "3.15.1"] and rows[2].count("error") == 2 and "passed Δ 0" in rows[2]
    assert "cross_one: " in out.getvalue().split("cells)\n", 1)[1]
