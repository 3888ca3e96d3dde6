"""LSTM layers' .weights.h5 loaded into an LSTMCell streaming model

Twin of the seed case (keras-team/keras#20407, GRU -> GRUCell) with LSTM: a user trains a
model of two LSTM(return_sequences=True) layers and a Dense head, saves it with
save_weights("*.weights.h5"), rebuilds the same network from LSTMCell layers called one
timestep at a time with explicit `states=[h, c]` inputs (streaming inference), and calls
load_weights() with the LSTM model's file. In the Keras 3 weights format the LSTM
variables live under `layers/lstm/cell/vars` while a standalone cell looks for
`layers/lstm_cell/vars`, so nothing matches. keras-team/keras#20322 reports the same
"Layer 'lstm_cell' expected 3 variables, but received 0 variables" error for a different
LSTM class mismatch (custom LSTM subclass -> LSTM).
No separate public report of exactly LSTM -> LSTMCell was found; the link is the seed report.

Measured (TensorFlow backend, Python 3.11, CPU): the exact error ("A total of 2 objects
could not be loaded ... Layer 'lstm_cell' expected 3 variables, but received 0 variables")
on 3.5.0+2.16.1, 3.6.0+2.16.1 and 3.15.1+2.21.0 (also on 3.1.1 and 3.3.3). Like the GRU
seed, "does not reproduce on 3.6.0" does not hold for this LSTM twin.
"""
import keras
import numpy as np

SIGNATURE = r"(?s)ValueError: .*Layer 'lstm_cell(_\d+)?' expected 3 variables, but received 0 variables"
LINKS = [
    "https://github.com/keras-team/keras/issues/20407",
    "https://github.com/keras-team/keras/issues/20322",
]
TAGS = ("rnn", "cell")
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
    path = workdir + "/lstm.weights.h5"
    seq.save_weights(path)
    step = _step_model()
    step.load_weights(path)
    return {"expected": expected, "actual": _run_steps(step, x)}
