"""The bench's cache and scale figures, each run a ``python -m harness matrix`` child process so
that its wall time includes the report and its memory is the child's own.

Cache figures (:func:`bench_cache`): (a) the matrix run again with nothing changed (every cell
from the cell cache) against the same run with ``--fresh``; (b) a run with one scenario more than
a cached run, whose extra wall time is compared with what it cannot avoid: the added scenario's
own cells plus one framework import per env.

Scale figures (:func:`bench_scale`, ``bench --scale``): 3, 10 and 40 pairings of keras releases
with ``tensorflow==2.16.1`` (warm envs), a small fixed set of scenarios, ``--fresh``. Per scale:
wall time, its floor (one import per env + the cells' own time), wall / floor, env set-up, the
harness's overhead per cell, peak memory of the process tree and the run folder's bytes on disk.
Every conclusion is a ratio; the figures are computed by pure functions (:func:`scale_figures`,
:func:`disk_bytes`) so they can be checked on synthetic inputs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence, TextIO

from harness.envs.install import ensure_env, resolve_pairing
from harness.envs.releases import ReleaseRange, candidate_versions
from harness.evidence.cache import cache_enabled
from harness.evidence.codec import read_results
from harness.evidence.model import Results
from harness.paths import SCENARIOS, default_envs_dir
from harness.plan.pairings import parse_pairing
from harness.run.options import MatrixOptions

#: The scales: how many pairings each run has.
SCALES = (3, 10, 40)
#: The scale bench's scenarios unless ``--scale-only`` is given: two cheap single-env ones.
SCALE_SCENARIOS = ("layernorm_rms_scaling_keras_roundtrip", "normalization_adapted_legacy_h5_load_model")
#: The releases paired with :data:`SCALE_PARTNER`: read from the index, else this list.
SCALE_PACKAGE, SCALE_OLD, SCALE_NEW, SCALE_PARTNER = "keras", "3.0.0", "3.15.1", "tensorflow==2.16.1"
KERAS_RELEASES = (
    "3.0.0 3.0.1 3.0.2 3.0.3 3.0.4 3.0.5 3.1.0 3.1.1 3.2.0 3.2.1 3.3.0 3.3.1 3.3.2 3.3.3 3.4.0 3.4.1 3.5.0 3.6.0 "
    "3.7.0 3.8.0 3.9.0 3.9.1 3.9.2 3.10.0 3.11.0 3.11.1 3.11.2 3.11.3 3.12.0 3.12.1 3.12.2 3.12.3 3.12.4 3.13.0 "
    "3.13.1 3.13.2 3.14.0 3.14.1 3.15.0 3.15.1"
).split()
#: The scale whose run is also made with ``--jobs 2``, for the ratio against ``--jobs 1``.
JOBS_SCALE = 10
#: The scenario the cache bench adds to a copy of the scenarios folder (cheap: no framework call).
ADDED_SCENARIO = "bench_added_scenario"
ADDED_SCENARIO_TEXT = '''"""Bench: one scenario added to a cached run.

Adds two numbers; the bench measures what one added scenario costs a run whose other cells are cached.
"""
{tags}

def run(workdir):
    assert 1 + 1 == 2
'''


@dataclass(frozen=True)
class ChildRun:
    """One child command: its wall time, exit status, the largest resident set of any process of
    its tree (``ru_maxrss``) and the largest sum of resident sets of the tree seen by sampling."""

    wall_s: float
    returncode: int
    max_rss_bytes: int
    tree_peak_bytes: int


@dataclass(frozen=True)
class ScaleFigures:
    """The figures of one run. ``floor_s`` = ``imports_s`` + ``scenario_s``; ``overhead_per_cell_s``
    = (wall − floor − env set-up) / cells; ``ratio`` = wall / floor (NaN without a floor)."""

    pairings: int
    cells: int
    wall_s: float
    imports_s: float
    scenario_s: float
    floor_s: float
    ratio: float
    setup_s: float
    setup_per_env_s: float
    envs_reused: int
    import_mean_s: float
    overhead_per_cell_s: float
    max_rss_bytes: int
    tree_peak_bytes: int
    disk_bytes: int


def scenario_seconds(results: Results, scenarios: Sequence[str] | None = None) -> float:
    """The cells' own time (every phase: a cross-version cell's save counted once, in its saving
    pairing's own cell), of every scenario or only of ``scenarios``; reused cells count nothing."""
    chosen = [c for c in results.cells if c.reused_from is None and (scenarios is None or c.scenario in scenarios)]
    return sum(c.duration_s for c in chosen) + sum(
        c.save.duration_s for c in chosen if c.save is not None and c.saved_with == c.pairing
    )


def import_seconds(results: Results) -> float:
    """One framework import per env: the pairings' ``import_s`` (None: the env imported nothing)."""
    return sum(p.import_s or 0.0 for p in results.pairings)


def scale_figures(results: Results, run: ChildRun, disk: int) -> ScaleFigures:
    """The figures of one finished run from its results, its child command and its folder's size."""
    imports = import_seconds(results)
    scenario = scenario_seconds(results)
    floor = imports + scenario
    setup = sum(p.install_s or 0.0 for p in results.pairings)
    pairings = len(results.pairings)
    cells = len(results.cells)
    imported = [p.import_s for p in results.pairings if p.import_s is not None]
    return ScaleFigures(
        pairings=pairings, cells=cells, wall_s=run.wall_s, imports_s=imports, scenario_s=scenario, floor_s=floor,
        ratio=run.wall_s / floor if floor > 0 else float("nan"),
        setup_s=setup, setup_per_env_s=setup / pairings if pairings else 0.0,
        envs_reused=sum(1 for p in results.pairings if p.env_reused),
        import_mean_s=sum(imported) / len(imported) if imported else 0.0,
        overhead_per_cell_s=(run.wall_s - floor - setup) / cells if cells else float("nan"),
        max_rss_bytes=run.max_rss_bytes, tree_peak_bytes=run.tree_peak_bytes, disk_bytes=disk,
    )


def disk_bytes(folder: Path) -> int:
    """Bytes on disk under ``folder`` (allocated blocks, ``st_blocks`` × 512), every file and folder
    counted once however many hard links it has; symbolic links are not followed."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for root, dirs, files in os.walk(folder, followlinks=False):
        for name in [*dirs, *files, None]:
            path = root if name is None else os.path.join(root, name)
            try:
                info = os.lstat(path)
            except OSError:
                continue
            key = (info.st_dev, info.st_ino)
            if key not in seen:
                seen.add(key)
                total += info.st_blocks * 512
    return total


def _tree_rss(root: int) -> int:
    """The sum of resident sets of ``root`` and its descendants, read from /proc (0 without it)."""
    parents: dict[int, int] = {}
    rss: dict[int, int] = {}
    page = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
    try:
        names = os.listdir("/proc")
    except OSError:
        return 0
    for name in names:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as handle:
                fields = handle.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue
        parents[int(name)] = int(fields[1])
        rss[int(name)] = int(fields[21]) * page
    tree, frontier = {root}, [root]
    while frontier:
        parent = frontier.pop()
        for pid, ppid in parents.items():
            if ppid == parent and pid not in tree:
                tree.add(pid)
                frontier.append(pid)
    return sum(rss.get(pid, 0) for pid in tree)


def run_child(argv: Sequence[str], env: dict[str, str] | None = None, sample_s: float = 0.5) -> ChildRun:
    """Run ``argv`` (its output discarded), timing it and watching its process tree's memory."""
    started = time.monotonic()
    child = subprocess.Popen(list(argv), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    peak = [0]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(sample_s):
            peak[0] = max(peak[0], _tree_rss(child.pid))

    watcher = threading.Thread(target=sample, daemon=True)
    watcher.start()
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.monotonic() - started
    done.set()
    watcher.join()
    child.returncode = os.waitstatus_to_exitcode(status)
    return ChildRun(wall_s=wall, returncode=child.returncode, max_rss_bytes=usage.ru_maxrss * 1024, tree_peak_bytes=peak[0])


def matrix_argv(options: MatrixOptions, out: Path, scenario_dirs: Sequence[Path] | None = None,
                pairings: Sequence[str] | None = None, only: Sequence[str] | None = None,
                fresh: bool = False, jobs: int | None = None) -> list[str]:
    """The ``matrix`` command of one bench run: ``options``' selection unless given here."""
    argv = [sys.executable, "-m", "harness", "matrix", "--out", str(out)]
    argv += [f"--scenarios={d}" for d in (scenario_dirs if scenario_dirs is not None else options.scenario_dirs)]
    argv += [f"--pairing={p}" for p in (pairings if pairings is not None else options.pairings)]
    argv += [f"--only={i}" for i in (only if only is not None else options.only)]
    argv += [f"--tag={t}" for t in options.tags]
    argv += [f"--jobs={jobs or options.jobs}", f"--timeout={options.timeout}"]
    if options.envs_dir is not None:
        argv.append(f"--envs-dir={options.envs_dir}")
    if fresh:
        argv.append("--fresh")
    return argv


def _checked(run: ChildRun, what: str, out: Path) -> ChildRun:
    # exit 1 is a finished run with failing cells; anything else means it did not finish
    if run.returncode not in (0, 1) or not (out / "results.json").is_file():
        raise RuntimeError(f"the bench's {what} exited with status {run.returncode}; see {out}")
    return run


def ratio(part: float, whole: float) -> float:
    return part / whole if whole > 0 else float("nan")


def bench_cache(options: MatrixOptions, root: Path, stream: TextIO) -> None:
    """The cache figures: (a) a warm rerun against ``--fresh``; (b) one added scenario's extra
    wall time against its own cells plus one import per env. Runs are folders under ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    if not cache_enabled():
        stream.write("\ncell cache figures: not measured, $HARNESS_CACHE is off\n")
        return
    _checked(run_child(matrix_argv(options, root / "cache-fill")), "cache filling run", root / "cache-fill")
    warm = _checked(run_child(matrix_argv(options, root / "cache-warm")), "warm run", root / "cache-warm")
    fresh = _checked(run_child(matrix_argv(options, root / "cache-fresh", fresh=True)), "fresh run", root / "cache-fresh")
    warm_results = read_results(root / "cache-warm" / "results.json")
    reused = sum(1 for c in warm_results.cells if c.reused_from is not None)
    skipped = sum(1 for c in warm_results.cells if c.reused_from is None and c.verdict == "skipped")
    stream.write(f"\ncell cache: the matrix again, nothing changed ({len(warm_results.cells)} cells: {reused} reused, "
                 f"{skipped} skipped without running; wall time of the whole command, report included)\n")
    stream.write(f"  warm cache                         {warm.wall_s:8.2f} s   (target 5 s)\n")
    stream.write(f"  --fresh                            {fresh.wall_s:8.2f} s\n")
    stream.write(f"  ratio warm / fresh                 {ratio(warm.wall_s, fresh.wall_s):8.3f}\n")

    copy = root / "scenarios-copy"
    for folder in options.scenario_dirs or [SCENARIOS]:
        shutil.copytree(folder, copy, dirs_exist_ok=True)
    only = [*options.only, ADDED_SCENARIO] if options.only else None
    # the copy without the added scenario, cached (its cells are the same as the originals')
    base = _checked(run_child(matrix_argv(options, root / "added-base", scenario_dirs=[copy])), "run of the copy",
                    root / "added-base")
    tags = f"TAGS = {tuple(options.tags)!r}\n" if options.tags else ""  # selected by the same --tag
    (copy / f"{ADDED_SCENARIO}.py").write_text(ADDED_SCENARIO_TEXT.format(tags=tags), encoding="utf-8")
    added = _checked(run_child(matrix_argv(options, root / "added-one", scenario_dirs=[copy], only=only)),
                     "run with the added scenario", root / "added-one")
    results = read_results(root / "added-one" / "results.json")
    extra = added.wall_s - base.wall_s
    own = scenario_seconds(results, [ADDED_SCENARIO])
    imports = import_seconds(results)
    stream.write(f"\ncell cache: one scenario added to a cached run ({len(results.pairings)} envs)\n")
    stream.write(f"  cached run                         {base.wall_s:8.2f} s\n")
    stream.write(f"  with one scenario more             {added.wall_s:8.2f} s\n")
    stream.write(f"  extra wall time                    {extra:8.2f} s\n")
    stream.write(f"  its cells + one import per env     {own + imports:8.2f} s   ({own:.2f} s + {imports:.2f} s)\n")
    stream.write(f"  ratio extra / (cells + imports)    {ratio(extra, own + imports):8.2f}\n")


def scale_pairings(count: int, stream: TextIO) -> list[str]:
    """The first ``count`` keras releases from :data:`SCALE_OLD` on, each with the partner pin:
    read from the index the way an atlas reads them, else :data:`KERAS_RELEASES`."""
    try:
        versions = candidate_versions(ReleaseRange(SCALE_PACKAGE, SCALE_OLD, SCALE_NEW, (SCALE_PARTNER,)))
    except Exception as exc:  # noqa: BLE001 - no index: the fixed list is the same releases
        stream.write(f"  (releases not read from the index: {exc}; using the bench's fixed list)\n")
        versions = list(KERAS_RELEASES)
    return [f"{SCALE_PACKAGE}=={v},{SCALE_PARTNER}" for v in versions[:count]]


def _mb(size: int) -> str:
    return f"{size / 1e6:8.1f} MB"


def write_scale(figures: ScaleFigures, stream: TextIO) -> None:
    stream.write(f"\nscale: {figures.pairings} pairings, {figures.cells} cells (--fresh, warm envs)\n")
    stream.write(f"  wall time                          {figures.wall_s:8.2f} s\n")
    stream.write(f"  floor (imports + cells)            {figures.floor_s:8.2f} s   "
                 f"({figures.imports_s:.2f} s + {figures.scenario_s:.2f} s)\n")
    stream.write(f"  ratio wall / floor                 {figures.ratio:8.2f}\n")
    stream.write(f"  env set-up per env                 {figures.setup_per_env_s:8.2f} s   "
                 f"({figures.envs_reused} of {figures.pairings} reused)\n")
    stream.write(f"  framework import per env (mean)    {figures.import_mean_s:8.2f} s\n")
    stream.write(f"  harness overhead per cell          {figures.overhead_per_cell_s:8.2f} s   "
                 f"(ratio to the mean import {ratio(figures.overhead_per_cell_s, figures.import_mean_s):.2f})\n")
    stream.write(f"  peak memory, largest process       {_mb(figures.max_rss_bytes)}\n")
    stream.write(f"  peak memory, process tree (sum)    {_mb(figures.tree_peak_bytes)}\n")
    stream.write(f"  run folder on disk                 {_mb(figures.disk_bytes)}   "
                 f"({figures.disk_bytes / figures.cells / 1e3 if figures.cells else 0:.0f} kB per cell)\n")


def bench_scale(options: MatrixOptions, scenarios: Sequence[str], root: Path, stream: TextIO,
                scales: Sequence[int] = SCALES, jobs: bool = True) -> list[ScaleFigures]:
    """Run the scale bench into folders under ``root``; returns the figures of each scale."""
    envs_dir = options.envs_dir or default_envs_dir()
    chosen = list(scenarios) or list(SCALE_SCENARIOS)
    stream.write(f"\nscale bench: scenarios {', '.join(chosen)}; envs in {envs_dir}\n")
    everything = scale_pairings(max(scales), stream)
    for spec in everything:  # warm the envs first: the figures are of warm envs
        try:
            ensure_env(resolve_pairing(parse_pairing(spec)), envs_dir)
        except Exception:  # noqa: BLE001 - an env that cannot install is a cell verdict, not a bench failure
            pass
    stream.flush()
    figures: list[ScaleFigures] = []
    by_scale: dict[int, ScaleFigures] = {}
    for count in scales:
        out = root / f"scale-{count}"
        run = _checked(run_child(matrix_argv(options, out, pairings=everything[:count], only=chosen, fresh=True, jobs=1)),
                       f"{count}-pairing run", out)
        by_scale[count] = scale_figures(read_results(out / "results.json"), run, disk_bytes(out))
        figures.append(by_scale[count])
        write_scale(by_scale[count], stream)
        stream.flush()
    if jobs and JOBS_SCALE in by_scale:
        out = root / f"scale-{JOBS_SCALE}-jobs2"
        run = _checked(run_child(matrix_argv(options, out, pairings=everything[:JOBS_SCALE], only=chosen, fresh=True,
                                             jobs=2)), "--jobs 2 run", out)
        two = scale_figures(read_results(out / "results.json"), run, disk_bytes(out))
        one = by_scale[JOBS_SCALE]
        stream.write(f"\nscale: {JOBS_SCALE} pairings with --jobs 2 against --jobs 1\n")
        stream.write(f"  wall time --jobs 2                 {two.wall_s:8.2f} s   (--jobs 1: {one.wall_s:.2f} s)\n")
        stream.write(f"  ratio jobs 2 / jobs 1              {ratio(two.wall_s, one.wall_s):8.2f}\n")
        stream.write(f"  ratio wall / floor at --jobs 2     {two.ratio:8.2f}\n")
    return figures


def scratch_root(kept: Path | None) -> tuple[Path, tempfile.TemporaryDirectory[str] | None]:
    """Where the bench's runs go: ``kept`` (``--out``), else a temporary folder (returned too, to clean up)."""
    if kept is not None:
        return kept, None
    scratch = tempfile.TemporaryDirectory(prefix="harness-bench-")
    return Path(scratch.name), scratch
