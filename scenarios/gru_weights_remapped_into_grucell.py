"""Way out: remap the GRU model's .weights.h5 onto the GRUCell model by array shapes, then load

The seed case (keras-team/keras#20407) fails because a standalone ``GRUCell`` looks for its
variables under ``layers/gru_cell/vars`` while the file keeps them under ``layers/gru/cell/vars``.
The arrays are all there. This scenario writes a remapped copy of the file in the streaming
model's own layout, each variable group filled from the one group of the original file whose
arrays have exactly the same shapes (the mapping ``harness inspect --against`` prints), loads
it with ``load_weights`` and compares the step-by-step outputs with the sequence model's.
"""

from _gru import build_sequence_model, build_step_model, run_steps, sample_input
from _remap import remap_weights

SIGNATURE = r"(?s)ValueError: .*expected \d+ variables, but received \d+ variables"
LINKS = ["https://github.com/keras-team/keras/issues/20407"]
TAGS = ("seed", "rnn", "cell", "workaround")
REQUIRES = {"keras": ">=3.0"}


def run(workdir):
    x = sample_input()
    sequence_model = build_sequence_model()
    expected = sequence_model.predict(x, verbose=0)
    original = f"{workdir}/gru.weights.h5"
    sequence_model.save_weights(original)
    step_model = build_step_model()
    remapped = f"{workdir}/remapped.weights.h5"
    remap_weights(original, step_model, remapped)
    step_model.load_weights(remapped)
    return {"expected": expected, "actual": run_steps(step_model, x)}
