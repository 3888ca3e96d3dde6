"""load_weights(skip_mismatch=True) makes the LSTM -> LSTMCell error go away and loads nothing

Same setup as the LSTM twin of keras-team/keras#20407 (LSTM model's .weights.h5 loaded
into an LSTMCell step model), but the user "fixes" the
"Layer 'lstm_cell' expected 3 variables, but received 0 variables" error by passing
skip_mismatch=True, which the Keras docs describe as skipping layers whose weights do
not match (keras.io "Weights-only saving & loading"); keras-team/keras#11867 asks how to be
sure pretrained weights were really loaded when skip_mismatch=True. The load then succeeds; the question is whether any value was loaded. The cell
model's step-by-step outputs are compared with the LSTM model's outputs, so a load that
silently loads nothing shows as wrong_values, never as passed.

Measured (TensorFlow backend, Python 3.11, CPU): load_weights(skip_mismatch=True) raises
nothing and the cell model's outputs differ from the LSTM model's (max abs diff 0.043; only
the Dense head, whose path "layers/dense" matches, is loaded) on 3.5.0, 3.6.0, 3.15.1 (and
3.1.1, 3.3.3): verdict wrong_values everywhere. skip_mismatch is not a fix.
"""
import keras
import numpy as np

SIGNATURE = r"(?s)ValueError: .*Layer 'lstm_cell(_\d+)?' expected 3 variables, but received 0 variables"
LINKS = [
    "https://github.com/keras-team/keras/issues/20407",
    "https://github.com/keras-team/keras/issues/11867",
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
    # the warning Keras gives is evidence (the harness records it and maps the layers it names)
    step.load_weights(path, skip_mismatch=True)
    return {"expected": expected, "actual": _run_steps(step, x)}
