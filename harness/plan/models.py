"""Scenarios generated for a user's own model or saved file (``matrix --model`` / ``--file``), so
that nothing has to be written to the scenario contract by hand.

Pure: this module only writes the text of scenario modules (and of their shared helper module);
the command writes them into the run folder and the run treats them like any other scenario. The
user's file runs only inside the tested envs; here it is only named.

``--model FILE.py:FUNCTION`` gives one cross-version scenario with ``FORMATS`` (``.keras``,
``.weights.h5``, legacy ``.h5``: built once and saved in every format in each pairing, loaded in
every pairing, each format with its own verdicts), and one for the TensorFlow SavedModel export
where the backend is TensorFlow, comparing the outputs on the same inputs and the weights array
by array. ``--file SAVED`` gives one scenario that loads that file
in every pairing: against ``--reference`` outputs when given (a single-env scenario), else against
the outputs of the pairing that wrote the file, or, when no pairing did, of each pairing.

A generated module is fixed code: the user's values (paths, names, the function's name, a saved
file's metadata, a signature) enter it only as ``repr()`` literals of plain strings, its docstring
included, so no value can become code; a writer's version is kept only when it is a PEP 440 version.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from packaging.version import InvalidVersion, Version

HELPER = "_keras_compat_model"

#: The helper module the generated scenarios share (runs inside the tested env: keras and numpy).
HELPER_SOURCE = '''"""Helpers of the scenarios generated for a model of your own: build it, make inputs, collect
outputs and weights as numpy arrays."""
import importlib.util
import os
import sys

import numpy as np


class UnregisteredClass(Exception):
    """The file uses a class the loading env does not know."""


def user_module(path):
    """Import the user's model file once, as the module of its own name (its registered classes
    are then known to Keras)."""
    name = os.path.splitext(os.path.basename(path))[0]
    if name in sys.modules:
        return sys.modules[name]
    folder = os.path.dirname(path)
    if folder not in sys.path:
        sys.path.append(folder)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def build(path, function, seed):
    import keras

    keras.utils.set_random_seed(seed)
    return getattr(user_module(path), function)()


def _arrays(value):
    if isinstance(value, dict):
        return {str(k): _arrays(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_arrays(v) for v in value]
    import keras

    return np.asarray(keras.ops.convert_to_numpy(value))


def made_inputs(model, path):
    """The model file's inputs(), else deterministic inputs from the model's input specs."""
    module = user_module(path) if path else None
    if module is not None and callable(getattr(module, "inputs", None)):
        return _arrays(module.inputs())
    print("inputs: made from the model's input specs (the model file defines no inputs())")
    rng = np.random.default_rng(0)
    made = []
    for spec in model.inputs:
        shape = [2 if d is None else int(d) for d in spec.shape]
        kind = np.dtype(str(getattr(spec, "dtype", "float32")).replace("tf.", ""))
        if kind.kind in "iub":
            made.append(rng.integers(0, 2, size=shape).astype(kind))
        else:
            made.append(rng.standard_normal(shape).astype(kind))
    return made[0] if len(made) == 1 else made


def keep_inputs(workdir, x):
    """Store the inputs next to the saved file, so every loading pairing uses the same ones."""
    if isinstance(x, list):
        np.savez(os.path.join(workdir, "inputs.npz"), *x)
    else:
        np.save(os.path.join(workdir, "inputs.npy"), x)


def kept_inputs(workdir):
    single = os.path.join(workdir, "inputs.npy")
    if os.path.exists(single):
        return np.load(single, allow_pickle=False)
    with np.load(os.path.join(workdir, "inputs.npz"), allow_pickle=False) as stored:
        return [stored["arr_%d" % i] for i in range(len(stored.files))]


def outputs(model, x):
    return _arrays(model(x, training=False))


def weights(model):
    return [np.asarray(w) for w in model.get_weights()]


def load_model(path):
    import keras

    try:
        return keras.models.load_model(path)
    except Exception as exc:
        text = str(exc)
        if "Could not locate" in text or "Unknown layer" in text or "register_keras_serializable" in text:
            raise UnregisteredClass(text + " (the file uses a class this env does not know: give the file that "
                                    "defines and registers it with --model FILE.py)") from exc
        raise
'''


@dataclass(frozen=True)
class ModelFile:
    """``FILE.py:FUNCTION`` (``function`` None: only the file, imported for its registered classes)."""

    path: Path
    function: str | None

    @property
    def stem(self) -> str:
        return _identifier(self.path.stem)


#: The longest module name derived from a user's file name (file names stay far below the
#: filesystem's limit with any suffix added).
_MAX_NAME = 60


def _identifier(text: str) -> str:
    name = re.sub(r"[^A-Za-z0-9_]", "_", text)[:_MAX_NAME]
    return name if re.match(r"^[A-Za-z_]", name) else f"m_{name}"


def writer_version(text: str | None) -> str | None:
    """The Keras version a saved file says wrote it, when it is a PEP 440 version (the file's
    metadata is the user's data: anything else is an unknown writer)."""
    if not isinstance(text, str) or text != text.strip():
        return None
    try:
        Version(text)
    except InvalidVersion:
        return None
    return text


# --------------------------------------------------------------------------- literals
#
# A generated module is fixed code; every value that comes from the user (paths, names, the
# function's name, a saved file's metadata, a signature) enters it only through these: as the
# repr() of a plain str (or None), never inside text that Python parses.


def _literal(value: str | Path | None) -> str:
    """``value`` as a Python literal: the repr of a plain str, or ``None``."""
    if value is None:
        return "None"
    text = str(value)
    if type(text) is not str:  # a str subclass could repr itself as anything
        text = str.__str__(text)
    return repr(text)


def _docstring(lines: list[str]) -> str:
    """A module docstring made of literals, one per line of ``lines``."""
    return "(\n" + "".join(f"    {_literal(line + chr(10))}\n" for line in lines) + ")\n"


def _assignments(values: dict[str, str | Path | None]) -> str:
    return "".join(f"{name} = {_literal(value)}\n" for name, value in values.items())


#: The formats of the ``--model`` scenario: its file's suffix, and how it is saved and loaded.
_FORMATS = {
    "keras": (".keras", "model.save(f)", "load_model(f)"),
    "weights_h5": (".weights.h5", "model.save_weights(f)", None),
    "legacy_h5": (".h5", "model.save(f)", "load_model(f)"),
}


def model_scenarios(model: ModelFile) -> dict[str, str]:
    """The scenario modules for ``--model``, by file name (the helper module included): one
    scenario with ``FORMATS`` (``<stem>_formats``: the model is built once per saving pairing and
    saved in every format) and the SavedModel export (TensorFlow backend only)."""
    assert model.function is not None
    sources = {f"{HELPER}.py": HELPER_SOURCE}
    names = tuple(_FORMATS)
    suffixes = {name: suffix for name, (suffix, _, _) in _FORMATS.items()}
    saving = "".join(f"    {'if' if i == 0 else 'elif'} fmt == {name!r}:\n        {call}\n"
                     for i, (name, (_, call, _)) in enumerate(_FORMATS.items()))
    loading = "".join(
        f"    {'if' if i == 0 else 'elif'} fmt == {name!r}:\n" + (
            f"        model = {call}\n" if call else
            "        model = build(MODEL, FUNCTION, seed=2)  # other weights: a load that sets nothing fails\n"
            "        model.load_weights(f)\n")
        for i, (name, (_, _, call)) in enumerate(_FORMATS.items()))
    given = _assignments({"MODEL": model.path, "FUNCTION": model.function})
    sources[f"{model.stem}_formats.py"] = _docstring([
        f"{model.stem}: saved in three formats, loaded in every pairing",
        "",
        f"Generated for --model {model.path}:{model.function}: the model is built once in one pairing",
        "and saved in every format (FORMATS: each has its own verdicts), and loaded in another; the",
        "outputs on the same inputs and the weights, array by array, must be equal.",
    ]) + f"""import os

from {HELPER} import build, keep_inputs, kept_inputs, load_model, made_inputs, outputs, user_module, weights

{given}TAGS = ("model", "formats")
FORMATS = {names!r}
SUFFIXES = {suffixes!r}
_BUILT = []  # the model and its inputs, built once per save phase and saved in every format


def save(workdir, fmt):
    if not _BUILT:
        model = build(MODEL, FUNCTION, seed=1)
        _BUILT.append((model, made_inputs(model, MODEL)))
    model, x = _BUILT[0]
    keep_inputs(workdir, x)
    f = os.path.join(workdir, "model" + SUFFIXES[fmt])
{saving}    return {{"outputs": outputs(model, x), "weights": weights(model)}}


def load(workdir, fmt):
    user_module(MODEL)
    f = os.path.join(workdir, "model" + SUFFIXES[fmt])
{loading}    return {{"outputs": outputs(model, kept_inputs(workdir)), "weights": weights(model)}}
"""
    sources[f"{model.stem}_saved_model.py"] = _docstring([
        f"{model.stem}: its SavedModel export, read by tf.saved_model",
        "",
        f"Generated for --model {model.path}:{model.function}: model.export in one pairing, and in",
        "another tf.saved_model.load and its serve endpoint called on the same inputs; the outputs",
        "must be equal (a SavedModel keeps no Keras weights to compare).",
    ]) + f"""import os

from {HELPER} import build, keep_inputs, kept_inputs, made_inputs, outputs, _arrays

{given}TAGS = ("model", "saved-model")
BACKENDS = ("tensorflow",)


def save(workdir):
    model = build(MODEL, FUNCTION, seed=1)
    x = made_inputs(model, MODEL)
    keep_inputs(workdir, x)
    model.export(os.path.join(workdir, "saved_model"))
    return {{"outputs": outputs(model, x)}}


def load(workdir):
    import tensorflow as tf

    loaded = tf.saved_model.load(os.path.join(workdir, "saved_model"))
    return {{"outputs": _arrays(loaded.serve(kept_inputs(workdir)))}}
"""
    return sources


def _against(reference: Path | None, writer_pairing: str | None) -> str:
    if reference is not None:
        return "with the reference outputs given"
    if writer_pairing:
        return "with those of the pairing that wrote it"
    return "between the pairings (no pairing of the run wrote it, so this is all it can tell)"


def file_scenarios(saved: Path, written_by: str | None, model: ModelFile | None, inputs: Path | None,
                   reference: Path | None, writer_pairing: str | None, signature: str | None = None) -> dict[str, str]:
    """The scenario module for ``--file``, by file name (the helper module included).

    ``written_by`` is the Keras version the file's metadata names (shown only when it is a
    version); ``writer_pairing`` is the Keras version of the pairing that matches the file's
    writer (its ``SAVE_REQUIRES``), None when no pairing of the run does.
    """
    weights_only = saved.name.endswith(".weights.h5")
    name = _identifier("file_" + saved.name.replace(".", "_"))
    if weights_only:
        assert model is not None and model.function is not None
        open_model = "    user_module(MODEL)\n    model = build(MODEL, FUNCTION, seed=2)\n    model.load_weights(f)\n"
    else:
        open_model = "    if MODEL:\n        user_module(MODEL)\n    model = load_model(f)\n"
    make_inputs = "np.load(INPUTS, allow_pickle=False)" if inputs else "made_inputs(model, MODEL)"
    writer = writer_version(written_by)
    writer_pairing = writer_version(writer_pairing)
    header = _docstring([
        f"{saved.name}: will it load, and load right, on these versions?",
        "",
        f"Generated for --file {saved} ({f'written by keras {writer}' if writer else 'unknown writer'}): the file is",
        f"loaded in every pairing and its outputs compared {_against(reference, writer_pairing)}.",
    ]) + f"""import os
import shutil

import numpy as np

from {HELPER} import build, kept_inputs, keep_inputs, load_model, made_inputs, outputs, user_module

""" + _assignments({"FILE": saved, "MODEL": model.path if model else None, "FUNCTION": model.function if model else None,
                    "INPUTS": inputs}) + 'TAGS = ("file",)\n'
    if signature:
        header += _assignments({"SIGNATURE": signature})
    opener = f"""

def _open(workdir):
    f = os.path.join(workdir, os.path.basename(FILE))
    if not os.path.exists(f):  # a load finds the save's copy there, shared with the other loads: read, never written
        shutil.copyfile(FILE, f)
{open_model}    return model
"""
    if reference is not None:
        body = header + _assignments({"REFERENCE": reference}) + opener + f"""

def run(workdir):
    model = _open(workdir)
    x = {make_inputs}
    return {{"expected": np.load(REFERENCE, allow_pickle=False), "actual": outputs(model, x)}}
"""
    else:
        save_requires = f"SAVE_REQUIRES = {{'keras': {_literal('==' + writer_pairing)}}}\n" if writer_pairing else ""
        body = header + save_requires + opener + f"""

def save(workdir):
    model = _open(workdir)
    x = {make_inputs}
    keep_inputs(workdir, x)
    return {{"outputs": outputs(model, x)}}


def load(workdir):
    model = _open(workdir)
    return {{"outputs": outputs(model, kept_inputs(workdir))}}
"""
    return {f"{HELPER}.py": HELPER_SOURCE, f"{name}.py": body}
