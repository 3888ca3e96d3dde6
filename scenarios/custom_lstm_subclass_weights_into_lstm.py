"""Weights of a model with a custom LSTM subclass loaded into the same model with plain LSTM

keras-team/keras#20322 (TF 2.17 container + Keras 3.5.0, 2024-10, open): a model using
`class MyCustomLSTM(keras.layers.LSTM)` (no changes) is saved with
save_weights("*.weights.h5"); a copy of the model using keras.layers.LSTM calls
load_weights() and fails with "Layer 'lstm_cell' expected 3 variables, but received 0
variables during loading. Expected: ['kernel', 'recurrent_kernel', 'bias']".
Same code here (4 features, 8 units, return_sequences=True, layer named "my_LSTM"), with
a fixed input of 5 timesteps; outputs compared if the load succeeds.

Measured (TensorFlow backend, Python 3.11, CPU): reproduced ("A total of 1 objects could not
be loaded ... Layer 'lstm_cell' expected 3 variables, but received 0") on every measured
version including 3.15.1; consistent with the issue being open.
"""
import keras
import numpy as np

SIGNATURE = r"(?s)ValueError: .*Layer 'lstm_cell(_\d+)?' expected 3 variables, but received 0 variables"
LINKS = ["https://github.com/keras-team/keras/issues/20322"]
TAGS = ("rnn", "subclass")
REQUIRES = {"keras": ">=3.0"}


@keras.saving.register_keras_serializable(package="CompatMatrix")
class MyCustomLSTM(keras.layers.LSTM):
    def __init__(self, units, **kwargs):
        super().__init__(units, **kwargs)


def _model(use_custom):
    inputs = keras.Input(shape=(None, 4), name="inputs")
    cls = MyCustomLSTM if use_custom else keras.layers.LSTM
    outputs = cls(units=8, return_sequences=True, name="my_LSTM")(inputs)
    return keras.Model(inputs=inputs, outputs=outputs)


def run(workdir):
    keras.utils.set_random_seed(0)
    x = np.random.RandomState(0).rand(2, 5, 4).astype("float32")
    model = _model(True)
    model.compile()
    expected = keras.ops.convert_to_numpy(model(x, training=False))
    path = workdir + "/custom_lstm.weights.h5"
    model.save_weights(path)
    plain = _model(False)
    plain.load_weights(path)
    return {"expected": expected, "actual": keras.ops.convert_to_numpy(plain(x, training=False))}
