"""Layers renamed between save and load: legacy .h5 weights, load_weights(by_name=True)

keras-team/keras#9683: load_weights(..., by_name=True) gave "no error or any warning,
however the loss is much worse (just like random initial)"; the user found the layer
names in the .h5 file ('convolution2d_1', ...) did not match the names in the code
('block1_conv1', ...). keras-team/keras#10894 reports errors loading a saved model whose
layers were renamed. Here: Input(3) -> Dense(4, name="encoder") -> Dense(2, name="head") saved
with model.save("model.h5"); the code is later refactored so the same layers are named
"enc_dense"/"out_dense", and the weights are loaded with load_weights("model.h5",
by_name=True). Outputs are compared, so loading nothing shows as wrong_values.
The reported failure is silent; SIGNATURE matches the loud form a stricter loader would give.

Measured (TensorFlow backend, Python 3.11, CPU): 3.5.0 and 3.6.0 (and 3.1.1, 3.3.3) fail
before any name matching with "Weight count mismatch for top-level weights of model. Model
expects 4 top-level weight(s). Received 0 saved top-level weight(s)" (see
legacy_h5_by_name_top_level_weight_mismatch: the by_name loader fails even when names
match); 3.15.1 loads without error or warning and the outputs are wrong (max abs diff 0.56):
the renamed layers silently keep their initial weights, exactly the keras#9683 symptom.
"""
import warnings

from _dense import build_named, seeded_input

SIGNATURE = r"(?s)(Layer '(enc_dense|out_dense)' expected \d+ variables, but received 0|No weights? (were )?found for layer)"
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
    path = workdir + "/model.h5"
    model.save(path)
    renamed = build_named("enc_dense", "out_dense")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        renamed.load_weights(path, by_name=True)
    return {"expected": expected, "actual": renamed.predict(x, verbose=0)}
