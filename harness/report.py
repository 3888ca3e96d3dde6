"""The report model: everything a page shows, computed from results alone, as plain data.

The templates (``reports/templates``) only lay this model out; every decision about what is
shown lives here and is tested without a browser. Nothing here builds markup or escapes text:
jinja2's autoescape does that, once, in :mod:`harness.render`.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Sequence, TextIO

from harness.progress import format_duration
from harness.results import (
    VERDICTS,
    Cell,
    FileRecord,
    MappingRecord,
    PairingRecord,
    Results,
    SaveRecord,
    ScenarioRecord,
    cell_key,
)

REPO_ROOT = Path(__file__).resolve().parent.parent

#: How each verdict is shown: a symbol and a word (never colour alone), and a phrase for headlines.
VERDICT_STYLE: dict[str, dict[str, str]] = {
    "reproduced": {"symbol": "●", "word": "reproduced", "phrase": "reproduces on"},
    "passed": {"symbol": "✓", "word": "passed", "phrase": "passes on"},
    "wrong_values": {"symbol": "≠", "word": "wrong values", "phrase": "loads wrong values on"},
    "error": {"symbol": "!", "word": "error", "phrase": "fails with another error on"},
    "crashed": {"symbol": "✖", "word": "crashed", "phrase": "crashes on"},
    "timeout": {"symbol": "⧗", "word": "timeout", "phrase": "times out on"},
    "install_failed": {"symbol": "⊘", "word": "install failed", "phrase": "could not be installed on"},
    "skipped": {"symbol": "–", "word": "skipped", "phrase": "is skipped on"},
    "interrupted": {"symbol": "‖", "word": "interrupted", "phrase": "was interrupted on"},
    "missing": {"symbol": "?", "word": "missing", "phrase": "has no result on"},
}
#: Package names most worth naming when telling pairings apart, in order.
_LABEL_PREFERENCE = ("keras", "keras-nightly", "tensorflow", "tf-nightly", "jax", "torch")
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
class PictureRow:
    text: str
    detail: str
    y: int
    status: str = ""


@dataclass
class PictureLine:
    y1: int
    y2: int
    status: str


@dataclass
class MappingPicture:
    """Geometry of the two-column picture: the model's layers that found nothing on the left,
    the loaded file's groups on the right, a line from each layer to the groups that fit."""

    width: int
    height: int
    left_x: int
    right_x: int
    left: list[PictureRow]
    right: list[PictureRow]
    lines: list[PictureLine]


PICTURE_ROW = 34
PICTURE_WIDTH = 900


def mapping_picture(mapping: list[MappingRecord], files: list[FileRecord]) -> MappingPicture | None:
    """Lay out the mapping of a cell against the anatomy of the file it loaded."""
    if not mapping:
        return None
    source = next((f for f in files if f.path == mapping[0].file), None)
    groups = source.groups if source else []
    right = [PictureRow(text=g.span or g.path, detail=", ".join(_shape(a.shape) for a in g.arrays), y=24 + i * PICTURE_ROW)
             for i, g in enumerate(groups)]
    by_span = {row.text: row for row in right}
    left, lines = [], []
    for i, entry in enumerate(mapping):
        y = 24 + i * PICTURE_ROW
        shapes = ", ".join(w.shape_text for w in entry.wanted)
        under = f"under {entry.looked_under}: " if entry.looked_under else ""
        left.append(PictureRow(text=entry.layer, detail=under + shapes, y=y, status=entry.status))
        for span in entry.candidates:
            if span in by_span:
                lines.append(PictureLine(y1=y, y2=by_span[span].y, status=entry.status))
    height = 24 + max(len(left), len(right), 1) * PICTURE_ROW
    return MappingPicture(width=PICTURE_WIDTH, height=height, left_x=8, right_x=PICTURE_WIDTH // 2 + 60,
                          left=left, right=right, lines=lines)


def _shape(shape: list[int]) -> str:
    return "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


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
    views: dict[str, CellView] = {c.key: _cell_view(c, results.scenario(c.scenario), records) for c in results.cells}

    def view(scenario: ScenarioRecord, pairing: str, saved_with: str | None) -> CellView:
        key = cell_key(scenario.id, pairing, saved_with)
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
    grids = []
    quiet_grids: list[ScenarioView] = []
    for scenario, sview in zip(results.scenarios, scenario_views):
        saved_with = {c.saved_with for c in of_scenario.get(scenario.id, [])}
        savers = [p for p in pairings if p.id in saved_with]
        if scenario.kind != "cross" or not any(s.id not in {o.id for o in own} or len(own) > 1 for s in savers):
            continue
        grid_rows = [[view(scenario, loader.id, saver.id) for loader in own] for saver in savers]
        if all(c.verdict == "skipped" for row in grid_rows for c in row):
            quiet_grids.append(sview)  # nothing ran in these pairings (e.g. a Keras 2 writer is missing)
            continue
        grids.append(GridView(scenario=sview, savers=savers, loaders=own, rows=grid_rows))
    counts = Counter(c.verdict for c in results.cells)
    run = results.run
    return ReportModel(
        title=title,
        run={
            "id": run.id,
            "started": run.started,
            "finished": run.finished or "not finished",
            "duration": _duration(run.duration_s),
            "python": run.python,
            "platform": run.platform,
            "command": shlex.join(run.command) if run.command else "",
            "complete": run.complete,
            "shard": run.shard,
        },
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


def all_labels(pairings: Sequence[PairingRecord]) -> dict[str, str]:
    """Labels for the run's own pairings, and for imported savers the same with their origin."""
    own = [p for p in pairings if p.source is None]
    labels = pairing_labels(own)
    for imported in (p for p in pairings if p.source is not None):
        candidate = pairing_labels([*own, imported]).get(imported.id, imported.id)
        run_id = imported.source.split(" ")[0] if imported.source else ""
        labels[imported.id] = f"{candidate} (saved in run {run_id})"
    return labels


def pairing_labels(pairings: Sequence[PairingRecord]) -> dict[str, str]:
    """Short names telling pairings apart: only what differs between them, keras first.

    With the defaults this gives ``keras 3.5.0``, ``keras 3.6.0``, ``keras 3.15.1``.
    """
    fields: dict[str, dict[str, str]] = {}
    for p in pairings:
        values = dict(p.versions)
        for name in _LABEL_PREFERENCE:  # a framework installed as a dependency tells pairings apart too
            if name in p.packages and name not in values:
                values[name] = p.packages[name]
        values["backend"] = p.backend
        if p.requested.python:
            values["python"] = p.requested.python
        fields[p.id] = values
    names = sorted({n for v in fields.values() for n in v}, key=_label_rank)
    varying = [n for n in names if len({fields[p.id].get(n) for p in pairings}) > 1]
    chosen: list[str] = []
    for name in varying:
        chosen.append(name)
        unique = len({tuple(fields[p.id].get(n) for n in chosen) for p in pairings}) == len(pairings)
        named = all(any(fields[p.id].get(n) is not None for n in chosen) for p in pairings)
        if unique and named:
            break
    if not chosen:
        chosen = [n for n in names if n != "backend"] or names
    labels = {}
    for p in pairings:
        parts = [_field_text(n, fields[p.id].get(n)) for n in chosen if fields[p.id].get(n) is not None]
        labels[p.id] = " + ".join(parts) or p.id
    if len(set(labels.values())) != len(labels):
        return {p.id: p.id for p in pairings}
    return labels


def headline(scenario: ScenarioRecord, cells: Sequence[Cell], labels: dict[str, str]) -> str:
    """One sentence answering "where does it happen?", e.g.
    ``reproduces on keras 3.5.0, 3.6.0, 3.15.1; passes on none``.

    ``cells`` may be all of the scenario's cells. Same-pairing cells (``saved_with`` empty or equal
    to ``pairing``) give the sentence above; cells loading what another pairing saved add an
    ``across versions (saved → loaded):`` clause, one part per verdict grouped by saver, e.g.
    ``passes keras 2.15.0 → keras 3.5.0, 3.6.0``, leaving out skipped loads. When every
    same-pairing cell is skipped (a scenario whose save needs another generation), only the
    across-versions clause is given, if there is one.
    """
    same = [c for c in cells if c.saved_with in (None, c.pairing)]
    across = [c for c in cells if c.saved_with not in (None, c.pairing) and c.verdict != "skipped"]
    by_verdict: dict[str, list[str]] = {}
    for cell in same:
        by_verdict.setdefault(cell.verdict, []).append(labels.get(cell.pairing, cell.pairing))
    parts = []
    if not (across and all(c.verdict == "skipped" for c in same)):
        always = ("reproduced", "passed") if scenario.signature else ("passed",)
        for verdict in VERDICTS:
            found = by_verdict.get(verdict, [])
            if found or verdict in always:
                parts.append(f"{VERDICT_STYLE[verdict]['phrase']} {_join_labels(found)}")
    if across:
        order = {name: i for i, name in enumerate(labels)}
        directions: dict[str, dict[str, list[Cell]]] = {}
        for cell in across:
            directions.setdefault(cell.verdict, {}).setdefault(cell.saved_with or "", []).append(cell)
        clauses = []
        for verdict in VERDICTS:
            groups = []
            for saver in sorted(directions.get(verdict, {}), key=lambda name: (order.get(name, len(order)), name)):
                loaders = sorted(directions[verdict][saver], key=lambda c: (order.get(c.pairing, len(order)), c.pairing))
                groups.append(f"{labels.get(saver, saver)} → {_join_labels([labels.get(c.pairing, c.pairing) for c in loaders])}")
            if groups:
                clauses.append(f"{VERDICT_STYLE[verdict]['phrase'].removesuffix(' on')} " + " and ".join(groups))
        parts.append("across versions (saved → loaded): " + "; ".join(clauses))
    return "; ".join(parts)


def reproduce_commands(
    scenario: ScenarioRecord, loader: PairingRecord | None, saver: PairingRecord | None
) -> tuple[str, str]:
    """A nox command and a plain ``uv run`` command that reproduce one cell alone."""
    if loader is None:
        return "", ""
    path = _shown_path(Path(scenario.path))
    folder = os.path.dirname(path) or "."
    pairings = []
    if saver is not None and saver.id != loader.id:
        pairings.append(_pairing_arg(saver))
    pairings.append(_pairing_arg(loader))
    nox = ["nox", "-s", "matrix", "--"]
    for spec in pairings:
        nox += ["--pairing", spec]
    nox += ["--only", scenario.id]
    if os.path.abspath(folder) != str(REPO_ROOT / "scenarios"):
        nox += ["--scenarios", folder]
    prelude = f"import sys; sys.path.insert(0, {json.dumps(folder)}); import {scenario.id} as s"
    if scenario.kind == "run":
        code = f"{prelude}; import tempfile; print(s.run(tempfile.mkdtemp()))"
        uv = _uv_run(loader, code)
    else:
        save_code = f'{prelude}; import os; os.makedirs("artifact", exist_ok=True); print(s.save("artifact"))'
        load_code = f'{prelude}; print(s.load("artifact"))'
        uv = f"{_uv_run(saver or loader, save_code)} && {_uv_run(loader, load_code)}"
    return shlex.join(nox), uv


def print_summary(results: Results, stream: TextIO) -> None:
    """The matrix as a text table for the terminal (the same rows as summary.md)."""
    model = build_report(results)
    width = max([len(s.id) for s in model.scenarios] + [8])

    def text(cell: CellView) -> str:
        return f"{f'{cell.symbol} {cell.word}' + (' ' + cell.diff if cell.diff else ''):<16}"

    header = f"{'scenario':<{width}}  " + "  ".join(f"{p.label:<16}" for p in model.pairings)
    stream.write("\n" + header + "\n" + "-" * len(header) + "\n")
    for index, scenario in enumerate(model.scenarios):
        row = [cells[index] for _, cells in model.rows]
        stream.write(f"{scenario.id:<{width}}  " + "  ".join(text(c) for c in row) + "\n")
    for grid in model.grids:
        side = max([len(p.label) for p in grid.savers] + [10])
        stream.write(f"\n{grid.scenario.id}: saved with (rows) -> loaded with (columns)\n")
        stream.write(f"  {'':<{side}}  " + "  ".join(f"{p.label:<16}" for p in grid.loaders) + "\n")
        for pairing, grid_row in zip(grid.savers, grid.rows):
            stream.write(f"  {pairing.label:<{side}}  " + "  ".join(text(c) for c in grid_row) + "\n")
    stream.write("\n" + "; ".join(f"{v} {n}" for v, n in model.counts) + f" ({model.total} cells)\n")
    for scenario in model.scenarios:
        stream.write(f"{scenario.id}: {scenario.headline}\n")


# --------------------------------------------------------------------------- pieces


def _cell_view(cell: Cell, scenario: ScenarioRecord | None, pairings: dict[str, PairingRecord]) -> CellView:
    style = VERDICT_STYLE.get(cell.verdict, VERDICT_STYLE["missing"])
    nox, uv = ("", "")
    if scenario is not None:
        nox, uv = reproduce_commands(scenario, pairings.get(cell.pairing), pairings.get(cell.saved_with or ""))
    diff = ""
    if cell.compared:
        diff = f"Δ {cell.max_abs_diff:.2g}" if cell.max_abs_diff is not None else "Δ inf"
    return CellView(
        dom_id=_dom_id("cell", cell.key),
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
        dom_id=_dom_id("cell", cell_key(scenario.id, pairing, saved_with)),
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
        path=_shown_path(Path(scenario.path)),
    )


def _main_key(scenario: ScenarioRecord, pairing: str) -> str:
    return cell_key(scenario.id, pairing, pairing if scenario.kind == "cross" else None)


def _join_labels(labels: list[str]) -> str:
    if not labels:
        return "none"
    split = [label.split(" ", 1) for label in labels]
    if all(len(s) == 2 and " " not in s[1] for s in split) and len({s[0] for s in split}) == 1:
        return f"{split[0][0]} " + ", ".join(s[1] for s in split)
    return ", ".join(labels)


def _label_rank(name: str) -> tuple[int, str]:
    if name in _LABEL_PREFERENCE:
        return (_LABEL_PREFERENCE.index(name), name)
    if name == "backend":
        return (len(_LABEL_PREFERENCE), name)
    if name == "python":
        return (len(_LABEL_PREFERENCE) + 2, name)
    return (len(_LABEL_PREFERENCE) + 1, name)


def _field_text(name: str, value: str | None) -> str:
    if name == "backend":
        return f"backend {value}"
    return f"{name} {value}"


def _pairing_arg(pairing: PairingRecord) -> str:
    items = list(pairing.pins) or list(pairing.requested.requirements)
    if pairing.backend != "tensorflow":
        items.append(f"backend={pairing.backend}")
    if pairing.requested.python:
        items.append(f"python={pairing.requested.python}")
    return ",".join(items)


def _uv_run(pairing: PairingRecord, code: str) -> str:
    command = ["uv", "run", "--no-project", "--isolated"]
    if pairing.python:
        command += ["--python", pairing.python]
    for pin in pairing.pins or pairing.requested.requirements:
        command += ["--with", str(pin)]
    command += ["python", "-c", code]
    return f"KERAS_BACKEND={shlex.quote(pairing.backend)} {shlex.join(command)}"


def _shown_path(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


def _dom_id(prefix: str, key: str) -> str:
    return f"{prefix}-{hashlib.sha256(key.encode()).hexdigest()[:12]}"


def _duration(seconds: float | None) -> str:
    return "unknown" if seconds is None else format_duration(seconds)


def _clip_head(text: str, limit: int) -> str:
    return text if len(text) <= limit else "…" + text[-limit:]
