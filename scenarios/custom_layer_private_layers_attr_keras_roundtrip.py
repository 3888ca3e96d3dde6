"""Custom layer keeping its sub-layers in an attribute named self._layers: .keras round trip

keras-team/keras#20260 (2024-09, open): "layer's weights are not saved if a Model subclass
initializes a custom layer that contains sublayers in a class-level list variable called
self._layers"; the same code with the list named self._custom_layers works. Here a
registered custom layer holds [Dense(6, relu), Dense(3)] in self._layers, is used in a
functional model Input(4) -> CustomLayer -> output, saved as .keras and reloaded; outputs
compared. The reported failure is silent (wrong_values is the reproduction); SIGNATURE
matches the loud "expected N variables, but received 0" form of a missing sub-layer.

Measured (TensorFlow backend, Python 3.11, CPU): wrong_values (max abs diff 0.83, no error)
on every measured version including 3.15.1: still silently broken, consistent with the issue
being open.
"""
import keras
import numpy as np

SIGNATURE = r"(?s)Layer 'dense(_\d+)?' (expected \d+ variables, but received 0 variables|was never built)"
LINKS = ["https://github.com/keras-team/keras/issues/20260"]
TAGS = ("subclass",)
REQUIRES = {"keras": ">=3.0"}


@keras.saving.register_keras_serializable(package="CompatMatrix")
class PrivateListLayer(keras.layers.Layer):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._layers = [
            keras.layers.Dense(6, activation="relu"),
            keras.layers.Dense(3),
        ]

    def build(self, input_shape):
        shape = input_shape
        for layer in self._layers:
            layer.build(shape)
            shape = layer.compute_output_shape(shape)

    def call(self, x):
        for layer in self._layers:
            x = layer(x)
        return x


def run(workdir):
    keras.utils.set_random_seed(0)
    x = np.random.RandomState(0).rand(4, 4).astype("float32")
    inp = keras.Input(shape=(4,))
    model = keras.Model(inp, PrivateListLayer()(inp))
    expected = model.predict(x, verbose=0)
    path = workdir + "/private.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    return {"expected": expected, "actual": loaded.predict(x, verbose=0)}
