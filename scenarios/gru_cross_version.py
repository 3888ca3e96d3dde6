"""The GRU model saved as a .keras file and as .weights.h5 with one version, loaded with another

The model of keras-team/keras#20407 (two GRU layers and a Dense head), built once per saving
pairing and saved in two formats (FORMATS: each has its own verdicts): keras, with
``model.save("gru.keras")`` and read with ``keras.models.load_model``; weights_h5, with
``save_weights("gru.weights.h5")`` and loaded with ``load_weights`` into the same architecture
rebuilt. Advice given around the report is to "keep training and inference on the same
TensorFlow/Keras versions": the save runs in one pairing and the load in every pairing, and the
loaded model's outputs on a fixed input must equal those of the model that was saved.
"""

import keras

from _gru import build_sequence_model, sample_input

SIGNATURE = r"(?s)ValueError: .*expected \d+ variables, but received \d+ variables"
LINKS = ["https://github.com/keras-team/keras/issues/20407"]
TAGS = ("seed", "rnn", "formats", "cross")
REQUIRES = {"keras": ">=3.0"}
FORMATS = ("keras", "weights_h5")

_FILES = {"keras": "gru.keras", "weights_h5": "gru.weights.h5"}
_BUILT = []  # the model, built once per save phase and saved in every format


def save(workdir, fmt):
    if not _BUILT:
        _BUILT.append(build_sequence_model())
    model = _BUILT[0]
    if fmt == "weights_h5":
        model.save_weights(f"{workdir}/{_FILES[fmt]}")
    else:
        model.save(f"{workdir}/{_FILES[fmt]}")
    return {"outputs": model.predict(sample_input(), verbose=0)}


def load(workdir, fmt):
    if fmt == "weights_h5":
        model = build_sequence_model()
        model.load_weights(f"{workdir}/{_FILES[fmt]}")
    else:
        model = keras.models.load_model(f"{workdir}/{_FILES[fmt]}")
    return {"outputs": model.predict(sample_input(), verbose=0)}
