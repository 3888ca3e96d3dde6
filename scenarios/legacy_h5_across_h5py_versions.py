"""The same legacy .h5 model file written and read under different h5py versions

tensorflow/tensorflow#44467 ("h5py==3.0.0 causes issues with keras model loads in tensorflow
2.1.0", 2020-10): with h5py 3.0, strings stored in HDF5 attributes come back as str, and tf.keras
load_model() of the day failed on `f.attrs['keras_version'].decode('utf8')` with
"AttributeError: 'str' object has no attribute 'decode'". The answers in the thread: "2.4.0-rc3
has `h5py~=2.10.0`" (TensorFlow pinned h5py below 3), "pip install h5py==2.10.0", later "We are
now at 3.1.0 on master" (TensorFlow moved to h5py 3 and stopped decoding). Here h5py is a
pairing axis: a small functional model (Input(4) -> Dense(3, tanh) -> Dense(2), weights set from
a fixed RandomState so that every version builds the same model) is saved with
model.save("model.h5") by Keras 2 under one h5py and loaded with keras.models.load_model(...,
compile=False) under every pairing (Keras 2 and Keras 3, each with its h5py); outputs on a fixed
input are compared.

Measured (CPU): the thread's pairing (TensorFlow 2.1 with h5py 3.0) needs Python 3.7 or older,
which the harness's worker does not run on, and no TensorFlow that installs on Python 3.9-3.13
goes with h5py 2.10: tensorflow 2.15.1 + h5py 2.10.0 on Python 3.9 fails to install (h5py 2.10
has no wheel past Python 3.8 and its source build needs Cython it does not declare), and on
Python 3.8 (outside that range, from pyenv) tensorflow 2.4.4 + h5py 3.1.0 does not resolve
("tensorflow==2.4.4 depends on h5py>=2.10.0,<2.11.dev0"). What installs: tensorflow 2.15.1 with
h5py 3.16.0 (Python 3.11) and with h5py 3.1.0 (Python 3.9); tensorflow 2.4.4 + keras 2.4.3 +
h5py 2.10.0 on Python 3.8 (protobuf 3.20.3 pinned, or TensorFlow 2.4 does not import); keras
3.5.0 + tensorflow 2.16.1 + h5py 3.10.0; keras 3.15.1 + tensorflow 2.21.0 + h5py 3.14.0. Every
load of every Keras 2 file among them passed (max abs diff 2.4e-07 between TensorFlow 2.4 and
the others, 0 otherwise): h5py 2.10 reads files written under h5py 3.16 and the reverse. The
decode failure lives only in the old readers that the pins kept away from h5py 3.
"""
import keras
import numpy as np

SIGNATURE = r"AttributeError: 'str' object has no attribute 'decode'"
LINKS = ["https://github.com/tensorflow/tensorflow/issues/44467"]
TAGS = ("formats", "cross", "keras2", "h5py")
SAVE_REQUIRES = {"keras": "<3"}
CLAIMS = [
    {
        "link": "https://github.com/tensorflow/tensorflow/issues/44467",
        "says": "2.4.0-rc3 has `h5py~=2.10.0`",
        "kind": "works_with",
        "pairing": "tensorflow==2.4.4,keras==2.4.3,h5py==2.10.0,protobuf==3.20.3,python=3.8",
    },
]


def _x():
    return np.random.RandomState(0).rand(3, 4).astype("float32")


def save(workdir):
    inp = keras.Input(shape=(4,))
    hidden = keras.layers.Dense(3, activation="tanh")(inp)
    model = keras.Model(inp, keras.layers.Dense(2)(hidden))
    rs = np.random.RandomState(1)
    model.set_weights([rs.normal(size=w.shape).astype("float32") for w in model.get_weights()])
    model.save(workdir + "/model.h5")
    return {"y": model.predict(_x())}


def load(workdir):
    model = keras.models.load_model(workdir + "/model.h5", compile=False)
    return {"y": model.predict(_x())}
