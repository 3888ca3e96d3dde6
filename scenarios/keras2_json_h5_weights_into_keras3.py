"""A JSON architecture plus legacy .h5 weights from tf.keras 2.15, loaded in Keras 3

keras-team/keras#20081 (2024-08): a user had only a model's architecture as .json
(model.to_json()) and its weights as .h5 from an older Keras, loaded them in TensorFlow 2.15
with model_from_json() + load_weights(), re-saved as .keras, and could not load that file in
Keras 3.4.1 (that route is keras2_keras_file_into_keras3). The maintainer's answer: "Cross
version saving and loading is not guaranteed to work between Keras 2 and 3." Here the direct
route: on tensorflow==2.15.1 a small Sequential CNN of the thread's kind (Conv2D, MaxPooling2D,
Dropout, Flatten, Dense softmax) writes model.to_json() to model_215.json and
save_weights("model_215.h5") (legacy HDF5 weights); Keras 3 reads the JSON with
keras.models.model_from_json(), calls load_weights() on the .h5 in another process and
compares outputs on a fixed input.

Measured (TensorFlow backend, Python 3.11, CPU): save on tensorflow==2.15.1, load on keras 3.5.0
+ tensorflow 2.16.1 and keras 3.15.1 + tensorflow 2.21.0 (with and without tf-keras): reproduced
everywhere, before any weight is read: "TypeError: Could not locate class 'Sequential'". A Keras 2
JSON names its classes without the "module" key Keras 3 looks them up by, so Keras 3's
model_from_json() cannot read any Keras 2 architecture file, however simple. The claim holds.
The .h5 weights themselves load into a model rebuilt from code (the route of
keras2_legacy_h5_weights_rebuild_workaround).
"""
import keras
import numpy as np

SIGNATURE = r"TypeError: Could not locate class 'Sequential'"
LINKS = ["https://github.com/keras-team/keras/issues/20081"]
TAGS = ("cross", "keras2", "formats")
REQUIRES = {"keras": ">=3.0"}
SAVE_REQUIRES = {"keras": "<3"}
CLAIMS = [
    {
        "link": "https://github.com/keras-team/keras/issues/20081",
        "says": "Cross version saving and loading is not guaranteed to work between Keras 2 and 3.",
        "kind": "not_supported",
        "saved_with": "<3",
        "loaded_with": ">=3",
    },
]


def _x():
    return np.random.RandomState(0).rand(2, 12, 12, 1).astype("float32")


def save(workdir):
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.layers.Conv2D(4, 3, activation="relu", input_shape=(12, 12, 1)),
            keras.layers.MaxPooling2D(2),
            keras.layers.Dropout(0.25),
            keras.layers.Flatten(),
            keras.layers.Dense(8, activation="relu"),
            keras.layers.Dense(2, activation="softmax"),
        ]
    )
    with open(f"{workdir}/model_215.json", "w") as handle:
        handle.write(model.to_json())
    model.save_weights(f"{workdir}/model_215.h5")
    return {"y": model.predict(_x(), verbose=0)}


def load(workdir):
    with open(f"{workdir}/model_215.json") as handle:
        model = keras.models.model_from_json(handle.read())
    model.load_weights(f"{workdir}/model_215.h5")
    return {"y": model.predict(_x(), verbose=0)}
