"""``matrix --model FILE.py:FUNCTION`` and ``matrix --file SAVED``: the matrix of a user's own
model or saved file, with no scenario to write. Checks everything on the host first (the model
file with ast, never importing it; the saved file's anatomy), then generates the scenarios
(:mod:`harness.plan.models`) that the run writes into its folder.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from harness.envs.install import resolve_pairing
from harness.errors import BadInput, clip
from harness.evidence.anatomy import read_anatomy
from harness.plan.models import ModelFile, file_scenarios, model_scenarios
from harness.plan.pairings import DEFAULT_PAIRINGS, parse_pairing
from harness.plan.targets import checked_target

#: Options that choose scenarios, which --model and --file replace.
_CHOOSING = {"scenario_dirs": "--scenarios", "tags": "--tag", "load_artifacts": "--load-artifacts",
             "resume": "--resume", "shard": "--shard"}
_FILE_ONLY = {"inputs": "--inputs", "reference": "--reference", "signature": "--signature"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", metavar="FILE.py[:FUNCTION]",
                        help="the matrix of your own model: FUNCTION() returns a built Keras model (with --file: only FILE.py, "
                             "imported in each env for its registered classes)")
    parser.add_argument("--file", type=Path, metavar="SAVED", help="will this saved .keras, .h5 or .weights.h5 load, and load right?")
    parser.add_argument("--inputs", type=Path, metavar="X.npy", help="with --file: the inputs to call the loaded model on")
    parser.add_argument("--reference", type=Path, metavar="Y.npy", help="with --file: the outputs the loaded model must give")
    parser.add_argument("--signature", metavar="REGEX", help="with --file: a load error matching this is 'reproduced'")


def wanted(args: argparse.Namespace) -> bool:
    return bool(args.model or args.file)


def generated_scenarios(args: argparse.Namespace) -> dict[str, str]:
    """The scenario modules (by file name) for ``--model`` or ``--file``; :class:`BadInput` for
    a missing file or function, a file that is no model file, or options that make no sense together."""
    mixed = [flag for dest, flag in _CHOOSING.items() if getattr(args, dest, None) not in (None, [])]
    if mixed:
        raise BadInput(f"--model and --file choose the scenarios themselves; drop {', '.join(mixed)}.")
    if not args.file:
        lonely = [flag for dest, flag in _FILE_ONLY.items() if getattr(args, dest, None) is not None]
        if lonely:
            raise BadInput(f"{', '.join(lonely)} go with --file SAVED.")
        return model_scenarios(model_file(args.model, need_function=True))
    return _file_scenarios(args)


def model_file(text: str, need_function: bool) -> ModelFile:
    """``FILE.py:FUNCTION`` (or ``FILE.py`` where no function is needed), checked with ast."""
    path_text, sep, function = text.rpartition(":") if ":" in text else (text, "", "")
    if not path_text.endswith(".py"):
        raise BadInput(f"--model {text!r} is not FILE.py:FUNCTION (e.g. mymodel.py:build).")
    path = Path(path_text).resolve()
    if not path.is_file():
        raise BadInput(f"--model {text!r}: the file {path_text!r} does not exist.")
    if not function:
        if need_function:
            raise BadInput(f"--model {text!r} names no function: give FILE.py:FUNCTION, the function returning the built model.")
        return ModelFile(path=path, function=None)
    checked_target(f"{path}:{function}")
    return ModelFile(path=path, function=function)


def _file_scenarios(args: argparse.Namespace) -> dict[str, str]:
    saved = Path(args.file).resolve()
    anatomy = read_anatomy(saved)  # not a model file, truncated, over the cap: one line, before any install
    weights_only = saved.name.endswith(".weights.h5") or anatomy.format.startswith("keras 3 weights")
    model = model_file(args.model, need_function=weights_only) if args.model else None
    if weights_only and model is None:
        raise BadInput(f"--file {args.file} holds weights only; give --model FILE.py:FUNCTION to build the model they belong to.")
    for flag, given in (("--inputs", args.inputs), ("--reference", args.reference)):
        if given is not None:
            _check_npy(flag, Path(given))
    if args.signature:
        try:
            re.compile(args.signature)
        except re.error as exc:
            raise BadInput(f"--signature {args.signature!r} is not a valid regular expression ({exc}).") from None
    written_by = anatomy.keras_version
    writer = _writer_pairing(written_by, args.pairings) if args.reference is None else None
    print(f"file {saved.name}: {anatomy.format}" + (f", written by keras {written_by}" if written_by else "")
          + (f" ({anatomy.backend} backend)" if anatomy.backend else "") + "; "
          + ("compared with the reference outputs" if args.reference else
             f"the pairing with keras {writer} loads it first, its outputs are the baseline" if writer else
             "no pairing has the keras that wrote it: the pairings are compared with each other"), file=sys.stdout)
    inputs = Path(args.inputs).resolve() if args.inputs else None
    reference = Path(args.reference).resolve() if args.reference else None
    return file_scenarios(saved, written_by, model, inputs, reference, writer, args.signature)


def _check_npy(flag: str, path: Path) -> None:
    """``path`` is a ``.npy`` array file (its magic and header read on the host, never its data)
    that numpy loads without pickle; :class:`BadInput` in one line otherwise, before any install."""
    import numpy as np

    if not path.is_file():
        raise BadInput(f"{flag} {clip(str(path))!r} does not exist.")
    try:
        with open(path, "rb") as handle:
            version = np.lib.format.read_magic(handle)
            read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            _shape, _fortran, dtype = read_header(handle)
    except OSError as exc:
        raise BadInput(f"{flag} {clip(str(path))!r} cannot be read: {exc.strerror or exc}.") from None
    except (ValueError, EOFError, SyntaxError) as exc:
        reason = clip(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        raise BadInput(f"{flag} {clip(str(path))!r} is not a .npy array file (numpy.save's format): {reason}.") from None
    if dtype.hasobject:
        raise BadInput(f"{flag} {clip(str(path))!r} holds Python objects, which numpy loads only with pickle: "
                       "save plain numeric arrays.")


def _writer_pairing(written_by: str | None, pairings: list[str]) -> str | None:
    """The keras version of the run's pairing that matches the file's writer, if one does."""
    if not written_by:
        return None
    for text in pairings or DEFAULT_PAIRINGS:
        pairing = resolve_pairing(parse_pairing(text))
        if pairing.versions.get("keras") == written_by:
            return written_by
    return None
