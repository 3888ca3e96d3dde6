"""SimpleRNN layers' .weights.h5 loaded into a SimpleRNNCell streaming model

Twin of the seed case (keras-team/keras#20407, GRU -> GRUCell) with SimpleRNN: two
SimpleRNN(return_sequences=True) layers and a Dense head are saved with
save_weights("*.weights.h5"); the same network is rebuilt from SimpleRNNCell layers called
one timestep at a time with explicit `states=[h]`, and load_weights() is called with the
SimpleRNN model's file. The Keras 3 weights format stores the layer's variables under
`layers/simple_rnn/cell/vars`; a standalone cell looks under `layers/simple_rnn_cell/vars`.
No separate public report for SimpleRNN was found; the link is the seed report.

Measured (TensorFlow backend, Python 3.11, CPU): the error ("Layer 'simple_rnn_cell'
expected 3 variables, but received 0 variables") on 3.5.0, 3.6.0 and 3.15.1 (also 3.1.1,
3.3.3). SimpleRNNCell has 3 variables (kernel, recurrent_kernel, bias), like the LSTM/GRU
cells.
"""
import keras
import numpy as np

SIGNATURE = r"(?s)ValueError: .*Layer 'simple_rnn_cell(_\d+)?' expected 3 variables, but received 0 variables"
LINKS = ["https://github.com/keras-team/keras/issues/20407"]
TAGS = ("rnn", "cell")
REQUIRES = {"keras": ">=3.0"}

T, F, U, O = 4, 3, 5, 2


def _seq_model():
    inp = keras.Input(shape=(T, F))
    x = keras.layers.SimpleRNN(U, return_sequences=True)(inp)
    x = keras.layers.SimpleRNN(U, return_sequences=True)(x)
    out = keras.layers.Dense(O)(x)
    return keras.Model(inp, out)


def _first(s):
    return s[0] if isinstance(s, (list, tuple)) else s


def _step_model():
    x_t = keras.Input(shape=(F,))
    h1, h2 = keras.Input(shape=(U,)), keras.Input(shape=(U,))
    y1, s1 = keras.layers.SimpleRNNCell(U)(x_t, states=[h1])
    y2, s2 = keras.layers.SimpleRNNCell(U)(y1, states=[h2])
    out = keras.layers.Dense(O)(y2)
    return keras.Model([x_t, h1, h2], [out, _first(s1), _first(s2)])


def _run_steps(model, x):
    n = x.shape[0]
    h1 = h2 = np.zeros((n, U), "float32")
    ys = []
    for t in range(x.shape[1]):
        res = model([x[:, t, :], h1, h2], training=False)
        y, h1, h2 = (keras.ops.convert_to_numpy(r) for r in res)
        ys.append(y)
    return np.stack(ys, axis=1)


def run(workdir):
    keras.utils.set_random_seed(0)
    x = np.random.RandomState(0).rand(2, T, F).astype("float32")
    seq = _seq_model()
    expected = keras.ops.convert_to_numpy(seq(x, training=False))
    path = workdir + "/simple_rnn.weights.h5"
    seq.save_weights(path)
    step = _step_model()
    step.load_weights(path)
    return {"expected": expected, "actual": _run_steps(step, x)}
