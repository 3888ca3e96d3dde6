"""Adapted Normalization layer: weights from a legacy .h5 file via load_weights()

keras-team/keras#20147 (TF 2.17 / Keras 3, 2024-08): a model built on EfficientNet lost
accuracy after save/load. The diagnosis in PR keras-team/keras#20163 and the fix
keras-team/keras#20168 ("Calling finalize_state() when loading legacy h5 weights"): a
Normalization layer stores adapted_mean/adapted_variance as weights, but predicts with
mean/variance, which are only set by finalize_state(); loading from a legacy `.h5` file
did not call it, so the layer kept mean 0 / variance 1 - no error, wrong outputs. The fix
is said to be in 3.6.0.
Here: Input(3) -> Normalization (adapted on data with mean ~5, std ~3) -> Dense(2), saved
with model.save("model.h5"); an identical model with a fresh (un-adapted) Normalization
calls load_weights("model.h5"); outputs are compared.
The reported failure is silent (wrong_values is the reproduction); SIGNATURE matches the
loud form of the same family ("normalization expected 3 variables, but received 0").

Measured (TensorFlow backend, Python 3.11, CPU): wrong_values (max abs diff ~14: the layer
normalizes with mean 0 / variance 1) on 3.5.0+2.16.1 (and 3.1.1, 3.3.3), no error or
warning; passed (max abs diff 0) on 3.6.0 and 3.15.1. Agrees with the thread (fix in 3.6.0).
"""
from _normalization import build_model, seeded_data

SIGNATURE = r"(?s)Layer 'normalization(_\d+)?' expected 3 variables, but received 0 variables"
LINKS = [
    "https://github.com/keras-team/keras/issues/20147",
    "https://github.com/keras-team/keras/pull/20168",
]
TAGS = ("normalization", "formats")
REQUIRES = {"keras": ">=3.0"}


def run(workdir):
    data, x = seeded_data()
    model = build_model(data)
    expected = model.predict(x, verbose=0)
    path = workdir + "/model.h5"
    model.save(path)
    fresh = build_model()
    fresh.load_weights(path)
    return {"expected": expected, "actual": fresh.predict(x, verbose=0)}
