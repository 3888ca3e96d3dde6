"""Workaround: call finalize_state() on Normalization layers after loading legacy .h5 weights

For keras-team/keras#20147 (adapted Normalization statistics not used after weights come from a
legacy .h5 file), the analysis in PR keras-team/keras#20163 says the loaded adapted_mean /
adapted_variance are there but mean/variance are only set by finalize_state(), which the
legacy loader did not call; PR #20168 added that call to the loader (said to be in 3.6.0).
On versions without the fix, calling finalize_state() yourself after load_weights() is the
direct workaround. Same model as normalization_adapted_legacy_h5_load_weights (Input(3) ->
adapted Normalization -> Dense(2), model.save("model.h5"), fresh model load_weights), plus a
finalize_state() call on every Normalization layer; outputs compared.

Measured (TensorFlow backend, Python 3.11, CPU): passed (max abs diff 0) on every measured
version, including 3.5.0, 3.1.1 and 3.3.3 where the plain legacy .h5 route gives wrong
values: calling finalize_state() after loading is a working workaround.
"""
import keras

from _normalization import build_model, seeded_data

SIGNATURE = r"(?s)Layer 'normalization(_\d+)?' expected 3 variables, but received 0 variables"
LINKS = [
    "https://github.com/keras-team/keras/pull/20163",
    "https://github.com/keras-team/keras/issues/20147",
]
TAGS = ("normalization", "formats", "workaround")
REQUIRES = {"keras": ">=3.0"}


def run(workdir):
    data, x = seeded_data()
    model = build_model(data)
    expected = model.predict(x, verbose=0)
    path = workdir + "/model.h5"
    model.save(path)
    fresh = build_model()
    fresh.load_weights(path)
    for layer in fresh.layers:
        if isinstance(layer, keras.layers.Normalization):
            layer.finalize_state()
    return {"expected": expected, "actual": fresh.predict(x, verbose=0)}
