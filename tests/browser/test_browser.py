"""The HTML report in a real headless Chromium: renders, filters, opens evidence, runs no injected script."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import pytest

from harness.report.render import render_all
from support.browser import chromium, screenshot
from support.reportdata import HOSTILE, sample_results

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def page_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    folder = tmp_path_factory.mktemp("report")
    render_all(sample_results(), folder)
    return (folder / "index.html").as_uri()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as instance:
        yield instance


@pytest.fixture
def page(browser: Any, page_url: str) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.requests = []
    page.errors = []
    page.on("request", lambda request: page.requests.append(request.url))
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    page.goto(page_url)
    yield page
    context.close()


def test_the_grid_renders_from_file_without_network(page: Any) -> None:
    cells = page.locator("td.cell")
    assert cells.count() == 21
    assert page.locator("#matrix tbody tr").count() == 3
    assert page.locator("table.grid td.diag").count() == 3
    assert all(url.startswith("file://") for url in page.requests), page.requests
    assert page.errors == []
    assert page.locator("#filter-count").inner_text() == "21 of 21 cells shown"
    screenshot(page, "report-sample.png")


def test_a_filter_hides_cells(page: Any) -> None:
    passed = page.locator('td.cell[data-verdict="passed"] a')
    others = page.locator('td.cell[data-verdict="reproduced"] a')
    assert passed.first.is_visible() and others.first.is_visible()
    page.locator('#filters input[data-verdict="passed"]').uncheck()
    assert all(not passed.nth(i).is_visible() for i in range(passed.count()))
    assert others.first.is_visible()
    page.locator('#filters input[data-verdict="passed"]').check()
    page.locator("#filter-text").fill("keras-3.15.1")
    visible = [c for c in page.locator("td.cell").all() if c.locator("a").is_visible()]
    assert visible and all("keras-3.15.1" in c.get_attribute("data-search") for c in visible)
    assert len(visible) < 21
    page.locator("#filter-text").fill("")
    page.locator("#filter-tag").select_option("formats")
    assert page.locator("#filter-count").inner_text() == "3 of 21 cells shown"


def test_a_cell_opens_its_evidence_and_injected_markup_stays_text(page: Any) -> None:
    cell = page.locator('#matrix td.cell[data-verdict="reproduced"] a').first
    panel_id = cell.get_attribute("href")[1:]
    panel = page.locator(f"section.panel#{panel_id}")
    assert not panel.is_visible()
    cell.click()
    assert panel.is_visible()
    assert HOSTILE in panel.locator("pre.message").inner_text()
    assert "nox -s matrix -- --pairing" in panel.inner_text()
    screenshot(page, "report-sample-evidence.png")
    assert page.evaluate("typeof window.__pwned") == "undefined"
    page.keyboard.press("Escape")
    assert not panel.is_visible()
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert page.errors == []


def test_a_large_matrix_stays_usable(browser: Any, tmp_path: Path) -> None:
    render_all(sample_results(pairings=20, scenarios=20, hostile=False), tmp_path)
    page = browser.new_page()
    page.goto((tmp_path / "index.html").as_uri())
    assert page.locator("#matrix td.cell").count() == 20 * 21
    page.locator('#filters input[data-verdict="passed"]').uncheck()
    assert "of" in page.locator("#filter-count").inner_text()
    page.close()
