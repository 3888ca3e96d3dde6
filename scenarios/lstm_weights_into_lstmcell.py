"""LSTM layers' .weights.h5 loaded into an LSTMCell streaming model

Twin of the seed case (keras-team/keras#20407, GRU -> GRUCell) with LSTM: a user trains a
model of two LSTM(return_sequences=True) layers and a Dense head, saves it with
save_weights("*.weights.h5"), rebuilds the same network from LSTMCell layers called one
timestep at a time with explicit `states=[h, c]` inputs (streaming inference), and calls
load_weights() with the LSTM model's file. In the Keras 3 weights format the LSTM
variables live under `layers/lstm/cell/vars` while a standalone cell looks for
`layers/lstm_cell/vars`, so nothing matches. keras-team/keras#20322 reports the same
"Layer 'lstm_cell' expected 3 variables, but received 0 variables" error for a different
LSTM class mismatch (custom LSTM subclass -> LSTM).
No separate public report of exactly LSTM -> LSTMCell was found; the link is the seed report.

Measured (TensorFlow backend, Python 3.11, CPU): the exact error ("A total of 2 objects
could not be loaded ... Layer 'lstm_cell' expected 3 variables, but received 0 variables")
on 3.5.0+2.16.1, 3.6.0+2.16.1 and 3.15.1+2.21.0 (also on 3.1.1 and 3.3.3). Like the GRU
seed, "does not reproduce on 3.6.0" does not hold for this LSTM twin.
"""
from _lstm import build_sequence_model, build_step_model, outputs, run_steps, seeded_input

SIGNATURE = r"(?s)ValueError: .*Layer 'lstm_cell(_\d+)?' expected 3 variables, but received 0 variables"
LINKS = [
    "https://github.com/keras-team/keras/issues/20407",
    "https://github.com/keras-team/keras/issues/20322",
]
TAGS = ("rnn", "cell")
REQUIRES = {"keras": ">=3.0"}


def run(workdir):
    x = seeded_input()
    seq = build_sequence_model()
    expected = outputs(seq, x)
    path = workdir + "/lstm.weights.h5"
    seq.save_weights(path)
    step = build_step_model()
    step.load_weights(path)
    return {"expected": expected, "actual": run_steps(step, x)}
