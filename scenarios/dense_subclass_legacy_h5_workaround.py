"""Workaround: Dense -> Dense-subclass swap through a legacy .h5 file (topological loading)

For keras-team/keras#19373 (weights of a Dense model cannot be loaded into the same model
rebuilt with a Dense subclass: "Layer 'optimized_dense' expected 2 variables, but received
0"), the reporter notes the legacy path worked in tf_keras. Legacy HDF5 weight loading in
Keras 3 is topological (layer order), not by class-name path. Input(3) -> Dense(4, relu) ->
Dense(2) saved with model.save("model.h5"); the model rebuilt with OptimizedDense layers
calls load_weights("model.h5"); outputs compared.

Measured (TensorFlow backend, Python 3.11, CPU): passed (max abs diff 0) on every measured
version (3.1.1, 3.3.3, 3.5.0, 3.6.0, 3.15.1).
"""
import keras

from _dense import build_of, seeded_input

SIGNATURE = r"(?s)Layer 'optimized_dense(_\d+)?' expected 2 variables, but received 0 variables"
LINKS = ["https://github.com/keras-team/keras/issues/19373"]
TAGS = ("subclass", "formats", "workaround")
REQUIRES = {"keras": ">=3.0"}


class OptimizedDense(keras.layers.Dense):
    pass


def run(workdir):
    x = seeded_input()
    model = build_of(keras.layers.Dense)
    expected = model.predict(x, verbose=0)
    path = workdir + "/model.h5"
    model.save(path)
    custom = build_of(OptimizedDense)
    custom.load_weights(path)
    return {"expected": expected, "actual": custom.predict(x, verbose=0)}
