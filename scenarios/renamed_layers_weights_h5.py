"""Layers renamed between save and load: Keras 3 .weights.h5 and load_weights()

The renamed-layers case of keras-team/keras#9683 / #10894 on the Keras 3 native weights
format. Input(3) -> Dense(4, name="encoder") -> Dense(2, name="head") saved with
save_weights("model.weights.h5"); the same architecture rebuilt with layers named
"enc_dense"/"out_dense" calls load_weights(). Keras 3's saving_lib addresses layers by a
path built from the class name and position ("layers/dense", "layers/dense_1"), "NOT via
saveable.name" (comment in saving_lib._save_container_state), so user-given names should
not matter here - the question BACKGROUND.md raises ("name-based matching finds nothing")
is measured, not assumed. Outputs are compared.

Measured (TensorFlow backend, Python 3.11, CPU): passed (max abs diff 0) on every measured
version (3.1.1, 3.3.3, 3.5.0, 3.6.0, 3.15.1). Disagrees with "renamed layers: name-based
matching finds nothing" for this format: Keras 3 .weights.h5 ignores user layer names (paths
come from class names and order), so renames are harmless here - and, by the same rule,
swapping two layers of the same class would load silently into the wrong layers (not
measured).
"""
from _dense import build_named, seeded_input

SIGNATURE = r"(?s)Layer '(enc_dense|out_dense)' expected \d+ variables, but received 0 variables"
LINKS = [
    "https://github.com/keras-team/keras/issues/9683",
    "https://github.com/keras-team/keras/issues/10894",
]
TAGS = ("rename", "formats")
REQUIRES = {"keras": ">=3.0"}


def run(workdir):
    x = seeded_input()
    model = build_named("encoder", "head")
    expected = model.predict(x, verbose=0)
    path = workdir + "/model.weights.h5"
    model.save_weights(path)
    renamed = build_named("enc_dense", "out_dense")
    renamed.load_weights(path)
    return {"expected": expected, "actual": renamed.predict(x, verbose=0)}
