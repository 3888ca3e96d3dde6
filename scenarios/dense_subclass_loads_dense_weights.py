"""Dense replaced by a subclass of Dense in the rebuilt model: load_weights(.weights.h5)

keras-team/keras#19373 (TF 2.16.1, Keras 3.1.1, 2024-03): "In legacy keras, I can load
.h5 files and override some layers with my custom ones. It seems I can not do it in keras
3": loading fails with "Layer 'optimized_dense' expected 2 variables, but received 0
variables during loading. Expected: ['kernel', 'bias']" (tf_keras works). Keras 3's
weights paths come from the class name ("layers/dense" vs "layers/optimized_dense").
Here: Input(3) -> Dense(4, relu) -> Dense(2) saved with save_weights("*.weights.h5"); the
model is rebuilt with OptimizedDense(keras.layers.Dense) (same math) for both layers and
load_weights() is called; outputs compared.

Measured (TensorFlow backend, Python 3.11, CPU): reproduced ("Layer 'optimized_dense'
expected 2 variables, but received 0") on every measured version including 3.15.1. The
thread is closed without a fix; the behaviour is unchanged.
"""
import keras

from _dense import build_of, seeded_input

SIGNATURE = r"(?s)Layer 'optimized_dense(_\d+)?' expected 2 variables, but received 0 variables"
LINKS = ["https://github.com/keras-team/keras/issues/19373"]
TAGS = ("subclass",)
REQUIRES = {"keras": ">=3.0"}


class OptimizedDense(keras.layers.Dense):
    pass


def run(workdir):
    x = seeded_input()
    model = build_of(keras.layers.Dense)
    expected = model.predict(x, verbose=0)
    path = workdir + "/dense.weights.h5"
    model.save_weights(path)
    custom = build_of(OptimizedDense)
    custom.load_weights(path)
    return {"expected": expected, "actual": custom.predict(x, verbose=0)}
