"""Adapted Normalization layer: .weights.h5 loaded into a rebuilt, un-adapted model

Weights-only native route for keras-team/keras#20147 (adapted Normalization statistics
lost on the legacy `.h5` route, PR #20168 says load_own_variables() - used by the
`.weights.h5` loader - calls finalize_state()). Input(3) -> Normalization (adapted, mean ~5,
std ~3) -> Dense(2) saved with save_weights("model.weights.h5"); an identical model with
a fresh Normalization calls load_weights(); outputs on a fixed input are compared.

Measured (TensorFlow backend, Python 3.11, CPU): passed (max abs diff 0) on every measured
version (3.1.1, 3.3.3, 3.5.0, 3.6.0, 3.15.1).
"""
from _normalization import build_model, seeded_data

SIGNATURE = r"(?s)Layer 'normalization(_\d+)?' expected 3 variables, but received 0 variables"
LINKS = [
    "https://github.com/keras-team/keras/issues/20147",
    "https://github.com/keras-team/keras/pull/20163",
]
TAGS = ("normalization", "formats")
REQUIRES = {"keras": ">=3.0"}


def run(workdir):
    data, x = seeded_data()
    model = build_model(data)
    expected = model.predict(x, verbose=0)
    path = workdir + "/model.weights.h5"
    model.save_weights(path)
    fresh = build_model()
    fresh.load_weights(path)
    return {"expected": expected, "actual": fresh.predict(x, verbose=0)}
