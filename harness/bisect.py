"""Bisect: the first released version where a scenario's verdict changes.

:func:`find_transition` is the pure search: it takes the candidates and a probe function and
works like ``git bisect`` with two terms: "new" is the verdict of the newest candidate,
anything else is "old"; a probe that cannot say (install failed, crash, timeout, outside
REQUIRES) is skipped and its neighbours are tried instead. :class:`Bisector` supplies real
probes: one single-cell matrix run per version, or a cell already known from an earlier run of
the same scenario file with the same installed versions.
"""

from __future__ import annotations

import io
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence, TextIO

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from harness.envs import default_envs_dir, ensure_env, resolve_pairing
from harness.errors import BadInput, InstallError
from harness.index import list_releases
from harness.matrix import MatrixOptions, load_scenarios, run_matrix
from harness.pairings import BACKENDS, parse_pairing
from harness.render import render_all, render_page
from harness.results import Results, read_results, write_json_atomic
from harness.scenarios import Scenario

#: Verdicts that say nothing about the behaviour: the version is skipped.
SKIP_VERDICTS = frozenset({"install_failed", "crashed", "timeout", "skipped", "interrupted"})
BISECT_SCHEMA = 1


# --------------------------------------------------------------------------- the pure search


@dataclass
class Transition:
    """The answer. ``status``: ``found`` (adjacent old and new), ``range`` (only skipped versions
    between them), ``same`` (both ends give one verdict), ``end_skipped`` (an end cannot be
    probed)."""

    status: str
    old_verdict: str | None
    new_verdict: str | None
    last_old: str | None = None
    first_new: str | None = None
    skipped_between: list[str] = field(default_factory=list)
    probed: list[tuple[str, str | None]] = field(default_factory=list)


def find_transition(candidates: Sequence[str], probe: Callable[[str], str | None]) -> Transition:
    """Search ``candidates`` (oldest first) for the first one whose verdict is the newest's.

    ``probe`` returns a verdict, or None for "cannot tell" (skipped). When nothing is skipped it
    is called at most ``ceil(log2(n)) + 2`` times.
    """
    if len(candidates) < 2:
        raise ValueError("bisecting needs at least two candidates")
    probed: list[tuple[str, str | None]] = []

    def ask(index: int) -> str | None:
        verdict = probe(candidates[index])
        probed.append((candidates[index], verdict))
        return verdict

    old_verdict, new_verdict = ask(0), ask(len(candidates) - 1)
    if old_verdict is None or new_verdict is None:
        return Transition("end_skipped", old_verdict, new_verdict, probed=probed)
    if old_verdict == new_verdict:
        return Transition("same", old_verdict, new_verdict, probed=probed)
    low, high = 0, len(candidates) - 1
    skipped: set[int] = set()
    while high - low > 1:
        index = _next_index(low, high, skipped)
        if index is None:
            between = [candidates[i] for i in range(low + 1, high)]
            return Transition("range", old_verdict, new_verdict, candidates[low], candidates[high], between, probed)
        verdict = ask(index)
        if verdict is None:
            skipped.add(index)
        elif verdict == new_verdict:
            high = index
        else:
            low = index
    return Transition("found", old_verdict, new_verdict, candidates[low], candidates[high], probed=probed)


def probe_budget(count: int) -> int:
    """The most probes :func:`find_transition` spends on ``count`` candidates without skips."""
    return math.ceil(math.log2(count)) + 2


def _next_index(low: int, high: int, skipped: set[int]) -> int | None:
    """The untried index closest to the middle of (low, high), as ``git bisect skip`` does."""
    middle = (low + high) // 2
    for offset in range(high - low):
        for index in (middle - offset, middle + offset + 1) if offset else (middle,):
            if low < index < high and index not in skipped:
                return index
    return None


# --------------------------------------------------------------------------- real probes


@dataclass
class Probe:
    """One version tried: its verdict (None when skipped) and where the evidence is."""

    version: str
    verdict: str | None
    raw_verdict: str
    seconds: float
    reason: str = ""
    exception_type: str | None = None
    message: str | None = None
    reused_from: str | None = None
    run_dir: str | None = None
    packages: dict[str, str] = field(default_factory=dict)


@dataclass
class BisectOptions:
    scenario: str
    package: str
    old: str
    new: str
    with_: list[str] = field(default_factory=list)
    backend: str = "tensorflow"
    scenario_dirs: list[Path] = field(default_factory=list)
    pre: bool = False
    out: Path | None = None
    timeout: float = 300.0
    envs_dir: Path | None = None
    index_url: str | None = None
    find_links: Path | None = None
    known: list[Path] = field(default_factory=list)
    by_date: bool = False


def candidate_versions(options: BisectOptions) -> list[str]:
    """Releases from ``old`` to ``new`` inclusive, from the index: yanked never, pre-releases
    only with ``--pre`` (or when an end is one)."""
    try:
        old, new = Version(options.old), Version(options.new)
    except InvalidVersion as exc:
        raise BadInput(f"{exc}; --old and --new take versions such as 3.0.0.") from None
    if not old < new:
        raise BadInput(f"--old {options.old} must be an older version than --new {options.new}.")
    releases = list_releases(options.package, options.index_url, options.find_links)
    known = {r.version: r for r in releases}
    for end, flag in ((old, "--old"), (new, "--new")):
        if end not in known or known[end].yanked:
            shown = ", ".join(str(r.version) for r in releases[-8:] if not r.yanked) or "none"
            raise BadInput(f"{flag} {end}: {options.package} {end} is not a release on the index (latest: {shown}).")
    chosen = [
        r for r in releases
        if old <= r.version <= new and not r.yanked
        and (options.pre or not r.version.is_prerelease or r.version in (old, new))
    ]
    return [str(r.version) for r in chosen]


def candidate_dates(options: BisectOptions) -> list[str]:
    """Every day from ``old`` to ``new`` (ISO dates), for ``--by-date``."""
    import datetime

    try:
        old, new = datetime.date.fromisoformat(options.old), datetime.date.fromisoformat(options.new)
    except ValueError:
        raise BadInput(f"With --by-date, --old and --new are dates such as 2024-06-01, not {options.old!r} and {options.new!r}.") from None
    if not old < new:
        raise BadInput(f"--old {options.old} must be an earlier date than --new {options.new}.")
    return [(old + datetime.timedelta(days=n)).isoformat() for n in range((new - old).days + 1)]


def resolution_change(before: dict[str, str], after: dict[str, str]) -> str:
    """What differs between two installed package sets, e.g. ``keras 3.3.3 -> 3.4.0``."""
    changes = []
    for name in sorted(set(before) | set(after)):
        old, new = before.get(name), after.get(name)
        if old != new:
            changes.append(f"{name} {old or '(none)'} -> {new or '(none)'}")
    return "; ".join(changes) or "nothing"


class Bisector:
    """Runs real probes: a single-cell matrix run per version, or a cell known already."""

    def __init__(self, options: BisectOptions, scenario: Scenario, out: Path, stream: TextIO):
        self.options = options
        self.scenario = scenario
        self.out = out
        self.stream = stream
        self.probes: list[Probe] = []
        self.known = KnownCells(options.known)
        self.budget = 0

    def spec(self, version: str) -> str:
        package = self.options.package if self.options.by_date else f"{self.options.package}=={version}"
        items = [package, *self.options.with_]
        if self.options.backend != "tensorflow":
            items.append(f"backend={self.options.backend}")
        return ",".join(items)

    def exclude_newer(self, version: str) -> str | None:
        """With ``--by-date`` a probe resolves everything as the index stood at the end of that day."""
        return f"{version}T23:59:59Z" if self.options.by_date else None

    def probe(self, version: str) -> str | None:
        started = time.monotonic()
        spec_text = self.spec(version)
        pairing = resolve_pairing(parse_pairing(spec_text), self.exclude_newer(version))
        found = None
        packages: dict[str, str] = {}
        if pairing.resolve_error is None:
            try:
                env = ensure_env(pairing, self.options.envs_dir or default_envs_dir(), self.exclude_newer(version))
                packages = env.packages
                found = self.known.lookup(self.scenario.sha256, self.options.backend, env.python, env.packages)
            except InstallError:
                found = None
        if found is not None:
            cell, source = found
            probe = Probe(version, None if cell["verdict"] in SKIP_VERDICTS else cell["verdict"], cell["verdict"],
                          round(time.monotonic() - started, 2), cell.get("reason", ""), cell.get("exception_type"),
                          cell.get("message"), reused_from=source, packages=packages)
        else:
            run_dir = self.out / "probes" / f"{self.options.package}-{version}"
            results, _ = run_matrix(MatrixOptions(
                scenario_dirs=[self.scenario.path.parent] if not self.options.scenario_dirs else self.options.scenario_dirs,
                pairings=[spec_text], only=[self.scenario.id], out=run_dir, timeout=self.options.timeout,
                envs_dir=self.options.envs_dir, cross="same", exclude_newer=self.exclude_newer(version),
                command=["python", "-m", "harness", "matrix", "--pairing", spec_text, "--only", self.scenario.id],
            ), io.StringIO())
            render_all(results, run_dir)
            if not results.run.complete or len(results.cells) != 1:
                raise KeyboardInterrupt  # the probe was stopped: so is the bisect
            [ran] = results.cells
            record = results.pairings[0]
            self.known.add(results, str(run_dir))
            probe = Probe(version, None if ran.verdict in SKIP_VERDICTS else ran.verdict, ran.verdict,
                          round(time.monotonic() - started, 2), ran.reason, ran.exception_type, ran.message,
                          run_dir=str(run_dir.relative_to(self.out)), packages=dict(record.packages))
        self.probes.append(probe)
        shown = probe.raw_verdict if probe.verdict else f"{probe.raw_verdict}, skipped"
        how = f"known from {probe.reused_from}" if probe.reused_from else f"{probe.seconds:.1f} s"
        self.stream.write(f"probe {len(self.probes)} (at most {self.budget} without skips): "
                          f"{self.label(version)} -> {shown} ({how})\n")
        self.stream.flush()
        return probe.verdict


    def label(self, version: str) -> str:
        if self.options.by_date:
            return f"{self.options.package} as of {version}"
        return f"{self.options.package}=={version}"


class KnownCells:
    """Cells of earlier runs, found by scenario text, backend, Python and installed versions.

    Each folder may be a run folder (holding ``results.json``) or a folder of run folders.
    """

    def __init__(self, folders: Sequence[Path]):
        self._cells: dict[tuple[Any, ...], tuple[dict[str, Any], str]] = {}
        for folder in folders:
            # a run folder itself, or a folder of runs (reports/runs/), bisect folders' probes included
            patterns = ("results.json", "probes/*/results.json", "*/results.json", "*/probes/*/results.json")
            for path in [found for pattern in patterns for found in sorted(folder.glob(pattern))]:
                try:
                    self.add(read_results(path), str(path.parent))
                except BadInput:
                    continue  # an unreadable earlier run is simply not reused

    def add(self, results: Results, source: str) -> None:
        scenarios = {s.id: s.sha256 for s in results.scenarios}
        pairings = {p.id: p for p in results.pairings}
        for cell in results.cells:
            pairing = pairings.get(cell.pairing)
            if pairing is None or not pairing.packages or cell.saved_with not in (None, cell.pairing):
                continue
            if cell.verdict == "interrupted":
                continue
            key = (scenarios.get(cell.scenario), pairing.backend, pairing.python, tuple(sorted(pairing.packages.items())))
            self._cells.setdefault(key, (asdict(cell), source))

    def lookup(self, sha256: str, backend: str, python: str, packages: dict[str, str]) -> tuple[dict[str, Any], str] | None:
        return self._cells.get((sha256, backend, python, tuple(sorted(packages.items()))))


def answer_line(options: BisectOptions, transition: Transition, candidates: int) -> str:
    """The last line of a bisect: what was found, in one sentence."""

    def at(version: str | None) -> str:
        return f"{options.package} as of {version}" if options.by_date else f"{options.package}=={version}"

    probes = len(transition.probed)
    tail = f"{probes} probes of {candidates} candidates"
    if transition.status == "found":
        return f"first new: {at(transition.first_new)} (last old: {at(transition.last_old)}; {tail})"
    if transition.status == "range":
        return (f"first new: between {at(transition.last_old)} (last old) and {at(transition.first_new)} "
                f"(first new); {len(transition.skipped_between)} versions between could not be probed; {tail}")
    if transition.status == "same":
        return f"no transition: {at(options.old)} and {at(options.new)} both give {transition.old_verdict}; {tail}"
    return (f"no answer: an end could not be probed ({at(options.old)}: {transition.old_verdict or 'skipped'}, "
            f"{at(options.new)}: {transition.new_verdict or 'skipped'}); {tail}")


def run_bisect(options: BisectOptions, stream: TextIO) -> tuple[int, Path]:
    """Bisect for real; returns the exit status (0: a transition was found) and the output folder."""
    _check(options)
    dirs = options.scenario_dirs or [Path(__file__).resolve().parent.parent / "scenarios"]
    [scenario] = load_scenarios(dirs, only=[options.scenario])
    if scenario.kind != "run":
        raise BadInput(f"{options.scenario} is a cross-version scenario; bisect takes single-env scenarios (run).")
    candidates = candidate_dates(options) if options.by_date else candidate_versions(options)
    out = options.out or _default_out(options)
    if out.exists() and (out.is_symlink() or not out.is_dir() or any(out.iterdir())):
        raise BadInput(f"The output folder {str(out)!r} is not empty; choose another --out.")
    out.mkdir(parents=True, exist_ok=True)
    runs = Path(__file__).resolve().parent.parent / "reports" / "runs"
    options.known = [runs, *options.known]
    bisector = Bisector(options, scenario, out, stream)
    bisector.budget = probe_budget(len(candidates))
    what = "days" if options.by_date else f"releases of {options.package}"
    stream.write(f"bisecting {scenario.id} over {len(candidates)} {what} ({candidates[0]} … {candidates[-1]}) into {out}\n")
    started = time.monotonic()
    transition = find_transition(candidates, bisector.probe)
    line = answer_line(options, transition, len(candidates))
    change = ""
    if options.by_date and transition.status in ("found", "range"):
        packages = {p.version: p.packages for p in bisector.probes}
        change = resolution_change(packages.get(transition.last_old or "", {}), packages.get(transition.first_new or "", {}))
        stream.write(f"the resolution changed between them: {change}\n")
    report = {
        "schema": BISECT_SCHEMA,
        "kind": "bisect",
        "scenario": {"id": scenario.id, "title": scenario.title, "path": str(scenario.path), "sha256": scenario.sha256,
                     "signature": scenario.signature, "links": list(scenario.links)},
        "package": options.package,
        "old": options.old,
        "new": options.new,
        "with": list(options.with_),
        "backend": options.backend,
        "candidates": candidates,
        "probes": [asdict(p) for p in bisector.probes],
        "by_date": options.by_date,
        "answer": {**asdict(transition), "text": line, "resolution_change": change},
        "seconds": round(time.monotonic() - started, 2),
    }
    write_json_atomic(out / "bisect.json", report)
    render_page("bisect.html.j2", out, report=report, title=f"Bisect: {scenario.title}")
    stream.write(f"report: {out / 'index.html'}\n")
    stream.write(line + "\n")
    return (0 if transition.status in ("found", "range") else 1), out


def _check(options: BisectOptions) -> None:
    if options.index_url is not None and not options.index_url.startswith(("http://", "https://", "file://")):
        raise BadInput(f"--index-url {options.index_url!r} is not an http(s) or file URL.")
    try:
        Requirement(options.package)
    except InvalidRequirement:
        raise BadInput(f"--package {options.package!r} is not a package name.") from None
    if options.backend not in BACKENDS:
        raise BadInput(f"--backend {options.backend!r} is not one of {', '.join(BACKENDS)}.")
    for item in options.with_:
        try:
            requirement = Requirement(item)
        except InvalidRequirement:
            raise BadInput(f"--with {item!r} is not a requirement such as tensorflow==2.16.1.") from None
        if canonicalize_name(requirement.name) == canonicalize_name(options.package):
            raise BadInput(f"--with {item!r} names the bisected package itself.")


def _default_out(options: BisectOptions) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    return Path(__file__).resolve().parent.parent / "reports" / "runs" / f"bisect-{options.scenario}-{options.package}-{stamp}"
