"""An adapted Normalization layer in a .keras file, saved with one version and loaded with another

keras-team/keras#20147 reports a Normalization layer whose adapted mean and variance were lost
after a save and load (no error, worse predictions). Here a model starting with
``Normalization()`` adapted on data (mean and variance far from 0 and 1) and a Dense head is saved
as ``.keras`` in one pairing and loaded with ``keras.models.load_model`` in every pairing; the
outputs on a fixed input must match, which they cannot if the adapted state did not survive.
"""

import keras
import numpy as np

SIGNATURE = r"(?s)ValueError: .*expected \d+ variables, but received \d+ variables"
LINKS = ["https://github.com/keras-team/keras/issues/20147"]
TAGS = ("normalization", "formats", "cross")
REQUIRES = {"keras": ">=3.0"}


def _data():
    return np.random.RandomState(0).normal(loc=50.0, scale=7.0, size=(64, 4)).astype("float32")


def save(workdir):
    keras.utils.set_random_seed(0)
    normalization = keras.layers.Normalization()
    normalization.adapt(_data())
    inputs = keras.Input((4,))
    outputs = keras.layers.Dense(3)(normalization(inputs))
    model = keras.Model(inputs, outputs)
    model.save(f"{workdir}/normalized.keras")
    return {"outputs": model.predict(_data()[:8], verbose=0)}


def load(workdir):
    model = keras.models.load_model(f"{workdir}/normalized.keras")
    return {"outputs": model.predict(_data()[:8], verbose=0)}
