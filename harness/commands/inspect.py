"""``inspect``: the anatomy of a saved model file and, against a model built in a pairing's env,
the mapping of the file's groups onto what that model loads, and a remapped copy that loads.

The original file is only ever opened read-only. A remapped copy starts as the target model's
own layout (saved by the model itself, in its env) with every variable group filled from the
one group of the file whose arrays have exactly its shapes; it is written only when every group
has exactly one such match, then verified by loading it into the model in the env.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from harness.commands.common import envs_dir_help, options_from_args, positive_float, positive_int
from harness.envs.install import ensure_env, resolve_pairing
from harness.errors import BadInput, InstallError
from harness.evidence.anatomy import MAX_BYTES, format_anatomy, read_anatomy
from harness.evidence.mapping import AMBIGUOUS, MATCHED, MISSING, line_up, mapping_text, wanted_from_layout
from harness.evidence.phase import PhaseOutcome
from harness.evidence.remap import write_remapped
from harness.paths import default_envs_dir
from harness.plan.pairings import parse_pairing
from harness.plan.targets import checked_target
from harness.run.client import Worker

NAME = "inspect"
HELP = "what is inside a saved model file; with --against, how it maps onto a model"

DEFAULT_PAIRING = "keras,tensorflow"
DEFAULT_TIMEOUT_S = 300.0


@dataclass
class InspectOptions:
    file: Path
    against: str | None = None
    pairing: str = DEFAULT_PAIRING
    write_remapped: Path | None = None
    check: str | None = None
    max_bytes: int = MAX_BYTES
    timeout: float = DEFAULT_TIMEOUT_S
    envs_dir: Path | None = None


def run_inspect(options: InspectOptions, stream: TextIO) -> int:
    """Print the anatomy (and the mapping, with --against); returns the exit status.

    0: done (and, with --write-remapped, written and verified); 1: a remapped copy could not be
    written or did not verify. Bad input raises :class:`BadInput`.
    """
    source = read_anatomy(options.file, options.max_bytes)
    stream.write(format_anatomy(source) + "\n")
    if options.against is None:
        if options.write_remapped is not None:
            raise BadInput("--write-remapped needs --against MODULE:FUNCTION (the model to remap into).")
        return 0
    target = checked_target(options.against)
    check = checked_target(options.check) if options.check else None
    _check_output(options)
    with tempfile.TemporaryDirectory(prefix="harness-inspect-") as scratch:
        worker = _worker(options.pairing, Path(scratch), options.envs_dir)
        own_path = Path(scratch) / "own-layout.weights.h5"
        outcome = _tool(worker, Path(scratch), "layout", {"target": target, "out": str(own_path)}, options.timeout)
        if not outcome.ok:
            raise BadInput(f"Building {options.against} in {options.pairing} failed: {_failure(outcome, options.timeout)}")
        own = read_anatomy(own_path)
        entries = line_up(wanted_from_layout(own), source)
        stream.write(f"\nmapping onto {options.against} (its own layout, built with {options.pairing}):\n")
        stream.write(mapping_text(entries) + "\n")
        counts = {s: sum(e.status == s for e in entries) for s in (MATCHED, AMBIGUOUS, MISSING)}
        stream.write(f"{counts[MATCHED]} matched, {counts[AMBIGUOUS]} ambiguous, {counts[MISSING]} missing\n")
        if options.write_remapped is None:
            return 0
        unresolved = [e for e in entries if e.status != MATCHED]
        if unresolved:
            stream.write(f"not written: {len(unresolved)} groups have no single match "
                         f"({', '.join(e.layer for e in unresolved[:5])})\n")
            return 1
        write_remapped(options.file, own_path, entries, options.write_remapped)
        stream.write(f"wrote {options.write_remapped}\n")
        fields = {"target": target, "weights": str(options.write_remapped.resolve()), "check": check}
        verified = _tool(worker, Path(scratch), "verify", fields, options.timeout)
        if not verified.ok:
            stream.write(f"verification failed: {_failure(verified, options.timeout)}\n")
            return 1
        comparison = verified.comparison
        if comparison:
            if not comparison.close:
                stream.write(f"verification failed: loads, but values differ ({comparison.mismatch})\n")
                return 1
            stream.write(f"verified: loads into {options.against}; {comparison.count} values compared, "
                         f"max abs diff {comparison.max_abs_diff}\n")
        else:
            stream.write(f"verified: loads into {options.against} (no --check given, so no values compared)\n")
        return 0


def _check_output(options: InspectOptions) -> None:
    out = options.write_remapped
    if out is None:
        return
    if not out.name.endswith(".weights.h5"):
        raise BadInput(f"--write-remapped {str(out)!r} must end with .weights.h5 (what Keras loads as weights).")
    if out.exists():
        raise BadInput(f"--write-remapped {str(out)!r} exists already; it is never overwritten.")
    if out.resolve() == options.file.resolve():
        raise BadInput("--write-remapped must not be the file being inspected.")
    if not out.parent.is_dir():
        raise BadInput(f"The folder of --write-remapped {str(out)!r} does not exist.")


def _worker(pairing_text: str, scratch: Path, envs_dir: Path | None) -> Worker:
    pairing = resolve_pairing(parse_pairing(pairing_text))
    try:
        env = ensure_env(pairing, envs_dir or default_envs_dir())
    except InstallError as exc:
        raise BadInput(f"The pairing {pairing_text!r} could not be installed: {' '.join(str(exc).split())}") from None
    return Worker(env, pairing.spec.backend, [], scratch / "worker.log", isolation="spawn")


def _tool(worker: Worker, scratch: Path, op: str, fields: dict[str, Any], timeout: float) -> PhaseOutcome:
    phase = scratch / op
    phase.mkdir()
    request = {"op": op, "workdir": str(phase / "work"), "result": str(phase / "result.json"),
               "output": str(phase / "output.log"), "cwd": os.getcwd(), "rtol": 1e-5, "atol": 1e-5, **fields}
    return worker.run_phase(request, timeout)


def _failure(outcome: PhaseOutcome, timeout: float) -> str:
    """Why a tool phase failed, as the end of a sentence ("it did not finish within 5 s")."""
    if outcome.status == "timed_out":
        return f"it did not finish within {timeout:g} s (--timeout)"
    if outcome.status == "died":
        how = (f" (signal {outcome.signal})" if outcome.signal else
               f" (exit status {outcome.exit_status})" if outcome.exit_status is not None else "")
        return f"the process died{how} before it gave a result"
    if outcome.status != "done":
        return "the worker process was lost before it gave a result"
    facts = outcome.facts
    text = f"{facts.exception_type}: {facts.message}" if facts else "no result"
    return " ".join(text.split())[:400]



def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path, metavar="FILE", help="a .weights.h5, legacy .h5 or .keras file (never modified)")
    parser.add_argument("--against", metavar="MODULE:FUNCTION", help="a function that builds the target model (run in the pairing's env)")
    parser.add_argument("--pairing", default=DEFAULT_PAIRING, metavar="SPEC",
                        help="the env to build the target model in (default: latest keras + tensorflow)")
    parser.add_argument("--write-remapped", type=Path, metavar="OUT.weights.h5",
                        help="write a copy of the weights remapped onto the target model, then verify it loads")
    parser.add_argument("--check", metavar="MODULE:FUNCTION",
                        help="a function taking the loaded model and returning {'expected': ..., 'actual': ...}")
    parser.add_argument("--max-bytes", type=positive_int, default=MAX_BYTES, metavar="N",
                        help="refuse files larger than this (default 512 MiB)")
    parser.add_argument("--timeout", type=positive_float, default=DEFAULT_TIMEOUT_S, metavar="S",
                        help="time limit of building the target model, and of verifying the copy (default 300)")
    parser.add_argument("--envs-dir", type=Path, metavar="DIR", help=envs_dir_help())


def run(args: argparse.Namespace) -> int:
    return run_inspect(options_from_args(InspectOptions, args), sys.stdout)
