"""The HTML report in a real headless Chromium: the first screen answers (for a run of a user's
own model, the failing direction and its root cause), a cell opens its evidence, links and
reloads keep what was open and filtered, the keyboard moves between cells, search reads whole
messages and tracebacks, and no injected script runs."""

from __future__ import annotations

from typing import Any, Iterator

import pytest

from harness.report.render import render_all
from support.browser import chromium, screenshot
from support.reportdata import (
    DEEP_CAUSE,
    HOSTILE,
    OWN_CAUSE,
    SEED,
    TRACEBACK_ONLY,
    default_matrix_results,
    own_model_results,
    sample_results,
)

pytestmark = pytest.mark.browser
VIEWPORT = {"width": 1400, "height": 900}


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as instance:
        yield instance


@pytest.fixture(scope="module")
def default_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The page of a run shaped like the default matrix (48 scenarios × 3 pairings)."""
    folder = tmp_path_factory.mktemp("default")
    render_all(default_matrix_results(), folder)
    return (folder / "index.html").as_uri()


@pytest.fixture(scope="module")
def sample_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The page of a small run with every verdict and hostile text."""
    folder = tmp_path_factory.mktemp("sample")
    render_all(sample_results(), folder)
    return (folder / "index.html").as_uri()


@pytest.fixture(scope="module")
def own_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The page of ``matrix --model mymodel.py:build`` on keras 3.5.0, 3.6.0 and 3.15.1."""
    folder = tmp_path_factory.mktemp("own")
    render_all(own_model_results(), folder)
    return (folder / "index.html").as_uri()


def open_page(browser: Any, url: str) -> Any:
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    page.requests = []
    page.errors = []
    page.on("request", lambda request: page.requests.append(request.url))
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    page.goto(url)
    page.wait_for_function("document.documentElement.hasAttribute('data-ready')")
    return page


@pytest.fixture
def default_page(browser: Any, default_url: str) -> Iterator[Any]:
    page = open_page(browser, default_url)
    yield page
    assert page.errors == []
    page.context.close()


@pytest.fixture
def sample_page(browser: Any, sample_url: str) -> Iterator[Any]:
    page = open_page(browser, sample_url)
    yield page
    assert page.errors == []
    page.context.close()


def inside_viewport(box: dict[str, float] | None) -> bool:
    return box is not None and box["x"] >= 0 and box["y"] >= 0 and \
        box["x"] + box["width"] <= VIEWPORT["width"] and box["y"] + box["height"] <= VIEWPORT["height"]


def matrix_row(page: Any, scenario: str) -> Any:
    return page.locator(f'#matrix tr.row[data-scenario="{scenario}"]')


def test_the_seed_row_and_its_cells_are_on_the_first_screen(default_page: Any) -> None:
    row = matrix_row(default_page, SEED)
    cells = row.locator("td.cell")
    assert cells.count() == 3
    assert inside_viewport(row.locator("th").bounding_box())
    for i in range(3):
        assert inside_viewport(cells.nth(i).bounding_box()), i
        assert cells.nth(i).get_attribute("data-verdict") == "reproduced"
    for part in default_page.locator("#counts > span").all():  # the one-line header with its counts
        assert inside_viewport(part.bounding_box())
    assert all(url.startswith("file://") for url in default_page.requests), default_page.requests
    screenshot(default_page, "report-default-first-viewport.png", full_page=False)


def test_headers_stick_while_the_matrix_scrolls(default_page: Any) -> None:
    header = default_page.locator("#matrix thead th.col").first
    before = header.bounding_box()
    default_page.locator("#matrix-wrap").evaluate("wrap => { wrap.scrollTop = 600; }")
    after = header.bounding_box()
    assert before is not None and after is not None and abs(before["y"] - after["y"]) < 1
    assert not inside_viewport(matrix_row(default_page, SEED).locator("td.cell").first.bounding_box())


def test_clicking_a_cell_opens_its_evidence_with_the_root_cause_first(default_page: Any) -> None:
    panel = default_page.locator("#evidence")
    assert not panel.is_visible()
    cell = default_page.locator('#matrix tr.row td.cell[data-verdict="error"] a').first
    assert cell.inner_text().strip().endswith("TypeError")
    cell.click()
    assert panel.is_visible()
    assert panel.get_attribute("data-cell") == cell.get_attribute("href")[1:]
    assert default_page.url.endswith(cell.get_attribute("href"))
    cause = panel.locator("pre.cause")
    assert cause.inner_text() == f"TypeError: {DEEP_CAUSE}"
    headings = [h.strip() for h in panel.locator("h4").all_inner_texts()]
    assert headings[0] == "Root cause" and "Reproduce this cell alone" in headings
    assert "nox -s matrix -- --pairing" in panel.inner_text()
    assert inside_viewport(panel.bounding_box())
    screenshot(default_page, "report-default-evidence.png", full_page=False)
    default_page.keyboard.press("Escape")
    assert not panel.is_visible() and "#cell-" not in default_page.url


def test_a_cell_of_a_grid_opens_its_evidence_beside_it(default_page: Any) -> None:
    grid = default_page.locator("figure.xgrid").first
    assert grid.locator("td.diag").count() == 3 and grid.locator("td.x").count() == 6
    grid.locator("td.x a").first.click()
    panel = default_page.locator("#evidence")
    assert panel.is_visible() and inside_viewport(panel.bounding_box())
    assert "saved with" in panel.locator("p.where").inner_text()


def test_reloading_with_a_cells_fragment_reopens_it(browser: Any, default_url: str) -> None:
    page = open_page(browser, default_url)
    link = matrix_row(page, SEED).locator("td.cell a").nth(1)
    fragment = link.get_attribute("href")
    link.click()
    page.reload()
    page.wait_for_function("document.documentElement.hasAttribute('data-ready')")
    assert page.locator("#evidence").is_visible()
    assert page.locator("#evidence").get_attribute("data-cell") == fragment[1:]
    fresh = open_page(browser, default_url.split("#")[0] + fragment)
    assert fresh.locator("#evidence").get_attribute("data-cell") == fragment[1:]
    assert "expected 3 variables" in fresh.locator("#evidence pre.cause").inner_text()
    assert page.errors == [] and fresh.errors == []
    page.context.close()
    fresh.context.close()


def test_filters_change_the_url_and_survive_a_reload(browser: Any, default_url: str) -> None:
    page = open_page(browser, default_url)
    page.locator('#filters input[data-verdict="passed"]').uncheck()
    page.locator("#filter-tag").select_option("rnn")
    page.locator("#filter-text").fill("gru_weights")
    page.wait_for_function("location.hash.indexOf('q=gru_weights') !== -1")
    assert "hide=passed" in page.url and "g=rnn" in page.url
    counted = page.locator("#filter-count").inner_text()
    shown = [r.get_attribute("data-scenario") for r in page.locator("#matrix tr.row").all() if r.is_visible()]
    assert shown and all("gru_weights" in s for s in shown)
    assert page.locator('#matrix tr.row:visible td.cell[data-verdict="passed"] a:visible').count() == 0
    page.reload()
    page.wait_for_function("document.documentElement.hasAttribute('data-ready')")
    assert not page.locator('#filters input[data-verdict="passed"]').is_checked()
    assert page.locator("#filter-tag").input_value() == "rnn"
    assert page.locator("#filter-text").input_value() == "gru_weights"
    assert page.locator("#filter-count").inner_text() == counted
    assert [r.get_attribute("data-scenario") for r in page.locator("#matrix tr.row").all() if r.is_visible()] == shown
    assert page.errors == []
    page.context.close()


def test_filter_counts_agree_with_the_header(default_page: Any) -> None:
    line = default_page.locator("#filter-count")
    assert line.inner_text() == "144 of 144 matrix cells, 66 of 66 cross-version cells match"
    header = " ".join(default_page.locator("#counts").inner_text().split())
    assert "144 matrix cells" in header and "66 cross-version cells" in header
    matrix = {c.get_attribute("data-verdict"): int(c.inner_text().split()[1])
              for c in default_page.locator('#counts .chip[data-count="matrix"]').all()}
    default_page.locator('#filters input[data-verdict="skipped"]').uncheck()
    default_page.wait_for_function("document.getElementById('filter-count').textContent.indexOf('144 of') === -1")
    assert line.inner_text().startswith(f"{144 - matrix['skipped']} of 144 matrix cells")
    default_page.locator('#filters input[data-verdict="skipped"]').check()
    default_page.wait_for_function("document.getElementById('filter-count').textContent.indexOf('144 of 144') === 0")


def test_search_covers_the_whole_message_and_the_traceback(default_page: Any) -> None:
    for query in ("unexpected keyword argument 'input_axes'", TRACEBACK_ONLY):
        default_page.locator("#filter-text").fill(query)
        default_page.wait_for_function("q => decodeURIComponent(location.hash).indexOf(q) !== -1", arg=query)
        matching = [c for c in default_page.locator("td.cell:not(.off)").all()]
        assert matching, query
        assert {c.get_attribute("data-verdict") for c in matching} == {"error"}, query
        assert "0 of 144 matrix cells" not in default_page.locator("#filter-count").inner_text()


def test_the_keyboard_moves_between_cells(default_page: Any) -> None:
    row = matrix_row(default_page, SEED)
    first = row.locator("td.cell a").first
    first.focus()
    default_page.keyboard.press("ArrowRight")
    assert default_page.evaluate("document.activeElement.getAttribute('href')") == row.locator("td.cell a").nth(1).get_attribute("href")
    default_page.keyboard.press("ArrowDown")
    below = default_page.evaluate("document.activeElement.closest('tr').getAttribute('data-scenario')")
    assert below != SEED and below is not None
    default_page.keyboard.press("ArrowUp")
    default_page.keyboard.press("Enter")
    panel = default_page.locator("#evidence")
    assert panel.get_attribute("data-cell") == row.locator("td.cell a").nth(1).get_attribute("href")[1:]
    default_page.keyboard.press("ArrowLeft")  # with the panel open, it follows the focus
    assert panel.get_attribute("data-cell") == first.get_attribute("href")[1:]


def test_scenarios_skipped_everywhere_fold_into_one_line(default_page: Any) -> None:
    line = default_page.locator("tr.fold-line")
    assert line.is_visible() and "6 scenarios skipped on every pairing" in line.inner_text()
    assert "SAVE_REQUIRES keras<3 fits no pairing" in line.inner_text()
    folded = default_page.locator("tr.folded-row")
    assert folded.count() == 6 and not folded.first.is_visible()
    default_page.locator("#fold-toggle").click()
    assert folded.first.is_visible()


def test_hostile_text_stays_text(sample_page: Any) -> None:
    for cell in sample_page.locator('#matrix td.cell[data-verdict="reproduced"] a').all()[:2]:
        cell.click()
        panel = sample_page.locator("#evidence")
        assert HOSTILE in panel.locator("pre.cause").inner_text()
        assert sample_page.evaluate("typeof window.__pwned") == "undefined"
    assert sample_page.locator("#evidence img").count() == 0 and sample_page.locator("img").count() == 0
    sample_page.locator("#filter-text").fill("<script>")
    sample_page.wait_for_function("location.hash.indexOf('q=') !== -1")
    assert sample_page.evaluate("typeof window.__pwned") == "undefined"
    assert all(url.startswith("file://") for url in sample_page.requests), sample_page.requests
    screenshot(sample_page, "report-sample.png")


def test_an_own_model_runs_first_screen_shows_the_failing_direction_and_its_root_cause(browser: Any, own_url: str) -> None:
    """A .keras file written by keras 3.15.1 does not load in 3.5.0: that cell, its symbol and
    word, and its root cause are on the first screen, written out (no hovering), as is every
    format's grid."""
    page = open_page(browser, own_url)
    grids = page.locator("#own figure.own-grid")
    assert grids.count() == 4
    for i in range(4):
        assert grids.nth(i).is_visible() and inside_viewport(grids.nth(i).bounding_box()), i
    keras = page.locator('#own figure.own-grid[data-scenario="mymodel_formats[keras]"]')
    cell = keras.locator('tr[data-saver="keras-3.15.1+tensorflow-2.21.0"] td[data-loader="keras-3.5.0+tensorflow-2.16.1"]')
    assert cell.get_attribute("data-verdict") == "error"
    symbol, word, detail = cell.locator(".sym"), cell.locator(".word"), cell.locator(".detail")
    assert (symbol.inner_text(), word.inner_text(), detail.inner_text()) == ("!", "error", "TypeError")
    href = cell.locator("a").get_attribute("href")
    why = keras.locator("li.why-line").filter(has=page.locator(f'a[href="{href}"]'))
    cause = why.locator(".cause")
    assert cause.inner_text() == f"ValueError: {OWN_CAUSE}"
    for part in (cell, symbol, word, detail, why.locator(".verdict"), cause):
        assert part.is_visible() and inside_viewport(part.bounding_box()), part
    assert all(url.startswith("file://") for url in page.requests), page.requests
    screenshot(page, "report-own-first-viewport.png", full_page=False)
    cell.locator("a").click()  # the cell opens its evidence, the same root cause first
    assert page.locator("#evidence pre.cause").inner_text() == f"ValueError: {OWN_CAUSE}"
    assert page.errors == []
    page.context.close()
