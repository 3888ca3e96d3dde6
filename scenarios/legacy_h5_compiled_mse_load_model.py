"""Compiled model (loss="mse") saved as legacy .h5, keras.models.load_model() with compile=True

keras-team/keras#19330 (2024-03, Keras 3): keras.models.load_model() of an `.hdf5` model
failed inside legacy_h5_format.load_model_from_hdf5 ->
saving_utils.compile_args_from_training_config -> losses.deserialize, i.e. while
re-compiling from the training config stored in the legacy file, before the model could be
used. tensorflow/tensorflow#70263 ("Can't load my model.h5", 2024-06) shows a TypeError from
the same load_model call. A tiny Dense model compiled with the string loss "mse" and
fitted one epoch is saved with model.save("model.h5") and reloaded with the default
compile=True; predictions are compared if the load succeeds. The common advice is
load_model(..., compile=False) (see formats_mixed_model[legacy_h5], which loads that way).

Measured (TensorFlow backend, Python 3.11, CPU): load_model() fails on every measured
version: "TypeError: Could not locate function 'mse'" on 3.1.1, 3.3.3, 3.5.0, 3.6.0, and
"ValueError: Could not deserialize 'keras.metrics.mse' because it is not a KerasSaveable
subclass" on 3.15.1. The message changed, the failure did not. load_model(compile=False)
avoids it.
"""
import keras
import numpy as np

from _formats import load_model_quietly

SIGNATURE = r"(TypeError: Could not locate function 'mse'|ValueError: Could not deserialize 'keras\.metrics\.mse')"
LINKS = [
    "https://github.com/keras-team/keras/issues/19330",
    "https://github.com/tensorflow/tensorflow/issues/70263",
]
TAGS = ("formats",)
REQUIRES = {"keras": ">=3.0"}


def run(workdir):
    keras.utils.set_random_seed(0)
    rs = np.random.RandomState(0)
    x = rs.rand(8, 3).astype("float32")
    y = rs.rand(8, 2).astype("float32")
    model = keras.Sequential([keras.Input(shape=(3,)), keras.layers.Dense(4, activation="relu"),
                              keras.layers.Dense(2)])
    model.compile(optimizer="adam", loss="mse")
    model.fit(x, y, epochs=1, batch_size=4, shuffle=False, verbose=0)
    expected = model.predict(x, verbose=0)
    path = workdir + "/model.h5"
    model.save(path)
    loaded = load_model_quietly(path)
    return {"expected": expected, "actual": loaded.predict(x, verbose=0)}
