"""Same trained model through three formats: .keras, .weights.h5 and legacy .h5

One scenario with FORMATS, so the model is built and trained once per saving pairing and saved
in every format, and each format has its own verdicts (formats_mixed_model[keras],
formats_mixed_model[weights_h5], formats_mixed_model[legacy_h5]). The model mixes the layer
kinds that public reports single out: an adapted Normalization (keras-team/keras#20147:
statistics lost on the legacy .h5 route), a Bidirectional(LSTM) (keras-team/keras#18913, where
a commenter's workaround was "saving the model in the .h5 format instead of the .keras format"),
an LSTM, BatchNormalization (non-trainable moving statistics) and a Dense head. It is compiled
(adam/mse) and fitted one epoch on fixed data, then saved with model.save(".keras") and read
with keras.models.load_model() (keras); saved with save_weights(".weights.h5") and loaded with
load_weights() into a rebuilt model (weights_h5); saved with model.save(".h5") (legacy HDF5) and
read with keras.models.load_model(compile=False) (legacy_h5: with the default compile=True the
legacy loader fails to deserialize the string loss "mse" before any weight is compared; that
failure has its own scenario, legacy_h5_compiled_mse_load_model). Predictions on a fixed input
are compared, in the saving pairing and in every other.

Measured where the saving pairing loads its own file (TensorFlow backend, Python 3.11, CPU):
keras and weights_h5 passed (max abs diff 0) on 3.5.0, 3.6.0 and 3.15.1 (and 3.3.3; keras
reproduced, Bidirectional "lstm_cell expected 3 variables", on 3.1.1); legacy_h5 wrong_values
(max abs diff 0.22, the Normalization statistics of keras#20147) on 3.5.0 and 3.3.3, passed on
3.6.0 and 3.15.1, and on 3.1.1 the save itself fails ("Unable to synchronously create dataset
(name already exists)": the two LSTMs inside Bidirectional collide, keras#19375). The "save as
.h5 instead" advice of keras#18913 therefore trades a loud error for silently wrong outputs on
3.3.3-3.5.0. Across 3.5.0, 3.6.0 and 3.15.1: weights_h5 loads in every direction; the .keras and
legacy .h5 files of 3.15.1 fail to load in 3.5.0 and 3.6.0 ("could not be deserialized
properly"), and the legacy .h5 of 3.6.0 loads into 3.5.0 with wrong values (0.217).
"""
from _formats import build_mixed_model, load_model_quietly, seeded_training_data, trained_mixed_model

SIGNATURE = r"(?s)ValueError: .*Layer '\w+' expected \d+ variables, but received \d+ variables"
LINKS = [
    "https://github.com/keras-team/keras/issues/18913",
    "https://github.com/keras-team/keras/issues/20147",
]
TAGS = ("formats", "rnn", "normalization", "wrapper", "cross")
REQUIRES = {"keras": ">=3.0"}
FORMATS = ("keras", "weights_h5", "legacy_h5")

_FILES = {"keras": "model.keras", "weights_h5": "model.weights.h5", "legacy_h5": "model.h5"}
_TRAINED = []  # (model, x, predictions): trained once per save phase, saved in every format


def _trained():
    if not _TRAINED:
        x, y = seeded_training_data()
        model = trained_mixed_model(x, y)
        _TRAINED.append((model, x, model.predict(x, verbose=0)))
    return _TRAINED[0]


def save(workdir, fmt):
    model, _, expected = _trained()
    path = f"{workdir}/{_FILES[fmt]}"
    if fmt == "weights_h5":
        model.save_weights(path)
    else:
        model.save(path)
    return {"outputs": expected}


def load(workdir, fmt):
    x, _ = seeded_training_data()
    path = f"{workdir}/{_FILES[fmt]}"
    if fmt == "weights_h5":
        loaded = build_mixed_model()
        loaded.load_weights(path)
    else:
        loaded = load_model_quietly(path, **({"compile": False} if fmt == "legacy_h5" else {}))
    return {"outputs": loaded.predict(x, verbose=0)}
