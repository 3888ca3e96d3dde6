"""The report model: everything a page shows, computed from results alone, as plain data.

The templates (``reports/templates``) only lay this model out; every decision about what is
shown lives here (and in :mod:`~harness.report.words`, :mod:`~harness.report.cause`,
:mod:`~harness.report.picture` and :mod:`~harness.report.reproduce`) and is tested without a
browser. Nothing here builds markup or escapes text: jinja2's autoescape does that, once, in
:mod:`harness.report.render`.

The page's orientation: scenarios are rows, the run's own pairings are columns in version order.
Rows come in groups: seed-tagged rows pinned first, then the rows whose verdict differs across
the columns (or across versions), then the rest by their first tag; scenarios skipped on every
pairing fold into one line. A cross-version scenario's row holds its own-save cells (the
diagonal of its grid); its loads of other pairings' saves are in its grid. Matrix cells and
cross-version cells are counted apart.

A run of a user's own model or file (``matrix --model`` / ``--file``) opens with another view
first: per format, the grid of the pairing that saved (rows) against the pairing that loaded
(columns), each cell with its word and its Δ or exception type, and under it the root cause of
every direction that went wrong (:class:`OwnGridView`).
"""

from __future__ import annotations

import hashlib
import shlex
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from harness.clock import format_duration
from harness.evidence.claims import STATUSES, judge_all
from harness.evidence.model import VERDICTS, Cell, FileRecord, MappingRecord, PairingRecord, Results, RunInfo, SaveRecord, ScenarioRecord
from harness.evidence.runs import expected_keys_of
from harness.paths import shown_path
from harness.plan.cells import CellKey
from harness.plan.models import FORMAT_FILES
from harness.report.cause import Cause, root_cause
from harness.report.picture import MappingPicture, mapping_picture
from harness.report.reproduce import own_arguments, reproduce_parts
from harness.report.routes import route_lines
from harness.report.words import VERDICT_STYLE, all_labels, headline, short_labels, version_order

#: The tag whose scenarios are pinned to the top.
PINNED_TAG = "seed"
#: Guards against pathological records; real messages and tracebacks are far shorter, so search
#: and the evidence panel see them whole.
TEXT_CHARS = 200_000
#: How much of a cell's output the page keeps (its tail).
OUTPUT_CHARS = 8000
TIP_CHARS = 160


@dataclass
class CellView:
    """One cell as shown: verdict symbol and word, the compact text of its grid cell, a one-line
    tip, and the evidence its panel shows. ``index`` is its position in :attr:`ReportModel.cells`
    (and in the page's evidence data); ``diagonal`` is true for matrix cells (a single-env cell,
    or a cross-version cell loading its own pairing's save)."""

    index: int
    dom_id: str
    scenario: str
    pairing: str
    saved_with: str | None
    verdict: str
    symbol: str
    word: str
    text: str
    tip: str
    reason: str
    diff: str
    duration: str
    seconds: float
    started: str | None
    exception_type: str | None
    message: str | None
    traceback: str
    output_tail: str
    cause: Cause | None
    compared: bool
    save: SaveRecord | None
    nox_parts: list[str]
    uv_parts: list[str]
    files: list[FileRecord] = field(default_factory=list)
    mapping: list[MappingRecord] = field(default_factory=list)
    mapping_text: str = ""
    picture: MappingPicture | None = None
    warnings: list[str] = field(default_factory=list)
    missing: bool = False
    reused_from: str | None = None
    why: str = ""

    @property
    def diagonal(self) -> bool:
        return self.saved_with in (None, self.pairing)

    @property
    def failed(self) -> bool:
        """True when the cell went wrong in any way: every verdict but ``passed`` and ``skipped``."""
        return self.verdict not in ("passed", "skipped")

    @property
    def detail(self) -> str:
        """What a cell says under its word: the Δ of compared values, else the exception type."""
        if self.diff and self.verdict in ("passed", "wrong_values"):
            return self.diff
        return self.exception_type.rsplit(".", 1)[-1] if self.exception_type else ""

    @property
    def reproduce_nox(self) -> str:
        """The nox command that reproduces this cell alone ("" when its pairing is unknown)."""
        return "".join(self.nox_parts)

    @property
    def reproduce_uv(self) -> str:
        """The same as a plain ``uv run`` command line."""
        return "".join(self.uv_parts)


@dataclass
class PairingView:
    id: str
    dom_id: str
    label: str
    short: str
    versions: list[tuple[str, str]]
    backend: str
    python: str
    install_error: str | None
    packages: list[tuple[str, str]]
    spec: str
    imported: bool = False

    @property
    def detail(self) -> str:
        """The versions the label leaves out, e.g. ``tensorflow 2.16.1``."""
        shown = self.label.split(" + ")
        rest = [f"{n} {v}" for n, v in self.versions if f"{n} {v}" not in shown]
        if self.backend != "tensorflow" and f"backend {self.backend}" not in shown:
            rest.append(f"backend {self.backend}")
        return ", ".join(rest)


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
    """A cross-version scenario's grid: rows saved with, columns loaded with; a cell is None where
    the run planned no load (``--cross same``)."""

    scenario: ScenarioView
    savers: list[PairingView]
    loaders: list[PairingView]
    rows: list[list[CellView | None]]

    @property
    def size(self) -> str:
        return f"{len(self.savers)}×{len(self.loaders)}"

    @property
    def across(self) -> list[CellView]:
        """The loads of other pairings' saves (the diagonal is in the matrix)."""
        return [c for row in self.rows for c in row if c is not None and not c.diagonal]

    @property
    def drawn(self) -> bool:
        """False when every load was skipped (nothing ran in these pairings): named, not drawn."""
        return any(c.verdict != "skipped" for c in self.across)


@dataclass
class WhyView:
    """Cells of one scenario that went wrong for one reason: one saver, one verdict, one
    :attr:`CellView.why` line. ``saver`` is the saving pairing's label (None for single-env
    cells); ``loads`` pairs each cell with its loading pairing's label, in column order."""

    scenario: str
    saver: str | None
    verdict: str
    symbol: str
    word: str
    line: str
    loads: list[tuple[CellView, str]]

    @property
    def loaders(self) -> str:
        return ", ".join(label for _, label in self.loads)

    @property
    def direction(self) -> str:
        """``saved with keras 3.15.1 → loaded with keras 3.5.0, keras 3.6.0``; ``on …`` for single-env cells."""
        if self.saver is None:
            return f"on {self.loaders}"
        return f"saved with {self.saver} → loaded with {self.loaders}"


@dataclass
class OwnGridView:
    """One format of a user's own model or file, as the first screen of its run shows it: rows the
    pairings that saved (``savers``, by label; one row, :data:`GIVEN`, for a file loaded against
    outputs given with it; ``saver_ids`` their ids, "" for that row), columns the pairings that
    loaded, and ``why``: the root cause of every
    cell that went wrong. ``left_out`` names the savers whose every load was skipped (their rows
    are not drawn), ``left_out_why`` the reason of the first such load."""

    scenario: ScenarioView
    what: str
    savers: list[str]
    saver_ids: list[str]
    loaders: list[PairingView]
    rows: list[list[CellView | None]]
    why: list[WhyView]
    left_out: list[str] = field(default_factory=list)
    left_out_why: str = ""

    @property
    def failed(self) -> bool:
        return bool(self.why)

    @property
    def ok_line(self) -> str:
        """What is said in place of root causes when no cell went wrong."""
        cells = [c for line in self.rows for c in line if c is not None]
        ran = [c for c in cells if c.verdict != "skipped"]
        same = " and gives the same values" if ran and all(c.compared for c in ran) else ""
        return f"Every direction{' that ran' if len(ran) < len(cells) else ''} loads{same}."


@dataclass
class RowView:
    """A scenario's row: its cells in column order, its headline, and its grid (cross-version)."""

    scenario: ScenarioView
    cells: list[CellView]
    differs: bool
    grid: GridView | None = None
    folded: bool = False


@dataclass
class GroupView:
    key: str
    title: str
    rows: list[RowView]


@dataclass
class FoldedView:
    """Scenarios skipped on every pairing, folded into one line; ``why`` says why, per reason."""

    rows: list[RowView]
    why: str

    @property
    def cells(self) -> int:
        return sum(len(r.cells) for r in self.rows)


@dataclass
class Counts:
    """Verdict counts of the matrix cells and of the cross-version cells, apart."""

    matrix: list[tuple[str, int]]
    matrix_total: int
    cross: list[tuple[str, int]]
    cross_total: int

    @property
    def total(self) -> int:
        return self.matrix_total + self.cross_total


@dataclass
class ClaimView:
    """A scenario's upstream claim as judged from this run's cells, with links to the deciding cells."""

    scenario: str
    statement: str
    says: str
    link: str
    status: str
    detail: str
    cells: list[tuple[str, str]] = field(default_factory=list)  # (dom id, "verdict on label")


@dataclass
class ReportModel:
    title: str
    run: dict[str, Any]
    counts: Counts
    pairings: list[PairingView]
    scenarios: list[ScenarioView]
    groups: list[GroupView]
    folded: FoldedView | None
    grids: list[GridView]
    cells: list[CellView]
    tags: list[str]
    verdict_styles: dict[str, dict[str, str]]
    all_pairings: list[PairingView] = field(default_factory=list)
    skipped_grids: list[ScenarioView] = field(default_factory=list)
    junit_missing: bool = True
    claims: list[ClaimView] = field(default_factory=list)
    own: list[OwnGridView] = field(default_factory=list)
    own_title: str = ""
    own_skipped: list[tuple[ScenarioView, str]] = field(default_factory=list)
    failing: list[WhyView] = field(default_factory=list)
    #: For a SavedModel folder given with ``--file DIR``: which routes load it (:mod:`harness.report.routes`).
    routes: list[str] = field(default_factory=list)

    @property
    def failing_cells(self) -> int:
        """How many cells :attr:`failing` gives the reasons of."""
        return sum(len(w.loads) for w in self.failing)

    @property
    def own_run(self) -> bool:
        """True for a run of a user's own model or file (``--model`` / ``--file``)."""
        return bool(self.own or self.own_skipped)

    @property
    def heat_grids(self) -> list[GridView]:
        """The drawn grids the own-model view does not already show (every grid of a library run)."""
        shown = {g.scenario.id for g in self.own}
        return [g for g in self.grids if g.scenario.id not in shown]

    @property
    def heat_skipped(self) -> list[ScenarioView]:
        """The grids named as not drawn, less those the own-model view tells of."""
        told = {g.scenario.id for g in self.own} | {s.id for s, _ in self.own_skipped}
        return [s for s in self.skipped_grids if s.id not in told]

    @property
    def claim_counts(self) -> list[tuple[str, int]]:
        """How many claims have each status, in the order of :data:`harness.evidence.claims.STATUSES`."""
        return [(status, n) for status in STATUSES if (n := sum(c.status == status for c in self.claims))]

    @property
    def rows(self) -> list[RowView]:
        """Every row in page order (the folded ones last)."""
        return [r for g in self.groups for r in g.rows] + (self.folded.rows if self.folded else [])

    @property
    def matrix_cells(self) -> list[CellView]:
        """The cells :attr:`counts` counts as matrix cells: every row's, folded ones included."""
        return [c for r in self.rows for c in r.cells]

    @property
    def cross_cells(self) -> list[CellView]:
        """The cells :attr:`counts` counts as cross-version cells: every grid's loads, drawn or not."""
        return [c for r in self.rows if r.grid is not None for c in r.grid.across]

    @property
    def shown_verdicts(self) -> list[str]:
        """The verdicts present in this run, in the order of :data:`VERDICTS` (with ``missing``)."""
        present = {v for v, _ in [*self.counts.matrix, *self.counts.cross]}
        return [v for v in (*VERDICTS, "missing") if v in present]


def build_report(results: Results, title: str = "Keras / TensorFlow compatibility matrix") -> ReportModel:
    """The whole page model from stored results (nothing is installed or run).

    Columns are the run's own pairings in version order; pairings whose saves were imported from
    an earlier run appear only as rows ("saved with") of the cross-version grids. Every cell the
    run's record promises is in the model: one without a result is ``missing``.
    """
    own_records = version_order([p for p in results.pairings if p.source is None])
    ordered = own_records + version_order([p for p in results.pairings if p.source is not None])
    labels = all_labels(results.pairings)
    short = short_labels(labels, [p.id for p in own_records])
    pairings = [_pairing_view(p, labels[p.id], short[p.id]) for p in ordered]
    own = pairings[: len(own_records)]
    cells = _CellTable(results, {p.id: p for p in results.pairings})
    rows = [_row(scenario, pairings, own, cells, short) for scenario in results.scenarios]
    grids = [r.grid for r in rows if r.grid is not None]
    folded = [r for r in rows if r.folded]
    by_id = {s.id: s for s in results.scenarios}
    own_rows = [r for r in rows if _is_own(by_id[r.scenario.id])] if own_run(results) else []
    own_grids = [_own_grid(by_id[r.scenario.id], r, pairings, own, cells) for r in own_rows if not r.folded]
    shown = {g.scenario.id for g in own_grids}
    page_order = _groups([r for r in rows if not r.folded]) + [GroupView("folded", "", folded)]
    failing = [w for g in page_order for r in g.rows if r.scenario.id not in shown for w in _row_whys(r, labels)]
    return ReportModel(
        title=title,
        run=_run_summary(results.run, sum(1 for c in results.cells if c.reused_from)),
        counts=_counts([c for r in rows for c in r.cells], [c for g in grids for c in g.across]),
        pairings=own,
        scenarios=[r.scenario for r in rows],
        groups=_groups([r for r in rows if not r.folded]),
        folded=FoldedView(rows=folded, why=_fold_reason(results.scenarios, folded)) if folded else None,
        grids=[g for g in grids if g.drawn],
        cells=cells.all(),
        tags=sorted({t for s in results.scenarios for t in s.tags}),
        verdict_styles=VERDICT_STYLE,
        all_pairings=pairings,
        skipped_grids=[r.scenario for r in rows if r.grid is not None and not r.grid.drawn and not r.folded],
        junit_missing=results.run.shard is None,
        claims=_claims(results),
        own=own_grids,
        own_title=_own_title(results) if own_rows else "",
        own_skipped=[(r.scenario, _skip_reason(by_id[r.scenario.id], r.cells)) for r in own_rows if r.folded],
        failing=failing,
        routes=route_lines(results),
    )


def _claims(results: Results) -> list[ClaimView]:
    """Every claim of the run's scenarios, judged from the run's own cells (:mod:`harness.evidence.claims`)."""
    views = []
    for judged in judge_all([results]):
        deciding = judged.against or judged.supporting
        views.append(ClaimView(
            scenario=judged.scenario, statement=judged.statement, says=judged.claim.says, link=judged.claim.link,
            status=judged.status, detail=judged.detail,
            cells=[(_dom_id("cell", CellKey(e.scenario, e.saved_with, e.pairing).text), f"{e.verdict} on {e.label}")
                   for e in deciding],
        ))
    return views


def _row(scenario: ScenarioRecord, pairings: list[PairingView], own: list[PairingView], cells: _CellTable,
         labels: dict[str, str]) -> RowView:
    """A scenario's row, with its grid when it is a cross-version scenario with loads across pairings."""
    matrix = [cells.view(scenario, p.id, p.id if scenario.kind == "cross" else None) for p in own]
    layout = _grid_layout(scenario, pairings, own, cells)
    across = [c for row in (layout[1] if layout else []) for c in row if c is not None and not c.diagonal]
    sview = _scenario_view(scenario, matrix, across, labels)
    grid = GridView(scenario=sview, savers=layout[0], loaders=own, rows=layout[1]) if layout else None
    verdicts = {c.verdict for c in [*matrix, *across]}
    return RowView(scenario=sview, cells=matrix, differs=len(verdicts) > 1, grid=grid, folded=verdicts == {"skipped"})


# --------------------------------------------------------------------------- a user's own model or file

#: The tags of the scenarios ``matrix --model`` and ``--file`` generate (:mod:`harness.plan.models`).
OWN_TAGS = frozenset({"model", "file"})
#: The options of a run's command that make it a run of a user's own model or file.
OWN_OPTIONS = ("--model", "--file")
#: The row of a file loaded against the outputs given with it (no pairing saved it).
GIVEN = "the file given"


def _is_own(scenario: ScenarioRecord) -> bool:
    return bool(OWN_TAGS & set(scenario.tags))


def own_run(results: Results) -> bool:
    """True when ``results`` are of a run of a user's own model or file: its command holds
    ``--model`` or ``--file``, or every scenario it ran is one those generate (tagged ``model`` or
    ``file``)."""
    own = [s for s in results.scenarios if _is_own(s)]
    if not own:
        return False
    words = own_arguments(results.run.command)
    return any(word in OWN_OPTIONS for word in words) or len(own) == len(results.scenarios)


def _own_title(results: Results) -> str:
    """``mymodel.py:build across versions`` (``model.keras across versions`` for ``--file``)."""
    words = own_arguments(results.run.command)
    given = {words[i]: words[i + 1] for i in range(len(words) - 1) if words[i] in OWN_OPTIONS}
    if given.get("--file"):
        return f"{Path(given['--file']).name} across versions"
    if given.get("--model"):
        path, colon, function = given["--model"].rpartition(":")
        return f"{Path(path).name}:{function} across versions" if colon and path else f"{Path(given['--model']).name} across versions"
    if any("file" in s.tags for s in results.scenarios):
        return "Your file across versions"
    return "Your model across versions"


def _own_what(scenario: ScenarioRecord) -> str:
    """What a generated scenario saves and loads: ``.keras``, ``.weights.h5``, ``legacy .h5``, the
    SavedModel export, or the file given (its name, which starts the scenario's title)."""
    if scenario.format:
        return FORMAT_FILES.get(scenario.format, scenario.format)
    if "saved-model" in scenario.tags:
        return "SavedModel export"
    if "file" in scenario.tags:
        return scenario.title.split(": ", 1)[0]
    return ""


def _own_grid(scenario: ScenarioRecord, row: RowView, pairings: list[PairingView], own: list[PairingView],
              cells: _CellTable) -> OwnGridView:
    """A generated scenario's grid for the first screen: every saver that saved it (a single
    pairing's own save too), rows whose every load was skipped left out and named."""
    entries: list[tuple[str | None, CellView, str]]
    lines: list[list[CellView | None]]
    if scenario.kind == "cross":
        savers = [s for s in pairings if any(cells.planned(CellKey(scenario.id, s.id, loader.id)) for loader in own)]
        grid = [[cells.view(scenario, loader.id, saver.id) if cells.planned(CellKey(scenario.id, saver.id, loader.id)) else None
                 for loader in own] for saver in savers]
        ran = [any(c is not None and c.verdict != "skipped" for c in line) for line in grid]
        if not any(ran):
            ran = [True] * len(grid)
        kept = [(saver, line) for saver, line, did in zip(savers, grid, ran) if did]
        dropped = [(saver, line) for saver, line, did in zip(savers, grid, ran) if not did]
        entries = [(saver.label, c, _label(own, c.pairing)) for saver, line in kept for c in line if c is not None]
        names, ids = [s.label for s, _ in kept], [s.id for s, _ in kept]
        lines = [line for _, line in kept]
    else:  # a file loaded against the outputs given with it: one row, no saving pairing
        lines = [[*row.cells]]
        entries = [(None, c, _label(own, c.pairing)) for c in row.cells]
        names, ids, dropped = [GIVEN], [""], []
    first = next((c.reason for _, line in dropped for c in line if c is not None), "")
    return OwnGridView(scenario=row.scenario, what=_own_what(scenario), savers=names, saver_ids=ids, loaders=own, rows=lines,
                       why=_whys(scenario.id, entries), left_out=[s.label for s, _ in dropped], left_out_why=first)


def _label(pairings: Sequence[PairingView], pairing: str) -> str:
    return next((p.label for p in pairings if p.id == pairing), pairing)


def _row_whys(row: RowView, labels: dict[str, str]) -> list[WhyView]:
    """The failed cells of a row and of its grid, grouped by saver, verdict and reason."""
    if row.grid is not None:
        entries = [(labels.get(c.saved_with or "", c.saved_with), c, labels.get(c.pairing, c.pairing))
                   for line in row.grid.rows for c in line if c is not None]
    else:
        entries = [(labels.get(c.saved_with, c.saved_with) if c.saved_with else None, c, labels.get(c.pairing, c.pairing))
                   for c in row.cells]
    return _whys(row.scenario.id, entries)


def _whys(scenario: str, entries: Sequence[tuple[str | None, CellView, str]]) -> list[WhyView]:
    """``(saver label, cell, loader label)`` of failed cells grouped, in first-seen order, by saver,
    verdict and :attr:`CellView.why`."""
    found: dict[tuple[str | None, str, str], WhyView] = {}
    for saver, cell, loader in entries:
        if not cell.failed:
            continue
        key = (saver, cell.verdict, cell.why)
        if key not in found:
            found[key] = WhyView(scenario=scenario, saver=saver, verdict=cell.verdict, symbol=cell.symbol, word=cell.word,
                                 line=cell.why, loads=[])
        found[key].loads.append((cell, loader))
    return list(found.values())


# --------------------------------------------------------------------------- cells


class _CellTable:
    """The cell views of a run, made once each: recorded cells, and ``missing`` ones for every
    promised cell without a result; numbered in the order they are first asked for."""

    def __init__(self, results: Results, records: dict[str, PairingRecord]) -> None:
        self._records = records
        self._own = own_arguments(results.run.command)
        self._scenarios = {s.id: s for s in results.scenarios}
        self._cells = {c.key: c for c in results.cells}
        self._expected = set(expected_keys_of(results))
        self._views: dict[CellKey, CellView] = {}

    def planned(self, key: CellKey) -> bool:
        return key in self._cells or key in self._expected

    def view(self, scenario: ScenarioRecord, pairing: str, saved_with: str | None) -> CellView:
        key = CellKey(scenario.id, saved_with, pairing)
        if key not in self._views:
            cell = self._cells.get(key)
            index = len(self._views)
            self._views[key] = (_cell_view(index, cell, scenario, self._records, self._own) if cell is not None
                                else _missing_view(index, key))
        return self._views[key]

    def all(self) -> list[CellView]:
        """Every view asked for, then the recorded cells no row or grid holds (an unknown pairing)."""
        for cell in self._cells.values():
            if cell.key not in self._views:
                scenario = self._scenarios.get(cell.scenario)
                self._views[cell.key] = _cell_view(len(self._views), cell, scenario, self._records, self._own)
        return list(self._views.values())


def _cell_view(index: int, cell: Cell, scenario: ScenarioRecord | None, pairings: dict[str, PairingRecord],
               own: list[str]) -> CellView:
    style = VERDICT_STYLE.get(cell.verdict, VERDICT_STYLE["missing"])
    nox: list[str] = []
    uv: list[str] = []
    if scenario is not None:
        nox, uv = reproduce_parts(scenario, pairings.get(cell.pairing), pairings.get(cell.saved_with or ""), own)
    cause = root_cause(cell.exception_type, cell.message, cell.traceback)
    diff = _diff(cell)
    return CellView(
        index=index,
        dom_id=_dom_id("cell", cell.key.text),
        scenario=cell.scenario,
        pairing=cell.pairing,
        saved_with=cell.saved_with,
        verdict=cell.verdict,
        symbol=style["symbol"],
        word=style["word"],
        text=_cell_text(cell, diff, style["word"]),
        tip=_tip(style["word"], cause.line if cause else cell.reason),
        reason=cell.reason,
        diff=diff,
        duration=f"{cell.duration_s:.1f} s",
        seconds=cell.duration_s,
        started=cell.started,
        exception_type=cell.exception_type,
        message=_clip_head(cell.message, TEXT_CHARS) if cell.message is not None else None,
        traceback=_clip_head(cell.traceback or "", TEXT_CHARS),
        output_tail=_clip_head(cell.output_tail or "", OUTPUT_CHARS),
        cause=cause,
        compared=cell.compared,
        save=cell.save,
        nox_parts=nox,
        uv_parts=uv,
        files=cell.files,
        mapping=cell.mapping,
        mapping_text=cell.mapping_text,
        picture=mapping_picture(cell.mapping, cell.files),
        warnings=cell.warnings[:20],
        reused_from=cell.reused_from,
        why=_why(cell, cause),
    )


def _why(cell: Cell, cause: Cause | None) -> str:
    """What went wrong, on one line: the root cause; for a load of a save that failed, the save's
    root cause; else the verdict's reason."""
    if cause is not None:
        return cause.line
    save = cell.save
    if save is not None and not save.ok and save.exception_type:
        saved = root_cause(save.exception_type, save.message, save.traceback)
        if saved is not None:
            return f"the save failed: {saved.line}"
    return " ".join(cell.reason.split())


def _missing_view(index: int, key: CellKey) -> CellView:
    style = VERDICT_STYLE["missing"]
    reason = "no result was recorded for this cell"
    return CellView(
        index=index, dom_id=_dom_id("cell", key.text), scenario=key.scenario, pairing=key.pairing,
        saved_with=key.saved_with, verdict="missing", symbol=style["symbol"], word=style["word"], text=style["word"],
        tip=_tip(style["word"], reason), reason=reason, diff="", duration="", seconds=0.0, started=None,
        exception_type=None, message=None, traceback="", output_tail="", cause=None, compared=False, save=None,
        nox_parts=[], uv_parts=[], missing=True, why=reason,
    )


def _diff(cell: Cell) -> str:
    if not cell.compared:
        return ""
    return f"Δ {cell.max_abs_diff:.2g}" if cell.max_abs_diff is not None else "Δ inf"


def _cell_text(cell: Cell, diff: str, word: str) -> str:
    """What a grid cell says after its symbol: the Δ of compared values, the exception type of an
    error, otherwise the verdict's word."""
    if diff and cell.verdict in ("passed", "wrong_values"):
        return diff
    if cell.verdict == "error" and cell.exception_type:
        return cell.exception_type.rsplit(".", 1)[-1]
    return word


def _tip(word: str, text: str) -> str:
    line = f"{word}: {' '.join(text.split())}"
    return line if len(line) <= TIP_CHARS else line[: TIP_CHARS - 1] + "…"


# --------------------------------------------------------------------------- rows, groups, grids


def _grid_layout(scenario: ScenarioRecord, pairings: list[PairingView], own: list[PairingView],
                 cells: _CellTable) -> tuple[list[PairingView], list[list[CellView | None]]] | None:
    """The savers and rows of a cross-version scenario's grid (saved with × loaded with), when it
    has loads across pairings (planned or recorded); None otherwise."""
    if scenario.kind != "cross":
        return None

    def key(saver: PairingView, loader: PairingView) -> CellKey:
        return CellKey(scenario.id, saver.id, loader.id)

    savers = [s for s in pairings if any(cells.planned(key(s, loader)) for loader in own)]
    if not any(s.id != loader.id and cells.planned(key(s, loader)) for s in savers for loader in own):
        return None
    rows = [[cells.view(scenario, loader.id, saver.id) if cells.planned(key(saver, loader)) else None for loader in own]
            for saver in savers]
    return savers, rows


def _groups(rows: Sequence[RowView]) -> list[GroupView]:
    """Seed-tagged rows pinned first, then rows that differ across columns, then by first tag."""
    pinned = [r for r in rows if PINNED_TAG in r.scenario.tags]
    differ = sorted((r for r in rows if r not in pinned and r.differs), key=_tag_key)
    groups = [GroupView("pinned", f"{PINNED_TAG} (pinned)", pinned),
              GroupView("differs", "differs across versions", differ)]
    rest: dict[str, list[RowView]] = {}
    for row in rows:
        if row not in pinned and not row.differs:
            rest.setdefault(row.scenario.tags[0] if row.scenario.tags else "", []).append(row)
    for tag in sorted(rest, key=lambda t: (t == "", t)):
        groups.append(GroupView(f"tag-{tag}" if tag else "untagged", tag or "no group", rest[tag]))
    return [g for g in groups if g.rows]


def _tag_key(row: RowView) -> tuple[str, str]:
    return (row.scenario.tags[0] if row.scenario.tags else "~", row.scenario.id)


def _fold_reason(scenarios: Sequence[ScenarioRecord], rows: Sequence[RowView]) -> str:
    """Why the folded scenarios were skipped, e.g. ``SAVE_REQUIRES keras<3 fits no pairing of this
    run``, one reason per distinct requirement."""
    by_id = {s.id: s for s in scenarios}
    reasons: dict[str, list[str]] = {}
    for row in rows:
        scenario = by_id[row.scenario.id]
        reasons.setdefault(_skip_reason(scenario, row.cells), []).append(scenario.id)
    return "; ".join(reasons)


def _skip_reason(scenario: ScenarioRecord, cells: Sequence[CellView]) -> str:
    texts = [c.reason for c in cells]
    if scenario.save_requires and texts and all("SAVE_REQUIRES" in t for t in texts):
        return f"SAVE_REQUIRES {_spec(scenario.save_requires)} fits no pairing of this run"
    if scenario.requires:
        return f"REQUIRES {_spec(scenario.requires)} fits no pairing of this run"
    return texts[0] if texts else "skipped"


def _spec(requires: dict[str, str]) -> str:
    return ", ".join(f"{name}{spec}" for name, spec in sorted(requires.items()))


def _counts(matrix: Sequence[CellView], cross: Sequence[CellView]) -> Counts:
    def tally(views: Sequence[CellView]) -> list[tuple[str, int]]:
        found = Counter(c.verdict for c in views)
        return [(v, found[v]) for v in (*VERDICTS, "missing") if found[v]]

    return Counts(matrix=tally(matrix), matrix_total=len(matrix), cross=tally(cross), cross_total=len(cross))


# --------------------------------------------------------------------------- pieces


def _run_summary(run: RunInfo, reused: int = 0) -> dict[str, Any]:
    """The run's facts as the pages show them; ``reused``: its cells taken from the cell cache."""
    return {
        "reused": reused,
        "id": run.id,
        "started": run.started,
        "finished": run.finished or "not finished",
        "duration": "unknown" if run.duration_s is None else format_duration(run.duration_s),
        "python": run.python,
        "platform": run.platform,
        "hostname": str(run.options.get("hostname") or ""),
        "command": shlex.join(run.command) if run.command else "",
        "complete": run.complete,
        "shard": run.shard,
    }


def _pairing_view(pairing: PairingRecord, label: str, short: str) -> PairingView:
    return PairingView(
        id=pairing.id,
        dom_id=_dom_id("env", pairing.id),
        label=label,
        short=short,
        versions=sorted(pairing.versions.items()),
        backend=pairing.backend,
        python=pairing.python or "",
        install_error=pairing.install_error,
        packages=sorted(pairing.packages.items()),
        spec=pairing.requested.spec,
        imported=pairing.source is not None,
    )


def _scenario_view(scenario: ScenarioRecord, matrix: Sequence[CellView], across: Sequence[CellView],
                   labels: dict[str, str]) -> ScenarioView:
    same = [(c.pairing, c.verdict) for c in matrix]
    loads = [(c.saved_with or "", c.pairing, c.verdict) for c in across]
    return ScenarioView(
        id=scenario.id,
        title=scenario.title,
        description=scenario.description,
        links=list(scenario.links),
        signature=scenario.signature,
        tags=list(scenario.tags),
        kind=scenario.kind,
        headline=headline(scenario, same, loads, labels),
        path=shown_path(Path(scenario.path)),
    )


def _dom_id(prefix: str, key: str) -> str:
    return f"{prefix}-{hashlib.sha256(key.encode()).hexdigest()[:12]}"


def _clip_head(text: str, limit: int) -> str:
    """The tail of ``text``, at most ``limit`` characters, marked when cut."""
    return text if len(text) <= limit else "…" + text[-limit:]
