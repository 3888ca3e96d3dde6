"""Shared pieces of the SavedModel scenarios (not a scenario: the name starts with '_').

A small model trained and saved by tf.keras 2.15 (Keras 2) as a TensorFlow SavedModel folder, the
way `model.save("my_model")` (no extension) did before Keras 3, and the fixed input its outputs
are compared on.
"""

import keras
import numpy as np

FOLDER = "model_215"


def fixed_input():
    """The (3, 4) batch the outputs are compared on."""
    return np.random.RandomState(0).rand(3, 4).astype("float32")


def save_trained_saved_model(workdir):
    """Input(4) -> Dense(8, relu) -> Dense(2), compiled (adam/mse), fitted one epoch on fixed data,
    saved with model.save(f"{workdir}/model_215"): a SavedModel folder in Keras 2. Returns the
    outputs on fixed_input() as {"y": ...}."""
    keras.utils.set_random_seed(0)
    rs = np.random.RandomState(1)
    x, y = rs.rand(16, 4).astype("float32"), rs.rand(16, 2).astype("float32")
    inp = keras.Input(shape=(4,))
    hidden = keras.layers.Dense(8, activation="relu")(inp)
    model = keras.Model(inp, keras.layers.Dense(2)(hidden))
    model.compile(optimizer="adam", loss="mse")
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    model.save(f"{workdir}/{FOLDER}")
    return {"y": model.predict(fixed_input(), verbose=0)}
