"""Optimizer state of a compiled-but-untrained model after a .keras round trip

keras-team/keras#20128 (Keras 3.4.1 / 3.5, TF 2.17, 2024-08) and keras-team/keras#19615 show
"UserWarning: Skipping variable loading for optimizer 'adam', because it has N variables
whereas the saved optimizer has M variables" when a .keras model is loaded (in both threads
next to another load error). A write-up at openillumi.com/?p=99346 says the warning means the
optimizer state was not restored (harmless for inference, not for resuming training).
This scenario is the "after compile" case: a Dense model is compiled with Adam but not
trained (so the saved optimizer has not created its slot variables), saved as .keras and
loaded with keras.models.load_model().
Evidence: warnings are captured with warnings.catch_warnings(record=True) and a logging
handler (root and "absl" loggers); if the reported text appears, a RuntimeError carrying the
text is raised so SIGNATURE can match. Otherwise both models take one further train_on_batch step and their optimizer
variables and predictions are compared.

Measured (TensorFlow backend, Python 3.11, CPU): the warning "Skipping variable loading for
optimizer 'adam', because it has 10 variables whereas the saved optimizer has 2 variables"
appears on every measured version (3.1.1, 3.3.3, 3.5.0, 3.6.0, 3.15.1), so the verdict is
reproduced. It is harmless here: with the raise disabled, optimizer variables and
predictions after one more train step match exactly (max abs diff 0 on 3.5.0 and 3.15.1) -
the saved optimizer had no state to lose. The warning is not evidence of lost state by
itself.
"""
from _optimizer import compiled_dense_model, save_load_and_step, seeded_dense_data

SIGNATURE = r"Skipping variable loading for optimizer '\w+', because it has \d+ variables whereas the saved optimizer has \d+ variables"
LINKS = [
    "https://github.com/keras-team/keras/issues/20128",
    "https://github.com/keras-team/keras/issues/19615",
]
TAGS = ("optimizer",)
REQUIRES = {"keras": ">=3.0"}


def run(workdir):
    x, y = seeded_dense_data()
    model = compiled_dense_model()
    return save_load_and_step(model, workdir + "/compiled.keras", x, y)
