"""Workaround: copy LSTM weights into LSTMCell layers with get_weights/set_weights

The workaround proposed for the seed case (keras-team/keras#20407; the GRU version ships
with the harness) applied to LSTM: instead of load_weights() with the LSTM model's
.weights.h5 (which fails with "Layer 'lstm_cell' expected 3 variables, but received 0"),
take each LSTM layer's get_weights() (kernel, recurrent_kernel, bias) and set_weights() them
on the matching LSTMCell, copy the Dense head, then run the cell model step by step and
compare with the LSTM model's outputs.

Measured (TensorFlow backend, Python 3.11, CPU): passed on 3.5.0, 3.6.0, 3.15.1 (and 3.1.1,
3.3.3); step-by-step outputs equal the LSTM outputs (max abs diff 0). The workaround works
everywhere.
"""
import keras
import numpy as np

SIGNATURE = r"(?s)ValueError: .*Layer 'lstm_cell(_\d+)?' expected 3 variables, but received 0 variables"
LINKS = ["https://github.com/keras-team/keras/issues/20407"]
TAGS = ("rnn", "cell", "workaround")
REQUIRES = {"keras": ">=3.0"}

T, F, U, O = 4, 3, 5, 2


def _seq_model():
    inp = keras.Input(shape=(T, F))
    x = keras.layers.LSTM(U, return_sequences=True, name="lstm_a")(inp)
    x = keras.layers.LSTM(U, return_sequences=True, name="lstm_b")(x)
    out = keras.layers.Dense(O, name="head")(x)
    return keras.Model(inp, out)


def _step_model():
    x_t = keras.Input(shape=(F,))
    h1, c1, h2, c2 = (keras.Input(shape=(U,)) for _ in range(4))
    y1, s1 = keras.layers.LSTMCell(U, name="cell_a")(x_t, states=[h1, c1])
    y2, s2 = keras.layers.LSTMCell(U, name="cell_b")(y1, states=[h2, c2])
    out = keras.layers.Dense(O, name="head")(y2)
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
    step = _step_model()
    for src, dst in (("lstm_a", "cell_a"), ("lstm_b", "cell_b"), ("head", "head")):
        step.get_layer(dst).set_weights(seq.get_layer(src).get_weights())
    return {"expected": expected, "actual": _run_steps(step, x)}
