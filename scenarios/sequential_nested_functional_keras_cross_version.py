"""A Sequential model holding a frozen functional base model in a .keras file, across 3.3 / 3.4 / 3.5

keras-team/keras#19959 ("Can't load a saved model, Keras 3.4 regression", 2024-07): a Sequential
model of Input, RandomFlip, RandomRotation, Rescaling, a frozen keras.applications ResNet50V2
base, GlobalAveragePooling2D, Dense, Dropout and Dense softmax, trained and saved as .keras,
fails in keras.models.load_model() with a Dense layer that "expects one tensor input and got two".
The reporter: "Exactly the same code works on Keras 3.3.3" and "when I saved the model on Keras
3.4.1 and then downgraded to Keras 3.3.3, it could read the saved model just fine." fchollet
answered "Looking into it." and fixed it the same day (commit "Fix serialization bug.", whose test
is marked "a v3.4.1 regression" and uses MobileNet(weights=None) in a Sequential). Here the
same layers with a frozen MobileNet(alpha=0.25, weights=None) on 32x32 inputs as the base (no
download), compiled (adam) and fitted one epoch, saved as .keras; load() runs
keras.models.load_model() in every pairing on every pairing's file and compares outputs on a
fixed input.

Measured (TensorFlow backend, Python 3.11, CPU; keras 3.3.3, 3.4.0, 3.4.1, 3.5.0, 3.6.0 with
tensorflow 2.16.1, keras 3.15.1 with tensorflow 2.21.0, every file loaded in every pairing):
reproduced wherever 3.4.0 or 3.4.1 loads a file from 3.3.3-3.5.0, whichever of them wrote it
('Layer "dense" expects 1 input(s), but it received 2 input tensors'); passed wherever 3.3.3 or
3.5.0 loads one of those files, and on every pairing's own file outside 3.4.x, max abs diff 0.
The reporter's words hold: it works on 3.3.3, and 3.3.3 reads the 3.4.1 file; the failure is in
3.4.x's loader, gone in 3.5.0. The same grid shows more breaks: 3.6.0 and 3.15.1 cannot read any
file of this model written by 3.3.3-3.5.0 ("Unrecognized keyword arguments passed to
RandomRotation: {'value_range': [0, 255]}"; the argument was removed in 3.6.0), 3.3.3-3.5.0
cannot read the files of 3.6.0 and 3.15.1 (RandomFlip's 'data_format'), 3.6.0 cannot read
3.15.1's (GlorotUniform's 'input_axes'), and 3.15.1 reading 3.6.0's file fails with the thread's
own error again (reproduced). So a user on this
model who saved with 3.4.x and upgrades past 3.5.0 still cannot load the file. (The title's
"3.4 regression" is not written as a broken_since claim: that kind says the failure stays from
3.4.0 on, which the thread never said.)
"""
import keras
import numpy as np

SIGNATURE = r"(?s)ValueError: .*Layer ['\"]dense(_\d+)?['\"] expect(s|ed) 1 input\(s\),? but it received 2 input tensors"
LINKS = [
    "https://github.com/keras-team/keras/issues/19959",
    "https://github.com/tensorflow/tensorflow/issues/63853",
]
TAGS = ("nested", "formats", "cross")
REQUIRES = {"keras": ">=3.0"}
CLAIMS = [
    {
        "link": "https://github.com/keras-team/keras/issues/19959",
        "says": "Exactly the same code works on Keras 3.3.3.",
        "kind": "works_with",
        "pairing": "keras==3.3.3,tensorflow==2.16.1",
    },
]


def _x():
    return np.random.RandomState(0).rand(2, 32, 32, 3).astype("float32") * 255.0


def save(workdir):
    keras.utils.set_random_seed(0)
    base_model = keras.applications.MobileNet(input_shape=(32, 32, 3), alpha=0.25, include_top=False, weights=None)
    base_model.trainable = False
    model = keras.Sequential()
    model.add(keras.layers.Input(shape=(32, 32, 3)))
    model.add(keras.layers.RandomFlip("horizontal"))
    model.add(keras.layers.RandomRotation(0.1))
    model.add(keras.layers.Rescaling(scale=1 / 127.5, offset=-1))
    model.add(base_model)
    model.add(keras.layers.GlobalAveragePooling2D())
    model.add(keras.layers.Dense(16, activation="relu"))
    model.add(keras.layers.Dropout(0.25))
    model.add(keras.layers.Dense(7, activation="softmax"))
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    rs = np.random.RandomState(1)
    model.fit(rs.rand(8, 32, 32, 3).astype("float32") * 255.0, rs.randint(0, 7, size=(8,)), epochs=1, verbose=0)
    model.save(f"{workdir}/model.keras")
    return {"y": model.predict(_x(), verbose=0)}


def load(workdir):
    model = keras.models.load_model(f"{workdir}/model.keras")
    return {"y": model.predict(_x(), verbose=0)}
