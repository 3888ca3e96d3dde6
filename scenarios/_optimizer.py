"""Shared pieces of the optimizer-state scenarios (not a scenario: the name starts with '_').

A compiled model is saved as .keras and loaded back with keras.models.load_model() while
warnings (warnings + root/absl logging) are captured. If "Skipping variable loading for
optimizer ..." is reported, a RuntimeError carrying that text is raised so SIGNATURE can match.
Otherwise both models take one more train step and their optimizer variables and predictions
are compared.
"""

import logging
import warnings

import keras
import numpy as np

SKIPPED = "Skipping variable loading for optimizer"


class _Capture(logging.Handler):
    def __init__(self):
        super().__init__()
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def load_capturing(path):
    """keras.models.load_model(path); raises RuntimeError if the optimizer warning was reported."""
    cap = _Capture()
    loggers = [logging.getLogger(), logging.getLogger("absl")]
    for lg in loggers:
        lg.addHandler(cap)
    failure = None
    loaded = None
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                loaded = keras.models.load_model(path)
            except Exception as e:  # keep it; the warning (if any) is reported first
                failure = e
    finally:
        for lg in loggers:
            lg.removeHandler(cap)
    texts = [str(w.message) for w in caught] + cap.messages
    hits = [t for t in texts if SKIPPED in t]
    if hits:
        extra = f" (then load_model failed: {type(failure).__name__}: {failure})" if failure else ""
        raise RuntimeError(hits[0].strip() + extra)
    if failure is not None:
        raise failure
    return loaded


def optimizer_values(model):
    return [keras.ops.convert_to_numpy(v) for v in model.optimizer.variables]


def save_load_and_step(model, path, x, y):
    """Save ``model`` to ``path``, load it back, take one more step on both and compare them."""
    model.save(path)
    loaded = load_capturing(path)
    # one further step on both (this also builds an optimizer that was saved unbuilt),
    # then compare optimizer variables and predictions
    model.train_on_batch(x, y)
    loaded.train_on_batch(x, y)
    expected = {"optimizer": optimizer_values(model), "after_step": model.predict(x, verbose=0)}
    actual = {"optimizer": optimizer_values(loaded), "after_step": loaded.predict(x, verbose=0)}
    return {"expected": expected, "actual": actual}


def seeded_dense_data():
    """Seed Keras, then a fixed training batch (8 samples, 3 features, 2 targets)."""
    keras.utils.set_random_seed(0)
    rs = np.random.RandomState(0)
    x = rs.rand(8, 3).astype("float32")
    y = rs.rand(8, 2).astype("float32")
    return x, y


def compiled_dense_model():
    """Input(3) -> Dense(4, tanh) -> Dense(2), compiled with Adam(learning_rate=0.01) and mse."""
    inp = keras.Input(shape=(3,))
    x = keras.layers.Dense(4, activation="tanh")(inp)
    model = keras.Model(inp, keras.layers.Dense(2)(x))
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.01), loss="mse")
    return model
