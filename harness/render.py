"""Rendering the report model with jinja2: index.html, summary.md and junit.xml.

Autoescape is on for every template and every expression; nothing here or in the templates
marks data as safe. The HTML file is self-contained: CSS and script inline, no external URL.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import jinja2

from harness.report import ReportModel, build_report
from harness.results import SCHEMA_VERSION, Results

TEMPLATES = Path(__file__).resolve().parent.parent / "reports" / "templates"
HTML_FILE, MARKDOWN_FILE, JUNIT_FILE = "index.html", "summary.md", "junit.xml"
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def environment(trim: bool = True) -> jinja2.Environment:
    """The template environment; ``trim=False`` for Markdown, where every newline counts."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=trim,
        lstrip_blocks=trim,
        keep_trailing_newline=True,
    )
    env.filters["md_cell"] = md_cell
    env.filters["xml_text"] = xml_text
    return env


def md_cell(value: Any) -> str:
    """Text fit for one Markdown table cell: one line, pipes and backticks neutralised."""
    text = " ".join(str(value).split())
    return text.replace("|", "\\|").replace("`", "'")


def xml_text(value: Any) -> str:
    """Drop the characters XML 1.0 cannot carry (terminal escapes and the like)."""
    return _XML_INVALID.sub("", str(value))


def render_html(model: ReportModel, env: jinja2.Environment | None = None) -> str:
    env = env or environment()
    return env.get_template("index.html.j2").render(
        m=model, pairings_by_id={p.id: p for p in model.all_pairings}, schema=SCHEMA_VERSION
    )


def render_markdown(model: ReportModel) -> str:
    return environment(trim=False).get_template("summary.md.j2").render(m=model)


def render_junit(model: ReportModel, env: jinja2.Environment | None = None) -> str:
    suites: list[dict[str, Any]] = []
    for scenario in model.scenarios:
        cells = [c for c in model.cells if c.scenario == scenario.id]
        suites.append({
            "scenario": scenario,
            "cells": cells,
            "failures": sum(c.verdict == "reproduced" for c in cells),
            "skipped": sum(c.verdict == "skipped" for c in cells),
            "errors": sum(c.verdict not in ("reproduced", "skipped", "passed") for c in cells),
            "time": sum(c.seconds for c in cells),
        })
    total = sum(float(s["time"]) for s in suites)
    return (env or environment()).get_template("junit.xml.j2").render(m=model, suites=suites, total_time=total)


def render_page(template: str, folder: Path, **context: Any) -> Path:
    """Render one more page (bisect, readiness) in the report's style as ``folder/index.html``."""
    text = environment().get_template(template).render(**context)
    path = folder / HTML_FILE
    tmp = folder / f".{HTML_FILE}.tmp"
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return path


def render_all(results: Results, folder: Path) -> list[Path]:
    """Write index.html, summary.md and junit.xml for ``results`` into ``folder``."""
    started = time.monotonic()
    model = build_report(results)
    env = environment()
    written = []
    for name, text in ((HTML_FILE, render_html(model, env)), (MARKDOWN_FILE, render_markdown(model)),
                       (JUNIT_FILE, render_junit(model, env))):
        path = folder / name
        tmp = folder / f".{name}.tmp"
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
        written.append(path)
    render_all.last_seconds = time.monotonic() - started  # type: ignore[attr-defined]
    return written
