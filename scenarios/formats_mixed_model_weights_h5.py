"""Same trained model through one format: weights_h5 (weights route)

One scenario per format for the same model, so verdicts are per format. The model mixes
the layer kinds that public reports single out: an adapted Normalization
(keras-team/keras#20147: statistics lost on the legacy .h5 route), a Bidirectional(LSTM)
(keras-team/keras#18913, where a commenter's workaround was "saving the model in the .h5
format instead of the .keras format"), an LSTM, BatchNormalization (non-trainable moving
statistics) and a Dense head. It is compiled (adam/mse) and fitted one epoch on fixed data,
then saved with save_weights(".weights.h5"), loaded with load_weights() into a rebuilt model. Predictions on a fixed input are compared.

Measured (TensorFlow backend, Python 3.11, CPU): passed (max abs diff 0) on 3.5.0, 3.6.0,
3.15.1 (and 3.1.1, 3.3.3).
"""
from _formats import build_mixed_model, seeded_training_data, trained_mixed_model

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
    path = workdir + "/model.weights.h5"
    model.save_weights(path)
    loaded = build_mixed_model()
    loaded.load_weights(path)
    return {"expected": expected, "actual": loaded.predict(x, verbose=0)}
