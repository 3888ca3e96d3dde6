"""Bidirectional(LSTM) model, compiled and trained, saved as .keras and loaded back

keras-team/keras#19615 (torch backend, Keras 3.x, 2024-04): a model with Bidirectional LSTM
layers was trained, saved with model.save("model.keras") and keras.models.load_model()
failed with "Layer 'lstm_cell' expected 3 variables, but received 0 variables during
loading", preceded by "Skipping variable loading for optimizer 'adam', because it has 44
variables whereas the saved optimizer has 32 variables". keras-team/keras#18913 collects
the same error for Bidirectional models (TF 2.16.1 / Keras 3.0.5); a comment there says
it is "fixed with keras==3.3.3". This scenario uses the TensorFlow backend only.
Stacked Bidirectional(LSTM(return_sequences=True)) -> Bidirectional(LSTM) -> Dense, compiled
with adam/mse, fitted one epoch on fixed data, saved as .keras, reloaded; predictions of the
original and reloaded model on a fixed input are compared.

Measured (TensorFlow backend, Python 3.11, CPU): passed (max abs diff 0) on 3.5.0, 3.6.0,
3.15.1 and 3.3.3; reproduced ("Layer 'lstm_cell' expected 3 variables, but received 0") on
3.1.1+2.16.1. Consistent with the thread comment "fixed with keras==3.3.3" (TF backend only;
the torch backend of #19615 was not measured).
"""
from _formats import load_model_quietly
from _lstm import seeded_training_data, trained_bidirectional_model

SIGNATURE = r"(?s)ValueError: .*Layer 'lstm_cell(_\d+)?' expected 3 variables, but received 0 variables"
LINKS = [
    "https://github.com/keras-team/keras/issues/19615",
    "https://github.com/keras-team/keras/issues/18913",
]
TAGS = ("rnn", "wrapper")
REQUIRES = {"keras": ">=3.0"}


def run(workdir):
    x, y = seeded_training_data()
    model = trained_bidirectional_model(x, y)
    expected = model.predict(x, verbose=0)
    path = workdir + "/bilstm.keras"
    model.save(path)
    loaded = load_model_quietly(path)
    return {"expected": expected, "actual": loaded.predict(x, verbose=0)}
