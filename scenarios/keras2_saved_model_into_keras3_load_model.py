"""A tf.keras SavedModel folder (written by TensorFlow 2.15) loaded with Keras 3 load_model()

keras-team/keras#18709 (2023-10): `keras.models.load_model('my_model')` on a SavedModel folder
written by tf.keras worked, and in Keras 3 it fails with "File format not supported". fchollet
answered: "Just use `.keras` as your file extension to save/load Keras models." and pointed to
`keras.layers.TFSMLayer` for reloading a SavedModel (see keras2_saved_model_tfsmlayer_workaround).
Many later threads hit the same message with models published as SavedModel folders. Here, on
tensorflow==2.15.1 (Keras 2.15), a model Input(4) -> Dense(8, relu) -> Dense(2), compiled
(adam/mse) and fitted one epoch, is saved with model.save("model_215") (no extension: a
SavedModel folder); Keras 3 calls keras.models.load_model() on the folder in another process
and, if it loads, compares outputs on a fixed input.

Measured (TensorFlow backend, Python 3.11, CPU): save on tensorflow==2.15.1, load on keras
3.5.0 + tensorflow 2.16.1 and keras 3.15.1 + tensorflow 2.21.0, with and without tf-keras
installed: reproduced everywhere ("File format not supported: filepath=... Keras 3 only supports
V3 `.keras` files and legacy H5 format files"). The claim that Keras 3 does not read these
folders holds; installing tf-keras does not change what keras.models.load_model() does (see
keras2_saved_model_tf_keras_load_model for loading through tf_keras itself).
"""
import keras
from _saved_model import FOLDER, fixed_input, save_trained_saved_model

SIGNATURE = r"(?s)ValueError: File format not supported: filepath=.*only supports V3 `\.keras` files"
LINKS = ["https://github.com/keras-team/keras/issues/18709"]
TAGS = ("cross", "keras2", "formats")
REQUIRES = {"keras": ">=3.0"}
SAVE_REQUIRES = {"keras": "<3"}
CLAIMS = [
    {
        "link": "https://github.com/keras-team/keras/issues/18709",
        "says": "Just use `.keras` as your file extension to save/load Keras models.",
        "kind": "not_supported",
        "saved_with": "<3",
        "loaded_with": ">=3",
    },
]


def save(workdir):
    return save_trained_saved_model(workdir)


def load(workdir):
    model = keras.models.load_model(f"{workdir}/{FOLDER}")
    return {"y": model.predict(fixed_input(), verbose=0)}
