"""Custom layer holding Dense sub-layers in a nested Python list: .keras round trip

keras-team/keras#20598 (Keras 3.7.0, TF 2.17.1, 2024-12): a custom layer whose build()
creates sub-layers in a list of lists (self.l1 = [[Dense, Dense], [Dense, Dense]]) saves
and loads without error, but the reloaded model gives different outputs; the same layer
with a flat list works. PR keras-team/keras#22210 explains: saving_lib's
_save_container_state/_load_container_state skipped nested containers; the fix
(PR keras-team/keras#22362, merged 2026-03) is said to be in 3.15.0.
Here: Input(4) -> NGLayer (2x2 nested Dense(10)) -> output; saved as .keras, reloaded,
outputs compared. The reported failure is silent (wrong_values is the reproduction);
SIGNATURE matches the loud "was never built" form of the same container problem.

Measured (TensorFlow backend, Python 3.11, CPU): wrong_values (max abs diff 1.5, no error or
warning) on 3.5.0, 3.6.0 (and 3.1.1, 3.3.3); passed (max abs diff 0) on 3.15.1. Agrees with
the fix being in 3.15.x.
"""
import keras
import numpy as np

SIGNATURE = r"(?s)Layer 'dense_\d_\d' was never built and thus it doesn't have any variables"
LINKS = [
    "https://github.com/keras-team/keras/issues/20598",
    "https://github.com/keras-team/keras/pull/22362",
]
TAGS = ("subclass", "nested")
REQUIRES = {"keras": ">=3.0"}


@keras.saving.register_keras_serializable(package="CompatMatrix")
class NGLayer(keras.layers.Layer):
    def build(self, input_shape):
        self.l1 = []
        for i in range(2):
            l2 = []
            self.l1.append(l2)
            for j in range(2):
                l2.append(keras.layers.Dense(10, name=f"dense_{i}_{j}"))

    def call(self, x):
        for group in self.l1:
            for d in group:
                x = d(x)
        return x


def run(workdir):
    keras.utils.set_random_seed(0)
    x = np.random.RandomState(0).rand(4, 4).astype("float32")
    inp = keras.Input(shape=(4,))
    model = keras.Model(inp, NGLayer()(inp))
    expected = model.predict(x, verbose=0)
    path = workdir + "/ng.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    return {"expected": expected, "actual": loaded.predict(x, verbose=0)}
