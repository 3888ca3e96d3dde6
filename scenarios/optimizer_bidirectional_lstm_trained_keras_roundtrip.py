"""Optimizer state of a trained Bidirectional(LSTM) model after a .keras round trip

keras-team/keras#19615 (2024-04): loading a trained Bidirectional-LSTM .keras model printed
"Skipping variable loading for optimizer 'adam', because it has 44 variables whereas the saved
optimizer has 32 variables" before failing on "lstm_cell expected 3 variables"; a comment in
keras-team/keras#18913 says the Bidirectional load error is "fixed with keras==3.3.3". This
scenario checks the optimizer half: Input(4,3) -> Bidirectional(LSTM(5, return_sequences=True))
-> Bidirectional(LSTM(5)) -> Dense(2), Adam, fitted 2 steps, saved as .keras, loaded.
Warnings are captured (warnings + root/absl logging); the reported text raises a RuntimeError
carrying it; otherwise both models take one more train step and their optimizer variables and
predictions are compared.

Measured (TensorFlow backend, Python 3.11, CPU): on 3.1.1 the warning appears ("because it
has 42 variables whereas the saved optimizer has 30 variables") and load_model then fails on
lstm_cell, as in keras#19615 -> reproduced; on 3.3.3, 3.5.0, 3.6.0, 3.15.1 no warning and
optimizer variables + predictions after one more step match (max abs diff 0).
"""
import logging
import warnings

import keras
import numpy as np

SIGNATURE = r"Skipping variable loading for optimizer '\w+', because it has \d+ variables whereas the saved optimizer has \d+ variables"
LINKS = [
    "https://github.com/keras-team/keras/issues/19615",
    "https://github.com/keras-team/keras/issues/18913",
]
TAGS = ("optimizer", "rnn", "wrapper")
REQUIRES = {"keras": ">=3.0"}
RTOL = 1e-4
ATOL = 1e-5

T, F, U, O = 4, 3, 5, 2


class _Capture(logging.Handler):
    def __init__(self):
        super().__init__()
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def _load_capturing(path):
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
    hits = [t for t in texts if "Skipping variable loading for optimizer" in t]
    if hits:
        extra = f" (then load_model failed: {type(failure).__name__}: {failure})" if failure else ""
        raise RuntimeError(hits[0].strip() + extra)
    if failure is not None:
        raise failure
    return loaded


def _opt_values(model):
    return [keras.ops.convert_to_numpy(v) for v in model.optimizer.variables]


def run(workdir):
    keras.utils.set_random_seed(0)
    rs = np.random.RandomState(0)
    x = rs.rand(8, T, F).astype("float32")
    y = rs.rand(8, O).astype("float32")
    model = keras.Sequential([
        keras.Input(shape=(T, F)),
        keras.layers.Bidirectional(keras.layers.LSTM(U, return_sequences=True)),
        keras.layers.Bidirectional(keras.layers.LSTM(U)),
        keras.layers.Dense(O),
    ])
    model.compile(optimizer="adam", loss="mse")
    model.fit(x, y, epochs=1, batch_size=4, shuffle=False, verbose=0)
    path = workdir + "/bilstm.keras"
    model.save(path)
    loaded = _load_capturing(path)
    # one further step on both (this also builds an optimizer that was saved unbuilt),
    # then compare optimizer variables and predictions
    model.train_on_batch(x, y)
    loaded.train_on_batch(x, y)
    expected = {"optimizer": _opt_values(model), "after_step": model.predict(x, verbose=0)}
    actual = {"optimizer": _opt_values(loaded), "after_step": loaded.predict(x, verbose=0)}
    return {"expected": expected, "actual": actual}
