"""The GRU model's .weights.h5 saved with one version, loaded into the same architecture with another

Advice given around keras-team/keras#20407 is to "keep training and inference on the same
TensorFlow/Keras versions". This scenario tests the claim for the plain case: the two-GRU model
of the report saves its weights with ``save_weights("gru.weights.h5")`` in one pairing; every
pairing rebuilds the same architecture, calls ``load_weights`` and must produce the same outputs.
"""

from _gru import build_sequence_model, sample_input

SIGNATURE = r"(?s)ValueError: .*expected \d+ variables, but received \d+ variables"
LINKS = ["https://github.com/keras-team/keras/issues/20407"]
TAGS = ("seed", "rnn", "formats", "cross")
REQUIRES = {"keras": ">=3.0"}


def save(workdir):
    model = build_sequence_model()
    model.save_weights(f"{workdir}/gru.weights.h5")
    return {"outputs": model.predict(sample_input(), verbose=0)}


def load(workdir):
    model = build_sequence_model()
    model.load_weights(f"{workdir}/gru.weights.h5")
    return {"outputs": model.predict(sample_input(), verbose=0)}
