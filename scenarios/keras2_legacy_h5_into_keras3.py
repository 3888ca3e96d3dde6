"""A legacy .h5 model written by tf.keras 2.15 (Keras 2) loaded by Keras 3 load_model()

keras-team/keras#20083 (2024-08): models trained with TF/Keras 2.15.0 and saved as HDF5
were "not backward compatible" with Keras 3.3.3; the reporter compared the HDF5 layouts
(prefixes, ":0" suffixes, layer indexing). keras-team/keras#19898 reports that a legacy
model containing a Bidirectional LSTM, written by Keras 2.3, fails to load in Keras 3
while models without it load (its exact error was not visible to us, so it is not linked as
the signature source). Here a model Input(4, 3) -> Bidirectional(LSTM(5,
return_sequences=True)) -> LSTM(5) -> Dense(2) (not compiled) is saved with
model.save("model_215.h5") on tensorflow==2.15.1; Keras 3 loads it with
keras.models.load_model() in another process and outputs on a fixed input are compared.
keras-team/keras#20750 (TF 2.18, 2025-01) reports "ValueError: Unrecognized keyword arguments
passed to GRU: {'time_major': False}" when loading a Keras 2 .h5 model; fchollet answered that
the option was removed in Keras 3 and the saved file references it. jongwon-han/RPNet#1
(TF 2.18, 2025-03) hits the LSTM form: "Unrecognized keyword arguments passed to LSTM:
{'time_major': False}". A write-up on blog.gitcode.com proposes saving weights only in Keras 2
and rebuilding in Keras 3 (see keras2_legacy_h5_weights_rebuild_workaround).

Measured (TensorFlow backend, Python 3.11, CPU): save on tensorflow==2.15.1, load on 3.5.0,
3.6.0, 3.15.1: reproduced ("Unrecognized keyword arguments passed to LSTM: {'time_major':
False}"), also for files from tensorflow 2.13.1. On 3.1.1 and 3.3.3 the load fails earlier
with a different error ("Could not interpret initializer identifier ... Orthogonal"); files
from tensorflow 2.12.1 give "Could not locate class 'LSTM'" on 3.5.0-3.15.1.
"""
import keras
import numpy as np

SIGNATURE = r"ValueError: Unrecognized keyword arguments passed to (LSTM|GRU|SimpleRNN): \{'time_major': False\}"
LINKS = [
    "https://github.com/keras-team/keras/issues/20750",
    "https://github.com/jongwon-han/RPNet/issues/1",
    "https://github.com/keras-team/keras/issues/20083",
]
TAGS = ("cross", "keras2", "formats", "rnn", "wrapper")
REQUIRES = {"keras": ">=3.0"}
SAVE_REQUIRES = {"keras": "<3"}


def _x():
    return np.random.RandomState(0).rand(2, 4, 3).astype("float32")


def save(workdir):
    keras.utils.set_random_seed(0)
    inp = keras.layers.Input(shape=(4, 3))
    x = keras.layers.Bidirectional(keras.layers.LSTM(5, return_sequences=True))(inp)
    x = keras.layers.LSTM(5)(x)
    model = keras.Model(inp, keras.layers.Dense(2)(x))
    model.save(workdir + "/model_215.h5")
    return {"y": model.predict(_x(), verbose=0)}


def load(workdir):
    model = keras.models.load_model(workdir + "/model_215.h5")
    return {"y": model.predict(_x(), verbose=0)}
