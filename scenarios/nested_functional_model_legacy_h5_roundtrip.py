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

from _nested import build_nested_model, seeded_input

SIGNATURE = r"(IndexError: list index out of range|ValueError: .*axes don't match array)"
LINKS = [
    "https://github.com/keras-team/keras/issues/13744",
    "https://github.com/keras-team/keras/issues/19559",
]
TAGS = ("nested", "formats")
REQUIRES = {"keras": ">=3.0"}


def run(workdir):
    x = seeded_input()
    model = build_nested_model()
    expected = model.predict(x, verbose=0)
    path = workdir + "/nested.h5"
    model.save(path)
    loaded = keras.models.load_model(path, compile=False)
    return {"expected": expected, "actual": loaded.predict(x, verbose=0)}
