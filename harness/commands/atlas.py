"""``atlas``: every release of a package in a range as a pairing of one matrix run, every scenario
on each, and a timeline per scenario with every place its verdict changes.

The releases are a bisect's candidates (:func:`harness.envs.releases.candidate_versions`:
yanked never, pre-releases with ``--pre``, ``Requires-Python`` respected); each becomes the pairing
``<package>==<version>`` with the ``--with`` requirements and the backend. The run is an ordinary
matrix run (:func:`harness.commands.common.nested_run`) whose folder is the atlas folder itself,
so its cells are found by a later bisect like any run's (``--known ATLAS_DIR``, or with no option
when the atlas is under the default runs folder): every probe runs in the same isolation as a
bisect's and under the same time limit, so a bisect over the same range makes no probe of its own.

The atlas folder holds the run's usual files (``results.json``, ``index.html``, …) and
``atlas.json`` (:func:`harness.evidence.atlas.atlas_record`), ``atlas.md`` and ``atlas.html``.
Exit status: 0 when the run completed, 2 for bad input, 130 when interrupted (the run's finished
cells are kept in the folder).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from harness.commands.bisect import ISOLATION, check_release_options, use_index
from harness.commands.common import add_scenario_dirs, envs_dir_help, nested_run, options_from_args, positive_float, positive_int
from harness.envs.releases import ReleaseRange, candidate_versions
from harness.evidence.atlas import atlas_record, build_atlas
from harness.evidence.codec import write_json_atomic
from harness.paths import SCENARIOS, check_output_folder, new_output_folder
from harness.plan.scenarios import load_scenarios
from harness.report.atlas import render_atlas, summary_lines
from harness.run.options import DEFAULT_TIMEOUT_S, MatrixOptions

NAME = "atlas"
HELP = "every release of a package in a range, every scenario on each: a timeline per scenario"
ATLAS_FILE = "atlas.json"
#: The cross-version modes an atlas takes: each release's own save only, or also the previous release's.
ATLAS_CROSS = ("same", "adjacent")


@dataclass
class AtlasOptions:
    package: str
    old: str
    new: str
    with_: list[str] = field(default_factory=list)
    backend: str = "tensorflow"
    scenario_dirs: list[Path] = field(default_factory=list)
    only: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    pre: bool = False
    out: Path | None = None
    timeout: float = DEFAULT_TIMEOUT_S
    jobs: int = 1
    envs_dir: Path | None = None
    index_url: str | None = None
    find_links: Path | None = None
    cross: str = "same"


def release_spec(options: AtlasOptions, version: str) -> str:
    """The pairing of one release: ``<package>==<version>``, the ``--with`` pins, the backend."""
    items = [f"{options.package}=={version}", *options.with_]
    if options.backend != "tensorflow":
        items.append(f"backend={options.backend}")
    return ",".join(items)


def run_atlas(options: AtlasOptions, stream: TextIO) -> Path:
    """Run the atlas; returns its folder. Bad input is refused before anything is installed."""
    check_release_options(options.package, options.backend, options.with_, options.index_url, role="package of the atlas")
    dirs = options.scenario_dirs or [SCENARIOS]
    load_scenarios(dirs, options.only, options.tags)  # a selection that holds nothing stops here, before any install

    def note(text: str) -> None:
        stream.write(text + "\n")
        stream.flush()

    asked = ReleaseRange(options.package, options.old, options.new, tuple(options.with_), options.pre,
                         options.index_url, options.find_links)
    versions = candidate_versions(asked, note)
    out = (options.out or new_output_folder(f"atlas-{options.package}-")).absolute()
    check_output_folder(out)
    releases = [(version, release_spec(options, version)) for version in versions]
    specs = [spec for _, spec in releases]
    note(f"atlas of {options.package} over {len(versions)} releases ({versions[0]} … {versions[-1]}) into {out}")
    command = ["python", "-m", "harness", "matrix", *(f"--pairing={spec}" for spec in specs), "--cross", options.cross,
               *(f"--only={i}" for i in options.only), *(f"--tag={t}" for t in options.tags)]
    results = nested_run(MatrixOptions(
        scenario_dirs=dirs, pairings=specs, only=list(options.only), tags=list(options.tags), out=out,
        timeout=options.timeout, jobs=options.jobs, envs_dir=options.envs_dir, isolation=ISOLATION, cross=options.cross,
        command=command,
    ), stream, what="the atlas's run")
    atlas = build_atlas(results, releases, options.package, options.old, options.new, options.with_, options.backend)
    write_json_atomic(out / ATLAS_FILE, atlas_record(atlas))
    written = render_atlas(atlas, out, title=f"Release atlas: {options.package} {options.old} … {options.new}")
    stream.write("\ntransitions:\n")
    for line in summary_lines(atlas):
        stream.write(f"  {line}\n")
    stream.write(f"results: {out / 'results.json'}\n")
    for path in [out / "index.html", out / ATLAS_FILE, *written]:
        stream.write(f"report: {path}\n")
    stream.flush()
    return out


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--package", required=True, metavar="NAME", help="the package whose releases are run, e.g. keras")
    parser.add_argument("--old", required=True, metavar="VERSION", help="the oldest release to run")
    parser.add_argument("--new", required=True, metavar="VERSION", help="the newest release to run")
    parser.add_argument("--with", dest="with_", action="append", default=[], metavar="REQ",
                        help="a partner pin for every release, e.g. tensorflow==2.16.1 (repeatable)")
    parser.add_argument("--backend", default="tensorflow", metavar="NAME", help="KERAS_BACKEND for every release")
    add_scenario_dirs(parser)
    parser.add_argument("--only", action="append", default=[], metavar="ID", help="run only this scenario (repeatable)")
    parser.add_argument("--tag", dest="tags", action="append", default=[], metavar="TAG",
                        help="run only scenarios with this tag (repeatable)")
    parser.add_argument("--pre", action="store_true", help="include pre-releases")
    parser.add_argument("--out", type=Path, metavar="DIR", help="output folder (default: reports/runs/atlas-<package>-<time>)")
    parser.add_argument("--timeout", type=positive_float, metavar="S", help="per-cell time limit in seconds (default 300)")
    parser.add_argument("--jobs", type=positive_int, metavar="N", help="releases run at the same time (default 1)")
    parser.add_argument("--envs-dir", type=Path, metavar="DIR", help=envs_dir_help())
    parser.add_argument("--index-url", metavar="URL", help="a simple index to read releases from and install from (default: uv's)")
    parser.add_argument("--find-links", type=Path, metavar="DIR", help="a folder of wheels instead of an index")
    parser.add_argument("--cross", choices=ATLAS_CROSS,
                        help="cross-version scenarios: each release loads its own save (same, the default), "
                             "or also the previous release's (adjacent)")


def run(args: argparse.Namespace) -> int:
    use_index(args.index_url, args.find_links)
    run_atlas(options_from_args(AtlasOptions, args), sys.stdout)
    return 0
