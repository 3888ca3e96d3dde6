"""Workaround: reload a tf.keras 2.15 SavedModel folder in Keras 3 as keras.layers.TFSMLayer

keras-team/keras#18709: Keras 3's load_model() refuses SavedModel folders (see
keras2_saved_model_into_keras3_load_model); fchollet: "If you want to reload a TF `SavedModel`
as a Keras layer, you can do so via `keras.layers.TFSMLayer(path)`." The error message itself
suggests `keras.layers.TFSMLayer(path, call_endpoint='serving_default')`. Here the same folder
(written by tensorflow==2.15.1 from a compiled model fitted one epoch) is wrapped with
TFSMLayer(call_endpoint="serving_default") in Keras 3 (TensorFlow backend only) and called on a
fixed input; its one output is compared with the Keras 2 model's. TFSMLayer gives inference
only: no layers, no fit. Hrushi11/Real-TIme-Skin-Type-Detection#1 (TensorFlow 2.16.1, Keras
3.3.3) reports TFSMLayer itself failing on a published SavedModel with "AttributeError:
'_UserObject' object has no attribute 'add_slot'", the SIGNATURE here. The thread names no
version, so its claim is put to today's releases (keras 3.15.1, tensorflow 2.21.0).

Measured (TensorFlow backend, Python 3.11, CPU): save on tensorflow==2.15.1, load on keras
3.5.0 + tensorflow 2.16.1 and keras 3.15.1 + tensorflow 2.21.0 (with and without tf-keras):
passed, max abs diff 0. The optimizer state in the folder of a trained model did not trip
TFSMLayer here; the add_slot failure was not reproduced. The claim's cells are loads across
pairings (Keras 2 writes, Keras 3 reads), which a works_with claim does not count, so the claims
page reads "not enough evidence" for it although every such load passed.
"""
import keras
import numpy as np
from _saved_model import FOLDER, fixed_input, save_trained_saved_model

SIGNATURE = r"AttributeError: '_UserObject' object has no attribute 'add_slot'"
LINKS = [
    "https://github.com/keras-team/keras/issues/18709",
    "https://github.com/Hrushi11/Real-TIme-Skin-Type-Detection/issues/1",
]
TAGS = ("cross", "keras2", "formats", "workaround")
REQUIRES = {"keras": ">=3.0", "tensorflow": ">=2.16"}
SAVE_REQUIRES = {"keras": "<3"}
BACKENDS = ("tensorflow",)
CLAIMS = [
    {
        "link": "https://github.com/keras-team/keras/issues/18709",
        "says": "If you want to reload a TF `SavedModel` as a Keras layer, you can do so via `keras.layers.TFSMLayer(path)`.",
        "kind": "works_with",
        "pairing": "keras==3.15.1,tensorflow==2.21.0",
    },
]


def save(workdir):
    return save_trained_saved_model(workdir)


def load(workdir):
    layer = keras.layers.TFSMLayer(f"{workdir}/{FOLDER}", call_endpoint="serving_default")
    outputs = layer(fixed_input())
    if isinstance(outputs, dict):
        if len(outputs) != 1:
            raise ValueError(f"serving_default returned {len(outputs)} outputs: {sorted(outputs)}")
        (outputs,) = outputs.values()
    return {"y": np.asarray(outputs)}
