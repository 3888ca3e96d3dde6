"""Shared pieces of the save-format scenarios (not a scenario: the name starts with '_').

The model of the formats_mixed_model scenario (one model saved in every format of its FORMATS, so
that verdicts are per format): an adapted Normalization, a Bidirectional(LSTM(return_sequences=True)), an LSTM,
BatchNormalization and a Dense head, compiled (adam/mse) and fitted one epoch on fixed data.
Also load_model() with its warnings silenced.
"""

import warnings

import keras
import numpy as np

T, F, U, O = 4, 3, 5, 2  # time steps, features, units, outputs


def seeded_training_data():
    """Seed Keras, then a fixed training batch: x (8, T, F) around 2 with spread 3, y (8, O)."""
    keras.utils.set_random_seed(0)
    rs = np.random.RandomState(0)
    x = rs.normal(2.0, 3.0, size=(8, T, F)).astype("float32")
    y = rs.rand(8, O).astype("float32")
    return x, y


def build_mixed_model(data=None):
    """The mixed model; its Normalization is adapted to ``data`` if given."""
    inp = keras.Input(shape=(T, F))
    norm = keras.layers.Normalization()
    if data is not None:
        norm.adapt(data)
    x = norm(inp)
    x = keras.layers.Bidirectional(keras.layers.LSTM(U, return_sequences=True))(x)
    x = keras.layers.LSTM(U)(x)
    x = keras.layers.BatchNormalization()(x)
    out = keras.layers.Dense(O)(x)
    return keras.Model(inp, out)


def trained_mixed_model(x, y):
    """The mixed model adapted to ``x``, compiled with adam/mse and fitted one epoch."""
    model = build_mixed_model(x)
    model.compile(optimizer="adam", loss="mse")
    model.fit(x, y, epochs=1, batch_size=4, shuffle=False, verbose=0)
    return model


def load_model_quietly(path, **kwargs):
    """keras.models.load_model(path, **kwargs) with warnings ignored."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return keras.models.load_model(path, **kwargs)
