"""The release atlas: every release of a package in a range run as a pairing of one matrix, read
back as a timeline per scenario, and where along it the verdict changes.

A :class:`Timeline` holds one point per release, oldest first. A scenario has one timeline of its
own cells (the single-env cell, or a cross-version scenario's own save loaded by the same
release); with ``--cross adjacent`` a cross-version scenario has a second one, each release
loading the save of the release before it (:data:`LANE_PREVIOUS`).

:func:`find_transitions` is pure: it walks a timeline and names every place where the verdict
changes between two consecutive releases that both tell something. A verdict of
:data:`~harness.evidence.model.SAYS_NOTHING` (install failed, skipped, crashed, timed out,
interrupted) is not behaviour: a transition spans across such releases and lists them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Sequence

from harness.evidence.model import SAYS_NOTHING, Cell, Results

ATLAS_SCHEMA = 1
#: The timeline of a release's own cells (single-env, or its own save loaded).
LANE_OWN = "own"
#: The timeline of each release loading the previous release's save (``--cross adjacent``).
LANE_PREVIOUS = "previous"
#: What a point without a cell shows (the first release on the previous-save lane, a pairing the
#: run did not record).
NO_CELL = "missing"


@dataclass(frozen=True)
class Point:
    """One release on a timeline: its version, its pairing id, and its cell's verdict and reason
    (``verdict`` None when the run holds no cell for it)."""

    version: str
    pairing: str
    verdict: str | None
    reason: str = ""

    @property
    def tells(self) -> bool:
        """Whether the verdict says something about the behaviour under test."""
        return self.verdict is not None and self.verdict not in SAYS_NOTHING


@dataclass(frozen=True)
class Between:
    """A release a transition spans across, since its verdict says nothing (or it has no cell)."""

    version: str
    verdict: str


@dataclass(frozen=True)
class VerdictTransition:
    """A change of verdict along a timeline: ``last_before`` is the last release giving
    ``before``, ``first_after`` the first giving ``after``; ``across`` the releases between them,
    each of whose verdicts says nothing."""

    scenario: str
    lane: str
    before: str
    after: str
    last_before: str
    first_after: str
    across: tuple[Between, ...] = ()

    @property
    def text(self) -> str:
        """``scenario: reproduced → passed between 3.3.3 and 3.4.0`` (with the lane, and the
        releases spanned, when there are any)."""
        lane = " (loading the previous release's save)" if self.lane == LANE_PREVIOUS else ""
        line = f"{self.scenario}{lane}: {self.before} → {self.after} between {self.last_before} and {self.first_after}"
        if self.across:
            line += " (across " + ", ".join(f"{b.version}: {b.verdict}" for b in self.across) + ", which say nothing)"
        return line


@dataclass(frozen=True)
class Timeline:
    """One scenario's verdicts along the releases (one lane), and its transitions."""

    scenario: str
    title: str
    lane: str
    points: tuple[Point, ...]
    transitions: tuple[VerdictTransition, ...]


@dataclass(frozen=True)
class Atlas:
    """The whole atlas: what was asked for, the releases in version order, one timeline per
    scenario and lane. ``run`` is the matrix run folder the cells are in, relative to the atlas
    folder (``.``: the atlas folder is the run folder)."""

    package: str
    old: str
    new: str
    partners: tuple[str, ...]
    backend: str
    cross: str
    releases: tuple[str, ...]
    timelines: tuple[Timeline, ...]
    run: str = "."
    schema: int = ATLAS_SCHEMA

    @property
    def transitions(self) -> list[VerdictTransition]:
        """Every transition, timeline by timeline."""
        return [t for line in self.timelines for t in line.transitions]


def find_transitions(scenario: str, points: Sequence[Point], lane: str = LANE_OWN) -> list[VerdictTransition]:
    """Every change of verdict along ``points`` (one release each, oldest first).

    Only points that tell something (:attr:`Point.tells`) are compared, each with the last one
    before it that told something; the points between them that say nothing are the
    transition's ``across``. Points that say nothing before the first or after the last telling
    point belong to no transition; the same verdict on both sides of such points is no
    transition.
    """
    found: list[VerdictTransition] = []
    previous: Point | None = None
    between: list[Between] = []
    for point in points:
        if not point.tells:
            if previous is not None:
                between.append(Between(point.version, point.verdict or NO_CELL))
            continue
        if previous is not None and point.verdict != previous.verdict:
            found.append(VerdictTransition(scenario, lane, str(previous.verdict), str(point.verdict),
                                           previous.version, point.version, tuple(between)))
        previous, between = point, []
    return found


def build_atlas(results: Results, releases: Sequence[tuple[str, str]], package: str, old: str, new: str,
                partners: Sequence[str], backend: str, run: str = ".") -> Atlas:
    """The atlas of a matrix run whose pairings are ``releases``: ``(version, pairing spec)``
    pairs, oldest first. A release is found in the run by the spec its pairing was asked with;
    a release the run has no pairing or cell for is a point without a verdict."""
    cross = str(results.run.options.get("cross", "same"))
    by_spec = {p.requested.spec: p.id for p in results.pairings if p.source is None}
    pairings = [(version, by_spec.get(spec, "")) for version, spec in releases]
    cells = {c.key.text: c for c in results.cells}

    def point(version: str, pairing: str, saved_with: str | None) -> Point:
        cell: Cell | None = cells.get(f"{scenario.id}|{saved_with or ''}|{pairing}") if pairing else None
        return Point(version, pairing, cell.verdict if cell else None, cell.reason if cell else "")

    timelines: list[Timeline] = []
    for scenario in results.scenarios:
        lanes = [(LANE_OWN, [point(v, p, p if scenario.kind == "cross" else None) for v, p in pairings])]
        if scenario.kind == "cross" and cross == "adjacent":
            lanes.append((LANE_PREVIOUS, [
                point(v, p, pairings[i - 1][1]) if i > 0 else Point(v, p, None) for i, (v, p) in enumerate(pairings)]))
        for lane, points in lanes:
            timelines.append(Timeline(scenario.id, scenario.title, lane, tuple(points),
                                      tuple(find_transitions(scenario.id, points, lane))))
    return Atlas(package, old, new, tuple(partners), backend, cross, tuple(v for v, _ in releases), tuple(timelines), run)


def atlas_record(atlas: Atlas) -> dict[str, Any]:
    """``atlas.json``: the atlas as JSON, each transition with its one-line ``text``."""
    record: dict[str, Any] = _plain(asdict(atlas))
    record["transitions"] = [{**_plain(asdict(t)), "text": t.text} for t in atlas.transitions]
    return record


def _plain(value: Any) -> Any:
    """``value`` with every tuple a list, as JSON reads it back."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value
