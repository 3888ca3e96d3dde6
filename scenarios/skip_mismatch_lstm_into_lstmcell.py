"""load_weights(skip_mismatch=True) makes the LSTM -> LSTMCell error go away and loads nothing

Same setup as the LSTM twin of keras-team/keras#20407 (LSTM model's .weights.h5 loaded
into an LSTMCell step model), but the user "fixes" the
"Layer 'lstm_cell' expected 3 variables, but received 0 variables" error by passing
skip_mismatch=True, which the Keras docs describe as skipping layers whose weights do
not match (keras.io "Weights-only saving & loading"); keras-team/keras#11867 asks how to be
sure pretrained weights were really loaded when skip_mismatch=True. The load then succeeds; the question is whether any value was loaded. The cell
model's step-by-step outputs are compared with the LSTM model's outputs, so a load that
silently loads nothing shows as wrong_values, never as passed.

Measured (TensorFlow backend, Python 3.11, CPU): load_weights(skip_mismatch=True) raises
nothing and the cell model's outputs differ from the LSTM model's (max abs diff 0.043; only
the Dense head, whose path "layers/dense" matches, is loaded) on 3.5.0, 3.6.0, 3.15.1 (and
3.1.1, 3.3.3): verdict wrong_values everywhere. skip_mismatch is not a fix.
"""
from _lstm import build_sequence_model, build_step_model, outputs, run_steps, seeded_input

SIGNATURE = r"(?s)ValueError: .*Layer 'lstm_cell(_\d+)?' expected 3 variables, but received 0 variables"
LINKS = [
    "https://github.com/keras-team/keras/issues/20407",
    "https://github.com/keras-team/keras/issues/11867",
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
    # the warning Keras gives is evidence (the harness records it and maps the layers it names)
    step.load_weights(path, skip_mismatch=True)
    return {"expected": expected, "actual": run_steps(step, x)}
