"""LayerNormalization(rms_scaling=True) in a .keras round trip

keras-team/keras#19806 (Keras 3.3.3, 2024-06): Sequential([LayerNormalization(rms_scaling=True)]),
build((100, 10)), save_model(model, 'test.keras'), load_model() fails with "Layer
'layer_normalization_5' expected 2 variables, but received 1 variables during loading.
Expected: ['gamma', 'beta']" (with rms_scaling only gamma is created, but the config did
not record it). The fix (get_config) is said to be in 3.4.0.
Same model here with a fixed (4, 10) input; outputs compared if the load succeeds.

Measured (TensorFlow backend, Python 3.11, CPU): reproduced ("Layer 'layer_normalization'
expected 2 variables, but received 1 variables") on 3.1.1 and 3.3.3; passed (max abs diff 0)
on 3.5.0, 3.6.0, 3.15.1. Consistent with the fix claimed for 3.4.0 (3.4.x itself not
measured).
"""
import keras
import numpy as np

SIGNATURE = r"(?s)Layer 'layer_normalization(_\d+)?' expected 2 variables, but received 1 variables"
LINKS = ["https://github.com/keras-team/keras/issues/19806"]
TAGS = ("normalization",)
REQUIRES = {"keras": ">=3.0"}


def run(workdir):
    keras.utils.set_random_seed(0)
    x = np.random.RandomState(0).normal(1.0, 2.0, size=(4, 10)).astype("float32")
    model = keras.Sequential([keras.layers.LayerNormalization(rms_scaling=True)])
    model.build((None, 10))
    # make gamma non-trivial so a load that silently skips it is visible
    ln = model.layers[0]
    ln.set_weights([np.linspace(0.5, 1.5, w.shape[-1]).astype("float32") for w in ln.get_weights()])
    expected = keras.ops.convert_to_numpy(model(x))
    path = workdir + "/test.keras"
    keras.models.save_model(model, path)
    loaded = keras.models.load_model(path)
    return {"expected": expected, "actual": keras.ops.convert_to_numpy(loaded(x))}
