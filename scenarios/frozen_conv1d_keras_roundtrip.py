"""A model with a frozen Conv1D layer (trainable=False) saved as .keras and loaded back

keras-team/keras#19491 (2024-04-11, Keras 3.2.0, JAX backend): fine-tuning a head on a frozen
base, ModelCheckpoint files could not be loaded; reduced to a Sequential of Input((10, 3)) and
Conv1D(5, kernel_size=3, name="conv") with `trainable = False` set on the layer, saved as .keras:
load_model() fails with "Layer 'conv' expected 4 variables, but received 2 variables during
loading. Expected: ['kernel', 'bias', 'kernel', 'bias']". fchollet: "This bug has been fixed
previously, so you can just upgrade to the latest Keras version." The latest release that day was
3.2.1 (2024-04-10), which carries his fix "issue with weight tracking when trainable=False is
passed to the layer constructor", so the claim is "fixed in 3.2.1". Here the thread's code as
given; outputs on a fixed input are compared when the load succeeds.

Measured (Python 3.11, CPU): TensorFlow backend (tensorflow 2.16.1 with keras 3.1.1, 3.2.0,
3.2.1, 3.3.3, 3.4.0, 3.4.1, 3.5.0, 3.6.0, 3.7.0; tensorflow 2.21.0 with 3.15.1): reproduced on
3.2.0 only; passed, max abs diff 0, on every other version, 3.1.1 included. JAX backend (jax
0.4.26, the thread's backend): reproduced on 3.2.0, passed on 3.2.1. The claim holds: upgrading
to 3.2.1 fixes it. "Fixed previously" is half right: the bug was new in 3.2.0 (3.1.1 loads the
file), and the fix shipped the day before the answer. (Keras 3.2.x on JAX imports `packaging`
without declaring it; the JAX pairings list it.)
"""
import keras
import numpy as np

SIGNATURE = r"(?s)Layer 'conv' expected 4 variables, but received 2 variables during loading"
LINKS = ["https://github.com/keras-team/keras/issues/19491"]
TAGS = ("formats",)
REQUIRES = {"keras": ">=3.0"}
CLAIMS = [
    {
        "link": "https://github.com/keras-team/keras/issues/19491",
        "says": "This bug has been fixed previously, so you can just upgrade to the latest Keras version.",
        "kind": "fixed_in",
        "package": "keras",
        "version": "3.2.1",
    },
]


def run(workdir):
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((10, 3)), keras.layers.Conv1D(5, kernel_size=3, name="conv")],
    )
    model.get_layer("conv").trainable = False
    x = np.random.RandomState(0).rand(2, 10, 3).astype("float32")
    expected = model.predict(x, verbose=0)
    model.save(f"{workdir}/model.keras")
    loaded_model = keras.saving.load_model(f"{workdir}/model.keras")
    return {"expected": expected, "actual": loaded_model.predict(x, verbose=0)}
