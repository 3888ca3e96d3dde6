"""Shared pieces of the small Dense-model scenarios (not a scenario: the name starts with '_').

Two Dense layers over 3 features, with chosen layer names or a chosen Dense class, and a fixed
input batch.
"""

import keras
import numpy as np


def seeded_input():
    """Seed Keras (the models built next are the same in every env), then a fixed (4, 3) batch."""
    keras.utils.set_random_seed(0)
    return np.random.RandomState(0).rand(4, 3).astype("float32")


def build_named(first, second):
    """Input(3) -> Dense(4, tanh) named ``first`` -> Dense(2) named ``second``."""
    inp = keras.Input(shape=(3,))
    x = keras.layers.Dense(4, activation="tanh", name=first)(inp)
    return keras.Model(inp, keras.layers.Dense(2, name=second)(x))


def build_of(cls):
    """Input(3) -> cls(4, relu) -> cls(2), for ``cls`` keras.layers.Dense or a subclass of it."""
    inp = keras.Input(shape=(3,))
    x = cls(4, activation="relu")(inp)
    return keras.Model(inp, cls(2)(x))
