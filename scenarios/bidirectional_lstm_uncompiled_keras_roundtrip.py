"""Bidirectional(LSTM) functional model (not compiled) saved as .keras and loaded back

tensorflow/tensorflow#65395 (2024-04): with TF 2.15.1 the snippet
`Model(Input((17, 4)), Bidirectional(LSTM(4), merge_mode='concat'))`, `model.save('model.keras')`,
`load_model('model.keras')` works; with TF 2.16.1 (Keras 3) it raised "Layer 'lstm_cell'
expected 3 variables, but received 0 variables during loading". A commenter said the
nightly fixed it. tensorflow/tensorflow#64391 reports the same with TF 2.16.1 + Keras 3.0.5.
Here the same tiny model (17 timesteps, 4 features, 4 units) is saved and reloaded and the
outputs on a fixed input are compared.

Measured (TensorFlow backend, Python 3.11, CPU): reproduced on 3.1.1+2.16.1 (the error
quoted in tensorflow#65395); passed (max abs diff 0) on 3.3.3, 3.5.0, 3.6.0 and 3.15.1. So
TF 2.16.1 itself is not the cause: with TF 2.16.1 the outcome depends on the Keras 3
release.
"""
import keras
import numpy as np

SIGNATURE = r"(?s)ValueError: .*Layer 'lstm_cell(_\d+)?' expected 3 variables, but received 0 variables"
LINKS = [
    "https://github.com/tensorflow/tensorflow/issues/65395",
    "https://github.com/tensorflow/tensorflow/issues/64391",
]
TAGS = ("rnn", "wrapper")
REQUIRES = {"keras": ">=3.0"}


def run(workdir):
    keras.utils.set_random_seed(0)
    x = np.random.RandomState(0).rand(2, 17, 4).astype("float32")
    inp = keras.Input(shape=(17, 4))
    out = keras.layers.Bidirectional(keras.layers.LSTM(units=4), merge_mode="concat")(inp)
    model = keras.Model(inputs=inp, outputs=out)
    expected = keras.ops.convert_to_numpy(model(x, training=False))
    path = workdir + "/model.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    return {"expected": expected, "actual": keras.ops.convert_to_numpy(loaded(x, training=False))}
