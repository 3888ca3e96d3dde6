"""Same trained model through one format: legacy_h5 (h5 route)

One scenario per format for the same model, so verdicts are per format. The model mixes
the layer kinds that public reports single out: an adapted Normalization
(keras-team/keras#20147: statistics lost on the legacy .h5 route), a Bidirectional(LSTM)
(keras-team/keras#18913, where a commenter's workaround was "saving the model in the .h5
format instead of the .keras format"), an LSTM, BatchNormalization (non-trainable moving
statistics) and a Dense head. It is compiled (adam/mse) and fitted one epoch on fixed data,
then saved with model.save(".h5") (legacy HDF5), loaded with
keras.models.load_model(compile=False). compile=False is deliberate: with the default
compile=True the legacy loader fails to deserialize the string loss "mse" before any weight
is compared; that failure has its own scenario (legacy_h5_compiled_mse_load_model). Predictions on a fixed input are compared.

Measured (TensorFlow backend, Python 3.11, CPU): wrong_values (max abs diff 0.22, the
Normalization statistics of keras#20147) on 3.5.0 and 3.3.3; passed (max abs diff 0) on
3.6.0 and 3.15.1; on 3.1.1 the save itself fails ("Unable to synchronously create dataset
(name already exists)": the two LSTMs inside Bidirectional collide, keras#19375). The "save
as .h5 instead" advice of keras#18913 therefore trades a loud error for silently wrong
outputs on 3.3.3-3.5.0.
"""
from _formats import load_model_quietly, seeded_training_data, trained_mixed_model

SIGNATURE = r"(?s)ValueError: .*Layer '\w+' expected \d+ variables, but received \d+ variables"
LINKS = [
    "https://github.com/keras-team/keras/issues/18913",
    "https://github.com/keras-team/keras/issues/20147",
]
TAGS = ("formats", "rnn", "normalization", "wrapper")
REQUIRES = {"keras": ">=3.0"}


def run(workdir):
    x, y = seeded_training_data()
    model = trained_mixed_model(x, y)
    expected = model.predict(x, verbose=0)
    path = workdir + "/model.h5"
    model.save(path)
    loaded = load_model_quietly(path, compile=False)
    return {"expected": expected, "actual": loaded.predict(x, verbose=0)}
