"""Shared pieces of the LSTM and SimpleRNN scenarios (not a scenario: the name starts with '_').

The LSTM twin of keras-team/keras#20407: two recurrent layers (return_sequences=True) and a
Dense head, and its streaming twin built from the matching cells, called one time step at a
time with explicit states. Also the stacked Bidirectional(LSTM) model of keras-team/keras#19615,
compiled with adam/mse and fitted one epoch on fixed data.
"""

import keras
import numpy as np

T, F, U, O = 4, 3, 5, 2  # time steps, features, units, outputs
NO_NAMES = (None, None, None)


def seeded_input():
    """Seed Keras (the models built next are the same in every env), then a fixed input batch."""
    keras.utils.set_random_seed(0)
    return np.random.RandomState(0).rand(2, T, F).astype("float32")


def outputs(model, x):
    return keras.ops.convert_to_numpy(model(x, training=False))


def build_sequence_model(layer=keras.layers.LSTM, names=NO_NAMES):
    """Input(T, F) -> layer(U, return_sequences=True) twice -> Dense(O); ``names``: the three layers'."""
    inp = keras.Input(shape=(T, F))
    x = layer(U, return_sequences=True, name=names[0])(inp)
    x = layer(U, return_sequences=True, name=names[1])(x)
    out = keras.layers.Dense(O, name=names[2])(x)
    return keras.Model(inp, out)


def _as_list(state):
    return list(state) if isinstance(state, (list, tuple)) else [state]


def build_step_model(cell=keras.layers.LSTMCell, states=2, names=NO_NAMES):
    """One time step: the input and each cell's ``states`` states in; the output and new states out."""
    x_t = keras.Input(shape=(F,))
    first = [keras.Input(shape=(U,)) for _ in range(states)]
    second = [keras.Input(shape=(U,)) for _ in range(states)]
    y1, s1 = cell(U, name=names[0])(x_t, states=first)
    y2, s2 = cell(U, name=names[1])(y1, states=second)
    out = keras.layers.Dense(O, name=names[2])(y2)
    return keras.Model([x_t, *first, *second], [out, *_as_list(s1), *_as_list(s2)])


def run_steps(model, x):
    """Feed ``x`` one time step at a time, carrying the states; outputs stacked over time."""
    n_states = len(model.inputs) - 1
    states = [np.zeros((x.shape[0], U), "float32")] * n_states
    ys = []
    for t in range(x.shape[1]):
        res = model([x[:, t, :], *states], training=False)
        y, *states = (keras.ops.convert_to_numpy(r) for r in res)
        ys.append(y)
    return np.stack(ys, axis=1)


def seeded_training_data():
    """Seed Keras, then a fixed training batch: x (8, T, F), y (8, O)."""
    keras.utils.set_random_seed(0)
    rs = np.random.RandomState(0)
    x = rs.rand(8, T, F).astype("float32")
    y = rs.rand(8, O).astype("float32")
    return x, y


def trained_bidirectional_model(x, y):
    """Bidirectional(LSTM(U, return_sequences=True)) -> Bidirectional(LSTM(U)) -> Dense(O), fitted one epoch."""
    model = keras.Sequential([
        keras.Input(shape=(T, F)),
        keras.layers.Bidirectional(keras.layers.LSTM(U, return_sequences=True)),
        keras.layers.Bidirectional(keras.layers.LSTM(U)),
        keras.layers.Dense(O),
    ])
    model.compile(optimizer="adam", loss="mse")
    model.fit(x, y, epochs=1, batch_size=4, shuffle=False, verbose=0)
    return model
