"""Optimizer state of a trained Bidirectional(LSTM) model after a .keras round trip

keras-team/keras#19615 (2024-04): loading a trained Bidirectional-LSTM .keras model printed
"Skipping variable loading for optimizer 'adam', because it has 44 variables whereas the saved
optimizer has 32 variables" before failing on "lstm_cell expected 3 variables"; a comment in
keras-team/keras#18913 says the Bidirectional load error is "fixed with keras==3.3.3". This
scenario checks the optimizer half: Input(4,3) -> Bidirectional(LSTM(5, return_sequences=True))
-> Bidirectional(LSTM(5)) -> Dense(2), Adam, fitted 2 steps, saved as .keras, loaded.
Warnings are captured (warnings + root/absl logging); the reported text raises a RuntimeError
carrying it; otherwise both models take one more train step and their optimizer variables and
predictions are compared.

Measured (TensorFlow backend, Python 3.11, CPU): on 3.1.1 the warning appears ("because it
has 42 variables whereas the saved optimizer has 30 variables") and load_model then fails on
lstm_cell, as in keras#19615 -> reproduced; on 3.3.3, 3.5.0, 3.6.0, 3.15.1 no warning and
optimizer variables + predictions after one more step match (max abs diff 0).
"""
from _lstm import seeded_training_data, trained_bidirectional_model
from _optimizer import save_load_and_step

SIGNATURE = r"Skipping variable loading for optimizer '\w+', because it has \d+ variables whereas the saved optimizer has \d+ variables"
LINKS = [
    "https://github.com/keras-team/keras/issues/19615",
    "https://github.com/keras-team/keras/issues/18913",
]
TAGS = ("optimizer", "rnn", "wrapper")
REQUIRES = {"keras": ">=3.0"}
RTOL = 1e-4
ATOL = 1e-5


def run(workdir):
    x, y = seeded_training_data()
    model = trained_bidirectional_model(x, y)
    return save_load_and_step(model, workdir + "/bilstm.keras", x, y)
