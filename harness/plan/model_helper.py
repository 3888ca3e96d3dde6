"""The helper module of the scenarios generated for a model of your own (``matrix --model`` /
``--file``): build the model, make its inputs, save and load it in each format, and give back
outputs and weights as numpy arrays.

A run copies this file into its scenarios folder as ``_keras_compat_model.py`` (see
:mod:`harness.plan.models`), and the generated scenarios import it there, inside the tested envs.
So it imports nothing from ``harness``: only the standard library and numpy at import, and Keras
(the user's file, TensorFlow) only inside functions; the host imports it without Keras (for its
format table, and to test its pure parts). It keeps to Python 3.8 and works with Keras 2
(``tf.keras``, TensorFlow <= 2.15) and Keras 3 on every backend.
"""

from __future__ import annotations

import contextlib
import importlib.util
import inspect
import os
import random
import re
import shutil
import sys
from typing import Any, Callable, Iterator, NamedTuple

import numpy as np


class Format(NamedTuple):
    """How a model is saved in one format: the file's suffix, whether the file holds the whole
    model (``model.save``, read by ``load_model``) or only its weights (``save_weights``, read by
    ``load_weights`` into a model the user's function builds again), and whether it is loaded in
    Keras's safe mode (the default) or with ``safe_mode=False``."""

    suffix: str
    whole_model: bool
    safe_mode: bool = True


#: The formats of the ``--model`` scenario, by name: each has its own verdicts. Those loaded with
#: ``safe_mode=False`` are added only when asked for (``--unsafe-load``).
FORMATS = {
    "keras": Format(".keras", True),
    "weights_h5": Format(".weights.h5", False),
    "legacy_h5": Format(".h5", True),
    "keras_unsafe": Format(".keras", True, safe_mode=False),
    "legacy_h5_unsafe": Format(".h5", True, safe_mode=False),
}


class HelperFailed(Exception):
    """This module's own work failed in this env (making inputs, converting values, copying the
    file): the harness's failure, never the user's model's nor Keras's. Its message starts with
    "the harness's helper failed in this env"."""


@contextlib.contextmanager
def harness_step(what: str) -> Iterator[None]:
    """Run one of this module's own steps: any exception in it becomes :class:`HelperFailed`,
    naming the step and the exception (Keras's own calls and the user's code stay outside)."""
    try:
        yield
    except HelperFailed:
        raise
    except Exception as exc:
        raise HelperFailed(f"the harness's helper failed in this env: {what}: {type(exc).__name__}: {exc}") from exc


# --------------------------------------------------------------------------- Keras and the user's file


def keras_module() -> Any:
    """The Keras this env reads and writes files with: with ``TF_USE_LEGACY_KERAS=1`` (a pairing
    with tf-keras) ``tf.keras``, which is then Keras 2 (tf-keras); else the one a model file gets
    with ``import keras``: Keras 3, or with TensorFlow <= 2.15 the ``keras`` 2 package (which is
    ``tf.keras``); ``tensorflow.keras`` where no ``keras`` is installed."""
    if os.environ.get("TF_USE_LEGACY_KERAS") == "1":
        try:
            import tf_keras

            return tf_keras
        except ImportError:
            pass
    if importlib.util.find_spec("keras") is None:  # no keras distribution: TensorFlow's own
        from tensorflow import keras

        return keras
    import keras  # an import that fails here is Keras's failure (keras 3.5's numpy backend needs jax), said as it is

    return keras


def user_module(path: str) -> Any:
    """Import the user's model file once, as the module of its own name (its registered classes
    are then known to Keras)."""
    name = os.path.splitext(os.path.basename(path))[0]
    if name in sys.modules:
        return sys.modules[name]
    folder = os.path.dirname(path)
    if folder not in sys.path:
        sys.path.append(folder)
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import the model file {path!r}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def set_seed(seed: int) -> None:
    """Seed Python, numpy and the backend (``keras.utils.set_random_seed`` where Keras has it)."""
    keras = keras_module()
    setter = getattr(keras.utils, "set_random_seed", None)
    if setter is not None:
        setter(seed)
        return
    random.seed(seed)
    np.random.seed(seed)
    import tensorflow as tf

    tf.random.set_seed(seed)


def build(path: str, function: str, seed: int) -> Any:
    """The model ``function()`` of the user's file builds, with the random seeds set to ``seed``."""
    set_seed(seed)
    return getattr(user_module(path), function)()


# --------------------------------------------------------------------------- arrays and inputs


def arrays(value: Any) -> Any:
    """``value`` (a tensor, a variable, an array, or dicts, lists and tuples of them) as numpy
    arrays, with the same nesting (tuples become lists, dict keys strings)."""
    if isinstance(value, dict):
        return {str(k): arrays(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [arrays(v) for v in value]
    return to_numpy(value)


def to_numpy(value: Any) -> Any:
    """One value as a numpy array: numpy values as they are, else through Keras 3's
    ``keras.ops.convert_to_numpy`` where it exists, else the tensor's ``.numpy()``."""
    if isinstance(value, (np.ndarray, np.generic, int, float, bool, complex)):
        return np.asarray(value)
    ops = getattr(keras_module(), "ops", None)
    convert = getattr(ops, "convert_to_numpy", None)
    if convert is not None:
        return np.asarray(convert(value))
    if hasattr(value, "numpy"):
        return np.asarray(value.numpy())
    return np.asarray(value)


def dtype_name(dtype: Any) -> str:
    """A dtype's name, from a string (Keras 3), a ``tf.DType`` or a numpy dtype."""
    if isinstance(dtype, str):
        return dtype
    return str(getattr(dtype, "name", dtype))


def input_arrays(specs: list[tuple[Any, str]], seed: int = 0, highs: list[int | None] | None = None) -> list[Any]:
    """Deterministic inputs for ``(shape, dtype)`` specs: unknown dimensions are 2; integers are
    drawn from ``0 .. highs[i] - 1`` where the model says how far they go (an Embedding's
    ``input_dim``), else 0 or 1; booleans 0 or 1, floats standard normal."""
    rng = np.random.default_rng(seed)
    made = []
    for index, (shape, dtype) in enumerate(specs):
        size = [2 if d is None else int(d) for d in shape]
        kind = np.dtype(dtype)
        high = (highs[index] if highs and index < len(highs) else None) or 2
        if kind.kind in "iu":
            made.append(rng.integers(0, max(2, high), size=size).astype(kind))
        elif kind.kind == "b":
            made.append(rng.integers(0, 2, size=size).astype(kind))
        else:
            made.append(rng.standard_normal(size).astype(kind))
    return made


def integer_ranges(model: Any) -> list[int | None]:
    """For each input of ``model``, how far its integer values may go, where the model says so:
    the smallest ``input_dim`` of the Embedding layers it feeds (directly, as a functional model
    wires them); None where nothing says."""
    highs: list[int | None] = []
    try:
        layers = list(getattr(model, "layers", []))
        embeddings = [layer for layer in layers if hasattr(layer, "input_dim") and type(layer).__name__ == "Embedding"]
        for spec in getattr(model, "inputs", None) or []:
            found = [int(layer.input_dim) for layer in embeddings if _feeds(spec, layer)]
            highs.append(min(found) if found else (min(int(e.input_dim) for e in embeddings) if embeddings else None))
    except Exception:
        return []
    return highs


def _feeds(spec: Any, layer: Any) -> bool:
    """Whether the input tensor ``spec`` is among ``layer``'s inputs (False when it cannot be told)."""
    try:
        given = layer.input
        given = given if isinstance(given, (list, tuple)) else [given]
        return any(item is spec for item in given)
    except Exception:
        return False


def made_inputs(model: Any, path: str | None) -> Any:
    """The model file's ``inputs()``, else deterministic inputs from the model's input specs."""
    module = user_module(path) if path else None
    if module is not None and callable(getattr(module, "inputs", None)):
        return arrays(module.inputs())
    specs = getattr(model, "inputs", None)
    if not specs:
        raise ValueError("the model has no input specs to make inputs from (a subclassed model?): "
                         "define inputs() in the model file, returning its inputs")
    print("inputs: made from the model's input specs (the model file defines no inputs())")
    with harness_step("making inputs from the model's input specs"):
        made = input_arrays([(tuple(spec.shape), dtype_name(getattr(spec, "dtype", "float32"))) for spec in specs],
                            highs=integer_ranges(model))
    return made[0] if len(made) == 1 else made


def given_inputs(model: Any, inputs_path: str | None, model_path: str | None) -> Any:
    """The inputs file given (``--inputs``), else :func:`made_inputs`."""
    if inputs_path:
        return np.load(inputs_path, allow_pickle=False)
    return made_inputs(model, model_path)


def keep_inputs(workdir: str, x: Any) -> None:
    """Store the inputs next to the saved file, so every loading pairing uses the same ones."""
    with harness_step("storing the inputs"):
        if isinstance(x, list):
            np.savez(os.path.join(workdir, "inputs.npz"), *x)
        else:
            np.save(os.path.join(workdir, "inputs.npy"), x)


def kept_inputs(workdir: str) -> Any:
    """The inputs the save stored (:func:`keep_inputs`)."""
    with harness_step("reading the stored inputs"):
        single = os.path.join(workdir, "inputs.npy")
        if os.path.exists(single):
            return np.load(single, allow_pickle=False)
        with np.load(os.path.join(workdir, "inputs.npz"), allow_pickle=False) as stored:
            return [stored[f"arr_{i}"] for i in range(len(stored.files))]


def outputs(model: Any, x: Any) -> Any:
    """The model called on ``x`` (its own call: a failure there is the model's), as numpy arrays."""
    result = model(x, training=False)
    with harness_step("converting the outputs to numpy"):
        return arrays(result)


def weights(model: Any) -> list[Any]:
    """The model's weights (Keras's ``get_weights``), as numpy arrays."""
    found = model.get_weights()
    with harness_step("converting the weights to numpy"):
        return [np.asarray(w) for w in found]


# --------------------------------------------------------------------------- loading

#: How Keras (2 and 3) says it knows no class of that name; the name (``Scale``, ``myproj>Scale``)
#: is group 1.
_UNKNOWN_CLASS = re.compile(r"(?:Could not (?:locate|deserialize) (?:class|function)|Unknown (?:layer|object|class|function))"
                            r":?\s*['\"`]?([A-Za-z_][\w.>]*)")
#: The modules that are Keras's own (a class of theirs is never the user's to give).
_KERAS_ROOTS = ("keras", "tf_keras", "tensorflow.keras", "tensorflow.python.keras")


def unknown_class(message: str) -> str | None:
    """The class a load failure says Keras does not know, as Keras names it; None when the
    failure is about something else."""
    found = _UNKNOWN_CLASS.search(message)
    return found.group(1).rstrip(".") if found else None


def registration_hint(message: str, user_classes: set[str], is_keras_class: Callable[[str], bool]) -> str | None:
    """The advice to give the file that defines a class, when it is true: the failure names a
    class that Keras does not know, that none of the files given defines (``user_classes``: the
    names the ``--model`` file and what it imports define or register), and that is not one of
    Keras's own (``is_keras_class(name)``, or a config naming a Keras module for it: a class of a
    newer Keras, say). None otherwise."""
    named = unknown_class(message)
    if named is None:
        return None
    name = named.rsplit(">", 1)[-1]  # a registered name: package>Class
    if name in {given.rsplit(">", 1)[-1] for given in user_classes} or is_keras_class(name):
        return None
    if re.search(r"'module': '(?:keras|tf_keras|tensorflow)\b[^']*', 'class_name': '" + re.escape(name) + "'", message):
        return None
    return (f"hint: the file uses the class {named!r}, which is not one of Keras's own and which no file given defines: "
            "give the file that defines and registers it with --model FILE.py")


def user_classes(model_path: str | None) -> set[str]:
    """The class names the user's file defines or imports, and every name registered with Keras."""
    names: set[str] = set()
    if model_path:
        for key, value in vars(user_module(model_path)).items():
            if isinstance(value, type):
                names.update((key, value.__name__))
    keras = keras_module()
    saving = getattr(keras, "saving", None)
    registry = getattr(saving, "get_custom_objects", None) or getattr(keras.utils, "get_custom_objects", None)
    names.update(registry() if registry is not None else {})
    return names


def is_keras_class(name: str) -> bool:
    """Whether a module of Keras imported in this process defines a class of that name."""
    for module_name, module in list(sys.modules.items()):
        if module is None or not any(module_name == root or module_name.startswith(root + ".") for root in _KERAS_ROOTS):
            continue
        if isinstance(getattr(module, "__dict__", {}).get(name), type):
            return True
    return False


def _hint_for(exc: BaseException, model_path: str | None) -> str | None:
    """:func:`registration_hint` for a load's exception; None whenever telling fails (the hint
    never takes the place of Keras's exception)."""
    try:
        text = str(exc)
        return registration_hint(text, user_classes(model_path), is_keras_class) if unknown_class(text) else None
    except Exception:
        return None


def load_model(path: str, model_path: str | None = None, safe_mode: bool = True) -> Any:
    """``load_model`` of the loading env's Keras, in safe mode or with ``safe_mode=False`` (where
    its ``load_model`` takes it: a Keras without safe mode loads as it always does, and the cell's
    output says so). Its exception is raised unchanged (same type, same message; a refusal of
    safe mode too); when it names a class that only a file not given can define, the hint saying
    so is printed to the cell's output and added to the exception as a note (Python 3.11+)."""
    load = keras_module().models.load_model
    options = {}
    if not safe_mode:
        if _takes(load, "safe_mode"):
            options["safe_mode"] = False
        else:
            print("safe_mode: this Keras's load_model has no safe_mode; the file is loaded as it always is")
    try:
        return load(path, **options)
    except Exception as exc:
        hint = _hint_for(exc, model_path)
        if hint is not None:
            print(hint)
            if hasattr(exc, "add_note"):
                exc.add_note(hint)
        raise


def _takes(function: Any, name: str) -> bool:
    try:
        parameters = inspect.signature(function).parameters
    except (TypeError, ValueError):
        return True  # cannot tell: pass it, and let Keras say
    return name in parameters or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())


def different(value: Any) -> Any:
    """An array of ``value``'s shape and dtype whose every element differs from ``value``'s:
    booleans negated, integers plus one (wrapping at the top), floats plus one (their negation, or
    1, where adding one changes nothing; 0 for NaN). ``ValueError`` for any other dtype."""
    value = np.asarray(value)
    if value.dtype == np.bool_:
        return ~value
    if value.dtype.kind in "iu":
        return value + np.ones((), dtype=value.dtype)
    if value.dtype.kind not in "fc":
        raise ValueError(f"no other value is made for dtype {value.dtype}")
    with np.errstate(all="ignore"):
        changed = (value + 1).astype(value.dtype)
        same = ~(changed != value)  # equal, or NaN
        fallback = np.where(value == 0, 1, -value).astype(value.dtype)
        changed = np.where(same, np.where(np.isnan(value), 0, fallback), changed).astype(value.dtype)
    return changed


def scramble_weights(model: Any) -> None:
    """Give every variable of ``model`` a value other than the one it holds before a weights file
    is loaded into it: a user's function that sets its own seed builds the saved weights again,
    and a load that set nothing would then pass. A variable that cannot be given another value is
    named in the cell's output, never skipped silently."""
    count = 0
    for variable in model.weights:
        current = to_numpy(variable)
        try:
            variable.assign(different(current))
        except Exception as exc:
            name = getattr(variable, "path", None) or getattr(variable, "name", "?")
            print(f"weights: the variable {name} ({current.dtype}) keeps the value it was built with before the load "
                  f"({type(exc).__name__}: {exc}); its comparison proves less")
        else:
            count += 1
    print(f"weights: {count} variables of the rebuilt model were given other values before the load")


def load_weights_into(model_path: str, function: str, path: str) -> Any:
    """The user's model built again, every variable given another value (:func:`scramble_weights`),
    and the weights file loaded into it: the weights compared afterwards are the file's only if
    the load set every one of them."""
    model = build(model_path, function, seed=2)
    scramble_weights(model)
    model.load_weights(path)
    return model


# --------------------------------------------------------------------------- the generated scenarios


def save_format(workdir: str, fmt: str, model_path: str, function: str, built: list[Any]) -> dict[str, Any]:
    """The ``save`` of the ``--model`` scenario: the model (built once per save phase, kept in
    ``built``) saved in format ``fmt``; its outputs and weights are the reference values."""
    if not built:
        model = build(model_path, function, seed=1)
        built.append((model, made_inputs(model, model_path)))
    model, x = built[0]
    keep_inputs(workdir, x)
    target = FORMATS[fmt]
    f = os.path.join(workdir, "model" + target.suffix)
    if target.whole_model:
        model.save(f)
    else:
        model.save_weights(f)
    return {"outputs": outputs(model, x), "weights": weights(model)}


def load_format(workdir: str, fmt: str, model_path: str, function: str) -> dict[str, Any]:
    """The ``load`` of the ``--model`` scenario: the file of format ``fmt`` loaded; its outputs on
    the kept inputs and its weights, to compare with the saved ones."""
    user_module(model_path)
    target = FORMATS[fmt]
    f = os.path.join(workdir, "model" + target.suffix)
    if target.whole_model:
        model = load_model(f, model_path, safe_mode=target.safe_mode)
    else:
        model = load_weights_into(model_path, function, f)
    return {"outputs": outputs(model, kept_inputs(workdir)), "weights": weights(model)}


def open_saved(workdir: str, saved: str, model_path: str | None, function: str | None, weights_only: bool,
               safe_mode: bool = True) -> Any:
    """The ``--file`` scenario's model: the file loaded from ``workdir`` (copied there by the save
    phase; a load reads the save's copy, never writes it), in safe mode or not, or into the user's
    rebuilt model when it holds weights only."""
    f = os.path.join(workdir, os.path.basename(saved))
    if not os.path.exists(f):
        with harness_step("copying the file into the work folder"):
            if os.path.isdir(saved):
                shutil.copytree(saved, f)
            else:
                shutil.copyfile(saved, f)
    if model_path:
        user_module(model_path)
    if weights_only:
        if not model_path or not function:
            raise ValueError("a weights file needs the function that builds its model")
        return load_weights_into(model_path, function, f)
    return load_model(f, model_path, safe_mode=safe_mode)


def export_saved_model(workdir: str, model_path: str, function: str) -> dict[str, Any]:
    """The save of the SavedModel scenario: ``model.export``, with the outputs as the reference."""
    model = build(model_path, function, seed=1)
    x = made_inputs(model, model_path)
    keep_inputs(workdir, x)
    model.export(os.path.join(workdir, "saved_model"))
    return {"outputs": outputs(model, x)}


def serve_saved_model(workdir: str) -> dict[str, Any]:
    """The load of the SavedModel scenario: ``tf.saved_model.load`` and its ``serve`` endpoint."""
    import tensorflow as tf

    loaded = tf.saved_model.load(os.path.join(workdir, "saved_model"))
    return {"outputs": arrays(loaded.serve(kept_inputs(workdir)))}


# --------------------------------------------------------------------------- SavedModel folders

#: The routes a user takes to a SavedModel folder, each a scenario format with its own verdicts:
#: ``keras.models.load_model``, ``keras.layers.TFSMLayer`` on the serving endpoint (Keras 3), and
#: ``tf.saved_model.load`` with its serving signature.
SAVED_MODEL_ROUTES = ("load_model", "tfsmlayer", "saved_model")
_SERVING = "serving_default"


def serving_signature(path: str) -> tuple[Any, Any]:
    """The loaded folder and its serving signature (``serving_default``, else its first one),
    through ``tf.saved_model.load``: what the file offers, so a failure here is the file's or
    TensorFlow's. The loaded object is returned too: the function needs it alive."""
    import tensorflow as tf

    loaded = tf.saved_model.load(path)
    signatures = dict(getattr(loaded, "signatures", {}) or {})
    if not signatures:
        raise ValueError(f"the SavedModel at {path!r} has no signatures to call")
    return loaded, signatures.get(_SERVING) or signatures[sorted(signatures)[0]]


def signature_names(function: Any) -> list[str]:
    """The names of a signature's inputs, sorted (the order inputs are stored and passed in)."""
    return sorted(function.structured_input_signature[1])


def signature_inputs(path: str, inputs_path: str | None) -> Any:
    """The inputs given (``--inputs``), else inputs made from the serving signature's specs: an
    array for one input, a list (by sorted input name) for several."""
    if inputs_path:
        return np.load(inputs_path, allow_pickle=False)
    _, function = serving_signature(path)
    print("inputs: made from the SavedModel's serving signature")
    with harness_step("making inputs from the serving signature"):
        specs = function.structured_input_signature[1]
        made = input_arrays([(tuple(specs[n].shape), specs[n].dtype.name) for n in signature_names(function)])
    return made[0] if len(made) == 1 else made


def flat_outputs(value: Any) -> list[Any]:
    """Outputs of any route as a list of arrays: a dict by sorted key, a list in order, one value alone."""
    with harness_step("converting the outputs to numpy"):
        if isinstance(value, dict):
            return [to_numpy(value[k]) for k in sorted(value)]
        if isinstance(value, (list, tuple)):
            return [to_numpy(v) for v in value]
        return [to_numpy(value)]


def plain_path(path: str) -> str:
    """``path`` as TensorFlow can open it: TensorFlow reads a SavedModel's variables through a glob
    pattern, so a folder whose path holds ``[``, ``]``, ``*`` or ``?`` (a scenario's format,
    ``file_x[load_model]``) is given relative to the current folder when that spares them."""
    if not any(c in path for c in "[]*?"):
        return path
    relative = os.path.relpath(path)
    return relative if not any(c in relative for c in "[]*?") else path


def route_outputs(path: str, route: str, x: Any) -> list[Any]:
    """The folder at ``path`` opened and called on ``x`` by one of :data:`SAVED_MODEL_ROUTES`; its
    outputs as :func:`flat_outputs`. What the route raises (Keras's refusal, a missing
    ``TFSMLayer``, an op TensorFlow does not know) is the cell's exception, unchanged."""
    path = plain_path(path)
    given = x if isinstance(x, list) else [x]
    if route == "saved_model":
        import tensorflow as tf

        _loaded, function = serving_signature(path)
        names = signature_names(function)
        return flat_outputs(function(**{name: tf.constant(value) for name, value in zip(names, given)}))
    keras = keras_module()
    if route == "tfsmlayer":
        layer_class = getattr(keras.layers, "TFSMLayer", None)
        if layer_class is None:
            raise AttributeError("this Keras has no keras.layers.TFSMLayer (it came with Keras 3)")
        layer = layer_class(path, call_endpoint=_SERVING)
        return flat_outputs(layer(given[0] if len(given) == 1 else given))
    if route == "load_model":
        model = keras.models.load_model(path)
        return flat_outputs(model(given[0] if len(given) == 1 else given))
    raise ValueError(f"unknown route {route!r}")


def save_saved_model(workdir: str, route: str, saved: str, inputs_path: str | None) -> dict[str, Any]:
    """The save of a ``--file`` SavedModel scenario, in the pairing that wrote the folder (or in
    each): the folder copied into the save, the inputs kept, and the outputs the serving signature
    gives there (``tf.saved_model.load``: the route that needs no Keras) as the reference."""
    target = os.path.join(workdir, os.path.basename(saved.rstrip(os.sep)))
    with harness_step("copying the folder into the save"):
        shutil.copytree(saved, target)
    x = signature_inputs(plain_path(target), inputs_path)
    keep_inputs(workdir, x)
    return {"outputs": route_outputs(target, "saved_model", x)}


def load_saved_model(workdir: str, route: str, saved: str) -> dict[str, Any]:
    """The load of a ``--file`` SavedModel scenario: the save's copy opened by ``route``, called on
    the kept inputs."""
    return {"outputs": route_outputs(os.path.join(workdir, os.path.basename(saved.rstrip(os.sep))), route, kept_inputs(workdir))}


def run_saved_model(workdir: str, route: str, saved: str, inputs_path: str | None) -> Any:
    """The outputs of a ``--file`` SavedModel opened by ``route`` (compared with ``--reference``:
    one array for a model of one output)."""
    found = route_outputs(saved, route, signature_inputs(saved, inputs_path))
    return found[0] if len(found) == 1 else found
