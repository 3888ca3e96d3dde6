"""A .keras file written by tf.keras 2.15 (Keras 2) loaded by Keras 3

keras-team/keras#19089 (open): a model saved as .keras with TF/Keras 2.15 could not be
loaded with Keras 3.0.4: "TypeError: Could not deserialize class 'Functional' because its
parent module keras.src.engine.functional cannot be imported". keras-team/keras#18830 (and
tensorflow/tensorflow#62363) report that a .keras file with two layers of the same type
written by TF 2.13 fails in 2.14/2.15 with "Layer 'conv2d_1' expected 2 variables, but
received 0 variables"; the model here is that report's model (Input(8, 8, 3) -> Conv2D(3, 3)
-> Conv2D(3, 3)). save() runs on tensorflow==2.15.1 (Keras 2.15), load() runs on Keras 3
in another process and compares outputs on a fixed input.

Measured (TensorFlow backend, Python 3.11, CPU): save on tensorflow==2.15.1 (Keras 2.15.0),
load on 3.5.0, 3.6.0, 3.15.1 (and 3.1.1, 3.3.3): reproduced everywhere ("Could not
deserialize class 'Functional' because its parent module keras.src.engine.functional cannot
be imported"). Same with a file saved by tensorflow==2.13.1. Still open, consistent with the
thread. (With tensorflow==2.12.1, model.save("x.keras") writes an HDF5 file, and Keras 3
refuses it as "File not found ... accessible .keras zip file".)
"""
import keras
import numpy as np

SIGNATURE = r"TypeError: Could not deserialize class 'Functional' because its parent module keras\.src\.engine\.functional cannot be imported"
LINKS = [
    "https://github.com/keras-team/keras/issues/19089",
    "https://github.com/keras-team/keras/issues/18830",
]
TAGS = ("cross", "keras2", "formats")
REQUIRES = {"keras": ">=3.0"}
SAVE_REQUIRES = {"keras": "<3"}


def _x():
    return np.random.RandomState(0).rand(2, 8, 8, 3).astype("float32")


def save(workdir):
    keras.utils.set_random_seed(0)
    inp = keras.layers.Input(shape=(8, 8, 3))
    x = keras.layers.Conv2D(3, 3)(inp)
    x = keras.layers.Conv2D(3, 3)(x)
    model = keras.Model(inputs=inp, outputs=x)
    model.save(workdir + "/model_215.keras")
    return {"y": model.predict(_x(), verbose=0)}


def load(workdir):
    model = keras.models.load_model(workdir + "/model_215.keras")
    return {"y": model.predict(_x(), verbose=0)}
