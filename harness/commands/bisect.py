"""``bisect``: the first released version where a scenario's verdict changes.

The search is :func:`harness.plan.bisection.find_transition`; this module supplies real probes
(:class:`Bisector`): one single-cell matrix run per version, or a cell already known from an
earlier run of the same scenario file with the same installed versions, time limit and
isolation. A probe whose verdict says nothing about the behaviour (install failed, crash,
timeout, outside REQUIRES) is skipped. A version probed again (``--confirm``) always runs afresh.

The candidates are the releases uv would see (:mod:`harness.envs.releases`) that can install
on the env's Python. A probe whose install failed on the network at every try is not skipped: it
stops the bisect with one line (:class:`~harness.errors.InstallNetworkError`), since an answer
resting on it would be the network's, not the scenario's.
"""

from __future__ import annotations

import argparse
import datetime
import os
import re
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TextIO

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from harness.commands.common import add_scenario_dirs, envs_dir_help, nested_run, options_from_args, positive_float, positive_int
from harness.envs.install import Env, ensure_env, network_failed, resolve_or_raise
from harness.envs.package_index import index_source, list_releases
from harness.envs.releases import ReleaseRange, candidate_versions
from harness.envs.retry import Note
from harness.errors import BadInput, InstallError, InstallNetworkError
from harness.evidence.cache import CellCache, cache_enabled
from harness.evidence.codec import write_json_atomic
from harness.evidence.known import KnownCells
from harness.evidence.model import SAYS_NOTHING, Cell, Verdict
from harness.paths import SCENARIOS, check_output_folder, default_envs_dir, new_output_folder, runs_dir
from harness.plan.bisection import Transition, find_transition, probe_budget
from harness.plan.cells import CellKey
from harness.plan.pairings import BACKENDS, parse_pairing
from harness.plan.scenarios import Scenario, load_scenarios
from harness.report.render import render_page
from harness.run.options import DEFAULT_MAX_OUTPUT, MatrixOptions
from harness.run.reuse import lookup_cell, phase_ingredients

NAME = "bisect"
HELP = "the first released version where a scenario's verdict changes"
BISECT_SCHEMA = 1
#: Every probe runs in this isolation (and only cells of runs in it are reused).
ISOLATION = "fork"
#: A project name as PEP 508 spells it: no version, extras or marker.
PROJECT_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?")


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


def _probe(version: str, cell: Cell, started: float, packages: dict[str, str], reused_from: str | None = None,
           run_dir: str | None = None) -> Probe:
    """A probe from the cell that answered it (None as its verdict when the cell says nothing)."""
    return Probe(version, None if cell.verdict in SAYS_NOTHING else cell.verdict, cell.verdict,
                 round(time.monotonic() - started, 2), cell.reason, cell.exception_type, cell.message,
                 reused_from=reused_from, run_dir=run_dir, packages=packages)


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
    confirm: int = 1


def release_range(options: BisectOptions) -> ReleaseRange:
    """The releases a bisect of ``options`` searches (:func:`~harness.envs.releases.candidate_versions`)."""
    return ReleaseRange(options.package, options.old, options.new, tuple(options.with_), options.pre,
                        options.index_url, options.find_links)


def candidate_dates(options: BisectOptions, today: datetime.date | None = None, note: Note | None = None) -> list[str]:
    """Every day from ``old`` to ``new`` (ISO dates), for ``--by-date``.

    Refused (:class:`BadInput`): dates that are not dates, a range that is not forward, a day
    after ``today`` (UTC), and an index that records no upload times for the package (uv's
    ``--exclude-newer`` would then install the newest release on every day).
    """
    try:
        old, new = datetime.date.fromisoformat(options.old), datetime.date.fromisoformat(options.new)
    except ValueError:
        raise BadInput(f"With --by-date, --old and --new are dates such as 2024-06-01, not {options.old!r} and {options.new!r}.") from None
    if not old < new:
        raise BadInput(f"--old {options.old} must be an earlier date than --new {options.new}.")
    today = today or datetime.datetime.now(datetime.timezone.utc).date()
    if new > today:
        raise BadInput(f"--new {options.new} is in the future (today is {today.isoformat()} UTC); "
                       "no index can say yet how it will stand then.")
    releases = list_releases(options.package, options.index_url, options.find_links, note)
    if not any(r.upload_time for r in releases):
        _, where = index_source(options.index_url, options.find_links)
        raise BadInput(f"--by-date needs an index that records upload times, and {where} records none for "
                       f"{options.package}: every day would install the same newest release, so the answer would mean nothing.")
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
        self.cache = CellCache(options.envs_dir or default_envs_dir(), enabled=cache_enabled())
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
        """Probe one version: a known cell (a first probe only) or a single-cell run of its own.

        Raises :class:`InstallNetworkError` (after writing the probe's line) when the version
        could not be installed because the network failed at every try.
        """
        started = time.monotonic()
        spec_text = self.spec(version)
        asked_before = sum(p.version == version for p in self.probes)
        try:
            env = self._env(version, spec_text)
        except InstallNetworkError as exc:
            reason = str(exc).strip().splitlines()[-1]
            self._record(Probe(version, None, Verdict.INSTALL_FAILED.value, round(time.monotonic() - started, 2), reason))
            raise self._stopped(version, reason) from None
        found = None
        if env is not None and not asked_before:  # asked again, it must answer again: a known cell would only repeat itself
            found = self._cached(version, env) or self.known.lookup(
                self.scenario.sha256, self.options.backend, env.python, env.packages, self.options.timeout, ISOLATION)
        if found is not None:
            cell, source = found
            probe = _probe(version, cell, started, dict(env.packages) if env else {}, reused_from=source)
        else:
            probe = self._run_probe(version, spec_text, asked_before, started)
        self._record(probe)
        if probe.raw_verdict == Verdict.INSTALL_FAILED.value and network_failed(probe.reason):
            raise self._stopped(version, probe.reason)
        return probe.verdict

    def _cached(self, version: str, env: Env) -> tuple[Cell, str] | None:
        """The probe's cell from the cell cache (what a matrix, an atlas or an earlier bisect ran
        in this very env, under the same limits), and where it was measured."""
        ingredients = phase_ingredients("run", self.scenario, self.options.backend, env, self.options.timeout, ISOLATION,
                                        DEFAULT_MAX_OUTPUT)
        if ingredients is None:
            return None
        cell = lookup_cell(self.cache, CellKey(self.scenario.id, None, env.key), ingredients, self.scenario.signature)
        return None if cell is None or cell.reused_from is None else (cell, cell.reused_from)

    def _env(self, version: str, spec_text: str) -> Env | None:
        """The probe's env, installed now or reused; None when it cannot be installed (the probe's
        own run then records why). Each network retry is written as a line of its own."""
        note = _line_writer(self.stream, f"  {self.label(version)}: ")
        try:
            pairing = resolve_or_raise(parse_pairing(spec_text), self.exclude_newer(version), note)
            return ensure_env(pairing, self.options.envs_dir or default_envs_dir(), self.exclude_newer(version), note)
        except InstallNetworkError:
            raise
        except InstallError:
            return None

    def _run_probe(self, version: str, spec_text: str, asked_before: int, started: float) -> Probe:
        """A single-cell matrix run of ``version`` in a probe folder of its own."""
        again = f"-{asked_before + 1}" if asked_before else ""
        run_dir = self.out / "probes" / f"{self.options.package}-{version}{again}"
        results = nested_run(MatrixOptions(
            scenario_dirs=[self.scenario.path.parent] if not self.options.scenario_dirs else self.options.scenario_dirs,
            pairings=[spec_text], only=[self.scenario.id], out=run_dir, timeout=self.options.timeout,
            envs_dir=self.options.envs_dir, isolation=ISOLATION, cross="same", exclude_newer=self.exclude_newer(version),
            command=["python", "-m", "harness", "matrix", "--pairing", spec_text, "--only", self.scenario.id],
        ), what=f"the probe of {self.label(version)}")
        if len(results.cells) != 1:
            raise BadInput(f"The probe of {self.label(version)} ran {len(results.cells)} cells instead of one.")
        [ran] = results.cells
        self.known.add(results, str(run_dir))
        return _probe(version, ran, started, dict(results.pairings[0].packages), run_dir=str(run_dir.relative_to(self.out)))

    def _record(self, probe: Probe) -> None:
        """Keep a probe and write its line."""
        self.probes.append(probe)
        if probe.verdict:
            shown = probe.raw_verdict
        elif network_failed(probe.reason):
            shown = f"{probe.raw_verdict}: {probe.reason}; stopping"
        else:
            shown = f"{probe.raw_verdict}, skipped"
        how = f"known from {probe.reused_from}" if probe.reused_from else f"{probe.seconds:.1f} s"
        self.stream.write(f"probe {len(self.probes)} (at most {self.budget} without skips): "
                          f"{self.label(probe.version)} -> {shown} ({how})\n")
        self.stream.flush()

    def _stopped(self, version: str, reason: str) -> InstallNetworkError:
        """The one-line error that ends a bisect at a version the network kept from installing."""
        return InstallNetworkError(
            f"bisect stopped: {self.label(version)} could not be installed: {reason}; that says nothing about "
            f"{self.scenario.id}, so no answer is given. Run the same bisect again (with a new --out, and "
            f"--known {self.out} to reuse the probes made so far).")

    def label(self, version: str) -> str:
        if self.options.by_date:
            return f"{self.options.package} as of {version}"
        return f"{self.options.package}=={version}"


def _line_writer(stream: TextIO, prefix: str = "") -> Note:
    """A note that writes each message as a line of ``stream``, after ``prefix``."""

    def write(text: str) -> None:
        stream.write(f"{prefix}{text}\n")
        stream.flush()

    return write


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
    if transition.status == "unstable":
        said = "; ".join(f"{at(version)}: {', '.join(v or 'skipped' for v in answers)}" for version, answers in transition.unstable)
        return (f"unstable: the answer did not hold up when probed again ({said}); the scenario's verdict varies "
                f"from run to run, so no release is named; {tail}")
    if transition.status == "same":
        hidden = "".join(f", but {at(version)} gives {verdict}" for version, verdict in transition.inside)
        if hidden:
            hidden += ": a change may be hidden inside the range"
        return f"no transition: {at(options.old)} and {at(options.new)} both give {transition.old_verdict}{hidden}; {tail}"
    return (f"no answer: an end could not be probed ({at(options.old)}: {transition.old_verdict or 'skipped'}, "
            f"{at(options.new)}: {transition.new_verdict or 'skipped'}); {tail}")


def run_bisect(options: BisectOptions, stream: TextIO) -> tuple[int, Path]:
    """Bisect for real; returns the exit status (0: a transition was found) and the output folder."""
    _check(options)
    dirs = options.scenario_dirs or [SCENARIOS]
    [scenario] = load_scenarios(dirs, only=[options.scenario])
    if scenario.kind != "run":
        raise BadInput(f"{options.scenario} is a cross-version scenario; bisect takes single-env scenarios (run).")
    note = _line_writer(stream)
    candidates = candidate_dates(options, note=note) if options.by_date else candidate_versions(release_range(options), note)
    out = options.out or new_output_folder(f"bisect-{options.scenario}-{options.package}-")
    check_output_folder(out)
    out.mkdir(parents=True, exist_ok=True)
    options.known = [runs_dir(), *options.known]
    bisector = Bisector(options, scenario, out, stream)
    bisector.budget = probe_budget(len(candidates), options.confirm)
    what = "days" if options.by_date else f"releases of {options.package}"
    stream.write(f"bisecting {scenario.id} over {len(candidates)} {what} ({candidates[0]} … {candidates[-1]}) into {out}\n")
    started = time.monotonic()
    transition = find_transition(candidates, bisector.probe, options.confirm)
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
        "confirm": options.confirm,
        "answer": {**asdict(transition), "text": line, "resolution_change": change},
        "seconds": round(time.monotonic() - started, 2),
    }
    write_json_atomic(out / "bisect.json", report)
    render_page("bisect.html.j2", out, report=report, title=f"Bisect: {scenario.title}")
    stream.write(f"report: {out / 'index.html'}\n")
    stream.write(line + "\n")
    return (0 if transition.status in ("found", "range") else 1), out


def _check(options: BisectOptions) -> None:
    check_release_options(options.package, options.backend, options.with_, options.index_url)


def check_release_options(package: str, backend: str, with_: list[str], index_url: str | None,
                          role: str = "bisected package") -> None:
    """Refuse (:class:`BadInput`) what a command over a package's releases (bisect, atlas) cannot
    take: an index that is no URL, a package that is not a bare name, an unknown backend, a
    ``--with`` that is no requirement or names the package itself (the ``role`` it has there)."""
    if index_url is not None and not index_url.startswith(("http://", "https://", "file://")):
        raise BadInput(f"--index-url {index_url!r} is not an http(s) or file URL.")
    if not PROJECT_NAME.fullmatch(package):
        raise BadInput(f"--package {package!r} is not a bare project name such as keras "
                       "(no version, extras or marker: the versions are --old and --new).")
    if backend not in BACKENDS:
        raise BadInput(f"--backend {backend!r} is not one of {', '.join(BACKENDS)}.")
    for item in with_:
        try:
            requirement = Requirement(item)
        except InvalidRequirement:
            raise BadInput(f"--with {item!r} is not a requirement such as tensorflow==2.16.1.") from None
        if canonicalize_name(requirement.name) == canonicalize_name(package):
            raise BadInput(f"--with {item!r} names the {role} itself.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--scenario", required=True, metavar="ID", help="the scenario to probe")
    parser.add_argument("--package", required=True, metavar="NAME", help="the package whose releases are searched, e.g. keras")
    parser.add_argument("--old", required=True, metavar="VERSION", help="the oldest release to consider")
    parser.add_argument("--new", required=True, metavar="VERSION", help="the newest release to consider")
    parser.add_argument("--with", dest="with_", action="append", default=[], metavar="REQ",
                        help="a partner pin for every probe, e.g. tensorflow==2.16.1 (repeatable)")
    parser.add_argument("--backend", default="tensorflow", metavar="NAME", help="KERAS_BACKEND for every probe")
    add_scenario_dirs(parser)
    parser.add_argument("--pre", action="store_true", help="include pre-releases among the candidates")
    parser.add_argument("--out", type=Path, metavar="DIR", help="output folder (default: reports/runs/bisect-<scenario>-<package>-<time>)")
    parser.add_argument("--timeout", type=positive_float, default=300.0, metavar="S", help="per-probe time limit")
    parser.add_argument("--envs-dir", type=Path, metavar="DIR", help=envs_dir_help())
    parser.add_argument("--index-url", metavar="URL", help="a simple index to read releases from and install from (default: uv's)")
    parser.add_argument("--find-links", type=Path, metavar="DIR", help="a folder of wheels instead of an index")
    parser.add_argument("--known", action="append", type=Path, default=[], metavar="DIR",
                        help="more folders of earlier runs whose cells may be reused")
    parser.add_argument("--confirm", type=positive_int, default=1, metavar="N",
                        help="answers each version around the transition must give alike (default 1: probe once)")
    parser.add_argument("--by-date", action="store_true",
                        help="search days instead of releases: --old/--new are dates; each probe resolves everything as of that day")


def use_index(index_url: str | None, find_links: Path | None) -> None:
    """Make every install of this process (uv) read ``--index-url`` or ``--find-links``."""
    if index_url:
        os.environ["UV_DEFAULT_INDEX"] = index_url
    if find_links:
        os.environ["UV_FIND_LINKS"] = str(find_links.resolve())
        os.environ["UV_NO_INDEX"] = "1"


def run(args: argparse.Namespace) -> int:
    use_index(args.index_url, args.find_links)
    status, _ = run_bisect(options_from_args(BisectOptions, args), sys.stdout)
    return status
