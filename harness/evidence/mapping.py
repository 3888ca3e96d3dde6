"""Lining up what a model looked for with what a file holds: for each layer that found nothing,
the groups in the file holding arrays of exactly the shapes it wanted.

Pure functions over :mod:`harness.evidence.anatomy` data; the same lining-up serves the cells of a run
(from the worker's probe of a failed load) and ``inspect --against``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from harness.errors import AnatomyError
from harness.evidence.anatomy import anatomy_or_error, group_shapes, read_anatomy, saved_files
from harness.evidence.model import FileRecord, GroupRecord, MappingRecord, WantedVariable

MATCHED, AMBIGUOUS, MISSING = "matched", "ambiguous", "missing"


@dataclass
class Wanted:
    """One layer of the loading model: its label, its variables in order, and where it looks."""

    layer: str
    variables: list[tuple[str, tuple[int, ...]]]
    looked_under: str | None = None
    target_group: str | None = None

    @property
    def shapes(self) -> list[tuple[int, ...]]:
        return [shape for _, shape in self.variables]


def entry_text(entry: MappingRecord) -> str:
    """``gru_cell (kernel (3, 15), recurrent_kernel (5, 15), bias (2, 15))  <-  layers/gru/cell/vars/0..2``"""
    wanted = ", ".join(f"{w.name} {w.shape_text}" for w in entry.wanted)
    if entry.status == MATCHED:
        right = entry.candidates[0]
    elif entry.status == AMBIGUOUS:
        right = " | ".join(entry.candidates) + f"  (ambiguous: {len(entry.candidates)} groups fit)"
    else:
        right = "(missing: no group holds arrays of these shapes)"
    return f"{entry.layer} ({wanted})  <-  {right}"


def line_up(wanted: Sequence[Wanted], source: FileRecord) -> list[MappingRecord]:
    """For each wanted layer, the source groups whose arrays have exactly its shapes, in order."""
    entries = []
    for item in wanted:
        fits = [g for g in source.groups if group_shapes(g) == item.shapes and item.shapes]
        status = MATCHED if len(fits) == 1 else AMBIGUOUS if fits else MISSING
        entries.append(MappingRecord(
            layer=item.layer,
            wanted=[WantedVariable(name, list(shape), _shape_text(shape)) for name, shape in item.variables],
            looked_under=item.looked_under,
            candidates=[g.span for g in fits],
            status=status,
            target_group=item.target_group,
            source_group=fits[0].path if status == MATCHED else None,
        ))
    return entries


def wanted_from_probe(probe: dict[str, Any], own: FileRecord | None) -> list[Wanted]:
    """The layers a failed load named, with the group of the model's own layout they use."""
    wanted = []
    for layer in probe.get("layers") or []:
        variables = [(str(v.get("name")), tuple(int(d) for d in v.get("shape", []))) for v in layer.get("variables", [])]
        shapes = [s for _, s in variables]
        group = _own_group(own, str(layer.get("name")), shapes) if own is not None else None
        wanted.append(Wanted(
            layer=str(layer.get("name")),
            variables=variables,
            looked_under=group.span if group else None,
            target_group=group.path if group else None,
        ))
    return wanted


def wanted_from_layout(own: FileRecord) -> list[Wanted]:
    """Every variable group of a model's own layout (for ``inspect --against``)."""
    return [
        Wanted(
            layer=group.name or _layer_of(group.path),
            variables=[(a.path.rsplit("/", 1)[-1], tuple(a.shape)) for a in group.arrays],
            looked_under=group.span,
            target_group=group.path,
        )
        for group in own.groups
    ]


def mapping_text(entries: Sequence[MappingRecord]) -> str:
    return "\n".join(entry_text(entry) for entry in entries)


def file_evidence(
    workdir: Path, probe: dict[str, Any] | None, shown: Callable[[Path], str],
    anatomy_of: Callable[[Path, str], FileRecord] = anatomy_or_error,
) -> tuple[list[FileRecord], list[MappingRecord], str]:
    """What a cell leaves as evidence about files: the anatomy of every saved model file in its
    work folder (read by ``anatomy_of``, given the path and how it is shown), and, when the worker
    probed a failed load, the mapping of the layers that found nothing onto the loaded file
    (``shown`` turns paths into what the report prints)."""
    files = [anatomy_of(path, shown(path)) for path in saved_files(workdir)]
    if not probe or not probe.get("layers"):
        return files, [], ""
    own = _probe_anatomy(probe.get("own_file"))
    loaded = _probe_anatomy(probe.get("loaded_file"))
    if loaded is None:
        return files, [], ""
    entries = line_up(wanted_from_probe(probe, own), loaded)
    for entry in entries:
        entry.file = shown(Path(probe["loaded_file"]))
    text = f"in {shown(Path(probe['loaded_file']))}:\n" + mapping_text(entries)
    return files, entries, text


def _probe_anatomy(path: Any) -> FileRecord | None:
    """The anatomy of a file the worker's probe names (an untrusted path), or None."""
    if not isinstance(path, str):
        return None
    try:
        return read_anatomy(Path(path))
    except (AnatomyError, ImportError, OSError):
        return None


def _layer_of(path: str) -> str:
    """``layers/gru_cell/vars`` → ``gru_cell``; ``layers/gru/cell/vars`` → ``gru/cell``."""
    parts = path.split("/")
    if parts and parts[-1] == "vars":
        parts = parts[:-1]
    if parts and parts[0] == "layers":
        parts = parts[1:]
    return "/".join(parts) or path


def _own_group(own: FileRecord, layer: str, shapes: list[tuple[int, ...]]) -> GroupRecord | None:
    fitting = [g for g in own.groups if group_shapes(g) == shapes]
    named = [g for g in fitting if layer in g.path.split("/") or g.name == layer]
    chosen = named or fitting
    return chosen[0] if len(chosen) == 1 or named else None


def _shape_text(shape: tuple[int, ...]) -> str:
    return "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"
