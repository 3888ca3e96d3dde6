"""Workaround: Keras 2 saves legacy .h5 weights only; Keras 3 rebuilds the model and loads them

The workaround proposed on blog.gitcode.com (a write-up of keras-team/keras#20750) for "Unrecognized keyword arguments passed to GRU:
{'time_major': False}" when loading a Keras 2 .h5 model in Keras 3 (see
keras2_legacy_h5_into_keras3): in the Keras 2 environment save only the weights
(model.save_weights('weights_only.h5')), rebuild the same architecture in Keras 3 and call
load_weights(). keras-team/keras#20083 warns the HDF5 layouts differ between 2.15 and 3.x.
Model: Input(4, 3) -> Bidirectional(LSTM(5, return_sequences=True)) -> LSTM(5) -> Dense(2);
save() on tensorflow==2.15.1, load() on Keras 3 in another process; outputs compared.

Measured (TensorFlow backend, Python 3.11, CPU): save on tensorflow==2.15.1 (also 2.13.1),
load on 3.5.0, 3.6.0, 3.15.1 (and 3.1.1, 3.3.3): passed, max abs diff <= 7.5e-9. The
workaround works.
"""
import keras
import numpy as np

SIGNATURE = r"(?s)(Layer count mismatch when loading weights from file|Weight count mismatch for layer|Shape mismatch in layer)"
LINKS = [
    "https://github.com/keras-team/keras/issues/20750",
    "https://blog.gitcode.com/c4923d234d8f65134e0bc3c297812583.html",
]
TAGS = ("cross", "keras2", "formats", "rnn", "wrapper", "workaround")
REQUIRES = {"keras": ">=3.0"}
SAVE_REQUIRES = {"keras": "<3"}


def _x():
    return np.random.RandomState(0).rand(2, 4, 3).astype("float32")


def _model():
    inp = keras.layers.Input(shape=(4, 3))
    x = keras.layers.Bidirectional(keras.layers.LSTM(5, return_sequences=True))(inp)
    x = keras.layers.LSTM(5)(x)
    return keras.Model(inp, keras.layers.Dense(2)(x))


def save(workdir):
    keras.utils.set_random_seed(0)
    model = _model()
    model.save_weights(workdir + "/weights_only.h5")
    return {"y": model.predict(_x(), verbose=0)}


def load(workdir):
    model = _model()
    model.load_weights(workdir + "/weights_only.h5")
    return {"y": model.predict(_x(), verbose=0)}
