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

from harness.envs.install import installed_versions, resolve_pairing
from harness.errors import BadInput, InstallError, clip
from harness.evidence.anatomy import is_saved_model, read_anatomy, read_saved_model
from harness.plan.models import ModelFile, file_scenarios, model_scenarios, saved_model_scenarios, writer_version
from harness.plan.pairings import DEFAULT_PAIRINGS, parse_pairing
from harness.plan.targets import checked_target, top_level_names

#: Options that choose scenarios, which --model and --file replace.
_CHOOSING = {"scenario_dirs": "--scenarios", "tags": "--tag", "load_artifacts": "--load-artifacts",
             "resume": "--resume", "shard": "--shard"}
#: What a backend named by a file's metadata must look like to be shown.
_PLAIN_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,40}$")
_FILE_ONLY = {"inputs": "--inputs", "reference": "--reference", "signature": "--signature"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", metavar="FILE.py[:FUNCTION]",
                        help="the matrix of your own model: FUNCTION() returns a built Keras model (with --file: only FILE.py, "
                             "imported in each env for its registered classes)")
    parser.add_argument("--file", type=Path, metavar="SAVED",
                        help="will this saved .keras, .h5 or .weights.h5 file, or SavedModel folder, load, and load right?")
    parser.add_argument("--inputs", type=Path, metavar="X.npy", help="with --file: the inputs to call the loaded model on")
    parser.add_argument("--reference", type=Path, metavar="Y.npy", help="with --file: the outputs the loaded model must give")
    parser.add_argument("--signature", metavar="REGEX", help="with --file: a load error matching this is 'reproduced'")
    parser.add_argument("--unsafe-load", action="store_true", default=None,
                        help="with --model or --file: also load each model file with safe_mode=False, as scenarios of their own "
                             "(a load refused by safe mode, e.g. for a Lambda layer, then shows both answers)")


def wanted(args: argparse.Namespace) -> bool:
    return bool(args.model or args.file)


def check_unwanted(args: argparse.Namespace) -> None:
    """:class:`BadInput` for an option of --model/--file given without either."""
    if getattr(args, "unsafe_load", None):
        raise BadInput("--unsafe-load goes with --model or --file.")


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
        model = model_file(args.model, need_function=True)
        _say_inputs(model, None)
        return model_scenarios(model, unsafe_load=bool(getattr(args, "unsafe_load", None)))
    return _file_scenarios(args)


def _say_inputs(model: ModelFile | None, inputs: Path | None, saved_model: bool = False) -> None:
    """Say, in the run's output, where the inputs the models are called on come from."""
    if inputs is not None:
        print(f"inputs: from {str(inputs)!r}")
    elif saved_model:
        print("inputs: made from the SavedModel's serving signature (floats standard normal, integers 0 or 1): "
              "give --inputs X.npy to choose them")
    elif model is not None and "inputs" in top_level_names(model.path):
        print(f"inputs: from inputs() of {model.path.name!r}")
    else:
        print("inputs: made from the model's input specs (floats standard normal; integers below an Embedding's input_dim, "
              "else 0 or 1): define inputs() in the model file, or give --inputs X.npy with --file, to choose them")


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


def _saved_model_scenarios(args: argparse.Namespace, saved: Path) -> dict[str, str]:
    """``--file DIR``: a SavedModel folder, opened by every route a user would take."""
    anatomy = read_saved_model(saved)
    if args.model:
        raise BadInput("--model goes with a saved file, not with a SavedModel folder (it holds its own graph).")
    _check_companions(args)
    keras_version = writer_version(anatomy.keras_version)
    tensorflow_version = writer_version(anatomy.tensorflow_version)
    writer = None
    if args.reference is None:
        writer = _writer(("keras", "tf-keras"), keras_version, args.pairings) if keras_version else None
        if writer is None and tensorflow_version:
            writer = _writer(("tensorflow",), tensorflow_version, args.pairings)
    said = ", ".join(f"{n} {v}" for n, v in (("keras", keras_version), ("tensorflow", tensorflow_version)) if v)
    _say_inputs(None, Path(args.inputs) if args.inputs else None, saved_model=True)
    print(f"file {saved.name!r}: {anatomy.format}" + (f", written by {said}" if said else ", unknown writer") + "; "
          + ("compared with the reference outputs" if args.reference else
             f"the pairing with {writer[0]} {writer[1]} keeps its serving outputs as the baseline" if writer else
             "no pairing has what wrote it: the pairings are compared with each other")
          + "; routes: load_model, TFSMLayer, tf.saved_model.load", file=sys.stdout)
    inputs = Path(args.inputs).resolve() if args.inputs else None
    reference = Path(args.reference).resolve() if args.reference else None
    return saved_model_scenarios(saved, writer, said or None, inputs, reference, args.signature)


def _check_companions(args: argparse.Namespace) -> None:
    """``--inputs`` and ``--reference`` name files that exist; ``--signature`` compiles."""
    for flag, given in (("--inputs", args.inputs), ("--reference", args.reference)):
        if given is not None:
            _check_npy(flag, Path(given))
    if args.signature:
        try:
            re.compile(args.signature)
        except re.error as exc:
            raise BadInput(f"--signature {args.signature!r} is not a valid regular expression ({exc}).") from None


def _file_scenarios(args: argparse.Namespace) -> dict[str, str]:
    saved = Path(args.file).resolve()
    if is_saved_model(Path(args.file)):
        return _saved_model_scenarios(args, saved)
    anatomy = read_anatomy(saved)  # not a model file, truncated, over the cap: one line, before any install
    weights_only = saved.name.endswith(".weights.h5") or anatomy.format.startswith("keras 3 weights")
    model = model_file(args.model, need_function=weights_only) if args.model else None
    if weights_only and model is None:
        raise BadInput(f"--file {args.file} holds weights only; give --model FILE.py:FUNCTION to build the model they belong to.")
    _check_companions(args)
    written_by = writer_version(anatomy.keras_version)  # the file's metadata: shown only when it is a version
    found = _writer(("keras", "tf-keras"), written_by, args.pairings) if args.reference is None and written_by else None
    writer = found[1] if found else None
    backend = anatomy.backend if anatomy.backend and _PLAIN_NAME.match(anatomy.backend) else None
    _say_inputs(model, Path(args.inputs) if args.inputs else None)
    print(f"file {saved.name!r}: {anatomy.format}" + (f", written by keras {written_by}" if written_by else ", unknown writer")
          + (f" ({backend} backend)" if backend else "") + "; "
          + ("compared with the reference outputs" if args.reference else
             f"the pairing with {found[0]} {writer} loads it first, its outputs are the baseline" if found else
             "no pairing has the keras that wrote it: the pairings are compared with each other"), file=sys.stdout)
    inputs = Path(args.inputs).resolve() if args.inputs else None
    reference = Path(args.reference).resolve() if args.reference else None
    return file_scenarios(saved, written_by, model, inputs, reference, writer, args.signature, weights_only=weights_only,
                          writer_name=found[0] if found else "keras",
                          unsafe_load=bool(getattr(args, "unsafe_load", None)))


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


def _writer(names: tuple[str, ...], version: str, pairings: list[str]) -> tuple[str, str] | None:
    """The distribution (one of ``names``) and version that wrote a file, when a pairing of the
    run installs exactly that: its pins first, else what its env would hold (``tensorflow==2.15.1``
    brings ``keras`` 2.15.0, a TensorFlow 2.16+ pairing with ``tf-keras`` its Keras 2)."""
    for text in pairings or DEFAULT_PAIRINGS:
        spec = parse_pairing(text)
        versions = resolve_pairing(spec).versions
        if not any(name in versions for name in names):  # the pins do not say: ask what its env would hold
            try:
                versions = {**installed_versions(spec), **versions}
            except InstallError:
                pass
        for name in names:
            if versions.get(name) == version:
                return name, version
    return None
