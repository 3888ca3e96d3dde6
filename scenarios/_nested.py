"""Shared pieces of the nested functional model scenarios (not a scenario: the name starts with '_').

Two functional models (Dense(3) each) nested in an outer functional model with a Dense(2) head,
every layer and model named.
"""

import keras
import numpy as np


def seeded_input():
    """Seed Keras (the model built next is the same in every env), then a fixed (4, 5) batch."""
    keras.utils.set_random_seed(0)
    return np.random.RandomState(0).rand(4, 5).astype("float32")


def build_nested_model():
    input1 = keras.Input((5,), name="input1")
    model1 = keras.Model(input1, keras.layers.Dense(3, name="dense1")(input1), name="model1")
    input2 = keras.Input((3,), name="input2")
    model2 = keras.Model(input2, keras.layers.Dense(3, name="dense2")(input2), name="model2")
    outer_in = keras.Input((5,), name="outer_in")
    out = keras.layers.Dense(2, name="head")(model2(model1(outer_in)))
    return keras.Model(outer_in, out, name="outer")
