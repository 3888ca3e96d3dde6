"""The atlas as text, Markdown and one HTML page: the summary of its transitions, ``atlas.md`` and
``atlas.html`` (a timeline per scenario, a column per release, each cell coloured by its verdict,
and each transition marked on the releases on either side of it).

The page is rendered by :func:`harness.report.render.render_page` (autoescape, self-contained);
the Markdown by the Markdown environment (every expression escaped).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from harness.evidence.atlas import LANE_PREVIOUS, NO_CELL, Atlas, Timeline
from harness.report.render import markdown_environment, render_page, write_text_atomic
from harness.report.words import VERDICT_STYLE

ATLAS_HTML, ATLAS_MARKDOWN = "atlas.html", "atlas.md"


@dataclass(frozen=True)
class Mark:
    """One cell of a timeline as drawn: its release, verdict, symbol, and what it is to the
    transitions (``before``: the last release of an old verdict, ``after``: the first of a new
    one, ``across``: a release a transition spans)."""

    version: str
    verdict: str
    symbol: str
    word: str
    reason: str
    roles: tuple[str, ...]


@dataclass(frozen=True)
class TimelineView:
    """A timeline as drawn: its heading, its cells and its transitions' lines."""

    scenario: str
    title: str
    lane: str
    marks: tuple[Mark, ...]
    changes: tuple[str, ...]


def summary_lines(atlas: Atlas) -> list[str]:
    """Every transition as one line; for a timeline without any, what it gives everywhere."""
    lines = [t.text for t in atlas.transitions]
    steady = [line for line in atlas.timelines if not line.transitions]
    for line in steady:
        told = sorted({str(p.verdict) for p in line.points if p.tells})
        lane = " (loading the previous release's save)" if line.lane == LANE_PREVIOUS else ""
        said = f"{' and '.join(told)} wherever it tells" if told else "no release tells anything"
        lines.append(f"{line.scenario}{lane}: no transition ({said})")
    return lines


def timeline_view(line: Timeline) -> TimelineView:
    """The cells of ``line`` with the role each plays in its transitions."""
    roles: dict[str, list[str]] = {}
    for t in line.transitions:
        roles.setdefault(t.last_before, []).append("before")
        roles.setdefault(t.first_after, []).append("after")
        for between in t.across:
            roles.setdefault(between.version, []).append("across")
    marks = []
    for point in line.points:
        verdict = point.verdict or NO_CELL
        style = VERDICT_STYLE.get(verdict, {"symbol": "?", "word": verdict})
        marks.append(Mark(point.version, verdict, style["symbol"], style["word"], point.reason,
                          tuple(roles.get(point.version, ()))))
    return TimelineView(line.scenario, line.title, line.lane, tuple(marks), tuple(t.text for t in line.transitions))


def render_atlas(atlas: Atlas, folder: Path, title: str) -> list[Path]:
    """Write ``atlas.md`` and ``atlas.html`` into ``folder``; returns their paths."""
    context = {"atlas": atlas, "lines": summary_lines(atlas), "views": [timeline_view(t) for t in atlas.timelines],
               "title": title}
    markdown = folder / ATLAS_MARKDOWN
    write_text_atomic(markdown, markdown_environment().get_template("atlas.md.j2").render(**context))
    return [markdown, render_page("atlas.html.j2", folder, name=ATLAS_HTML, **context)]
