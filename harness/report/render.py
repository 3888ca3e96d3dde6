"""Rendering the report model with jinja2: index.html, summary.md and junit.xml.

HTML and XML: autoescape is on for every template and every expression; nothing here or in the
templates marks data as safe. The HTML file is self-contained: CSS and script inline, no external
URL, the evidence embedded once as JSON through ``|tojson``.

Markdown has an escaping of its own, applied the same way (to every expression): backslash
escapes for Markdown's punctuation, never HTML entities, so GitHub shows ``loss="mse"`` as
written. Only values marked :class:`Markdown` by the filters here (inline code of plain ids,
links) pass unchanged.

Every file is written whole or not at all (a temporary file, then renamed; removed when writing
fails), and a character UTF-8 cannot carry is written as its escape (``\\udc80``), never an error.
"""

from __future__ import annotations

import re
import socket
from pathlib import Path
from typing import Any

import jinja2

from harness.evidence.codec import write_atomic
from harness.evidence.model import FOUND, SCHEMA_VERSION, Results, Verdict
from harness.evidence.run_folder import HTML_FILE, JUNIT_FILE, MARKDOWN_FILE
from harness.paths import TEMPLATES
from harness.report.model import CellView, ReportModel, build_report
from harness.report.payload import page_data

#: GitHub's limit for a job summary is 1 MiB; summary.md stays under it with room to spare.
SUMMARY_BYTES = 1_000_000
SUMMARY_CUT = "\n\n… the rest is cut to stay under GitHub's job-summary limit: index.html holds everything.\n"
#: A JUnit message attribute keeps this much of its text.
JUNIT_MESSAGE_CHARS = 500

#: Terminal escape sequences: CSI (colours, cursor), OSC (titles, links), character-set escapes and
#: the keypad and cursor-save escapes. An ESC before a letter is left to the control-character rule
#: (only the ESC goes), so ``Bad\x1bType`` stays ``BadType``.
_ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[ -/]+[0-~]|[=>78])")
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffe\uffff]")
_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|~&$@#])")
_PLAIN_CODE = re.compile(r"^[^`|\n\r]+$")
_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}")
#: Verdicts a JUnit reader sees as failures (the scenario ran and showed something wrong) and as
#: errors (it could not run to an end, or has no result).
JUNIT_FAILURES = FOUND | {Verdict.WRONG_VALUES, Verdict.ERROR}
JUNIT_ERRORS = frozenset({Verdict.CRASHED, Verdict.TIMEOUT, Verdict.INSTALL_FAILED, Verdict.INTERRUPTED, "missing"})


class Markdown(str):
    """Text that is already Markdown: the Markdown environment writes it unchanged."""


def environment(trim: bool = True) -> jinja2.Environment:
    """The HTML/XML template environment (autoescape); ``trim=False`` keeps every newline."""
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


def markdown_environment() -> jinja2.Environment:
    """The Markdown template environment: every expression goes through :func:`md_escape` unless
    it is :class:`Markdown`; every newline of the template is kept."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=False,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        finalize=lambda value: value if isinstance(value, Markdown) else md_escape(value),
    )
    env.filters["code"] = md_code
    env.filters["link"] = md_link
    return env


def md_escape(value: Any) -> str:
    """Text for Markdown: one line, Markdown's punctuation backslash-escaped (so markup, tables,
    emphasis, links, mentions and math in data show as the characters they are)."""
    return _MD_SPECIAL.sub(r"\\\1", " ".join(str(value).split()))


def md_code(value: Any) -> Markdown:
    """Inline code for plain text (ids, paths); anything with a backtick or pipe is escaped instead."""
    text = str(value)
    return Markdown(f"`{text}`") if _PLAIN_CODE.match(text) else Markdown(md_escape(text))


def md_link(text: Any, url: str) -> Markdown:
    """A Markdown link (``url`` is a checked http(s) link from the results)."""
    return Markdown(f"[{md_escape(text)}]({md_escape(url)})")


def md_cell(value: Any) -> str:
    """Text fit for one Markdown table cell (inside autoescaped templates): one line, pipes and
    backticks neutralised."""
    text = " ".join(str(value).split())
    return text.replace("|", "\\|").replace("`", "'")


def xml_text(value: Any) -> str:
    """Text XML 1.0 can carry: terminal escape sequences removed whole (no ``[0m`` left), then the
    control characters XML cannot hold."""
    return _XML_INVALID.sub("", _ANSI.sub("", str(value)))


def render_html(model: ReportModel, env: jinja2.Environment | None = None) -> str:
    env = env or environment()
    return env.get_template("index.html.j2").render(m=model, data=page_data(model), schema=SCHEMA_VERSION)


def render_markdown(model: ReportModel, limit: int = SUMMARY_BYTES) -> str:
    """summary.md: the page's header, matrix and headlines in Markdown, with the cross-version
    grids and the pairings folded in ``<details>``; at most ``limit`` bytes (see :func:`fit`)."""
    text = markdown_environment().get_template("summary.md.j2").render(m=model)
    return fit(text, limit)


def fit(text: str, limit: int) -> str:
    """``text`` when it is at most ``limit`` bytes (UTF-8); otherwise its whole lines up to the
    limit, a line saying the rest was cut, and the ``</details>`` an open fold needs."""
    if len(text.encode()) <= limit:
        return text
    close = "\n</details>\n"
    room = limit - len(SUMMARY_CUT.encode()) - len(close)
    head = text.encode()[:room].decode("utf-8", "ignore")
    head = head[: head.rfind("\n") + 1]
    return head + SUMMARY_CUT + (close if head.count("<details>") > head.count("</details>") else "")


def junit_kind(verdict: str) -> str:
    """How JUnit readers see a verdict: ``failure`` (reproduced, wrong values, another exception:
    the scenario ran and something was wrong), ``error`` (install failed, crashed, timed out,
    interrupted, or no result), ``skipped`` or ``passed``."""
    if verdict in JUNIT_FAILURES:
        return "failure"
    if verdict in JUNIT_ERRORS:
        return "error"
    if verdict == Verdict.SKIPPED:
        return "skipped"
    return "passed"


def junit_type(cell: CellView) -> str:
    """The ``type`` of a failure or error: the exception class, else the verdict (``wrong_values``)."""
    if junit_kind(cell.verdict) == "failure" and cell.exception_type:
        return cell.exception_type
    return cell.verdict


def render_junit(model: ReportModel, env: jinja2.Environment | None = None) -> str:
    """junit.xml: a testsuite per scenario (timestamp, hostname, the pairings' versions as
    properties), a testcase per cell with ``file=`` the scenario's path. Cells missing from the
    run are errors, except in a shard's own report (they belong to other shards)."""
    by_scenario: dict[str, list[CellView]] = {}
    for cell in model.cells:
        if model.junit_missing or not cell.missing:
            by_scenario.setdefault(cell.scenario, []).append(cell)
    host = model.run["hostname"] or socket.gethostname()
    suites = [_suite(scenario.id, scenario.path, by_scenario.get(scenario.id, []), model, host)
              for scenario in model.scenarios]
    template = (env or environment()).get_template("junit.xml.j2")
    return template.render(m=model, suites=suites, total=_tally([c for s in suites for c in s["cells"]]),
                           kind=junit_kind, type_of=junit_type, limit=JUNIT_MESSAGE_CHARS)


def _suite(scenario: str, path: str, cells: list[CellView], model: ReportModel, host: str) -> dict[str, Any]:
    starts = sorted(c.started for c in cells if c.started and _TIMESTAMP.match(c.started))
    stamp = (starts[0] if starts else model.run["started"])[:19]
    return {"name": scenario, "file": path, "cells": cells, "timestamp": stamp if _TIMESTAMP.match(stamp) else "",
            "hostname": host, **_tally(cells)}


def _tally(cells: list[CellView]) -> dict[str, Any]:
    kinds = [junit_kind(c.verdict) for c in cells]
    return {"tests": len(cells), "failures": kinds.count("failure"), "errors": kinds.count("error"),
            "skipped": kinds.count("skipped"), "time": sum(c.seconds for c in cells)}


def render_page(template: str, folder: Path, name: str = HTML_FILE, **context: Any) -> Path:
    """Render one more page (bisect, readiness, atlas) in the report's style as ``folder/name``
    (``index.html`` unless told)."""
    text = environment().get_template(template).render(**context)
    return _write(folder, name, text)


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` as UTF-8, atomically (:func:`~harness.evidence.codec.write_atomic`); what
    UTF-8 cannot encode (a lone surrogate) is written as its backslash escape."""
    data = text.encode("utf-8", "backslashreplace")
    write_atomic(path, lambda handle: handle.write(data))


def render_all(results: Results, folder: Path) -> list[Path]:
    """Write index.html, summary.md and junit.xml for ``results`` into ``folder``."""
    model = build_report(results)
    env = environment()
    return [_write(folder, name, text) for name, text in (
        (HTML_FILE, render_html(model, env)), (MARKDOWN_FILE, render_markdown(model)), (JUNIT_FILE, render_junit(model, env)))]


def _write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    write_text_atomic(path, text)
    return path
