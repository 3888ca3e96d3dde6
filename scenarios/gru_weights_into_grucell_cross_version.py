"""The seed case across versions: GRU weights saved with one version, loaded into the GRUCell model with another

keras-team/keras#20407 was answered with "upgrade to 3.6.0". A user who upgrades has weights
files written by the old version: this scenario saves the GRU model's ``.weights.h5`` in one
pairing and loads it into the streaming GRUCell model in every pairing, so the grid shows
whether any combination of writer and reader gets past "expected 3 variables, but received 0".
When a load succeeds, the step-by-step outputs are compared with the sequence model's.
"""

from _gru import build_sequence_model, build_step_model, run_steps, sample_input

SIGNATURE = r"(?s)ValueError: .*Layer 'gru_cell' expected 3 variables, but received 0 variables during loading"
LINKS = ["https://github.com/keras-team/keras/issues/20407"]
TAGS = ("seed", "rnn", "cell", "cross")
REQUIRES = {"keras": ">=3.0"}


def save(workdir):
    model = build_sequence_model()
    model.save_weights(f"{workdir}/gru.weights.h5")
    return {"outputs": model.predict(sample_input(), verbose=0)}


def load(workdir):
    step_model = build_step_model()
    step_model.load_weights(f"{workdir}/gru.weights.h5")
    return {"outputs": run_steps(step_model, sample_input())}
