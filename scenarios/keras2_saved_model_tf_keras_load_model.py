"""Way out: load the tf.keras 2.15 SavedModel folder with tf_keras (Keras 2) on TensorFlow 2.16+

TensorFlow 2.16 made Keras 3 its Keras, and Keras 3 refuses SavedModel folders in load_model()
(keras-team/keras#18709, see keras2_saved_model_into_keras3_load_model). Keras's getting-started
guide ("TensorFlow + Keras 2 backwards compatibility") says the legacy Keras 2 package is still
released as tf_keras: "To use it, you can install it via `pip install tf_keras` then import it via
`import tf_keras as keras`." Here the folder written by tensorflow==2.15.1 (a model compiled and
fitted one epoch) is loaded with tf_keras.models.load_model() in a pairing that has TensorFlow
2.16+ and tf-keras (a pairing without tf-keras is skipped); outputs on a fixed input are
compared, and the loaded model is fitted one step, to show it is a whole model and not only an
inference layer as with TFSMLayer. The SIGNATURE is the failure keras-team/tf-keras#369 reports
for tf.keras SavedModels read by a later TensorFlow.

Measured (TensorFlow backend, Python 3.11, CPU): save on tensorflow==2.15.1, load on keras 3.5.0
+ tensorflow 2.16.1 + tf-keras 2.16.0 and keras 3.15.1 + tensorflow 2.21.0 + tf-keras 2.21.0:
passed, max abs diff 0, and the loaded model trains. Pairings without tf-keras are skipped. As
with TFSMLayer, the claim's cells are loads across pairings, which a works_with claim does not
count ("not enough evidence" on the claims page).
"""
import numpy as np
from _saved_model import FOLDER, fixed_input, save_trained_saved_model

SIGNATURE = r"TypeError: Value passed to parameter '\w+' has DataType \w+ not in list of allowed values"
LINKS = [
    "https://keras.io/getting_started/#tensorflow--keras-2-backwards-compatibility",
    "https://github.com/keras-team/keras/issues/18709",
    "https://github.com/keras-team/tf-keras/issues/369",
]
TAGS = ("cross", "keras2", "formats", "workaround", "tf-keras")
REQUIRES = {"tensorflow": ">=2.16", "tf-keras": ">=2.16"}
SAVE_REQUIRES = {"keras": "<3"}
CLAIMS = [
    {
        "link": "https://keras.io/getting_started/#tensorflow--keras-2-backwards-compatibility",
        "says": (
            "the legacy Keras 2 package is still being released regularly and is available on PyPI as `tf_keras` "
            "[...] To use it, you can install it via `pip install tf_keras` then import it via `import tf_keras as keras`."
        ),
        "kind": "works_with",
        "pairing": "keras==3.5.0,tensorflow==2.16.1,tf-keras==2.16.0",
    },
]


def save(workdir):
    return save_trained_saved_model(workdir)


def load(workdir):
    import tf_keras

    model = tf_keras.models.load_model(f"{workdir}/{FOLDER}")
    y = model.predict(fixed_input(), verbose=0)
    model.fit(fixed_input(), np.zeros((3, 2), "float32"), epochs=1, verbose=0)
    return {"y": y}
