"""``inspect``: the anatomy of a saved model file and, against a model built in a pairing's env,
the mapping of the file's groups onto what that model loads, and a remapped copy that loads.

The original file is only ever opened read-only. A remapped copy starts as the target model's
own layout (saved by the model itself, in its env) with every variable group filled from the
one group of the file whose arrays have exactly its shapes; it is written only when every group
has exactly one such match, then verified by loading it into the model in the env.
"""

from __future__ import annotations

import ast
import io
import os
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from harness.anatomy import MAX_BYTES, format_anatomy, read_anatomy
from harness.envs import default_envs_dir, ensure_env, resolve_pairing
from harness.errors import BadInput, InstallError
from harness.mapping import AMBIGUOUS, MATCHED, MISSING, line_up, mapping_text, wanted_from_layout
from harness.pairings import parse_pairing
from harness.results import MappingRecord
from harness.runner import PhaseOutcome, Worker

DEFAULT_PAIRING = "keras,tensorflow"


@dataclass
class InspectOptions:
    file: Path
    against: str | None = None
    pairing: str = DEFAULT_PAIRING
    write_remapped: Path | None = None
    check: str | None = None
    max_bytes: int = MAX_BYTES
    timeout: float = 300.0
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
    target = _checked_target(options.against)
    check = _checked_target(options.check) if options.check else None
    _check_output(options)
    with tempfile.TemporaryDirectory(prefix="harness-inspect-") as scratch:
        worker = _worker(options.pairing, Path(scratch), options.envs_dir)
        own_path = Path(scratch) / "own-layout.weights.h5"
        outcome = _tool(worker, Path(scratch), "layout", {"target": target, "out": str(own_path)}, options.timeout)
        if not outcome.ok:
            raise BadInput(f"Building {options.against} in {options.pairing} failed: {_failure(outcome)}")
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
            stream.write(f"verification failed: {_failure(verified)}\n")
            return 1
        comparison = verified.result.get("comparison")
        if comparison:
            if not comparison.get("close"):
                stream.write(f"verification failed: loads, but values differ ({comparison.get('mismatch')})\n")
                return 1
            stream.write(f"verified: loads into {options.against}; {comparison.get('count')} values compared, "
                         f"max abs diff {comparison.get('max_abs_diff')}\n")
        else:
            stream.write(f"verified: loads into {options.against} (no --check given, so no values compared)\n")
        return 0


def write_remapped(source: Path, own_layout: Path, entries: list[MappingRecord], out: Path) -> None:
    """Copy the target's own layout to ``out`` and fill each group from its matched source group."""
    import h5py

    partial = out.with_name(f".{out.name}.partial")
    shutil.copyfile(own_layout, partial)
    try:
        with _open_source(source) as src, h5py.File(partial, "r+") as dst:
            for entry in entries:
                assert entry.target_group and entry.source_group
                target_arrays = _ordered_datasets(dst[entry.target_group])
                source_arrays = _ordered_source(src, entry.source_group)
                for target, array in zip(target_arrays, source_arrays):
                    target[...] = array[()]
        os.replace(partial, out)
    finally:
        partial.unlink(missing_ok=True)


class _open_source:
    """The source file's HDF5 content, read-only (the inner weights of a .keras zip too)."""

    def __init__(self, path: Path):
        self.path = path
        self.file: Any = None

    def __enter__(self) -> Any:
        import h5py

        if zipfile.is_zipfile(self.path):
            with zipfile.ZipFile(self.path) as archive:
                self.file = h5py.File(io.BytesIO(archive.read("model.weights.h5")), "r")
        else:
            self.file = h5py.File(self.path, "r")
        return self.file

    def __exit__(self, *exc: object) -> None:
        self.file.close()


def _ordered_datasets(group: Any) -> list[Any]:
    import h5py

    items = [(name, item) for name, item in group.items() if isinstance(item, h5py.Dataset)]
    return [item for _, item in sorted(items, key=lambda pair: (0, int(pair[0])) if pair[0].isdigit() else (1, pair[0]))]


def _ordered_source(file: Any, group_path: str) -> list[Any]:
    group = file[group_path]
    names = group.attrs.get("weight_names")
    if names is not None and len(names):  # legacy h5: the order Keras wrote
        return [group[n.decode() if isinstance(n, bytes) else str(n)] for n in names]
    return _ordered_datasets(group)


def _checked_target(spec: str) -> str:
    module, sep, function = spec.rpartition(":")
    if not sep or not module or not function.isidentifier():
        raise BadInput(f"{spec!r} is not MODULE:FUNCTION (e.g. scenarios/_gru.py:build_step_model).")
    if module.endswith(".py"):
        path = Path(module).resolve()
        if not path.is_file():
            raise BadInput(f"{module!r} does not exist.")
        defined = _top_level_names(path)
        if function not in defined:
            known = ", ".join(sorted(defined)[:8]) or "nothing"
            raise BadInput(f"{module!r} defines no {function!r} at module level (it defines: {known}).")
        return f"{path}:{function}"
    return spec


def _top_level_names(path: Path) -> set[str]:
    """Names a module binds at its top level, read with ``ast`` (the module is not run on the host)."""
    try:
        tree = ast.parse(path.read_bytes(), filename=str(path))
    except (SyntaxError, ValueError) as exc:
        raise BadInput(f"{str(path)!r} is not valid Python: {exc}") from None
    except OSError as exc:
        raise BadInput(f"{str(path)!r} cannot be read: {exc.strerror or exc}") from None
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(t.id for t in targets if isinstance(t, ast.Name))
    return names


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
        raise BadInput(f"The pairing {pairing_text!r} could not be installed: {str(exc).strip().splitlines()[-1]}") from None
    return Worker(env, pairing.spec.backend, [], scratch / "worker.log", isolation="spawn")


def _tool(worker: Worker, scratch: Path, op: str, fields: dict[str, Any], timeout: float) -> PhaseOutcome:
    phase = scratch / op
    phase.mkdir()
    request = {"op": op, "workdir": str(phase / "work"), "result": str(phase / "result.json"),
               "output": str(phase / "output.log"), "cwd": os.getcwd(), "rtol": 1e-5, "atol": 1e-5, **fields}
    return worker.run_phase(request, timeout)


def _failure(outcome: PhaseOutcome) -> str:
    if outcome.status != "done":
        return f"the process {outcome.status}" + (f" (signal {outcome.signal})" if outcome.signal else "")
    text = f"{outcome.result.get('exception_type')}: {outcome.result.get('message')}"
    return " ".join(text.split())[:400]

