"""Subclassed model with lists of sub-layers: tf.keras 2.15 .weights.h5 loaded by Keras 3

keras-team/keras#18823 (2023-11): a subclassed model built in tf.keras 2.12 (a SubModel with
lists `dense_layers` and `layer_norms`, whose call() skips the first two entries, inside a
CombinedModel holding a list of SubModels) was saved with save_weights("model.weights.h5");
after translating the code to Keras 3, load_weights() failed: "Layer 'dense' was never built
and thus it doesn't have any variables. However the weights file lists 2 variables for this
layer." A smaller copy of that structure (2 sub-models x 3 Dense/LayerNorm pairs, width 6,
Dense(4) output each, inputs (2, 5)) is saved on tensorflow==2.15.1 and loaded by Keras 3
into the same classes after one call; outputs on a fixed input compared.

Measured (TensorFlow backend, Python 3.11, CPU): passed (max abs diff 6e-8) on 3.5.0, 3.6.0,
3.15.1 (and 3.1.1, 3.3.3) for files written by tensorflow 2.15.1, 2.13.1 and 2.12.1 (the
reporter's 2.12). The "was never built" error of keras#18823 did NOT reproduce with this
reduced copy of the reporter's model; the difference may lie in parts of the original model
not shown in the thread (it was truncated where we read it).
"""
import keras
import numpy as np

SIGNATURE = r"(?s)Layer '\w+' was never built and thus it doesn't have any variables\. However the weights file lists \d+ variables"
LINKS = [
    "https://github.com/keras-team/keras/issues/18823",
    "https://github.com/keras-team/keras/issues/18875",
]
TAGS = ("cross", "keras2", "subclass", "nested")
REQUIRES = {"keras": ">=3.0"}
SAVE_REQUIRES = {"keras": "<3"}


class SubModel(keras.Model):
    def __init__(self, num_layer_norm, **kwargs):
        super().__init__(**kwargs)
        self.dense_layers = [keras.layers.Dense(6, activation="relu") for _ in range(num_layer_norm)]
        self.layer_norms = [keras.layers.LayerNormalization() for _ in range(num_layer_norm)]
        self.output_layer = keras.layers.Dense(4, activation="relu")

    def call(self, inputs):
        x = inputs
        for i, (dense, layer_norm) in enumerate(zip(self.dense_layers, self.layer_norms)):
            if i < 2:
                continue
            x = dense(x)
            x = layer_norm(x)
        return self.output_layer(x)


class CombinedModel(keras.Model):
    def __init__(self, num_submodels, num_layer_norm, **kwargs):
        super().__init__(**kwargs)
        self.submodels = [SubModel(num_layer_norm) for _ in range(num_submodels)]
        self.head = keras.layers.Dense(2)

    def call(self, inputs):
        outs = [m(inputs) for m in self.submodels]
        return self.head(keras.layers.Concatenate()(outs))


def _x():
    return np.random.RandomState(0).rand(2, 5).astype("float32")


def save(workdir):
    keras.utils.set_random_seed(0)
    model = CombinedModel(2, 3)
    y = model(_x())
    model.save_weights(workdir + "/model_215.weights.h5")
    return {"y": np.asarray(y)}


def load(workdir):
    model = CombinedModel(2, 3)
    model(_x())
    model.load_weights(workdir + "/model_215.weights.h5")
    return {"y": keras.ops.convert_to_numpy(model(_x()))}
