"""``matrix``: install every pairing and run every scenario (or resume a run, or run one shard),
then judge it by its gate (``--expect``, ``--write-expect``, ``--fail-on``).

Exit status: 0 completed (and the gate, if any, holds), 1 the gate failed, 2 bad input (before
anything is installed), 130 interrupted (never judged).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from harness.commands import gate, own
from harness.commands.claims import print_claims
from harness.commands.common import add_run_options, options_from_args
from harness.commands.config import Config, apply_config, find_config
from harness.errors import BadInput
from harness.evidence.claims import judge_all
from harness.evidence.model import Results
from harness.evidence.run_folder import RESULTS_FILE, RunStore
from harness.paths import SCENARIOS, new_output_folder
from harness.plan.cells import parse_shard
from harness.report.render import render_all
from harness.report.terminal import print_summary
from harness.run.launch import resume_matrix, run_matrix
from harness.run.options import MatrixOptions

NAME = "matrix"
HELP = "install every pairing and run every scenario"
#: Options that define a run; a resumed run takes its own, so none of these may be given with --resume.
_RUN_DEFINING = ("scenario_dirs", "pairings", "only", "tags", "out", "load_artifacts", "shard", "timeout", "isolation", "cross",
                 "max_output", "fresh", "unsafe_load")
#: The config table's options that shape the scenarios --model and --file generate (its others
#: are applied with the rest of the run's options).
_SHAPING = ("pairings", "unsafe_load")
#: The gate's options, which the config table also sets for a resumed run.
_GATE = ("expect", "expect_verdicts_only", "fail_on", "fail_on_claim_change")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_run_options(parser)
    own.add_arguments(parser)
    gate.add_arguments(parser)
    parser.add_argument("--shard", metavar="K/N", help="run only the K-th of N deterministic slices of the cells (for CI fan-out)")
    parser.add_argument("--resume", type=Path, metavar="RUN_DIR", help="run only the cells of RUN_DIR that are missing or were interrupted")


def matrix_options(args: argparse.Namespace, config: Config | None = None, **given: object) -> MatrixOptions:
    """The options of a run from the command line, with the config table's values (``config``,
    else the one found from the current folder) where the command line gave none."""
    config = config if config is not None else find_config()
    apply_config(args, config)
    out = args.out or (new_output_folder(base=config.folder) if config.path is not None else None)
    return options_from_args(MatrixOptions, args, scenario_dirs=args.scenario_dirs or [SCENARIOS], out=out,
                             config=config.path, command=[*_program().split(), *sys.argv[1:]], **given)


def _program() -> str:
    """How the command line was started, for the run's record."""
    return "keras-compat" if Path(sys.argv[0]).name == "keras-compat" else "python -m harness"


def run(args: argparse.Namespace) -> int:
    config = find_config()
    print(f"config: {config.path} ({config.describe()})" if config.path is not None else
          "config: none found (no [tool.keras-compat] in a pyproject.toml, nor a keras-compat.toml, here or above)")
    apply_config(args, config, only=_GATE)
    judged_by = gate.prepare_gate(args)  # reads the expectations now: bad ones stop here, before any install
    results, store = _run_or_resume(args, config)
    written = render_all(results, store.root)
    print_summary(results, sys.stdout)
    judged = judge_all([results])
    if judged:
        print("\nclaims (judged from this run's cells only):")
        print_claims(judged, sys.stdout)
    print(f"results: {store.root / RESULTS_FILE}")
    for path in written:
        print(f"report: {path}")
    if not results.run.complete:
        gate.skip_gate(judged_by, store.root, sys.stdout)
        print("harness: interrupted; the cells that finished are kept and rendered.", file=sys.stderr)
        return 130
    return gate.close_gate(judged_by, results, store.root, sys.stdout)


def _run_or_resume(args: argparse.Namespace, config: Config) -> tuple[Results, RunStore]:
    if args.resume is not None:
        given = [name for name in _RUN_DEFINING if getattr(args, name) not in (None, [])]
        if given:
            flags = ", ".join(_flag(name) for name in given)
            raise BadInput(f"--resume continues a run with its own options; drop {flags}.")
        return resume_matrix(args.resume, jobs=args.jobs, envs_dir=args.envs_dir)
    if own.wanted(args):
        apply_config(args, config, only=_SHAPING)
        generated = own.generated_scenarios(args)
        return run_matrix(matrix_options(args, config, generated=generated))
    own.check_unwanted(args)
    shard = parse_shard(args.shard) if args.shard is not None else None
    return run_matrix(matrix_options(args, config, shard=shard))


def _flag(dest: str) -> str:
    """The command-line flag of an option's field name."""
    return {"scenario_dirs": "--scenarios", "pairings": "--pairing", "tags": "--tag"}.get(dest, "--" + dest.replace("_", "-"))
