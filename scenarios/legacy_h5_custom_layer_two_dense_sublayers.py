"""Legacy .h5 save of a model whose custom layer holds two sub-layers of the same type

keras-team/keras#19375 (Keras 3.1-3.2, 2024-03): "saving weights in legacy h5 format fails
for custom layer containing two sub-layers of the same type": Keras 3's legacy HDF5 writer
named datasets by the short variable name (w.name, e.g. "kernel"), so two Dense sub-layers
collide; the reporter proposed using the full variable path. The fix (var.path) is said to be
in 3.3.0. A maintainer's answer was to use .keras instead.
Here: Input(3) -> TwoDense (registered custom layer with Dense(4) and Dense(4) sub-layers) ->
Dense(2); model.save("model.h5"), keras.models.load_model(compile=False); outputs compared.

Measured (TensorFlow backend, Python 3.11, CPU): reproduced on 3.1.1 (model.save("model.h5")
fails: "Unable to synchronously create dataset (name already exists)"); passed (max abs diff
0) on 3.3.3, 3.5.0, 3.6.0, 3.15.1. Consistent with the fix claimed for 3.3.0.
"""
import keras
import numpy as np

SIGNATURE = r"Unable to (synchronously )?create (dataset|group|link) \(name already exists\)"
LINKS = ["https://github.com/keras-team/keras/issues/19375"]
TAGS = ("subclass", "formats")
REQUIRES = {"keras": ">=3.0"}


@keras.saving.register_keras_serializable(package="CompatMatrix")
class TwoDense(keras.layers.Layer):
    def __init__(self, units=4, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.d1 = keras.layers.Dense(units, activation="tanh")
        self.d2 = keras.layers.Dense(units, activation="tanh")

    def build(self, input_shape):
        self.d1.build(input_shape)
        self.d2.build(tuple(input_shape[:-1]) + (self.units,))

    def call(self, x):
        return self.d2(self.d1(x))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def get_config(self):
        return {**super().get_config(), "units": self.units}


def run(workdir):
    keras.utils.set_random_seed(0)
    x = np.random.RandomState(0).rand(4, 3).astype("float32")
    inp = keras.Input(shape=(3,))
    model = keras.Model(inp, keras.layers.Dense(2)(TwoDense()(inp)))
    expected = model.predict(x, verbose=0)
    path = workdir + "/model.h5"
    model.save(path)
    loaded = keras.models.load_model(path, compile=False)
    return {"expected": expected, "actual": loaded.predict(x, verbose=0)}
