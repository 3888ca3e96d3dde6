"""Headless Chromium (Debian's /usr/bin/chromium) driven by Playwright, for the report tests."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Iterator

CHROMIUM = os.environ.get("HARNESS_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]


@contextlib.contextmanager
def chromium() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            yield browser
        finally:
            browser.close()


def screenshot(page: object, name: str, full_page: bool = True) -> Path:
    """Keep a screenshot with the test artifacts (not committed); ``full_page=False`` keeps only
    what the viewport shows."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path), full_page=full_page)
    return path
