"""Adapted Normalization layer: model saved as .keras and loaded with load_model()

Native-format control for keras-team/keras#20147 (adapted Normalization statistics lost
on the legacy `.h5` route, PR #20168): Input(3) -> Normalization (adapted, mean ~5,
std ~3) -> Dense(2) saved with model.save("model.keras") and restored with
keras.models.load_model(); outputs on a fixed input are compared.

Measured (TensorFlow backend, Python 3.11, CPU): passed (max abs diff 0) on every measured
version (3.1.1, 3.3.3, 3.5.0, 3.6.0, 3.15.1). The .keras route never lost the statistics.
"""
import keras

from _normalization import build_model, seeded_data

SIGNATURE = r"(?s)Layer 'normalization(_\d+)?' expected 3 variables, but received 0 variables"
LINKS = ["https://github.com/keras-team/keras/issues/20147"]
TAGS = ("normalization", "formats")
REQUIRES = {"keras": ">=3.0"}


def run(workdir):
    data, x = seeded_data()
    model = build_model(data)
    expected = model.predict(x, verbose=0)
    path = workdir + "/model.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    return {"expected": expected, "actual": loaded.predict(x, verbose=0)}
