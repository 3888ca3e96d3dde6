"""GRU layers' .weights.h5 loaded into a GRUCell streaming model (the seed case)

A user with TensorFlow 2.16.1 and Keras 3.5.0 trained a model of two ``GRU(return_sequences=True)``
layers and a Dense head, then rebuilt the same network from ``GRUCell`` layers, each called with
an explicit ``states=`` input, to run it step by step for streaming inference, and called
``load_weights()`` on it with the GRU model's ``.weights.h5`` file. Keras 3 matches variables by
object path: a GRU keeps its variables under ``layers/gru/cell/vars`` while a standalone cell
looks under ``layers/gru_cell/vars``, so each cell finds nothing.

Upstream said the problem does not reproduce with Keras 3.6.0 and closed the issue as stale.
When the load succeeds, the step-by-step outputs are compared with the sequence model's.
"""

from _gru import build_sequence_model, build_step_model, run_steps, sample_input

SIGNATURE = r"(?s)ValueError: .*Layer 'gru_cell' expected 3 variables, but received 0 variables during loading"
LINKS = ["https://github.com/keras-team/keras/issues/20407"]
TAGS = ("seed", "rnn", "cell")
REQUIRES = {"keras": ">=3.0"}
CLAIMS = [
    {
        "link": "https://github.com/keras-team/keras/issues/20407",
        "says": "does not reproduce with Keras 3.6.0",
        "kind": "fixed_in",
        "package": "keras",
        "version": "3.6.0",
    },
]


def run(workdir):
    x = sample_input()
    sequence_model = build_sequence_model()
    expected = sequence_model.predict(x, verbose=0)
    path = f"{workdir}/gru.weights.h5"
    sequence_model.save_weights(path)
    step_model = build_step_model()
    step_model.load_weights(path)
    return {"expected": expected, "actual": run_steps(step_model, x)}
