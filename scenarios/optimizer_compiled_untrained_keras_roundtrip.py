"""Optimizer state of a compiled-but-untrained model after a .keras round trip

keras-team/keras#20128 (Keras 3.4.1 / 3.5, TF 2.17, 2024-08) and keras-team/keras#19615 show
"UserWarning: Skipping variable loading for optimizer 'adam', because it has N variables
whereas the saved optimizer has M variables" when a .keras model is loaded (in both threads
next to another load error). A write-up at openillumi.com/?p=99346 says the warning means the
optimizer state was not restored (harmless for inference, not for resuming training).
This scenario is the "after compile" case: a Dense model is compiled with Adam but not
trained (so the saved optimizer has not created its slot variables), saved as .keras and
loaded with keras.models.load_model().
Evidence: warnings are captured with warnings.catch_warnings(record=True) and a logging
handler (root and "absl" loggers); if the reported text appears, a RuntimeError carrying the
text is raised so SIGNATURE can match. Otherwise both models take one further train_on_batch step and their optimizer
variables and predictions are compared.

Measured (TensorFlow backend, Python 3.11, CPU): the warning "Skipping variable loading for
optimizer 'adam', because it has 10 variables whereas the saved optimizer has 2 variables"
appears on every measured version (3.1.1, 3.3.3, 3.5.0, 3.6.0, 3.15.1), so the verdict is
reproduced. It is harmless here: with the raise disabled, optimizer variables and
predictions after one more train step match exactly (max abs diff 0 on 3.5.0 and 3.15.1) -
the saved optimizer had no state to lose. The warning is not evidence of lost state by
itself.
"""
import logging
import warnings

import keras
import numpy as np

SIGNATURE = r"Skipping variable loading for optimizer '\w+', because it has \d+ variables whereas the saved optimizer has \d+ variables"
LINKS = [
    "https://github.com/keras-team/keras/issues/20128",
    "https://github.com/keras-team/keras/issues/19615",
]
TAGS = ("optimizer",)
REQUIRES = {"keras": ">=3.0"}


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


def _model():
    inp = keras.Input(shape=(3,))
    x = keras.layers.Dense(4, activation="tanh")(inp)
    return keras.Model(inp, keras.layers.Dense(2)(x))


def run(workdir):
    keras.utils.set_random_seed(0)
    rs = np.random.RandomState(0)
    x = rs.rand(8, 3).astype("float32")
    y = rs.rand(8, 2).astype("float32")
    model = _model()
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.01), loss="mse")
    path = workdir + "/compiled.keras"
    model.save(path)
    loaded = _load_capturing(path)
    # one further step on both (this also builds an optimizer that was saved unbuilt),
    # then compare optimizer variables and predictions
    model.train_on_batch(x, y)
    loaded.train_on_batch(x, y)
    expected = {"optimizer": _opt_values(model), "after_step": model.predict(x, verbose=0)}
    actual = {"optimizer": _opt_values(loaded), "after_step": loaded.predict(x, verbose=0)}
    return {"expected": expected, "actual": actual}
