"""The page's evidence as data: embedded once as JSON (through ``|tojson``), rendered on demand.

A large run repeats itself: the same traceback frames, warnings, file anatomies and ``--with`` pins
in many cells, often the same whole traceback across the savers of a cross-version grid. So every
text is stored once, as a list of indexes of its pieces (lines of evidence texts; the parts of a
reproduce command), and every such list once too: a cell refers to a text by its index in
``texts``. The page's script joins a text back with
``texts[i].map(j => pieces[j]).join(sep)``: "\\n" for evidence, "" for commands. Records that
repeat whole (a mapping picture, a file's anatomy, a save) are stored once in ``things``.

Keys are short because a large run has many thousand cells; :func:`page_data` documents them.
"""

from __future__ import annotations

import json
from typing import Any

from harness.evidence.model import FileRecord, SaveRecord
from harness.report.model import OUTPUT_CHARS, CellView, PairingView, ReportModel, ScenarioView
from harness.report.picture import MappingPicture

LINE = "\n"


class Table:
    """The page's tables of pieces, texts and things, each entry stored once."""

    def __init__(self) -> None:
        self.pieces: list[str] = []
        self.texts: list[list[int]] = []
        self.things: list[Any] = []
        self._pieces: dict[str, int] = {}
        self._texts: dict[tuple[int, ...], int] = {}
        self._things: dict[str, int] = {}

    def text(self, value: str | None, sep: str = LINE) -> int | None:
        """The index in :attr:`texts` of ``value`` split at ``sep`` (None for no text)."""
        if not value:
            return None
        return self.joined(value.split(sep))

    def joined(self, parts: list[str]) -> int | None:
        """The index in :attr:`texts` of the text whose pieces are ``parts`` (None for none)."""
        if not parts:
            return None
        ids = tuple(_intern(self._pieces, self.pieces, part, part) for part in parts)
        return _intern(self._texts, self.texts, ids, list(ids))

    def thing(self, value: Any) -> int | None:
        """The index in :attr:`things` of a JSON value (None for an empty one)."""
        if not value:
            return None
        return _intern(self._things, self.things, json.dumps(value, sort_keys=True), value)


def _intern(index: dict[Any, int], items: list[Any], key: Any, value: Any) -> int:
    found = index.get(key)
    if found is None:
        found = index[key] = len(items)
        items.append(value)
    return found


def page_data(model: ReportModel) -> dict[str, Any]:
    """Everything the page's script needs, as plain JSON data.

    ``pieces``, ``texts``, ``things``: the tables (see the module). ``scenarios`` and ``pairings``:
    one record each (``pairings`` includes the savers imported from earlier runs). ``cells``: one
    record per :attr:`ReportModel.cells` entry, in that order (a cell's ``data-i`` in the page is
    its index); ``s``/``p``/``w``: scenario, pairing and saver (-1: none) indexes; ``v``: verdict;
    ``k``: what the cell counts as, ``m`` a matrix cell or ``x`` a cross-version cell (the same
    cells the header counts); the other keys are evidence, left out when empty (see :func:`_cell`).
    """
    table = Table()
    scenarios = {s.id: i for i, s in enumerate(model.scenarios)}
    pairings = {p.id: i for i, p in enumerate(model.all_pairings)}
    cells = [_cell(c, scenarios, pairings, table) for c in model.cells]
    for role, views in (("m", model.matrix_cells), ("x", model.cross_cells)):
        for view in views:
            cells[view.index]["k"] = role
    return {
        "pieces": table.pieces,
        "texts": table.texts,
        "things": table.things,
        "verdicts": model.verdict_styles,
        "scenarios": [_scenario(s) for s in model.scenarios],
        "pairings": [_pairing(p) for p in model.all_pairings],
        "cells": cells,
    }


def _scenario(s: ScenarioView) -> dict[str, Any]:
    return {"id": s.id, "title": s.title, "path": s.path, "signature": s.signature or "", "links": s.links,
            "tags": s.tags, "kind": s.kind, "headline": s.headline}


def _pairing(p: PairingView) -> dict[str, Any]:
    return {"id": p.id, "label": p.label, "env": p.dom_id, "backend": p.backend, "python": p.python,
            "versions": ", ".join(f"{n} {v}" for n, v in p.versions), "packages": len(p.packages)}


def _cell(c: CellView, scenarios: dict[str, int], pairings: dict[str, int], table: Table) -> dict[str, Any]:
    """Texts (indexes in ``texts``): ``r`` reason, ``m`` message, ``tb`` traceback, ``o`` output
    tail, ``mt`` mapping text, ``wa`` warnings (a list), ``rn``/``ru`` the reproduce commands (nox,
    uv), ``rf`` the earlier run a reused cell was measured in.
    Things (indexes in ``things``): ``c`` root cause (``t`` type, ``x`` text, ``ch`` chained),
    ``pic`` mapping picture, ``f`` files, ``sv`` the save. Plain: ``id`` the DOM id, ``t`` duration,
    ``d`` Δ, ``x`` exception type, ``P``/``W`` pairing/saver ids unknown to the run's pairings."""
    record: dict[str, Any] = {
        "id": c.dom_id,
        "s": scenarios.get(c.scenario, -1),
        "p": pairings.get(c.pairing, -1),
        "w": pairings.get(c.saved_with, -1) if c.saved_with else -1,
        "v": c.verdict,
    }
    if record["p"] == -1:
        record["P"] = c.pairing
    if c.saved_with and record["w"] == -1:
        record["W"] = c.saved_with
    cause = {"t": c.cause.type, "x": table.text(c.cause.text), "ch": c.cause.chained} if c.cause else None
    optional: dict[str, Any] = {
        "r": table.text(c.reason),
        "t": c.duration,
        "d": c.diff,
        "x": c.exception_type or "",
        "c": table.thing(cause),
        "m": table.text(c.message),
        "tb": table.text(c.traceback),
        "o": table.text(c.output_tail),
        "wa": [table.text(w) for w in c.warnings],
        "mt": table.text(c.mapping_text),
        "pic": table.thing(_picture(c.picture)) if c.picture else None,
        "f": table.thing([_file(f, table) for f in c.files]),
        "sv": table.thing(_save(c.save, table)) if c.save else None,
        "rn": table.joined(c.nox_parts),
        "ru": table.joined(c.uv_parts),
        "rf": table.text(c.reused_from),
    }
    record.update({k: v for k, v in optional.items() if v is not None and v != "" and v != []})
    return record


def _picture(pic: MappingPicture) -> dict[str, Any]:
    return {
        "w": pic.width, "h": pic.height, "lx": pic.left_x, "rx": pic.right_x,
        "l": [[r.text, r.detail, r.y, r.status] for r in pic.left],
        "r": [[r.text, r.detail, r.y] for r in pic.right],
        "k": [[k.y1, k.y2, k.status] for k in pic.lines],
    }


def _file(f: FileRecord, table: Table) -> dict[str, Any]:
    about = [f.format]
    if f.keras_version:
        about.append(f"written by Keras {f.keras_version}" + (f" ({f.backend})" if f.backend else ""))
    if f.error:
        about.append(f.error)
    arrays = "\n".join(f"{a.path}  {a.shape} {a.dtype}" for a in f.arrays)
    return {"path": f.path, "about": " · ".join(about), "a": table.text(arrays)}


def _save(save: SaveRecord, table: Table) -> dict[str, Any]:
    return {
        "pairing": save.pairing, "ok": save.ok, "x": save.exception_type or "", "m": table.text(save.message),
        "artifact": save.artifact, "sha256": save.sha256, "tb": table.text(save.traceback),
        "o": table.text(save.output_tail[-OUTPUT_CHARS:]),
    }
