"""Nested functional models saved as legacy .h5 and loaded with load_model(compile=False)

Legacy-format counterpart of the nested-model reports (keras-team/keras#19559 for .keras;
keras-team/keras#13744 "Save and load weights for model with nested models" for HDF5
weights, where by_name loading loaded nothing into nested models). Same model as
nested_functional_model_keras_roundtrip (two sub-models chained inside an outer model plus
a Dense head), saved with model.save("nested.h5") and reloaded; outputs compared.

Measured (TensorFlow backend, Python 3.11, CPU): passed (max abs diff 0) on every measured
version (3.1.1, 3.3.3, 3.5.0, 3.6.0, 3.15.1).
"""
import keras
import numpy as np

SIGNATURE = r"(IndexError: list index out of range|ValueError: .*axes don't match array)"
LINKS = [
    "https://github.com/keras-team/keras/issues/13744",
    "https://github.com/keras-team/keras/issues/19559",
]
TAGS = ("nested", "formats")
REQUIRES = {"keras": ">=3.0"}


def _build():
    input1 = keras.Input((5,), name="input1")
    model1 = keras.Model(input1, keras.layers.Dense(3, name="dense1")(input1), name="model1")
    input2 = keras.Input((3,), name="input2")
    model2 = keras.Model(input2, keras.layers.Dense(3, name="dense2")(input2), name="model2")
    outer_in = keras.Input((5,), name="outer_in")
    out = keras.layers.Dense(2, name="head")(model2(model1(outer_in)))
    return keras.Model(outer_in, out, name="outer")


def run(workdir):
    keras.utils.set_random_seed(0)
    x = np.random.RandomState(0).rand(4, 5).astype("float32")
    model = _build()
    expected = model.predict(x, verbose=0)
    path = workdir + "/nested.h5"
    model.save(path)
    loaded = keras.models.load_model(path, compile=False)
    return {"expected": expected, "actual": loaded.predict(x, verbose=0)}
