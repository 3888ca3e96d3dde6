"""A trained Bidirectional(LSTM) model in a .keras file, saved with one version and loaded with another

keras-team/keras#19615 and tensorflow/tensorflow#65395 report a compiled and trained model with a
``Bidirectional(LSTM)`` layer that could not be loaded back from its ``.keras`` file ("lstm_cell
expected 3 variables"). Here such a model is trained for one epoch on fixed data and saved in one
pairing, then loaded with ``keras.models.load_model`` in every pairing; predictions on a fixed
input must match.
"""

import keras
import numpy as np

SIGNATURE = r"(?s)ValueError: .*expected \d+ variables, but received \d+ variables"
LINKS = [
    "https://github.com/keras-team/keras/issues/19615",
    "https://github.com/tensorflow/tensorflow/issues/65395",
]
TAGS = ("rnn", "wrapper", "formats", "cross")
REQUIRES = {"keras": ">=3.0"}


def _data():
    random = np.random.RandomState(0)
    return random.rand(16, 6, 3).astype("float32"), random.rand(16, 1).astype("float32")


def save(workdir):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((6, 3))
    x = keras.layers.Bidirectional(keras.layers.LSTM(4))(inputs)
    outputs = keras.layers.Dense(1)(x)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="adam", loss="mse")
    x_train, y_train = _data()
    model.fit(x_train, y_train, epochs=1, batch_size=8, verbose=0)
    model.save(f"{workdir}/bilstm.keras")
    return {"predictions": model.predict(x_train, verbose=0)}


def load(workdir):
    model = keras.models.load_model(f"{workdir}/bilstm.keras")
    return {"predictions": model.predict(_data()[0], verbose=0)}
