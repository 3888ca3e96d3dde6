"""Workaround: renamed layers, legacy .h5 loaded topologically (load_weights without by_name)

For keras-team/keras#9683-style renames (layer names in the .h5 file differ from the
code), keras-team/keras#8134 gives the maintainer's answer: "By default,
model.load_weights(fname) only looks at the model structure, not at layer names ... it
will just work." Input(3) -> Dense(4, name="encoder") -> Dense(2, name="head") is saved with
model.save("model.h5"); the same architecture with layers renamed "enc_dense"/"out_dense"
calls load_weights("model.h5") without by_name; outputs compared. Works only when the
architecture (layer order and weight shapes) is unchanged.

Measured (TensorFlow backend, Python 3.11, CPU): passed (max abs diff 0) on every measured
version (3.1.1, 3.3.3, 3.5.0, 3.6.0, 3.15.1).
"""
from _dense import build_named, seeded_input

SIGNATURE = r"ValueError: (Layer count mismatch when loading weights from file|Weight count mismatch for layer)"
LINKS = [
    "https://github.com/keras-team/keras/issues/8134",
    "https://github.com/keras-team/keras/issues/9683",
]
TAGS = ("rename", "formats", "workaround")
REQUIRES = {"keras": ">=3.0"}


def run(workdir):
    x = seeded_input()
    model = build_named("encoder", "head")
    expected = model.predict(x, verbose=0)
    path = workdir + "/model.h5"
    model.save(path)
    renamed = build_named("enc_dense", "out_dense")
    renamed.load_weights(path)
    return {"expected": expected, "actual": renamed.predict(x, verbose=0)}
