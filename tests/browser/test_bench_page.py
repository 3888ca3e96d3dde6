"""The bench's report part in Chromium (its own module: it starts Playwright itself)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from harness.commands.bench import INTERACTIVE_BUDGET_S, PAGE_BUDGET_MB, bench_report
from support.browser import CHROMIUM

pytestmark = pytest.mark.browser


def test_the_bench_page_is_within_its_budget() -> None:
    """The bench's report part: 50 scenarios × 40 pairings with cross grids for a tenth, under
    8 MB and interactive in Chromium in under 2 s (with room: a loaded test machine is slower)."""
    assert Path(CHROMIUM).exists(), f"no Chromium at {CHROMIUM}"
    out = io.StringIO()
    figures = bench_report(out, chromium=CHROMIUM)
    assert figures["page_mb"] is not None and figures["page_mb"] < PAGE_BUDGET_MB, out.getvalue()
    assert figures["interactive_s"] is not None and figures["interactive_s"] < 2 * INTERACTIVE_BUDGET_S, out.getvalue()
    assert "time to interactive (Chromium)" in out.getvalue()
