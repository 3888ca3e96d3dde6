"""A stand-in for Keras and TensorFlow, as wheels for a local package folder: enough of both for
the scenarios that ``matrix --model`` generates (build, call, save in every format, load, export
and ``tf.saved_model.load``), in pure Python on numpy, so that a user's own model runs through
the matrix in seconds with no framework installed.

Two generations differ the way real releases do: keras 3.0 writes ``quantization_config`` into
a layer's config, which keras 1.0 refuses when it loads the file (``Unrecognized keyword arguments
passed to Dense``), and only 3.0 knows the ``gelu`` activation.

The envs need numpy, and the folder holds no index: :func:`numpy_wheel` packs the numpy of the
interpreter running the tests into a wheel again (the envs use that interpreter)."""

from __future__ import annotations

import importlib.metadata
import zipfile
from pathlib import Path

from support import build_wheel

VERSIONS = ("1.0", "3.0")
PAIRINGS = [f"keras=={v},tensorflow=={v}" for v in VERSIONS]

KERAS = '''"""A stand-in for Keras {version} (tests only)."""
import json
import os
import types
import zipfile

import numpy as np

__version__ = {version!r}
_NEW = int(__version__.split(".")[0]) >= 3
_ACTIVATIONS = {{"linear": lambda x: x, "relu": lambda x: np.maximum(x, 0)}}
if _NEW:
    _ACTIVATIONS["gelu"] = lambda x: 0.5 * x * (1 + np.tanh(0.7978845608 * (x + 0.044715 * x ** 3)))
_RNG = [np.random.default_rng(0)]


class KerasTensor:
    def __init__(self, shape, dtype="float32"):
        self.shape = tuple(shape)
        self.dtype = dtype


def Input(shape, dtype="float32"):
    return KerasTensor((None, *shape), dtype)


class Dense:
    def __init__(self, units, activation="linear", **kwargs):
        if _NEW:
            kwargs.pop("quantization_config", None)
        if kwargs:
            raise TypeError("Unrecognized keyword arguments passed to Dense: %r" % (kwargs,))
        if activation not in _ACTIVATIONS:
            raise ValueError("Unknown activation function: %r" % (activation,))
        self.units, self.activation, self.kernel, self.bias = units, activation, None, None

    def build(self, width):
        self.kernel = _RNG[0].standard_normal((width, self.units)).astype("float32")
        self.bias = _RNG[0].standard_normal((self.units,)).astype("float32")

    def __call__(self, x):
        return _ACTIVATIONS[self.activation](np.asarray(x, dtype="float32") @ self.kernel + self.bias)

    def get_config(self):
        config = {{"units": self.units, "activation": self.activation}}
        if _NEW:
            config["quantization_config"] = None
        return config


class _Variable:
    """One weight of a model, as Keras's variables offer it: its value, and assign."""

    def __init__(self, model, index):
        self.model, self.index, self.name = model, index, "weight_%d" % index

    def numpy(self):
        return self.model.get_weights()[self.index]

    def assign(self, value):
        weights = self.model.get_weights()
        weights[self.index] = np.asarray(value, dtype="float32")
        self.model.set_weights(weights)


class Sequential:
    def __init__(self, layers):
        self.inputs = [layers[0]]
        self.layers = list(layers[1:])
        width = layers[0].shape[-1]
        for layer in self.layers:
            layer.build(width)
            width = layer.units

    def __call__(self, x, training=False):
        for layer in self.layers:
            x = layer(x)
        return x

    def get_weights(self):
        return [w for layer in self.layers for w in (layer.kernel, layer.bias)]

    @property
    def weights(self):
        return [_Variable(self, n) for n in range(2 * len(self.layers))]

    def set_weights(self, weights):
        for n, layer in enumerate(self.layers):
            layer.kernel, layer.bias = weights[2 * n], weights[2 * n + 1]

    def _config(self):
        return {{"input": list(self.inputs[0].shape[1:]), "layers": [layer.get_config() for layer in self.layers]}}

    def save(self, path):
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("metadata.json", json.dumps({{"keras_version": __version__}}))
            archive.writestr("config.json", json.dumps(self._config()))
            with archive.open("weights.npz", "w") as handle:
                np.savez(handle, *self.get_weights())

    def save_weights(self, path):
        with open(path, "wb") as handle:
            np.savez(handle, *self.get_weights())

    def load_weights(self, path):
        with np.load(path, allow_pickle=False) as stored:
            self.set_weights([stored["arr_%d" % n] for n in range(len(stored.files))])

    def export(self, path):
        os.makedirs(path)
        self.save(os.path.join(path, "model.keras"))


def _load_model(path):
    with zipfile.ZipFile(path) as archive:
        config = json.loads(archive.read("config.json"))
        with archive.open("weights.npz") as handle:
            with np.load(handle, allow_pickle=False) as stored:
                weights = [stored["arr_%d" % n] for n in range(len(stored.files))]
    model = Sequential([Input(config["input"])] + [Dense(**layer) for layer in config["layers"]])
    model.set_weights(weights)
    return model


def _set_random_seed(seed):
    _RNG[0] = np.random.default_rng(seed)


layers = types.SimpleNamespace(Dense=Dense, Input=Input)
models = types.SimpleNamespace(load_model=_load_model, Sequential=Sequential)
saving = types.SimpleNamespace(load_model=_load_model)
utils = types.SimpleNamespace(set_random_seed=_set_random_seed)
ops = types.SimpleNamespace(convert_to_numpy=np.asarray)
'''

TENSORFLOW = '''"""A stand-in for TensorFlow {version} (tests only): reads what the stand-in Keras exports."""
import os
import types

__version__ = {version!r}


class _Loaded:
    def __init__(self, path):
        import keras

        self._model = keras.models.load_model(os.path.join(path, "model.keras"))

    def serve(self, x):
        return self._model(x)


saved_model = types.SimpleNamespace(load=_Loaded)
'''


def numpy_wheel(folder: Path) -> Path:
    """The numpy of this interpreter as a wheel again: its files as installed (scripts, the
    installer's own records and bytecode left out) under its own tags."""
    dist = importlib.metadata.distribution("numpy")
    info = next(p for p in dist.files or [] if p.name == "WHEEL" and p.parent.name.endswith(".dist-info"))
    tags = [line.split(":", 1)[1].strip() for line in Path(dist.locate_file(info)).read_text().splitlines() if line.startswith("Tag:")]
    wheel = folder / f"numpy-{dist.version}-{tags[-1]}.whl"
    skipped = {"INSTALLER", "REQUESTED", "direct_url.json", "uv_cache.json", "uv_build.json"}
    with zipfile.ZipFile(wheel, "w") as archive:
        for entry in dist.files or []:
            path = Path(dist.locate_file(entry))
            if entry.parts[0] == ".." or "__pycache__" in entry.parts or entry.name in skipped or not path.is_file():
                continue
            archive.write(path, entry.as_posix())
    return wheel


def fake_framework_wheels(folder: Path) -> Path:
    """Write keras and tensorflow 1.0 and 3.0 (the stand-ins) and numpy into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    for version in VERSIONS:
        build_wheel(folder, "keras", version, {"keras/__init__.py": KERAS.format(version=version)}, requires=["numpy"])
        build_wheel(folder, "tensorflow", version, {"tensorflow/__init__.py": TENSORFLOW.format(version=version)})
    numpy_wheel(folder)
    return folder


MODEL = '''import keras


def build():
    return keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, activation={activation!r})])
'''


def model_source(activation: str = "relu") -> str:
    """A user's model file: a Dense layer with this activation (``gelu``: keras 1.0 cannot build it)."""
    return MODEL.format(activation=activation)
