"""Workaround: move weights from tf.keras 2.15 to Keras 3 as plain arrays (get_weights/set_weights)

keras-team/tf-keras#664 quotes the maintainers' advice from keras-team/keras-core#855 for
.keras files that do not load across versions ("expected 2 variables, but received 0"):
"Use get_weights()/set_weights()". Applied across the Keras 2 -> Keras 3 boundary: on
tensorflow==2.15.1 the model of keras2_keras_file_into_keras3 (Input(8, 8, 3) -> Conv2D(3, 3) ->
Conv2D(3, 3)) dumps model.get_weights() to an .npz file; Keras 3 rebuilds the same model in
another process and calls set_weights() with the arrays; outputs on a fixed input compared.

Measured (TensorFlow backend, Python 3.11, CPU): save on tensorflow==2.15.1 (also 2.13.1),
load on 3.5.0, 3.6.0, 3.15.1 (and 3.1.1, 3.3.3): passed, max abs diff 0.
"""
import keras
import numpy as np

SIGNATURE = r"ValueError: You called `set_weights\(weights\)` on layer .* with a weight list of length \d+, but the layer was expecting \d+ weights"
LINKS = ["https://github.com/keras-team/tf-keras/issues/664"]
TAGS = ("cross", "keras2", "workaround")
REQUIRES = {"keras": ">=3.0"}
SAVE_REQUIRES = {"keras": "<3"}


def _x():
    return np.random.RandomState(0).rand(2, 8, 8, 3).astype("float32")


def _model():
    inp = keras.layers.Input(shape=(8, 8, 3))
    x = keras.layers.Conv2D(3, 3)(inp)
    x = keras.layers.Conv2D(3, 3)(x)
    return keras.Model(inputs=inp, outputs=x)


def save(workdir):
    keras.utils.set_random_seed(0)
    model = _model()
    weights = model.get_weights()
    np.savez(workdir + "/weights_215.npz", **{f"w{i:03d}": w for i, w in enumerate(weights)})
    return {"y": model.predict(_x(), verbose=0)}


def load(workdir):
    data = np.load(workdir + "/weights_215.npz")
    model = _model()
    model.set_weights([data[k] for k in sorted(data.files)])
    return {"y": model.predict(_x(), verbose=0)}
