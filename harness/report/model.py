"""The report model: everything a page shows, computed from results alone, as plain data.

The templates (``reports/templates``) only lay this model out; every decision about what is
shown lives here (and in :mod:`~harness.report.words`, :mod:`~harness.report.picture` and
:mod:`~harness.report.reproduce`) and is tested without a browser. Nothing here builds markup or
escapes text: jinja2's autoescape does that, once, in :mod:`harness.report.render`.
"""

from __future__ import annotations

import hashlib
import shlex
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

from harness.clock import format_duration
from harness.evidence.model import VERDICTS, Cell, FileRecord, MappingRecord, PairingRecord, Results, RunInfo, SaveRecord, ScenarioRecord
from harness.paths import shown_path
from harness.plan.cells import CellKey
from harness.report.picture import MappingPicture, mapping_picture
from harness.report.reproduce import reproduce_commands
from harness.report.words import VERDICT_STYLE, all_labels, headline

HTML_TRACEBACK_CHARS = 4000
HTML_OUTPUT_CHARS = 3000


@dataclass
class CellView:
    """One cell as shown: verdict word and symbol, numbers as text, evidence, how to reproduce."""

    dom_id: str
    scenario: str
    pairing: str
    saved_with: str | None
    verdict: str
    symbol: str
    word: str
    reason: str
    diff: str
    duration: str
    seconds: float
    exception_type: str | None
    message: str | None
    traceback: str
    output_tail: str
    compared: bool
    save: SaveRecord | None
    reproduce_nox: str
    reproduce_uv: str
    search_text: str
    files: list[FileRecord] = field(default_factory=list)
    mapping: list[MappingRecord] = field(default_factory=list)
    mapping_text: str = ""
    picture: MappingPicture | None = None
    warnings: list[str] = field(default_factory=list)
    probe: dict[str, Any] | None = None
    missing: bool = False


@dataclass
class PairingView:
    id: str
    dom_id: str
    label: str
    versions: list[tuple[str, str]]
    backend: str
    python: str
    install_error: str | None
    packages: list[tuple[str, str]]
    spec: str


@dataclass
class ScenarioView:
    id: str
    title: str
    description: str
    links: list[str]
    signature: str | None
    tags: list[str]
    kind: str
    headline: str
    path: str


@dataclass
class GridView:
    """A cross-version scenario's grid: rows saved with, columns loaded with."""

    scenario: ScenarioView
    savers: list[PairingView]
    loaders: list[PairingView]
    rows: list[list[CellView]]


@dataclass
class ReportModel:
    title: str
    run: dict[str, Any]
    counts: list[tuple[str, int]]
    total: int
    pairings: list[PairingView]
    scenarios: list[ScenarioView]
    rows: list[tuple[PairingView, list[CellView]]]
    grids: list[GridView]
    cells: list[CellView]
    tags: list[str]
    verdict_styles: dict[str, dict[str, str]]
    all_pairings: list[PairingView] = field(default_factory=list)
    skipped_grids: list[ScenarioView] = field(default_factory=list)


def build_report(results: Results, title: str = "Keras / TensorFlow compatibility matrix") -> ReportModel:
    """The whole page model from stored results (nothing is installed or run).

    Rows of the matrix are the run's own pairings; pairings whose saves were imported from an
    earlier run appear only as rows ("saved with") of the cross-version grids.
    """
    own_records = [p for p in results.pairings if p.source is None]
    labels = all_labels(results.pairings)
    pairings = [_pairing_view(p, labels[p.id]) for p in results.pairings]
    by_id = {p.id: p for p in pairings}
    own = [by_id[p.id] for p in own_records]
    records = {p.id: p for p in results.pairings}
    cells = {c.key: c for c in results.cells}
    of_scenario: dict[str, list[Cell]] = {}
    for c in results.cells:
        of_scenario.setdefault(c.scenario, []).append(c)
    views: dict[CellKey, CellView] = {c.key: _cell_view(c, results.scenario(c.scenario), records) for c in results.cells}

    def view(scenario: ScenarioRecord, pairing: str, saved_with: str | None) -> CellView:
        key = CellKey(scenario.id, saved_with, pairing)
        return views[key] if key in views else _missing_view(scenario, pairing, saved_with)

    scenario_views = []
    for scenario in results.scenarios:
        main = [cells.get(_main_key(scenario, p.id)) for p in own_records]
        mine = [c for c in main if c is not None]
        if scenario.kind == "cross":
            mine += [c for c in of_scenario.get(scenario.id, []) if c.saved_with not in (None, c.pairing)]
        scenario_views.append(_scenario_view(scenario, mine, labels))
    rows = [
        (by_id[p.id], [view(s, p.id, p.id if s.kind == "cross" else None) for s in results.scenarios])
        for p in own_records
    ]
    grids, quiet_grids = _grids(results.scenarios, scenario_views, of_scenario, pairings, own, view)
    counts = Counter(c.verdict for c in results.cells)
    return ReportModel(
        title=title,
        run=_run_summary(results.run),
        counts=[(v, counts[v]) for v in VERDICTS if counts[v]],
        total=len(results.cells),
        pairings=own,
        scenarios=scenario_views,
        rows=rows,
        grids=grids,
        cells=list(views.values()),
        tags=sorted({t for s in results.scenarios for t in s.tags}),
        verdict_styles=VERDICT_STYLE,
        all_pairings=pairings,
        skipped_grids=quiet_grids,
    )


# --------------------------------------------------------------------------- pieces


def _grids(
    scenarios: list[ScenarioRecord], views: list[ScenarioView], of_scenario: dict[str, list[Cell]],
    pairings: list[PairingView], own: list[PairingView], view: Callable[[ScenarioRecord, str, str | None], CellView],
) -> tuple[list[GridView], list[ScenarioView]]:
    """The cross-version grids worth drawing, and the scenarios whose grid held only skipped cells
    (nothing ran in these pairings, e.g. a Keras 2 writer is missing): those are named, not drawn."""
    grids: list[GridView] = []
    quiet: list[ScenarioView] = []
    own_ids = {o.id for o in own}
    for scenario, sview in zip(scenarios, views):
        saved_with = {c.saved_with for c in of_scenario.get(scenario.id, [])}
        savers = [p for p in pairings if p.id in saved_with]
        if scenario.kind != "cross" or not any(s.id not in own_ids or len(own) > 1 for s in savers):
            continue
        rows = [[view(scenario, loader.id, saver.id) for loader in own] for saver in savers]
        if all(c.verdict == "skipped" for row in rows for c in row):
            quiet.append(sview)
            continue
        grids.append(GridView(scenario=sview, savers=savers, loaders=own, rows=rows))
    return grids, quiet


def _run_summary(run: RunInfo) -> dict[str, Any]:
    return {
        "id": run.id,
        "started": run.started,
        "finished": run.finished or "not finished",
        "duration": _duration(run.duration_s),
        "python": run.python,
        "platform": run.platform,
        "command": shlex.join(run.command) if run.command else "",
        "complete": run.complete,
        "shard": run.shard,
    }


def _cell_view(cell: Cell, scenario: ScenarioRecord | None, pairings: dict[str, PairingRecord]) -> CellView:
    style = VERDICT_STYLE.get(cell.verdict, VERDICT_STYLE["missing"])
    nox, uv = ("", "")
    if scenario is not None:
        nox, uv = reproduce_commands(scenario, pairings.get(cell.pairing), pairings.get(cell.saved_with or ""))
    diff = ""
    if cell.compared:
        diff = f"Δ {cell.max_abs_diff:.2g}" if cell.max_abs_diff is not None else "Δ inf"
    return CellView(
        dom_id=_dom_id("cell", cell.key.text),
        scenario=cell.scenario,
        pairing=cell.pairing,
        saved_with=cell.saved_with,
        verdict=cell.verdict,
        symbol=style["symbol"],
        word=style["word"],
        reason=cell.reason,
        diff=diff,
        duration=f"{cell.duration_s:.1f} s",
        seconds=cell.duration_s,
        exception_type=cell.exception_type,
        message=cell.message,
        traceback=_clip_head(cell.traceback or "", HTML_TRACEBACK_CHARS),
        output_tail=_clip_head(cell.output_tail or "", HTML_OUTPUT_CHARS),
        compared=cell.compared,
        save=_clipped_save(cell.save),
        reproduce_nox=nox,
        reproduce_uv=uv,
        search_text=" ".join(
            str(x) for x in (cell.scenario, cell.pairing, cell.saved_with or "", cell.verdict, cell.exception_type or "",
                             (cell.message or "")[:500], cell.reason)
        ).lower(),
        files=cell.files,
        mapping=cell.mapping,
        mapping_text=cell.mapping_text,
        picture=mapping_picture(cell.mapping, cell.files),
        warnings=cell.warnings[:20],
        probe=cell.probe,
    )


def _clipped_save(save: SaveRecord | None) -> SaveRecord | None:
    if save is None:
        return None
    return replace(save, traceback=_clip_head(save.traceback or "", HTML_TRACEBACK_CHARS),
                   output_tail=_clip_head(save.output_tail, HTML_OUTPUT_CHARS))


def _missing_view(scenario: ScenarioRecord, pairing: str, saved_with: str | None) -> CellView:
    style = VERDICT_STYLE["missing"]
    return CellView(
        dom_id=_dom_id("cell", CellKey(scenario.id, saved_with, pairing).text),
        scenario=scenario.id, pairing=pairing, saved_with=saved_with, verdict="missing", symbol=style["symbol"],
        word=style["word"], reason="no result was recorded for this cell", diff="", duration="", seconds=0.0,
        exception_type=None,
        message=None, traceback="", output_tail="", compared=False, save=None, reproduce_nox="", reproduce_uv="",
        search_text=f"{scenario.id} {pairing} missing", missing=True,
    )


def _pairing_view(pairing: PairingRecord, label: str) -> PairingView:
    return PairingView(
        id=pairing.id,
        dom_id=_dom_id("env", pairing.id),
        label=label,
        versions=sorted(pairing.versions.items()),
        backend=pairing.backend,
        python=pairing.python or "",
        install_error=pairing.install_error,
        packages=sorted(pairing.packages.items()),
        spec=pairing.requested.spec,
    )


def _scenario_view(scenario: ScenarioRecord, cells: list[Cell], labels: dict[str, str]) -> ScenarioView:
    return ScenarioView(
        id=scenario.id,
        title=scenario.title,
        description=scenario.description,
        links=list(scenario.links),
        signature=scenario.signature,
        tags=list(scenario.tags),
        kind=scenario.kind,
        headline=headline(scenario, cells, labels),
        path=shown_path(Path(scenario.path)),
    )


def _main_key(scenario: ScenarioRecord, pairing: str) -> CellKey:
    return CellKey(scenario.id, pairing if scenario.kind == "cross" else None, pairing)


def _dom_id(prefix: str, key: str) -> str:
    return f"{prefix}-{hashlib.sha256(key.encode()).hexdigest()[:12]}"


def _duration(seconds: float | None) -> str:
    return "unknown" if seconds is None else format_duration(seconds)


def _clip_head(text: str, limit: int) -> str:
    return text if len(text) <= limit else "…" + text[-limit:]
