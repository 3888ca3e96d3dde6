"""Workaround: whole LSTM model saved as legacy .h5, load_weights() into an LSTMCell model

The seed write-up (keras-team/keras#20407 and BACKGROUND.md) measured that the legacy
`.h5` route works for GRU -> GRUCell, because legacy HDF5 weight loading is topological
(layer order and weight order), not by object path. This applies it to LSTM: save the
LSTM model with model.save("model.h5"), rebuild the network from LSTMCell layers
(step-by-step streaming model) and call load_weights("model.h5"); outputs are compared
step by step with the LSTM model's outputs.

Measured (TensorFlow backend, Python 3.11, CPU): passed on 3.5.0, 3.6.0, 3.15.1 (and 3.1.1,
3.3.3), max abs diff 0: legacy .h5 loading is topological, so the cells receive the LSTM
weights.
"""
import keras
import numpy as np

SIGNATURE = r"(?s)ValueError: .*Layer 'lstm_cell(_\d+)?' expected 3 variables, but received 0 variables"
LINKS = ["https://github.com/keras-team/keras/issues/20407"]
TAGS = ("rnn", "cell", "formats", "workaround")
REQUIRES = {"keras": ">=3.0"}

T, F, U, O = 4, 3, 5, 2


def _seq_model():
    inp = keras.Input(shape=(T, F))
    x = keras.layers.LSTM(U, return_sequences=True)(inp)
    x = keras.layers.LSTM(U, return_sequences=True)(x)
    out = keras.layers.Dense(O)(x)
    return keras.Model(inp, out)


def _step_model():
    x_t = keras.Input(shape=(F,))
    h1, c1, h2, c2 = (keras.Input(shape=(U,)) for _ in range(4))
    y1, s1 = keras.layers.LSTMCell(U)(x_t, states=[h1, c1])
    y2, s2 = keras.layers.LSTMCell(U)(y1, states=[h2, c2])
    out = keras.layers.Dense(O)(y2)
    return keras.Model([x_t, h1, c1, h2, c2], [out, s1[0], s1[1], s2[0], s2[1]])


def _run_steps(model, x):
    n = x.shape[0]
    h1 = c1 = h2 = c2 = np.zeros((n, U), "float32")
    ys = []
    for t in range(x.shape[1]):
        res = model([x[:, t, :], h1, c1, h2, c2], training=False)
        y, h1, c1, h2, c2 = (keras.ops.convert_to_numpy(r) for r in res)
        ys.append(y)
    return np.stack(ys, axis=1)


def run(workdir):
    keras.utils.set_random_seed(0)
    x = np.random.RandomState(0).rand(2, T, F).astype("float32")
    seq = _seq_model()
    expected = keras.ops.convert_to_numpy(seq(x, training=False))
    path = workdir + "/lstm_model.h5"
    seq.save(path)
    step = _step_model()
    step.load_weights(path)
    return {"expected": expected, "actual": _run_steps(step, x)}
