"""Workaround: whole LSTM model saved as legacy .h5, load_weights() into an LSTMCell model

The seed write-up (keras-team/keras#20407 and BACKGROUND.md) measured that the legacy
`.h5` route works for GRU -> GRUCell, because legacy HDF5 weight loading is topological
(layer order and weight order), not by object path. This applies it to LSTM: save the
LSTM model with model.save("model.h5"), rebuild the network from LSTMCell layers
(step-by-step streaming model) and call load_weights("model.h5"); outputs are compared
step by step with the LSTM model's outputs.

Measured (TensorFlow backend, Python 3.11, CPU): passed on 3.5.0, 3.6.0, 3.15.1 (and 3.1.1,
3.3.3), max abs diff 0: legacy .h5 loading is topological, so the cells receive the LSTM
weights.
"""
from _lstm import build_sequence_model, build_step_model, outputs, run_steps, seeded_input

SIGNATURE = r"(?s)ValueError: .*Layer 'lstm_cell(_\d+)?' expected 3 variables, but received 0 variables"
LINKS = ["https://github.com/keras-team/keras/issues/20407"]
TAGS = ("rnn", "cell", "formats", "workaround")
REQUIRES = {"keras": ">=3.0"}


def run(workdir):
    x = seeded_input()
    seq = build_sequence_model()
    expected = outputs(seq, x)
    path = workdir + "/lstm_model.h5"
    seq.save(path)
    step = build_step_model()
    step.load_weights(path)
    return {"expected": expected, "actual": run_steps(step, x)}
