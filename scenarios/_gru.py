"""Shared pieces of the GRU scenarios (not a scenario: the name starts with '_').

The model of keras-team/keras#20407: two GRU(return_sequences=True) layers and a Dense head, and
its streaming twin built from GRUCell layers that are called one time step at a time.
"""

import keras
import numpy as np

FEATURES, UNITS, OUTPUTS, STEPS, BATCH = 3, 5, 2, 4, 2


def sample_input():
    """A fixed input batch, the same in every env."""
    return np.random.RandomState(0).rand(BATCH, STEPS, FEATURES).astype("float32")


def build_sequence_model():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((None, FEATURES))
    x = keras.layers.GRU(UNITS, return_sequences=True)(inputs)
    x = keras.layers.GRU(UNITS, return_sequences=True)(x)
    outputs = keras.layers.Dense(OUTPUTS)(x)
    return keras.Model(inputs, outputs)


def build_step_model():
    """One time step: input and the two states in; output and the two new states out."""
    x_in = keras.Input((FEATURES,))
    h1_in = keras.Input((UNITS,))
    h2_in = keras.Input((UNITS,))
    h1, _ = keras.layers.GRUCell(UNITS)(x_in, states=[h1_in])
    h2, _ = keras.layers.GRUCell(UNITS)(h1, states=[h2_in])
    y = keras.layers.Dense(OUTPUTS)(h2)
    return keras.Model([x_in, h1_in, h2_in], [y, h1, h2])


def run_steps(step_model, x):
    """Feed ``x`` one time step at a time, carrying the states; outputs stacked over time."""
    h1 = np.zeros((x.shape[0], UNITS), dtype="float32")
    h2 = np.zeros((x.shape[0], UNITS), dtype="float32")
    outputs = []
    for t in range(x.shape[1]):
        y, h1, h2 = step_model.predict([x[:, t, :], h1, h2], verbose=0)
        outputs.append(y)
    return np.stack(outputs, axis=1)
