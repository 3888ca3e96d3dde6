"""Adapted Normalization layer: whole model saved as legacy .h5, keras.models.load_model()

Route variant of keras-team/keras#20147 / PR #20168 (Normalization's mean/variance not
finalized when weights come from a legacy `.h5` file): here the whole model is saved with
model.save("model.h5") and restored with keras.models.load_model("model.h5") instead of
load_weights() into a rebuilt model. Model: Input(3) -> Normalization (adapted, mean ~5,
std ~3) -> Dense(2). Outputs on a fixed input are compared.
The reported failure is silent (wrong_values is the reproduction).

Measured (TensorFlow backend, Python 3.11, CPU): same as the load_weights route:
wrong_values (max abs diff ~14) on 3.5.0 (and 3.1.1, 3.3.3); passed on 3.6.0 and 3.15.1. The
fix covers load_model() of legacy .h5 too.
"""
import keras

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
    loaded = keras.models.load_model(path)
    return {"expected": expected, "actual": loaded.predict(x, verbose=0)}
