"""Rendering the report model with jinja2: index.html, summary.md and junit.xml.

Autoescape is on for every template and every expression; nothing here or in the templates
marks data as safe. The HTML file is self-contained: CSS and script inline, no external URL.
Every file is written whole or not at all (a temporary file, then renamed; removed when writing
fails), and a character UTF-8 cannot carry is written as its escape (``\\udc80``), never an error.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import jinja2

from harness.evidence.codec import write_atomic
from harness.evidence.model import FOUND, SCHEMA_VERSION, Results, Verdict
from harness.evidence.run_folder import HTML_FILE, JUNIT_FILE, MARKDOWN_FILE
from harness.paths import TEMPLATES
from harness.report.model import ReportModel, build_report

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


#: The most bytes summary.md may take: GitHub refuses a job summary over 1 MiB, so stay below it.
SUMMARY_LIMIT_BYTES = 1_000_000


def render_markdown(model: ReportModel, limit: int = SUMMARY_LIMIT_BYTES) -> str:
    """summary.md: every scenario when it fits in ``limit`` bytes (UTF-8); else the first ones
    that fit, and a line saying how many are left out (they are all in the other files)."""
    template = environment(trim=False).get_template("summary.md.j2")
    shown = len(model.scenarios)
    while True:
        kept = model.scenarios[:shown]
        ids = {s.id for s in kept}
        text = template.render(m=model, scenarios=kept, grids=[g for g in model.grids if g.scenario.id in ids],
                               hidden=len(model.scenarios) - shown)
        size = len(text.encode("utf-8"))
        if size <= limit or shown == 0:
            return text
        shown = min(shown - 1, int(shown * limit * 0.97 / size))  # shrink in proportion, at least by one


def junit_kind(verdict: str) -> str:
    """How JUnit readers see a verdict: ``failure`` (the scenario showed what it looks for),
    ``skipped``, ``passed``, or ``error`` (anything else)."""
    if verdict in FOUND:
        return "failure"
    if verdict == Verdict.SKIPPED:
        return "skipped"
    if verdict == Verdict.PASSED:
        return "passed"
    return "error"


def render_junit(model: ReportModel, env: jinja2.Environment | None = None) -> str:
    suites: list[dict[str, Any]] = []
    for scenario in model.scenarios:
        cells = [c for c in model.cells if c.scenario == scenario.id]
        kinds = [junit_kind(c.verdict) for c in cells]
        suites.append({
            "scenario": scenario,
            "cells": cells,
            "failures": kinds.count("failure"),
            "skipped": kinds.count("skipped"),
            "errors": kinds.count("error"),
            "time": sum(c.seconds for c in cells),
        })
    total = sum(float(s["time"]) for s in suites)
    template = (env or environment()).get_template("junit.xml.j2")
    return template.render(m=model, suites=suites, total_time=total, kind=junit_kind)


def render_page(template: str, folder: Path, **context: Any) -> Path:
    """Render one more page (bisect, readiness) in the report's style as ``folder/index.html``."""
    text = environment().get_template(template).render(**context)
    path = folder / HTML_FILE
    write_text_atomic(path, text)
    return path


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` as UTF-8, atomically (:func:`~harness.evidence.codec.write_atomic`); what
    UTF-8 cannot encode (a lone surrogate) is written as its backslash escape."""
    data = text.encode("utf-8", "backslashreplace")
    write_atomic(path, lambda handle: handle.write(data))


def render_all(results: Results, folder: Path) -> list[Path]:
    """Write index.html, summary.md and junit.xml for ``results`` into ``folder``."""
    model = build_report(results)
    env = environment()
    written = []
    for name, text in ((HTML_FILE, render_html(model, env)), (MARKDOWN_FILE, render_markdown(model)),
                       (JUNIT_FILE, render_junit(model, env))):
        path = folder / name
        write_text_atomic(path, text)
        written.append(path)
    return written
