"""Scenarios generated for a user's own model or saved file (``matrix --model`` / ``--file``), so
that nothing has to be written to the scenario contract by hand.

Pure: this module only writes the text of scenario modules, and gives the text of the helper they
share (:mod:`harness.plan.model_helper`, read from the package); the command writes them into the
run folder and the run treats them like any other scenario. The user's file runs only inside the
tested envs; here it is only named.

``--model FILE.py:FUNCTION`` gives one cross-version scenario with ``FORMATS`` (``.keras``,
``.weights.h5``, legacy ``.h5``, and with ``--unsafe-load`` the whole-model files loaded with
``safe_mode=False``: built once and saved in every format in each pairing, loaded in every
pairing, each format with its own verdicts), and one for the TensorFlow SavedModel export where
the backend is TensorFlow, comparing the outputs on the same inputs and the weights array by
array. ``--file SAVED`` gives one scenario that loads that file in every pairing (and with
``--unsafe-load`` one more, loading it with ``safe_mode=False``): against ``--reference`` outputs
when given (a single-env scenario), else against the outputs of the pairing that wrote the file,
or, when no pairing did, of each pairing.

A generated module is fixed code: the user's values (paths, names, the function's name, a saved
file's metadata, a signature) enter it only as ``repr()`` literals of plain strings, its docstring
included, so no value can become code; a writer's version is kept only when it is a PEP 440 version.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from packaging.version import InvalidVersion, Version

from harness.plan.model_helper import FORMATS, SAVED_MODEL_ROUTES

HELPER = "_keras_compat_model"


def helper_source() -> str:
    """The text of the helper module the generated scenarios share (:mod:`harness.plan.model_helper`),
    written beside them as ``_keras_compat_model.py``; read from the package, as installed."""
    return resources.files("harness.plan").joinpath("model_helper.py").read_text(encoding="utf-8")


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


#: How reports name each format of the ``--model`` scenario.
FORMAT_FILES = {"keras": ".keras", "weights_h5": ".weights.h5", "legacy_h5": "legacy .h5",
                "keras_unsafe": ".keras (safe_mode=False)", "legacy_h5_unsafe": "legacy .h5 (safe_mode=False)",
                "load_model": "keras.models.load_model", "tfsmlayer": "keras.layers.TFSMLayer",
                "saved_model": "tf.saved_model.load"}


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


def model_scenarios(model: ModelFile, unsafe_load: bool = False) -> dict[str, str]:
    """The scenario modules for ``--model``, by file name (the helper module included): one
    scenario with ``FORMATS`` (``<stem>_formats``: the model is built once per saving pairing and
    saved in every format) and the SavedModel export (TensorFlow backend only). ``unsafe_load``
    adds the formats loaded with ``safe_mode=False`` (``keras_unsafe``, ``legacy_h5_unsafe``)."""
    assert model.function is not None
    given = _assignments({"MODEL": model.path, "FUNCTION": model.function})
    formats = tuple(name for name, fmt in FORMATS.items() if fmt.safe_mode or unsafe_load)
    return {
        f"{HELPER}.py": helper_source(),
        f"{model.stem}_formats.py": _docstring([
            f"{model.stem}: saved in every format, loaded in every pairing",
            "",
            f"Generated for --model {model.path}:{model.function}: the model is built once in one pairing",
            "and saved in every format (FORMATS: each has its own verdicts), and loaded in another; the",
            "outputs on the same inputs and the weights, array by array, must be equal.",
            *(["The *_unsafe formats load the same files with safe_mode=False."] if unsafe_load else []),
        ]) + f"""from {HELPER} import load_format, save_format

{given}TAGS = ("model", "formats")
FORMATS = {formats!r}
_BUILT = []  # the model and its inputs, built once per save phase and saved in every format


def save(workdir, fmt):
    return save_format(workdir, fmt, MODEL, FUNCTION, _BUILT)


def load(workdir, fmt):
    return load_format(workdir, fmt, MODEL, FUNCTION)
""",
        f"{model.stem}_saved_model.py": _docstring([
            f"{model.stem}: its SavedModel export, read by tf.saved_model",
            "",
            f"Generated for --model {model.path}:{model.function}: model.export in one pairing, and in",
            "another tf.saved_model.load and its serve endpoint called on the same inputs; the outputs",
            "must be equal (a SavedModel keeps no Keras weights to compare).",
        ]) + f"""from {HELPER} import export_saved_model, serve_saved_model

{given}TAGS = ("model", "saved-model")
BACKENDS = ("tensorflow",)


def save(workdir):
    return export_saved_model(workdir, MODEL, FUNCTION)


def load(workdir):
    return serve_saved_model(workdir)
""",
    }


def _against(reference: Path | None, writer_pairing: str | None) -> str:
    if reference is not None:
        return "with the reference outputs given"
    if writer_pairing:
        return "with those of the pairing that wrote it"
    return "between the pairings (no pairing of the run wrote it, so this is all it can tell)"


def file_scenarios(saved: Path, written_by: str | None, model: ModelFile | None, inputs: Path | None,
                   reference: Path | None, writer_pairing: str | None, signature: str | None = None,
                   weights_only: bool | None = None, unsafe_load: bool = False, writer_name: str = "keras") -> dict[str, str]:
    """The scenario modules for ``--file``, by file name (the helper module included): the file
    loaded in safe mode and, with ``unsafe_load`` (not for a weights file, which holds no code),
    the same loaded with ``safe_mode=False`` (``<name>_unsafe``).

    ``written_by`` is the Keras version the file's metadata names (shown only when it is a
    version); ``writer_pairing`` is the version of ``writer_name`` (``keras``, or ``tf-keras``) of
    the pairing that matches the file's writer (its ``SAVE_REQUIRES``), None when no pairing of
    the run does. ``weights_only``: the
    file holds weights only, loaded into the model ``model``'s function builds (default: its name
    ends in ``.weights.h5``).
    """
    if weights_only is None:
        weights_only = saved.name.endswith(".weights.h5")
    assert not weights_only or (model is not None and model.function is not None)
    name = _identifier("file_" + saved.name.replace(".", "_"))
    writer = writer_version(written_by)
    writer_pairing = writer_version(writer_pairing)
    header = _assignments({"FILE": saved, "MODEL": model.path if model else None,
                           "FUNCTION": model.function if model else None, "INPUTS": inputs})
    header += f'WEIGHTS_ONLY = {weights_only!r}\nTAGS = ("file",)\n'
    if signature:
        header += _assignments({"SIGNATURE": signature})
    if reference is not None:
        header += _assignments({"REFERENCE": reference})
    elif writer_pairing:
        header += f"SAVE_REQUIRES = {{{_literal(writer_name)}: {_literal('==' + writer_pairing)}}}\n"
    sources = {f"{HELPER}.py": helper_source()}
    for safe_mode in (True, False) if unsafe_load and not weights_only else (True,):
        how = "" if safe_mode else ", loaded with safe_mode=False"
        sources[f"{name}{'' if safe_mode else '_unsafe'}.py"] = _docstring([
            f"{saved.name}{how}: will it load, and load right, on these versions?",
            "",
            f"Generated for --file {saved} ({f'written by keras {writer}' if writer else 'unknown writer'}): the file is",
            f"loaded in every pairing{how} and its outputs compared {_against(reference, writer_pairing)}.",
        ]) + f"""import numpy as np

from {HELPER} import given_inputs, keep_inputs, kept_inputs, open_saved, outputs

{header}SAFE_MODE = {safe_mode!r}
""" + (_FILE_RUN if reference is not None else _FILE_SAVE_LOAD)
    return sources


#: The code of a ``--file`` scenario compared with reference outputs (a single-env scenario).
_FILE_RUN = """

def run(workdir):
    model = open_saved(workdir, FILE, MODEL, FUNCTION, WEIGHTS_ONLY, SAFE_MODE)
    x = given_inputs(model, INPUTS, MODEL)
    return {"expected": np.load(REFERENCE, allow_pickle=False), "actual": outputs(model, x)}
"""

#: The code of a ``--file`` scenario compared across pairings.
_FILE_SAVE_LOAD = """

def save(workdir):
    model = open_saved(workdir, FILE, MODEL, FUNCTION, WEIGHTS_ONLY, SAFE_MODE)
    x = given_inputs(model, INPUTS, MODEL)
    keep_inputs(workdir, x)
    return {"outputs": outputs(model, x)}


def load(workdir):
    model = open_saved(workdir, FILE, MODEL, FUNCTION, WEIGHTS_ONLY, SAFE_MODE)
    return {"outputs": outputs(model, kept_inputs(workdir))}
"""


def saved_model_scenarios(saved: Path, writer: tuple[str, str] | None, written_by: str | None, inputs: Path | None,
                          reference: Path | None, signature: str | None = None) -> dict[str, str]:
    """The scenario modules for ``--file DIR``, a TensorFlow SavedModel folder: each route a user
    would take to it (``load_model``, ``TFSMLayer``, ``tf.saved_model.load``: see the helper's
    ``SAVED_MODEL_ROUTES``) with its own verdicts, on the TensorFlow backend.

    With ``reference``: one single-env scenario per route, ``<name>_<route>``, comparing its
    outputs with the reference. Else one cross-version scenario ``<name>`` with the routes as its
    ``FORMATS``: the save (in the pairing that wrote the folder, ``writer`` = (distribution,
    version), when one does) copies the folder and keeps the serving signature's outputs; every
    pairing's every route must give them. ``written_by`` is only said.
    """
    name = _identifier("file_" + saved.name.replace(".", "_"))
    header = _assignments({"FILE": saved, "INPUTS": inputs})
    header += 'TAGS = ("file", "saved-model")\nBACKENDS = ("tensorflow",)\n'
    if signature:
        header += _assignments({"SIGNATURE": signature})
    said = f"written by {written_by}" if written_by else "unknown writer"
    sources = {f"{HELPER}.py": helper_source()}
    if reference is not None:
        for route in SAVED_MODEL_ROUTES:
            sources[f"{name}_{route}.py"] = _docstring([
                f"{saved.name} opened by {route}: will it load, and load right, on these versions?",
                "",
                f"Generated for --file {saved} (a SavedModel folder, {said}): opened by {route} in every",
                "pairing and its outputs compared with the reference outputs given.",
            ]) + f"""import numpy as np

from {HELPER} import run_saved_model

{header}""" + _assignments({"REFERENCE": reference, "ROUTE": route}) + """

def run(workdir):
    return {"expected": np.load(REFERENCE, allow_pickle=False), "actual": run_saved_model(workdir, ROUTE, FILE, INPUTS)}
"""
        return sources
    if writer is not None:
        header += f"SAVE_REQUIRES = {{{_literal(writer[0])}: {_literal('==' + writer[1])}}}\n"
    sources[f"{name}.py"] = _docstring([
        f"{saved.name}: which routes load it, and load it right, on these versions?",
        "",
        f"Generated for --file {saved} (a SavedModel folder, {said}): the folder is kept with the outputs",
        "of its serving signature in " + ("the pairing that wrote it" if writer else "each pairing") + ", then opened in every pairing",
        "by each route (FORMATS: load_model, TFSMLayer, tf.saved_model.load) and its outputs compared.",
    ]) + f"""from {HELPER} import load_saved_model, save_saved_model

{header}FORMATS = {SAVED_MODEL_ROUTES!r}


def save(workdir, fmt):
    return save_saved_model(workdir, fmt, FILE, INPUTS)


def load(workdir, fmt):
    return load_saved_model(workdir, fmt, FILE)
"""
    return sources
