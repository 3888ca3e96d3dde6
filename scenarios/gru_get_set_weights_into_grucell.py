"""Workaround: copy each GRU layer's get_weights() into its GRUCell with set_weights()

The workaround proposed for keras-team/keras#20407: instead of ``load_weights`` on the streaming
model, take each ``GRU`` layer's arrays (kernel, recurrent_kernel, bias) with ``get_weights()``
and give them to the matching ``GRUCell`` with ``set_weights()``; the Dense head likewise.
The step-by-step outputs must equal the sequence model's.
"""

import keras

from _gru import build_sequence_model, build_step_model, run_steps, sample_input

SIGNATURE = r"(?s)ValueError: .*(expected|received) \d+ variables"
LINKS = ["https://github.com/keras-team/keras/issues/20407"]
TAGS = ("seed", "rnn", "cell", "workaround")
REQUIRES = {"keras": ">=3.0"}


def _layers_of(model, kind):
    return [layer for layer in model.layers if isinstance(layer, kind)]


def run(workdir):
    x = sample_input()
    sequence_model = build_sequence_model()
    expected = sequence_model.predict(x, verbose=0)
    step_model = build_step_model()
    grus = _layers_of(sequence_model, keras.layers.GRU)
    cells = _layers_of(step_model, keras.layers.GRUCell)
    if len(grus) != 2 or len(cells) != 2:
        raise RuntimeError(f"expected 2 GRU and 2 GRUCell layers, found {len(grus)} and {len(cells)}")
    for gru, cell in zip(grus, cells):
        cell.set_weights(gru.get_weights())
    [dense_from] = _layers_of(sequence_model, keras.layers.Dense)
    [dense_to] = _layers_of(step_model, keras.layers.Dense)
    dense_to.set_weights(dense_from.get_weights())
    return {"expected": expected, "actual": run_steps(step_model, x)}
