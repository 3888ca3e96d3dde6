"""Nested functional models (models used as layers) saved as .keras and loaded back

keras-team/keras#19559 (Keras 3.2.1, 2024-04): an outer model that calls a sub-model
failed in load_model() with "IndexError: list index out of range" from
functional.py get_tensor; a maintainer said it had "been fixed some time ago" (nightly).
PR keras-team/keras#19509 gives the two-sub-model example used here: model1
(Input(5) -> Dense(3)), model2 (Input(3) -> Dense(3)), outer = Model(input1,
model2(model1(input1))) then a Dense head. Saved as .keras, reloaded, outputs compared.

Measured (TensorFlow backend, Python 3.11, CPU): passed (max abs diff 0) on every measured
version (3.1.1, 3.3.3, 3.5.0, 3.6.0, 3.15.1); the IndexError of keras#19559 (3.2.1) did not
appear in 3.1.1 either for this model.
"""
import keras

from _nested import build_nested_model, seeded_input

SIGNATURE = r"IndexError: list index out of range"
LINKS = [
    "https://github.com/keras-team/keras/issues/19559",
    "https://github.com/keras-team/keras/pull/19509",
]
TAGS = ("nested",)
REQUIRES = {"keras": ">=3.0"}


def run(workdir):
    x = seeded_input()
    model = build_nested_model()
    expected = model.predict(x, verbose=0)
    path = workdir + "/nested.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    return {"expected": expected, "actual": loaded.predict(x, verbose=0)}
