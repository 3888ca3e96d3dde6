"""A .weights.h5 file written by tf.keras 2.15 loaded into the same functional model in Keras 3

keras-team/keras#18823 and #18875 (2023-11/12): weights saved from tf.keras with
save_weights("model.weights.h5") failed to load into the same model translated to Keras 3
("layer was never built but weights file lists have variables"); keras-team/keras-hub PR
#1353 notes that TF 2.13/2.14 wrote functional-model .weights.h5 files "to the wrong paths".
Here the simple functional case on TF 2.15.1: Input(4, 3) -> LSTM(5, return_sequences=True)
-> LSTM(5) -> Dense(2) saved with save_weights("model_215.weights.h5"); Keras 3 rebuilds the
same model and calls load_weights() in another process; outputs on a fixed input compared.

Measured (TensorFlow backend, Python 3.11, CPU): with the file written by
tensorflow==2.15.1: passed on 3.5.0, 3.6.0, 3.15.1 (and 3.1.1, 3.3.3), max abs diff <=
3.7e-8. With a file written by tensorflow==2.13.1 or 2.12.1 (supplementary runs): reproduced
on 3.5.0, 3.6.0, 3.15.1 ("A total of 1 objects could not be loaded ... Layer 'lstm_cell'
expected 3 variables, but received 0"), matching keras-hub PR #1353's note that 2.13/2.14
wrote functional .weights.h5 paths wrongly. So the failure depends on the tf.keras version
that wrote the file, not on the Keras 3 reader.
"""
import keras
import numpy as np

SIGNATURE = r"(?s)(was never built and thus it doesn't have any variables\. However the weights file lists|expected \d+ variables, but received 0 variables)"
LINKS = [
    "https://github.com/keras-team/keras/issues/18823",
    "https://github.com/keras-team/keras/issues/18875",
    "https://github.com/keras-team/keras-hub/pull/1353",
]
TAGS = ("cross", "keras2", "formats", "rnn")
REQUIRES = {"keras": ">=3.0"}
SAVE_REQUIRES = {"keras": "<3"}


def _x():
    return np.random.RandomState(0).rand(2, 4, 3).astype("float32")


def _model():
    inp = keras.layers.Input(shape=(4, 3))
    x = keras.layers.LSTM(5, return_sequences=True)(inp)
    x = keras.layers.LSTM(5)(x)
    return keras.Model(inp, keras.layers.Dense(2)(x))


def save(workdir):
    keras.utils.set_random_seed(0)
    model = _model()
    model.save_weights(workdir + "/model_215.weights.h5")
    return {"y": model.predict(_x(), verbose=0)}


def load(workdir):
    model = _model()
    model.load_weights(workdir + "/model_215.weights.h5")
    return {"y": model.predict(_x(), verbose=0)}
