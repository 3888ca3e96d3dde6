"""The result model: pairings, scenarios and cells of a run, with a schema version, and what a
verdict means.

``results.json`` is the contract between a run and everything that reads it (the reports,
merge, resume, bisect, readiness); its JSON form and the checked reading of it are in
:mod:`harness.evidence.codec`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Union

from harness.plan.cells import CellKey
from harness.plan.claims import Claim

SCHEMA_VERSION = 2
#: The schema versions read back: 1 (file anatomies inline in every cell) and 2 (file anatomies
#: stored once per distinct file, in :attr:`Results.anatomies` or side files, cells naming them).
READABLE_SCHEMAS: tuple[int, ...] = (1, 2)
#: What an id may be: it names files and folders, so never a path.
SAFE_ID = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._+@-]*$")


class Verdict(str, Enum):
    """What a cell showed. Decided only by :func:`harness.run.verdict.decide_verdict`."""

    REPRODUCED = "reproduced"
    PASSED = "passed"
    WRONG_VALUES = "wrong_values"
    ERROR = "error"
    CRASHED = "crashed"
    TIMEOUT = "timeout"
    INSTALL_FAILED = "install_failed"
    SKIPPED = "skipped"
    INTERRUPTED = "interrupted"


VERDICTS: tuple[str, ...] = tuple(v.value for v in Verdict)

# What verdicts mean, defined once. Verdict values are strings, so ``"skipped" in NOT_RUN`` holds.

#: The scenario never ran to an end in that env: it could not be installed, it was outside
#: REQUIRES, or the run was stopped while it ran.
NOT_RUN: frozenset[Verdict] = frozenset({Verdict.INSTALL_FAILED, Verdict.SKIPPED, Verdict.INTERRUPTED})
#: Tells nothing about the behaviour under test: never ran, or the process crashed or hung.
SAYS_NOTHING: frozenset[Verdict] = NOT_RUN | {Verdict.CRASHED, Verdict.TIMEOUT}
#: Not a final verdict: a resumed run runs such a cell again, and a merge prefers any other.
UNFINISHED: frozenset[Verdict] = frozenset({Verdict.INTERRUPTED})
#: Ran and showed the behaviour the scenario looks for (a JUnit failure, not an error).
FOUND: frozenset[Verdict] = frozenset({Verdict.REPRODUCED})


@dataclass
class Requested:
    """A pairing as it was asked for (the spec text and what it parsed into)."""

    spec: str = ""
    requirements: list[str] = field(default_factory=list)
    wheels: list[str] = field(default_factory=list)
    backend: str = "tensorflow"
    python: Union[str, None] = None


@dataclass
class PairingRecord:
    """One pairing of a run: what was asked, what got installed, and with which Python.

    ``source`` is set for a pairing whose saves were imported from an earlier run
    (``--load-artifacts``): it only saved, in that run; this run has no cells of its own for it.
    """

    id: str
    requested: Requested = field(default_factory=Requested)
    versions: dict[str, str] = field(default_factory=dict)
    packages: dict[str, str] = field(default_factory=dict)
    pins: list[str] = field(default_factory=list)
    python: Union[str, None] = None
    backend: str = "tensorflow"
    install_error: Union[str, None] = None
    env_key: Union[str, None] = None
    env_reused: Union[bool, None] = None
    install_s: Union[float, None] = None
    import_s: Union[float, None] = None
    source: Union[str, None] = None


@dataclass
class ScenarioRecord:
    """A scenario as the run saw it (``sha256`` identifies the file's text; ``format``: the format
    of a scenario with ``FORMATS``, whose id is ``<module>[<format>]``)."""

    id: str
    title: str
    path: str
    kind: str = "run"
    description: str = ""
    links: list[str] = field(default_factory=list)
    signature: Union[str, None] = None
    tags: list[str] = field(default_factory=list)
    requires: dict[str, str] = field(default_factory=dict)
    save_requires: Union[dict[str, str], None] = None
    rtol: float = 1e-5
    atol: float = 1e-5
    sha256: str = ""
    claims: list[Claim] = field(default_factory=list)
    load_writes: bool = False
    format: Union[str, None] = None


@dataclass
class ArrayRecord:
    """One array of a saved file: where it is, its shape and dtype."""

    path: str
    shape: list[int]
    dtype: str


@dataclass
class GroupRecord:
    """A group whose arrays belong together (one layer's variables), in the order Keras uses;
    ``span`` is how it is shown, e.g. ``layers/gru/cell/vars/0..2``."""

    path: str
    arrays: list[ArrayRecord] = field(default_factory=list)
    name: Union[str, None] = None
    span: str = ""


@dataclass
class FileRecord:
    """The anatomy of one saved model file (see :mod:`harness.anatomy`)."""

    path: str
    format: str
    size: int = 0
    keras_version: Union[str, None] = None
    backend: Union[str, None] = None
    date_saved: Union[str, None] = None
    tensorflow_version: Union[str, None] = None
    arrays: list[ArrayRecord] = field(default_factory=list)
    groups: list[GroupRecord] = field(default_factory=list)
    truncated: bool = False
    error: Union[str, None] = None
    sha256: Union[str, None] = None


@dataclass
class FileRef:
    """A saved file of a cell, as stored: where the cell's work folder held it, and the sha256 of
    its bytes, which names its anatomy in the table (:attr:`Results.anatomies`, or the run
    folder's ``anatomy/<sha256>.json``). A file that could not be hashed has no digest and
    carries its anatomy (an error record) in ``record``."""

    path: str
    sha256: str = ""
    record: Union[FileRecord, None] = None


@dataclass
class AnatomyEntry:
    """One distinct file's anatomy in results.json: the record itself, or, past the size budget
    of results.json, ``side``: the run-folder-relative path of the side file holding it
    (``anatomy/<sha256>.json``)."""

    record: Union[FileRecord, None] = None
    side: Union[str, None] = None


@dataclass
class SideText:
    """A long text of a cell kept out of results.json when it would pass its size budget:
    ``field`` names it (``output_tail``, ``traceback``, ``message``, or the same under ``save.``)
    and ``side`` is the run-folder-relative side file holding it (``evidence/<sha256>.txt``)."""

    field: str
    side: str


@dataclass
class WantedVariable:
    name: str
    shape: list[int]
    shape_text: str = ""


@dataclass
class MappingRecord:
    """A layer that found nothing, and the groups of the loaded file holding its shapes
    (``status``: matched, ambiguous or missing; see :mod:`harness.mapping`)."""

    layer: str
    wanted: list[WantedVariable]
    status: str
    looked_under: Union[str, None] = None
    candidates: list[str] = field(default_factory=list)
    target_group: Union[str, None] = None
    source_group: Union[str, None] = None
    file: Union[str, None] = None


@dataclass
class PhaseEvidence:
    """What one phase (``run``, ``save`` or ``load``) left as evidence; shared by :class:`Cell`
    (the phase that decided it) and :class:`SaveRecord` (a cross-version save)."""

    exception_type: Union[str, None] = None
    message: Union[str, None] = None
    traceback: Union[str, None] = None
    exit_status: Union[int, None] = None
    signal: Union[int, None] = None
    duration_s: float = 0.0
    output_tail: str = ""
    started: Union[str, None] = None


@dataclass
class SaveRecord(PhaseEvidence):
    """How a cross-version save ended, and where its files are (kept as ``save.json`` too)."""

    status: str = ""
    ok: bool = False
    op: str = "save"
    outcome: Union[str, None] = None
    signature_matched: Union[bool, None] = None
    pairing: str = ""
    scenario: str = ""
    scenario_sha256: str = ""
    artifact: str = ""
    sha256: str = ""
    imported_from: Union[str, None] = None
    reused_from: Union[str, None] = None


@dataclass
class _CellName:
    scenario: str
    pairing: str
    verdict: str


@dataclass
class Cell(PhaseEvidence, _CellName):
    """One scenario in one pairing (for cross-version cells: saved with one, loaded with another).

    ``reason`` is one sentence saying why the verdict is what it is. The :class:`PhaseEvidence`
    fields come from the phase that decided the verdict. ``save`` holds the save phase's evidence
    for cross-version cells. ``files`` is the anatomy of the saved model files the cell's work
    folder held (stored as ``file_refs`` into the anatomy table, and long texts past the size
    budget as ``side_texts``; read back whole); ``probe``/``mapping`` say, for a load that found
    no variables, what the model looked for and which groups of the file would fit. ``compared`` tells whether values were
    compared; ``max_abs_diff`` is their largest absolute difference (None when not compared or
    infinite). ``reused_from`` names the earlier run whose measurement of the very same cell (see
    :mod:`harness.evidence.cache`) this one carries, its evidence unchanged; None when it ran here.
    """

    saved_with: Union[str, None] = None
    reason: str = ""
    max_abs_diff: Union[float, None] = None
    compared: bool = False
    compared_count: int = 0
    mismatch: Union[str, None] = None
    workdir: Union[str, None] = None
    save: Union[SaveRecord, None] = None
    files: list[FileRecord] = field(default_factory=list)
    file_refs: list[FileRef] = field(default_factory=list)
    side_texts: list[SideText] = field(default_factory=list)
    probe: Union[dict[str, Any], None] = None
    mapping: list[MappingRecord] = field(default_factory=list)
    mapping_text: str = ""
    warnings: list[str] = field(default_factory=list)
    reused_from: Union[str, None] = None

    @property
    def key(self) -> CellKey:
        """Unique within a run: scenario, producing pairing (if any) and pairing."""
        return CellKey(self.scenario, self.saved_with, self.pairing)


@dataclass
class RunInfo:
    """When, where and how the run happened."""

    id: str
    started: str
    finished: Union[str, None] = None
    duration_s: Union[float, None] = None
    python: str = ""
    platform: str = ""
    command: list[str] = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)
    complete: bool = False
    shard: Union[str, None] = None
    resumed: list[str] = field(default_factory=list)


@dataclass
class Results:
    """A whole run. ``schema`` is :data:`SCHEMA_VERSION` for everything this code writes.

    ``anatomies`` is the stored form's table of file anatomies by sha256; a run read back (or
    assembled) has every cell's ``files`` whole and this table empty (see
    :mod:`harness.evidence.anatomy_table`).
    """

    run: RunInfo
    pairings: list[PairingRecord] = field(default_factory=list)
    scenarios: list[ScenarioRecord] = field(default_factory=list)
    cells: list[Cell] = field(default_factory=list)
    schema: int = SCHEMA_VERSION
    anatomies: dict[str, AnatomyEntry] = field(default_factory=dict)

    def pairing(self, pairing_id: str) -> PairingRecord | None:
        return next((p for p in self.pairings if p.id == pairing_id), None)

    def scenario(self, scenario_id: str) -> ScenarioRecord | None:
        return next((s for s in self.scenarios if s.id == scenario_id), None)




