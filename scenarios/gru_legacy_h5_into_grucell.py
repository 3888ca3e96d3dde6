"""Workaround: save the GRU model as a legacy .h5 file, load_weights() into the GRUCell model

Another way out discussed around keras-team/keras#20407: save the whole sequence model in the
legacy HDF5 format (``model.save("model.h5")``) and call ``load_weights`` of the streaming
GRUCell model on that file. Legacy HDF5 weights are matched layer by layer in order, not by
object path. The step-by-step outputs must equal the sequence model's.
"""

from _gru import build_sequence_model, build_step_model, run_steps, sample_input

SIGNATURE = r"(?s)ValueError: .*(expected|received) \d+ variables"
LINKS = ["https://github.com/keras-team/keras/issues/20407"]
TAGS = ("seed", "rnn", "cell", "formats", "workaround")
REQUIRES = {"keras": ">=3.0"}


def run(workdir):
    x = sample_input()
    sequence_model = build_sequence_model()
    expected = sequence_model.predict(x, verbose=0)
    path = f"{workdir}/gru_model.h5"
    sequence_model.save(path)
    step_model = build_step_model()
    step_model.load_weights(path)
    return {"expected": expected, "actual": run_steps(step_model, x)}
