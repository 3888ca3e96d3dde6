"""What the commands share: argument types, the options of every command that runs scenarios,
options records filled from parsed arguments, and one way to run a matrix inside another command.
"""

from __future__ import annotations

import argparse
import dataclasses
import io
from pathlib import Path
from typing import Any, TextIO, TypeVar

from harness.errors import RunStopped
from harness.evidence.model import Results
from harness.paths import SCENARIOS, default_envs_dir, shown_path
from harness.plan.cells import CROSS_MODES
from harness.report.render import render_all
from harness.run.launch import run_matrix
from harness.run.options import FRESH_ALL, ISOLATIONS, MatrixOptions

T = TypeVar("T")


def envs_dir_help() -> str:
    """The help of every verb's ``--envs-dir``, naming the default that applies where it runs."""
    return f"where envs are kept (default here: {shown_path(default_envs_dir())}; $HARNESS_ENVS_DIR sets it)"


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


def mebibytes(text: str) -> int:
    """A size in MiB (``64``, ``0.5``) as bytes."""
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number of MiB, not {text!r}")
    return max(1024, int(value * 2**20))


def add_scenario_dirs(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--scenarios", dest="scenario_dirs", action="append", type=Path, default=[], metavar="DIR",
                        help=f"scenarios folder (repeatable; default: the library, {shown_path(SCENARIOS)})")


def add_run_options(parser: argparse.ArgumentParser) -> None:
    """The options every command that runs scenarios accepts (dests are :class:`MatrixOptions` fields)."""
    add_scenario_dirs(parser)
    parser.add_argument("--only", action="append", default=[], metavar="ID", help="run only this scenario (repeatable)")
    parser.add_argument("--tag", dest="tags", action="append", default=[], metavar="TAG",
                        help="run only scenarios with this tag (repeatable)")
    parser.add_argument("--pairing", dest="pairings", action="append", default=[], metavar="SPEC",
                        help="e.g. keras==3.5.0,tensorflow==2.16.1 (repeatable; replaces the defaults)")
    parser.add_argument("--out", type=Path, metavar="DIR", help="output folder (default: reports/runs/<time>)")
    parser.add_argument("--timeout", type=positive_float, metavar="S", help="per-cell time limit in seconds (default 300)")
    parser.add_argument("--jobs", type=positive_int, metavar="N", help="cells in flight at once, also within a pairing (default 1)")
    parser.add_argument("--envs-dir", type=Path, metavar="DIR", help=envs_dir_help())
    parser.add_argument("--isolation", choices=ISOLATIONS,
                        help="fork: import once per env (default); spawn: a fresh interpreter per cell")
    parser.add_argument("--cross", choices=CROSS_MODES,
                        help="cross-version scenarios: load every pairing's save (all, the default), only its own (same), "
                             "only the saves of --load-artifacts, running nothing else (imported), "
                             "or the save of the pairing listed before it and its own (adjacent)")
    parser.add_argument("--load-artifacts", action="append", default=[], type=Path, metavar="RUN_DIR",
                        help="also load the cross-version saves of an earlier run (repeatable)")
    parser.add_argument("--max-output", type=mebibytes, metavar="MIB",
                        help="keep at most this much of a cell's output: its head and its tail (default 64)")
    parser.add_argument("--fresh", action="append", nargs="?", const=FRESH_ALL, metavar="SCENARIO",
                        help="run cells again instead of reusing the cell cache: every cell, or only this scenario's "
                             "(repeatable); the new results replace the cached ones")


def options_from_args(cls: type[T], args: argparse.Namespace, **given: Any) -> T:
    """An options record whose fields are taken from the parsed arguments of the same name
    (``given`` first); an argument left unset (None) keeps the field's default."""
    values: dict[str, Any] = {}
    for item in dataclasses.fields(cls):  # type: ignore[arg-type]
        if item.name in given:
            values[item.name] = given[item.name]
        elif getattr(args, item.name, None) is not None:
            values[item.name] = getattr(args, item.name)
    return cls(**values)


def nested_run(options: MatrixOptions, stream: TextIO | None = None, what: str = "the run") -> Results:
    """Run a matrix as part of another command (a bisect probe, a readiness comparison), render its
    report into its folder, and return its results; :class:`RunStopped` when it was stopped."""
    results, store = run_matrix(options, stream if stream is not None else io.StringIO())
    render_all(results, store.root)
    if not results.run.complete:
        raise RunStopped(f"{what} was stopped before it completed; what finished is kept in {store.root}.")
    return results
