"""The command line: ``python -m harness <command> ...``. The only place errors become exit codes.

Exit statuses: 0 the command completed (whatever the verdicts), 1 a question answered "no"
(bisect found no transition, readiness found a regression), 2 bad input (one line on stderr,
no traceback), 130 interrupted (what finished is kept and rendered).

When ``HARNESS_ERROR_FILE`` is set, the one-line error is also written there, so a caller such
as the noxfile can repeat it as its own last line.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Callable, NoReturn, Sequence

from harness.errors import BadInput, HarnessError

if TYPE_CHECKING:
    from harness.matrix import MatrixOptions

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_TIMEOUT_S = 300.0
DEFAULT_SCENARIOS = REPO_ROOT / "scenarios"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise BadInput(f"{self.prog}: {message}.")


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, not {text!r}")
    return value


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0 or value != value or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, not {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="harness", description="Compatibility matrix harness for Keras and TensorFlow.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True

    matrix = commands.add_parser("matrix", help="install every pairing and run every scenario")
    add_run_options(matrix)
    matrix.add_argument("--shard", metavar="K/N", help="run only the K-th of N deterministic slices of the cells (for CI fan-out)")
    matrix.add_argument("--resume", type=Path, metavar="RUN_DIR", help="run only the cells of RUN_DIR that are missing or were interrupted")
    matrix.set_defaults(handler=cmd_matrix)

    report = commands.add_parser("report", help="render index.html, summary.md and junit.xml again from stored results")
    report.add_argument(
        "results",
        nargs="+",
        type=Path,
        metavar="RESULTS",
        help="results.json files or run folders; 'merge DIR1 DIR2 ...' joins shards into one report",
    )
    report.add_argument("--out", type=Path, metavar="DIR", help="write the reports here (default: next to each results.json)")
    report.set_defaults(handler=cmd_report)

    bisect = commands.add_parser("bisect", help="the first released version where a scenario's verdict changes")
    bisect.add_argument("--scenario", required=True, metavar="ID", help="the scenario to probe")
    bisect.add_argument("--package", required=True, metavar="NAME", help="the package whose releases are searched, e.g. keras")
    bisect.add_argument("--old", required=True, metavar="VERSION", help="the oldest release to consider")
    bisect.add_argument("--new", required=True, metavar="VERSION", help="the newest release to consider")
    bisect.add_argument(
        "--with",
        dest="with_",
        action="append",
        default=[],
        metavar="REQ",
        help="a partner pin for every probe, e.g. tensorflow==2.16.1 (repeatable)",
    )
    bisect.add_argument("--backend", default="tensorflow", metavar="NAME", help="KERAS_BACKEND for every probe")
    bisect.add_argument("--scenarios", action="append", type=Path, metavar="DIR", help="scenarios folder (repeatable; default: scenarios/)")
    bisect.add_argument("--pre", action="store_true", help="include pre-releases among the candidates")
    bisect.add_argument("--out", type=Path, metavar="DIR", help="output folder (default: reports/runs/bisect-<scenario>-<package>-<time>)")
    bisect.add_argument("--timeout", type=positive_float, default=300.0, metavar="S", help="per-probe time limit")
    bisect.add_argument("--envs-dir", type=Path, metavar="DIR", help="where envs are kept")
    bisect.add_argument("--index-url", metavar="URL", help="a simple index to read releases from and install from (default: uv's)")
    bisect.add_argument("--find-links", type=Path, metavar="DIR", help="a folder of wheels instead of an index")
    bisect.add_argument(
        "--known", action="append", type=Path, default=[], metavar="DIR", help="more folders of earlier runs whose cells may be reused"
    )
    bisect.add_argument(
        "--by-date",
        action="store_true",
        help="search days instead of releases: --old/--new are dates; each probe resolves everything as of that day",
    )
    bisect.set_defaults(handler=cmd_bisect)

    ready = commands.add_parser("readiness", help="a candidate pairing against a baseline: regressions fail it")
    ready.add_argument("--baseline", required=True, metavar="SPEC", help="the baseline pairing, e.g. keras==3.15.1,tensorflow==2.21.0")
    ready.add_argument(
        "--candidate",
        required=True,
        metavar="SPEC",
        help="the candidate: a release, a pre-release, keras-nightly,tf-nightly or a wheel path",
    )
    ready.add_argument(
        "--baseline-results",
        type=Path,
        metavar="RESULTS",
        help="reuse a stored run (results.json or its folder) instead of running the baseline",
    )
    ready.add_argument("--strict", action="store_true", help="any change, not only a regression, makes the candidate not ready")
    ready.add_argument("--scenarios", action="append", type=Path, metavar="DIR", help="scenarios folder (repeatable; default: scenarios/)")
    ready.add_argument("--only", action="append", default=[], metavar="ID", help="only this scenario (repeatable)")
    ready.add_argument("--tag", action="append", default=[], metavar="TAG", help="only scenarios with this tag (repeatable)")
    ready.add_argument("--out", type=Path, metavar="DIR", help="output folder (default: reports/runs/readiness-<time>)")
    ready.add_argument("--timeout", type=positive_float, default=300.0, metavar="S", help="per-cell time limit")
    ready.add_argument("--jobs", type=positive_int, default=1, metavar="N", help="pairings run at the same time")
    ready.add_argument("--envs-dir", type=Path, metavar="DIR", help="where envs are kept")
    ready.set_defaults(handler=cmd_readiness)

    inspect = commands.add_parser("inspect", help="what is inside a saved model file; with --against, how it maps onto a model")
    inspect.add_argument("file", type=Path, metavar="FILE", help="a .weights.h5, legacy .h5 or .keras file (never modified)")
    inspect.add_argument("--against", metavar="MODULE:FUNCTION", help="a function that builds the target model (run in the pairing's env)")
    inspect.add_argument(
        "--pairing",
        default="keras,tensorflow",
        metavar="SPEC",
        help="the env to build the target model in (default: latest keras + tensorflow)",
    )
    inspect.add_argument(
        "--write-remapped",
        type=Path,
        metavar="OUT.weights.h5",
        help="write a copy of the weights remapped onto the target model, then verify it loads",
    )
    inspect.add_argument(
        "--check", metavar="MODULE:FUNCTION", help="a function taking the loaded model and returning {'expected': ..., 'actual': ...}"
    )
    inspect.add_argument(
        "--max-bytes", type=positive_int, default=512 * 2**20, metavar="N", help="refuse files larger than this (default 512 MiB)"
    )
    inspect.add_argument("--envs-dir", type=Path, metavar="DIR", help="where envs are kept")
    inspect.set_defaults(handler=cmd_inspect)

    bench = commands.add_parser("bench", help="print figures: env creation, matrix wall time vs its floor, report rendering")
    add_run_options(bench)
    bench.add_argument("--no-cold", action="store_true", help="skip the env creation with an empty uv cache (a full download)")
    bench.add_argument("--spawn", action="store_true", help="also run the matrix with a fresh interpreter per cell, for comparison")
    bench.set_defaults(handler=cmd_bench)

    listing = commands.add_parser("list", help="list scenarios and the default pairings")
    listing.add_argument("--scenarios", action="append", type=Path, metavar="DIR", help="scenarios folder (repeatable)")
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    listing.add_argument("--markdown", action="store_true", help="the scenario library as a Markdown table (for README.md)")
    listing.set_defaults(handler=cmd_list)

    return parser


def add_run_options(parser: argparse.ArgumentParser) -> None:
    """The options every command that runs scenarios accepts."""
    parser.add_argument("--scenarios", action="append", type=Path, metavar="DIR", help="scenarios folder (repeatable; default: scenarios/)")
    parser.add_argument("--only", action="append", default=[], metavar="ID", help="run only this scenario (repeatable)")
    parser.add_argument("--tag", action="append", default=[], metavar="TAG", help="run only scenarios with this tag (repeatable)")
    parser.add_argument(
        "--pairing",
        action="append",
        default=[],
        metavar="SPEC",
        help="e.g. keras==3.5.0,tensorflow==2.16.1 (repeatable; replaces the defaults)",
    )
    parser.add_argument("--out", type=Path, metavar="DIR", help="output folder (default: reports/runs/<time>)")
    parser.add_argument("--timeout", type=positive_float, metavar="S", help="per-cell time limit in seconds (default 300)")
    parser.add_argument("--jobs", type=positive_int, default=1, metavar="N", help="pairings run at the same time (default 1)")
    parser.add_argument("--envs-dir", type=Path, metavar="DIR", help="where envs are kept (default: .harness/envs or $HARNESS_ENVS_DIR)")
    parser.add_argument(
        "--isolation",
        choices=("fork", "spawn"),
        help="fork: import once per env (default); spawn: a fresh interpreter per cell",
    )
    parser.add_argument(
        "--cross",
        choices=("all", "same"),
        help="cross-version scenarios: load every pairing's save (all, the default) or only its own (same)",
    )
    parser.add_argument(
        "--load-artifacts",
        action="append",
        default=[],
        type=Path,
        metavar="RUN_DIR",
        help="also load the cross-version saves of an earlier run (repeatable)",
    )


def _matrix_options(args: argparse.Namespace) -> MatrixOptions:
    from harness.matrix import MatrixOptions

    return MatrixOptions(
        scenario_dirs=args.scenarios or [DEFAULT_SCENARIOS],
        pairings=args.pairing,
        only=args.only,
        tags=args.tag,
        out=args.out,
        timeout=args.timeout or DEFAULT_TIMEOUT_S,
        jobs=args.jobs,
        envs_dir=args.envs_dir,
        isolation=args.isolation or "fork",
        cross=args.cross or "all",
        load_artifacts=args.load_artifacts,
        command=["python", "-m", "harness", *sys.argv[1:]],
    )


def cmd_matrix(args: argparse.Namespace) -> int:
    from harness.matrix import parse_shard, resume_matrix, run_matrix
    from harness.render import render_all
    from harness.report import print_summary

    if args.resume is not None:
        run_defining = ("scenarios", "pairing", "only", "tag", "out", "load_artifacts", "shard", "timeout", "isolation", "cross")
        given = [name for name in run_defining if getattr(args, name) not in (None, [])]
        if given:
            flags = ", ".join("--" + name.replace("_", "-") for name in given)
            raise BadInput(f"--resume continues a run with its own options; drop {flags}.")
        results, store = resume_matrix(args.resume, jobs=args.jobs, envs_dir=args.envs_dir)
    else:
        options = _matrix_options(args)
        options.shard = parse_shard(args.shard) if args.shard is not None else None
        results, store = run_matrix(options)
    written = render_all(results, store.root)
    print_summary(results, sys.stdout)
    print(f"results: {store.root / 'results.json'}")
    for path in written:
        print(f"report: {path}")
    if not results.run.complete:
        print("harness: interrupted; the cells that finished are kept and rendered.", file=sys.stderr)
        return 130
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from harness.merge import load_run, merge_folders
    from harness.render import render_all
    from harness.report import print_summary
    from harness.results import write_results

    if args.results and str(args.results[0]) == "merge":
        folders = args.results[1:]
        if not folders:
            raise BadInput("report merge needs the run folders (or results.json files) of the shards.")
        merged, missing = merge_folders(folders)
        out = args.out or REPO_ROOT / "reports" / "runs" / f"merged-{merged.run.id}"
        if out.exists() and (out.is_symlink() or not out.is_dir() or any(out.iterdir())):
            raise BadInput(f"The output folder {str(out)!r} is not an empty folder; choose another --out.")
        out.mkdir(parents=True, exist_ok=True)
        write_results(out / "results.json", merged)
        print_summary(merged, sys.stdout)
        print(f"merged {len(folders)} parts: {len(merged.cells)} cells, {len(missing)} missing")
        for scenario, pairing, saved_with in missing[:20]:
            print(f"missing: {scenario} @ {saved_with + ' -> ' if saved_with else ''}{pairing}")
        print(f"results: {out / 'results.json'}")
        for written in render_all(merged, out):
            print(f"report: {written}")
        return 0
    if args.out is not None and len(args.results) > 1:
        raise BadInput("--out takes one results file; give one, or render each next to its results.json.")
    loaded = [(given, load_run(given)) for given in args.results]
    for given, results in loaded:
        folder = args.out or (given if given.is_dir() else given.parent)
        folder.mkdir(parents=True, exist_ok=True)
        if given.is_dir() and args.out is None:
            write_results(folder / "results.json", results)
        print_summary(results, sys.stdout)
        for written in render_all(results, folder):
            print(f"report: {written}")
    return 0


def cmd_bisect(args: argparse.Namespace) -> int:
    from harness.bisect import BisectOptions, run_bisect

    if args.index_url:
        os.environ["UV_DEFAULT_INDEX"] = args.index_url
    if args.find_links:
        os.environ["UV_FIND_LINKS"] = str(args.find_links.resolve())
        os.environ["UV_NO_INDEX"] = "1"
    options = BisectOptions(
        scenario=args.scenario,
        package=args.package,
        old=args.old,
        new=args.new,
        with_=args.with_,
        backend=args.backend,
        scenario_dirs=args.scenarios or [],
        pre=args.pre,
        out=args.out,
        timeout=args.timeout,
        envs_dir=args.envs_dir,
        index_url=args.index_url,
        find_links=args.find_links,
        known=args.known,
        by_date=args.by_date,
    )
    status, _ = run_bisect(options, sys.stdout)
    return status


def cmd_readiness(args: argparse.Namespace) -> int:
    from harness.readiness import ReadinessOptions, run_readiness

    options = ReadinessOptions(
        baseline=args.baseline,
        candidate=args.candidate,
        baseline_results=args.baseline_results,
        strict=args.strict,
        scenario_dirs=args.scenarios or [DEFAULT_SCENARIOS],
        only=args.only,
        tags=args.tag,
        out=args.out,
        timeout=args.timeout,
        jobs=args.jobs,
        envs_dir=args.envs_dir,
    )
    status, _ = run_readiness(options, sys.stdout)
    return status


def cmd_inspect(args: argparse.Namespace) -> int:
    from harness.inspection import InspectOptions, run_inspect

    return run_inspect(
        InspectOptions(
            file=args.file,
            against=args.against,
            pairing=args.pairing,
            write_remapped=args.write_remapped,
            check=args.check,
            max_bytes=args.max_bytes,
            envs_dir=args.envs_dir,
        ),
        sys.stdout,
    )


def cmd_bench(args: argparse.Namespace) -> int:
    from harness.bench import run_bench

    run_bench(_matrix_options(args), cold=not args.no_cold, spawn=args.spawn, stream=sys.stdout)
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    import json

    from harness.matrix import load_scenarios
    from harness.pairings import DEFAULT_PAIRINGS, parse_pairing

    scenarios = load_scenarios(args.scenarios or [DEFAULT_SCENARIOS])
    pairings = [parse_pairing(text) for text in DEFAULT_PAIRINGS]
    if args.json:
        listing = {
            "scenarios": [{"id": s.id, "title": s.title, "kind": s.kind, "tags": list(s.tags), "links": list(s.links)} for s in scenarios],
            "pairings": [{"spec": p.text, "label": p.label} for p in pairings],
        }
        print(json.dumps(listing, indent=1))
        return 0
    if args.markdown:
        print("| id | what a user was doing | kind | groups | upstream |")
        print("|---|---|---|---|---|")
        for s in scenarios:
            links = " ".join(f"[{link.split('github.com/')[-1]}]({link})" for link in s.links)
            title = s.title.replace("|", "\\|")
            print(f"| `{s.id}` | {title} | {s.kind} | {', '.join(s.tags)} | {links} |")
        return 0
    for s in scenarios:
        print(f"{s.id:<40} {s.kind:<5} {','.join(s.tags):<24} {s.title}")
    for p in pairings:
        print(f"pairing {p.text}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the harness command line; returns the exit status."""
    signal.signal(signal.SIGTERM, _stop)
    try:
        args = build_parser().parse_args(list(sys.argv[1:] if argv is None else argv))
        _check_host_packages()
        handler: Callable[[argparse.Namespace], int] = args.handler
        return handler(args)
    except BadInput as exc:
        return _fail(str(exc))
    except HarnessError as exc:
        return _fail(str(exc))
    except OSError as exc:  # a path given that cannot be used (a file where a folder should be, no permission)
        where = f" {exc.filename!r}" if exc.filename else ""
        return _fail(f"Cannot use{where}: {exc.strerror or exc}.")
    except KeyboardInterrupt:
        print("harness: interrupted; the cells that finished are kept.", file=sys.stderr)
        return 130


#: What the harness imports on the host (pyproject.toml's dependencies; uv is checked where it is run).
HOST_MODULES = ("jinja2", "packaging", "h5py", "numpy")


def _check_host_packages() -> None:
    """Refuse to start, in one line, when a package the harness imports on the host is missing."""
    missing = [name for name in HOST_MODULES if importlib.util.find_spec(name) is None]
    if missing:
        raise BadInput(
            f"The harness needs {', '.join(missing)} on this machine: run it through nox "
            "(python -m pip install nox uv && nox -s matrix), or 'python -m pip install -e .' in this checkout."
        )


def _stop(signum: int, frame: object) -> None:
    """SIGTERM (a CI job cancelled) stops like Ctrl-C: what finished is kept."""
    raise KeyboardInterrupt


def _fail(message: str) -> int:
    line = " ".join(message.split())
    print(f"error: {line}", file=sys.stderr)
    error_file = os.environ.get("HARNESS_ERROR_FILE")
    if error_file:
        try:
            Path(error_file).write_text(line + "\n")
        except OSError:
            pass
    return 2
