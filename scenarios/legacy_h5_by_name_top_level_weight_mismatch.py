"""load_weights(legacy .h5, by_name=True) into the same functional model: top-level weight count error

allenye66/Computer-Vision-Lip-Reading-2.0#4 (2024-09, Keras 3, Python 3.11):
model.load_weights('model_weights.h5', by_name=True) raised "ValueError: Weight count
mismatch for top-level weights of model. Model expects 10 top-level weight(s). Received 0
saved top-level weight(s)" from legacy_h5_format.load_weights_from_hdf5_group_by_name.
Here a functional model Input(3) -> Dense(4, name="encoder") -> Dense(2, name="head") is saved
with model.save("model.h5") and an identical model (same layer names, so by-name matching
should find every layer) calls load_weights("model.h5", by_name=True); outputs compared.
This is also what "rename the layers back to the saved names" (the workaround for
keras-team/keras#9683) amounts to, so it measures whether that workaround can work.

Measured (TensorFlow backend, Python 3.11, CPU): reproduced (the exact message) on 3.1.1,
3.3.3, 3.5.0 and 3.6.0 even though every layer name matches; passed (max abs diff 0) on
3.15.1. So "rename the layers back" is not enough on <=3.6.0 for a functional model loaded
by_name.
"""
from _dense import build_named, seeded_input

SIGNATURE = r"ValueError: Weight count mismatch for top-level weights of model\. Model expects \d+ top-level weight\(s\)\. Received 0 saved top-level weight\(s\)"
LINKS = [
    "https://github.com/allenye66/Computer-Vision-Lip-Reading-2.0/issues/4",
    "https://github.com/keras-team/keras/issues/9683",
]
TAGS = ("rename", "formats")
REQUIRES = {"keras": ">=3.0"}


def run(workdir):
    x = seeded_input()
    model = build_named("encoder", "head")
    expected = model.predict(x, verbose=0)
    path = workdir + "/model.h5"
    model.save(path)
    again = build_named("encoder", "head")
    again.load_weights(path, by_name=True)
    return {"expected": expected, "actual": again.predict(x, verbose=0)}
