"""SimpleRNN layers' .weights.h5 loaded into a SimpleRNNCell streaming model

Twin of the seed case (keras-team/keras#20407, GRU -> GRUCell) with SimpleRNN: two
SimpleRNN(return_sequences=True) layers and a Dense head are saved with
save_weights("*.weights.h5"); the same network is rebuilt from SimpleRNNCell layers called
one timestep at a time with explicit `states=[h]`, and load_weights() is called with the
SimpleRNN model's file. The Keras 3 weights format stores the layer's variables under
`layers/simple_rnn/cell/vars`; a standalone cell looks under `layers/simple_rnn_cell/vars`.
No separate public report for SimpleRNN was found; the link is the seed report.

Measured (TensorFlow backend, Python 3.11, CPU): the error ("Layer 'simple_rnn_cell'
expected 3 variables, but received 0 variables") on 3.5.0, 3.6.0 and 3.15.1 (also 3.1.1,
3.3.3). SimpleRNNCell has 3 variables (kernel, recurrent_kernel, bias), like the LSTM/GRU
cells.
"""
import keras

from _lstm import build_sequence_model, build_step_model, outputs, run_steps, seeded_input

SIGNATURE = r"(?s)ValueError: .*Layer 'simple_rnn_cell(_\d+)?' expected 3 variables, but received 0 variables"
LINKS = ["https://github.com/keras-team/keras/issues/20407"]
TAGS = ("rnn", "cell")
REQUIRES = {"keras": ">=3.0"}


def run(workdir):
    x = seeded_input()
    seq = build_sequence_model(keras.layers.SimpleRNN)
    expected = outputs(seq, x)
    path = workdir + "/simple_rnn.weights.h5"
    seq.save_weights(path)
    step = build_step_model(keras.layers.SimpleRNNCell, states=1)
    step.load_weights(path)
    return {"expected": expected, "actual": run_steps(step, x)}
