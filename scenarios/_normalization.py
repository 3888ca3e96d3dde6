"""Shared pieces of the adapted-Normalization scenarios (not a scenario: the name starts with '_').

The model of keras-team/keras#20147: Input(3) -> Normalization adapted to fixed data -> Dense(2).
"""

import keras
import numpy as np


def seeded_data():
    """Seed Keras, then the fixed adapt data (64, 3) and input batch (4, 3), around 5 with spread 3."""
    keras.utils.set_random_seed(0)
    rs = np.random.RandomState(0)
    data = rs.normal(5.0, 3.0, size=(64, 3)).astype("float32")
    x = rs.normal(5.0, 3.0, size=(4, 3)).astype("float32")
    return data, x


def build_model(data=None):
    """The model; its Normalization is adapted to ``data`` if given."""
    inp = keras.Input(shape=(3,))
    norm = keras.layers.Normalization()
    if data is not None:
        norm.adapt(data)
    return keras.Model(inp, keras.layers.Dense(2)(norm(inp)))
