"""A Keras 3 .weights.h5 of a model that reaches one layer by two attribute names, read by tf.keras 2.15

keras-team/keras-hub#1369 (2023-12): weights published from Keras 3 did not load into the same
KerasNLP backbone under Keras 2: "the Keras 2 weights traversal order is the opposite of Keras
3. This caused the `_token_embedding` attribute (where the weights were saved) to be ignored,
since the public `token_embedding` attribute comes in reverse order first." The backbone keeps
its Embedding in `self._token_embedding` and exposes it as a `token_embedding` property. Here a
subclassed model of that shape (an Embedding kept as `_token_embedding` and exposed by a
`token_embedding` property, then average pooling and a Dense head) is saved with
save_weights("model.weights.h5") by Keras 3; tf.keras 2.15 builds the same model and calls
load_weights(); outputs on fixed token ids are compared.

Measured (TensorFlow backend, Python 3.11, CPU): files written by keras 3.0.1, 3.0.2 and 3.5.0
(tensorflow 2.16.1) and 3.15.1 (tensorflow 2.21.0), loaded by tensorflow==2.15.1: reproduced on
all four ("Layer 'embedding' expected 1 variables, but received 0 variables during loading").
Keras 2.15 looks for the Embedding under `token_embedding/vars`, which no Keras 3 release
writes: 3.0.1 writes it under `_token_embedding/vars` (the PR's case, which its fix copies over),
3.0.2 and later under `layers/embedding/vars` (Keras 3 walks a subclassed model's `layers` list,
and `layers` sorts before `token_embedding`). The PR's hack mends only the 3.0.1 layout; for
files from 3.0.2 on the direction still fails.
"""
import keras
import numpy as np

SIGNATURE = r"(?s)Layer '(embedding|token_embedding)(_\d+)?' expected 1 variables, but received 0 variables during loading"
LINKS = ["https://github.com/keras-team/keras-hub/pull/1369"]
TAGS = ("cross", "keras2", "subclass", "formats")
REQUIRES = {"keras": "<3"}
SAVE_REQUIRES = {"keras": ">=3.0"}


class Backbone(keras.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._token_embedding = keras.layers.Embedding(10, 4)
        self.pool = keras.layers.GlobalAveragePooling1D()
        self.head = keras.layers.Dense(2)

    @property
    def token_embedding(self):
        return self._token_embedding

    def call(self, token_ids):
        return self.head(self.pool(self.token_embedding(token_ids)))


def _ids():
    return np.random.RandomState(0).randint(0, 10, size=(3, 5)).astype("int32")


def _model(seed):
    keras.utils.set_random_seed(seed)
    model = Backbone()
    model(_ids())
    return model


def save(workdir):
    model = _model(0)
    model.save_weights(workdir + "/model.weights.h5")
    return {"y": model.predict(_ids(), verbose=0)}


def load(workdir):
    model = _model(1)
    model.load_weights(workdir + "/model.weights.h5")
    return {"y": model.predict(_ids(), verbose=0)}
