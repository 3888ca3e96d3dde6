"""U-Net on an EfficientNet backbone given pretrained weights from a file: predictions after a .keras round trip

keras-team/keras#20460 ("Different results after saving & loading model", 2024-11-07): a U-Net
with EfficientNetB7 as the backbone, fine-tuned and saved by ModelCheckpoint (whole model),
predicts differently once loaded, although the weights are the same. fchollet: "I think I recall
we fixed this issue in the past." and "Try `pip install keras --upgrade`"; the reporter:
"Upgrading to Keras 3.6.1 fixed the issue." No Keras 3.6.1 was ever published: on that day the
upgrade installed 3.6.0 (3.7.0 came on 2024-11-26). A likely cause, checked here: the backbone's
pretrained weights come from a legacy .h5 file (what weights="imagenet" downloads), and before
3.6.0 (PR #20168, "Calling finalize_state() when loading legacy h5 weights") loading that file
left the stem's Normalization layer using mean 0 and variance 1 instead of the file's
statistics, while a .keras load applies them. No download here: an EfficientNetB0 (64x64 inputs,
include_top=False) with ImageNet-like statistics in its Normalization layer is saved as a legacy
.h5 file and passed as `weights=` to a new EfficientNetB0, the thread's U-Net decoder (Conv2D +
BatchNormalization + ReLU blocks, Conv2DTranspose upsampling, skip connections from the
backbone's expand activations) is built on it, compiled and fitted one step (eagerly, to keep the
cell short), saved as .keras and loaded with keras.models.load_model(compile=False); the outputs of
both models on the same images are compared.

Measured (TensorFlow backend, Python 3.11, CPU; keras 3.1.1, 3.2.0, 3.2.1, 3.3.3, 3.4.0, 3.4.1,
3.5.0, 3.6.0, 3.7.0 with tensorflow 2.16.1, 3.15.1 with tensorflow 2.21.0): wrong values on
3.1.1 through 3.5.0 (max abs diff 0.0114 on sigmoid outputs, the same on each); passed, max abs
diff 0, on 3.6.0, 3.7.0 and 3.15.1. Both claims hold as far as cells can tell: the failure is gone
from 3.6.0 on, so "fixed in 3.6.1" is true of every release after 3.6.0, but the release that
fixed it is 3.6.0, the one `pip install keras --upgrade` gave that day.
"""
import keras
import numpy as np

SIGNATURE = r"(?s)(expected \d+ variables, but received \d+ variables|Could not (deserialize|locate))"
LINKS = [
    "https://github.com/keras-team/keras/issues/20460",
    "https://github.com/keras-team/keras/pull/20168",
]
TAGS = ("normalization", "formats", "nested")
REQUIRES = {"keras": ">=3.0"}
RTOL = 1e-4
ATOL = 1e-4
CLAIMS = [
    {
        "link": "https://github.com/keras-team/keras/issues/20460",
        "says": "Upgrading to Keras 3.6.1 fixed the issue.",
        "kind": "fixed_in",
        "package": "keras",
        "version": "3.6.1",
    },
    {
        "link": "https://github.com/keras-team/keras/issues/20460",
        "says": "Try `pip install keras --upgrade`",
        "kind": "fixed_in",
        "package": "keras",
        "version": "3.6.0",
    },
]

SHAPE = (64, 64, 3)
# ImageNet mean and variance in [0, 1] units, as the stem's Normalization layer holds them.
MEAN = [0.485, 0.456, 0.406]
VARIANCE = [0.229**2, 0.224**2, 0.225**2]


def _conv_block(x, filters, name):
    for part in ("a", "b"):
        x = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"conv_{name}{part}")(x)
        x = keras.layers.BatchNormalization(name=f"bn_{name}{part}")(x)
        x = keras.layers.Activation("relu", name=f"relu_{name}{part}")(x)
    return x


def _unet(backbone):
    x = backbone.output
    for i, skip in enumerate(("block6a_expand_activation", "block4a_expand_activation", "block3a_expand_activation")):
        filters = 32 // 2**i
        x = keras.layers.Conv2DTranspose(filters, 2, strides=2, padding="same", name=f"up_{i}")(x)
        x = keras.layers.Concatenate(name=f"concat_{i}")([x, backbone.get_layer(skip).output])
        x = _conv_block(x, filters, str(i))
    out = keras.layers.Conv2D(1, 1, activation="sigmoid", name="mask")(x)
    return keras.Model(backbone.input, out)


def run(workdir):
    keras.utils.set_random_seed(0)
    donor = keras.applications.EfficientNetB0(include_top=False, weights=None, input_shape=SHAPE)
    normalization = next(layer for layer in donor.layers if isinstance(layer, keras.layers.Normalization))
    normalization.set_weights([np.array(MEAN, "float32"), np.array(VARIANCE, "float32"), np.array(0)])
    pretrained = f"{workdir}/efficientnetb0_notop.h5"
    donor.save(pretrained)

    backbone = keras.applications.EfficientNetB0(include_top=False, weights=pretrained, input_shape=SHAPE)
    model = _unet(backbone)
    model.compile(optimizer="adam", loss="binary_crossentropy", run_eagerly=True)
    rs = np.random.RandomState(0)
    images = (rs.rand(4, *SHAPE) * 255.0).astype("float32")
    masks = (rs.rand(4, 16, 16, 1) > 0.5).astype("float32")
    model.fit(images, masks, epochs=1, batch_size=4, verbose=0)
    expected = keras.ops.convert_to_numpy(model(images[:2], training=False))
    model.save(f"{workdir}/unet.keras")
    loaded = keras.models.load_model(f"{workdir}/unet.keras", compile=False)
    return {"expected": expected, "actual": keras.ops.convert_to_numpy(loaded(images[:2], training=False))}
