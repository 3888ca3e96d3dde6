"""The GRU model saved whole as a .keras file and loaded back

The model of keras-team/keras#20407 (two GRU layers and a Dense head) saved with
``model.save("gru.keras")`` and read with ``keras.models.load_model``. A cross-version scenario:
the save runs in one pairing and the load in every pairing, and the loaded model's outputs on a
fixed input must equal those of the model that was saved.
"""

import keras

from _gru import build_sequence_model, sample_input

SIGNATURE = r"(?s)ValueError: .*expected \d+ variables, but received \d+ variables"
LINKS = ["https://github.com/keras-team/keras/issues/20407"]
TAGS = ("seed", "rnn", "formats", "cross")
REQUIRES = {"keras": ">=3.0"}


def save(workdir):
    model = build_sequence_model()
    model.save(f"{workdir}/gru.keras")
    return {"outputs": model.predict(sample_input(), verbose=0)}


def load(workdir):
    model = keras.models.load_model(f"{workdir}/gru.keras")
    return {"outputs": model.predict(sample_input(), verbose=0)}
