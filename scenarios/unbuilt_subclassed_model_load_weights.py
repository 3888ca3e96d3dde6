"""load_weights() into a subclassed model that was never built (never called)

keras-team/keras#20524 (TF 2.16.1 + Keras 3, 2024-11), referenced by PR keras-team/keras#20530
"Raise an error when save_weights or load_weights is called on an unbuilt model ... as the
behavior is undefined" (merged 2024-11, so from 3.7.0 on). A subclassed keras.Model
(two Dense layers created in __init__, used in call) is called once, its weights saved with
save_weights("*.weights.h5"); a new instance that was never called calls load_weights(),
then predicts on the same input; outputs compared. If load_weights silently loads nothing
into the unbuilt model, this shows as wrong_values.
SIGNATURE matches the "was never built ... the weights file lists N variables" error that Keras
raises for unbuilt layers (also quoted in keras-team/keras#18823).

Measured (TensorFlow backend, Python 3.11, CPU): on 3.5.0 and 3.6.0 (and 3.1.1, 3.3.3)
load_weights() into the never-called model returns without error or warning and the model
then predicts with fresh weights: wrong_values (max abs diff 0.56). On 3.15.1 load_weights
raises "ValueError: You are loading weights into a model that has not yet been built"
(verdict error, the intended new behaviour of PR #20530). Consistent with the PR.
"""
import keras
import numpy as np

SIGNATURE = r"(?s)Layer '\w+' was never built and thus it doesn't have any variables\. However the weights file lists \d+ variables"
LINKS = [
    "https://github.com/keras-team/keras/pull/20530",
    "https://github.com/keras-team/keras/issues/18823",
]
TAGS = ("subclass",)
REQUIRES = {"keras": ">=3.0"}


class Net(keras.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.d1 = keras.layers.Dense(4, activation="tanh")
        self.d2 = keras.layers.Dense(2)

    def call(self, x):
        return self.d2(self.d1(x))


def run(workdir):
    keras.utils.set_random_seed(0)
    x = np.random.RandomState(0).rand(4, 3).astype("float32")
    model = Net()
    expected = keras.ops.convert_to_numpy(model(x))
    path = workdir + "/net.weights.h5"
    model.save_weights(path)
    fresh = Net()
    fresh.load_weights(path)
    return {"expected": expected, "actual": keras.ops.convert_to_numpy(fresh(x))}
