"""Transfer learning: pretrained backbones, heads, freezing, fine-tuning, saving.

Two paths, one code:

- Online (Colab): a Keras Applications backbone with ImageNet weights
  (`build_backbone("mobilenet_v2", weights="imagenet", input_shape=(160, 160, 3))`,
  also "resnet50" and "efficientnet_b0"), on a folder-per-class dataset from
  `load_image_folder`.
- Offline (CI, no internet): `build_backbone("course_cnn", weights="course_offline")`,
  a small VGG-style CNN with BatchNorm (48x48x3 inputs) that
  `python -m course_lib.models.pretrain --out <folder>` pre-trains on cluttered
  colour photos of five Fashion-MNIST classes; its weights ship in
  `data/backbones/` with a SHA-256 checksum verified on load.
  `course_lib.data.transfer_task.load_transfer_task()` gives photos of the
  other five classes with a few labels per class.

Typical use (two-phase fine-tuning):

    base_model = build_backbone("mobilenet_v2", weights="imagenet", input_shape=(160, 160, 3))
    model = build_transfer_model(base_model, num_classes=5)      # base frozen, BatchNorm in inference mode
    compile_classifier(model, learning_rate=1e-3)
    model.fit(train_ds, validation_data=val_ds, epochs=5, verbose=2)      # phase 1: the head only
    unfreeze_top_layers(model, num_layers=30)                              # BatchNorm stays frozen
    compile_classifier(model, learning_rate=1e-5)   # re-compile after changing trainable
    model.fit(train_ds, validation_data=val_ds, epochs=5, verbose=2)      # phase 2: 100x lower lr

Models take raw pixels in [0, 255] (what `load_image_folder` yields): the
application's own `preprocess_input` runs inside the model as an
`ApplicationPreprocessing` layer, so a saved `.keras` file predicts on raw images.
"""

import hashlib
import json
import os
from pathlib import Path

import numpy as np

from course_lib import runtime

runtime.quiet_tensorflow()

import keras  # noqa: E402  (after quiet_tensorflow)

# name -> (keras.applications constructor, module holding preprocess_input, default input shape).
# "course_cnn" is the course's own small backbone (`build_course_cnn`), scaled to [-1, 1] like MobileNetV2.
BACKBONES = {
    "mobilenet_v2": ("MobileNetV2", "mobilenet_v2", (224, 224, 3)),
    "resnet50": ("ResNet50", "resnet", (224, 224, 3)),
    "efficientnet_b0": ("EfficientNetB0", "efficientnet", (224, 224, 3)),
    "course_cnn": (None, "mobilenet_v2", (48, 48, 3)),
}
WEIGHT_CHOICES = ("imagenet", "course_offline", None)

OFFLINE_NAME = "course_cnn"
OFFLINE_WEIGHTS = "course_offline"
OFFLINE_INFO_FILE = "backbones/course_cnn_photos.json"
OFFLINE_INPUT_SHAPE = (48, 48, 3)
OFFLINE_FILTERS = (24, 48, 96, 192)


# --------------------------------------------------------------------------- preprocessing

@keras.saving.register_keras_serializable(package="course_lib")
class ApplicationPreprocessing(keras.layers.Layer):
    """Runs a Keras application's own `preprocess_input` inside the model.

    Input: raw pixels in [0, 255], shape `(batch, height, width, 3)`. Output: what
    the backbone was trained on ([-1, 1] for MobileNetV2, BGR minus the ImageNet
    mean for ResNet50, unchanged for EfficientNet which rescales inside itself).
    Saved with the model, so a reloaded `.keras` file needs no extra step.

    Args:
        application: a key of `BACKBONES`, e.g. "mobilenet_v2".
    """

    def __init__(self, application="mobilenet_v2", **kwargs):
        super().__init__(**kwargs)
        if application not in BACKBONES:
            raise ValueError(
                f"application should be one of {sorted(BACKBONES)}. "
                f"Received: application={application!r}")
        self.application = application
        module = getattr(keras.applications, BACKBONES[application][1])
        self._preprocess = module.preprocess_input

    def call(self, inputs):
        return self._preprocess(inputs)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config["application"] = self.application
        return config


def preprocessing_for(base_model):
    """Returns the `BACKBONES` key whose `preprocess_input` suits `base_model`, from its name.

    Raises:
        ValueError: the name matches no known application.
    """
    name = base_model.name.lower()
    for prefix, key in (("course_cnn", "course_cnn"), ("mobilenetv2", "mobilenet_v2"), ("mobilenet_v2", "mobilenet_v2"),
                        ("resnet50", "resnet50"), ("efficientnetb0", "efficientnet_b0"),
                        ("efficientnet", "efficientnet_b0")):
        if name.startswith(prefix):
            return key
    raise ValueError(
        f"Cannot tell which preprocessing the backbone {base_model.name!r} expects. Pass "
        f"preprocessing=... (one of {sorted(BACKBONES)}) or None for no preprocessing. "
        f"Received: base_model named {base_model.name!r}")


def make_augmentation(flip="horizontal", rotation=0.05, zoom=0.1, translation=0.1, seed=1337):
    """Returns a `keras.Sequential` of random augmentation layers (active only in training).

    Args:
        flip: "horizontal", "vertical", "horizontal_and_vertical" or None.
        rotation: fraction of a full turn (0.05 = up to 18 degrees) or 0.
        zoom: fraction of the size, e.g. 0.1 for +-10 %, or 0.
        translation: fraction of the size to shift by, or 0.
        seed: int, so two runs see the same augmentations.

    Example:

    >>> augment = make_augmentation(rotation=0.0)
    >>> augment(images, training=True).shape == images.shape
    True
    """
    if flip not in ("horizontal", "vertical", "horizontal_and_vertical", None):
        raise ValueError(
            "flip should be 'horizontal', 'vertical', 'horizontal_and_vertical' or None. "
            f"Received: flip={flip!r}")
    for arg, value in (("rotation", rotation), ("zoom", zoom), ("translation", translation)):
        if not 0 <= value < 1:
            raise ValueError(f"{arg} should be a fraction in [0, 1), e.g. 0.1. Received: {arg}={value!r}")
    layers = []
    if flip:
        layers.append(keras.layers.RandomFlip(flip, seed=seed))
    if rotation:
        layers.append(keras.layers.RandomRotation(rotation, fill_mode="nearest", seed=seed))
    if zoom:
        layers.append(keras.layers.RandomZoom(zoom, fill_mode="nearest", seed=seed))
    if translation:
        layers.append(keras.layers.RandomTranslation(translation, translation,
                                                     fill_mode="nearest", seed=seed))
    return keras.Sequential(layers, name="augmentation")


# --------------------------------------------------------------------------- backbones

def keras_models_cache():
    """Returns the folder where Keras keeps downloaded application weights (`~/.keras/models`).

    Honors `KERAS_HOME`; Keras falls back to `/tmp/.keras` when the home folder is not writable.
    """
    home = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")).expanduser()
    if home.is_dir() and not os.access(home, os.W_OK):
        home = Path("/tmp/.keras")
    return home / "models"


def imagenet_weights_file(name, input_shape=None, alpha=1.0):
    """Returns the exact file name Keras downloads for a backbone's ImageNet weights (no top).

    Example:

    >>> imagenet_weights_file("mobilenet_v2", (160, 160, 3))
    'mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_160_no_top.h5'
    """
    _check_name(name)
    if name == "mobilenet_v2":
        rows = input_shape[0] if input_shape else 224
        if input_shape is None or input_shape[0] != input_shape[1] or rows not in (96, 128, 160, 192, 224):
            rows = 224
        return f"mobilenet_v2_weights_tf_dim_ordering_tf_kernels_{float(alpha)}_{rows}_no_top.h5"
    if name == "resnet50":
        return "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5"
    return "efficientnetb0_notop.h5"


def _check_name(name):
    if name not in BACKBONES:
        raise ValueError(
            f"name should be one of {sorted(BACKBONES)}. Received: name={name!r}")


def _offline_error(name, file_name, reason):
    return RuntimeError(
        f"ImageNet weights for {name!r} are not available: {reason}. Either\n"
        f"  1. go online (e.g. run this notebook on Colab) and call build_backbone again, or\n"
        f"  2. copy the weights file into the Keras cache as "
        f"{keras_models_cache() / file_name} (exact name), or\n"
        f"  3. use the course's offline backbone: "
        f"build_backbone('course_cnn', weights='course_offline') (a small CNN pre-trained on "
        f"photos of five Fashion-MNIST classes, input 48x48x3).")


def build_course_cnn(input_shape=OFFLINE_INPUT_SHAPE, filters=OFFLINE_FILTERS):
    """Builds the course's small backbone: VGG-style blocks of conv3x3-BatchNorm-ReLU.

    Block 1 has one convolution, the others two; a 2x2 max pooling follows every
    block but the last. With the defaults on 48x48x3 inputs:

        block1   48x48x24    (1 conv)     pool -> 24x24
        block2   24x24x48    (2 convs)    pool -> 12x12
        block3   12x12x96    (2 convs)    pool ->  6x6
        block4    6x6x192    (2 convs)                    656,616 parameters

    Inputs are preprocessed pixels in [-1, 1] (`ApplicationPreprocessing("course_cnn")`).

    Returns:
        A `keras.Model` named "course_cnn", output `(batch, h, w, filters[-1])`.
    """
    inputs = keras.Input(tuple(input_shape), name="input")
    x = inputs
    for block, width in enumerate(filters, start=1):
        for conv in range(1, (1 if block == 1 else 2) + 1):
            x = keras.layers.Conv2D(width, 3, padding="same", use_bias=False, name=f"block{block}_conv{conv}")(x)
            x = keras.layers.BatchNormalization(name=f"block{block}_bn{conv}")(x)
            x = keras.layers.ReLU(name=f"block{block}_relu{conv}")(x)
        if block < len(filters):
            x = keras.layers.MaxPooling2D(name=f"block{block}_pool")(x)
    return keras.Model(inputs, x, name="course_cnn")


def build_backbone(name="mobilenet_v2", weights="imagenet", input_shape=(160, 160, 3)):
    """Builds a backbone without its classifier (`include_top=False`).

    The result outputs feature maps `(batch, h, w, channels)` and expects the
    application's preprocessed inputs; `build_transfer_model` adds the
    preprocessing, pooling and a new head.

    Args:
        name: "mobilenet_v2", "resnet50" or "efficientnet_b0" (Keras
            Applications), or "course_cnn" (the course's offline backbone,
            `build_course_cnn`).
        weights: "imagenet" (downloaded once into the Keras cache; fails at once
            when offline and not cached), "course_offline" (the shipped
            course_cnn, 48x48x3; `name` must be "course_cnn") or None (random
            initialisation, for training from scratch).
        input_shape: `(height, width, 3)`. For "course_cnn", None or (48, 48, 3).

    Returns:
        A trainable `keras.Model` (freeze it with `base_model.trainable = False`).

    Raises:
        ValueError: unknown name or weights, or an input shape the weights cannot take.
        RuntimeError: ImageNet weights asked for offline and not in the Keras cache
            (the message says how to proceed).
        OSError: the shipped offline weights fail their SHA-256 check.

    Example:

    >>> base_model = build_backbone("course_cnn", weights="course_offline", input_shape=None)
    >>> base_model.output_shape
    (None, 6, 6, 192)
    """
    _check_name(name)
    if weights not in WEIGHT_CHOICES:
        raise ValueError(
            f"weights should be 'imagenet', 'course_offline' or None. Received: weights={weights!r}")
    if (weights == OFFLINE_WEIGHTS) != (name == OFFLINE_NAME) and weights is not None:
        raise ValueError(
            f"weights='course_offline' goes with name='course_cnn' (the course's own backbone), and "
            f"ImageNet weights exist only for the Keras applications. Received: name={name!r}, "
            f"weights={weights!r}")
    if name == OFFLINE_NAME:
        if input_shape is not None and tuple(input_shape) != OFFLINE_INPUT_SHAPE:
            raise ValueError(
                f"The offline backbone was trained on {OFFLINE_INPUT_SHAPE} images: pass "
                f"input_shape={OFFLINE_INPUT_SHAPE} (or None) and resize images to 48x48. "
                f"Received: input_shape={input_shape!r}")
        return load_offline_backbone() if weights == OFFLINE_WEIGHTS else build_course_cnn()
    if input_shape is None:
        input_shape = BACKBONES[name][2]
    input_shape = tuple(input_shape)
    if len(input_shape) != 3 or input_shape[-1] != 3 or min(input_shape[:2]) < 32:
        raise ValueError(
            "input_shape should be (height, width, 3) with height and width >= 32, e.g. "
            f"(160, 160, 3); grayscale images need 3 channels (color_mode='rgb'). "
            f"Received: input_shape={input_shape!r}")
    constructor = getattr(keras.applications, BACKBONES[name][0])
    if weights == "imagenet":
        file_name = imagenet_weights_file(name, input_shape)
        cached = (keras_models_cache() / file_name).is_file()
        if not cached and runtime.is_offline():
            raise _offline_error(name, file_name, "this session is offline "
                                 f"({runtime.OFFLINE_ENV}=1 or no connection) and the file is not cached")
        try:
            return constructor(include_top=False, weights="imagenet", input_shape=input_shape)
        except Exception as error:  # download failures come as several exception types
            if cached:
                raise
            raise _offline_error(name, file_name, f"the download failed ({error})") from error
    return constructor(include_top=False, weights=None, input_shape=input_shape)


def _sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def load_offline_info():
    """Returns the offline backbone's record (recipe, SHA-256, source accuracy, time) as a dict."""
    with open(runtime.data_path(OFFLINE_INFO_FILE)) as f:
        return json.load(f)


def load_offline_backbone():
    """Builds the shipped course_cnn (48x48x3) and loads its verified weights.

    Raises:
        OSError: the weights file does not match the SHA-256 recorded next to it
            (a truncated copy, or a Git LFS pointer instead of the file).
    """
    info = load_offline_info()
    path = runtime.data_path(str(Path(OFFLINE_INFO_FILE).parent / info["weights_file"]))
    actual = _sha256(path)
    if actual != info["sha256"]:
        raise OSError(
            f"{path} is corrupt: its SHA-256 is {actual}, expected {info['sha256']}. "
            "Restore it (git checkout data/backbones, or reinstall course_lib) or rebuild it "
            "with `python -m course_lib.models.pretrain`.")
    base_model = build_course_cnn()
    base_model.load_weights(str(path))
    return base_model


# --------------------------------------------------------------------------- heads and models

def add_classifier_head(base_model, num_classes, dropout_rate=0.2):
    """Puts a new classifier on a backbone: global average pooling, dropout, softmax.

    Args:
        base_model: a `keras.Model` whose output is `(batch, h, w, c)` feature
            maps or `(batch, c)` features.
        num_classes: int >= 2.
        dropout_rate: float in [0, 1).

    Returns:
        A `keras.Model` from `base_model.input` to `(batch, num_classes)`
        probabilities. Its layers are the backbone's plus three.

    Example:

    >>> model = add_classifier_head(base_model, num_classes=5)
    >>> model.output_shape
    (None, 5)
    """
    _check_classes_and_dropout(num_classes, dropout_rate)
    x = base_model.output
    if len(x.shape) == 4:
        x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    x = keras.layers.Dropout(dropout_rate, name="head_dropout")(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax", dtype="float32",
                                 name="classifier")(x)
    return keras.Model(base_model.input, outputs, name=f"{base_model.name}_classifier")


def _check_classes_and_dropout(num_classes, dropout_rate):
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) or num_classes < 2:
        raise ValueError(f"num_classes should be an int >= 2, e.g. 5. Received: num_classes={num_classes!r}")
    if not 0 <= dropout_rate < 1:
        raise ValueError(f"dropout_rate should be in [0, 1), e.g. 0.2. Received: dropout_rate={dropout_rate!r}")


def build_transfer_model(base_model, num_classes, augmentation=None, dropout_rate=0.2,
                         preprocessing="auto", freeze_base=True):
    """Wraps a backbone for transfer learning: augment, preprocess, features, new head.

    Layers: Input (raw pixels in [0, 255]) -> augmentation (training only) ->
    `ApplicationPreprocessing` -> `base_model(x, training=False)` -> global
    average pooling -> dropout -> Dense softmax.

    BatchNorm and `training=False`: the base is called with `training=False`
    as the Keras transfer-learning guide does, but in Keras 3 the `training`
    flag of the outer call (`fit` passes True) overrides it for a nested model.
    What keeps BatchNorm in inference mode (moving statistics used, never
    updated) is that its layers are frozen: a BatchNormalization layer with
    `trainable=False` always runs in inference mode. `freeze_base=True` and
    `unfreeze_top_layers` (which keeps BatchNorm frozen) guarantee it.

    Args:
        base_model: a backbone from `build_backbone`.
        num_classes: int >= 2.
        augmentation: a layer/Sequential (e.g. `make_augmentation()`), None for
            `make_augmentation()`, or False for none.
        dropout_rate: float in [0, 1).
        preprocessing: "auto" (from the backbone's name), a key of `BACKBONES`,
            or None when the inputs are already preprocessed.
        freeze_base: bool; True sets `base_model.trainable = False` (phase 1).

    Returns:
        A `keras.Model`, not compiled.
    """
    _check_classes_and_dropout(num_classes, dropout_rate)
    if not isinstance(base_model, keras.Model):
        raise ValueError(
            "base_model should be a keras.Model, e.g. build_backbone('mobilenet_v2'). "
            f"Received: base_model of type {type(base_model).__name__}")
    if preprocessing == "auto":
        preprocessing = preprocessing_for(base_model)
    if augmentation is None:
        augmentation = make_augmentation()
    if freeze_base:
        base_model.trainable = False
    inputs = keras.Input(base_model.input_shape[1:], name="image")
    x = inputs
    if augmentation is not False:
        x = augmentation(x)
    if preprocessing is not None:
        x = ApplicationPreprocessing(preprocessing, name="preprocess")(x)
    x = base_model(x, training=False)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    x = keras.layers.Dropout(dropout_rate, name="head_dropout")(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax", dtype="float32",
                                 name="classifier")(x)
    return keras.Model(inputs, outputs, name=f"transfer_{base_model.name}")


def build_scratch_model(name=OFFLINE_NAME, input_shape=OFFLINE_INPUT_SHAPE, num_classes=5,
                        augmentation=None, dropout_rate=0.2, batchnorm_momentum=0.9):
    """Builds a backbone's architecture with random weights, trained end to end (the baseline).

    Unlike `build_transfer_model`, nothing is frozen, so the BatchNorm layers
    run in training mode inside `fit` (each batch normalised with its own
    statistics, moving averages updated); this is also how
    `course_lib.models.pretrain` trains the offline backbone.

    Args:
        name: a key of `BACKBONES`.
        input_shape: `(height, width, 3)`.
        num_classes: int >= 2.
        augmentation: as in `build_transfer_model`.
        dropout_rate: float in [0, 1).
        batchnorm_momentum: the applications use 0.99-0.999, tuned for ImageNet's
            ~10^6 steps; with a few hundred steps the moving statistics would lag
            far behind the weights and evaluation would stay at chance. 0.9 follows
            within about 30 steps.

    Returns:
        A `keras.Model`, not compiled; `find_base_model(model)` returns its backbone.
    """
    _check_name(name)
    _check_classes_and_dropout(num_classes, dropout_rate)
    base_model = build_backbone(name, weights=None, input_shape=input_shape)
    for layer in base_model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = batchnorm_momentum
    if augmentation is None:
        augmentation = make_augmentation()
    inputs = keras.Input(tuple(base_model.input_shape[1:]), name="image")
    x = augmentation(inputs) if augmentation is not False else inputs
    x = ApplicationPreprocessing(name, name="preprocess")(x)
    x = base_model(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    x = keras.layers.Dropout(dropout_rate, name="head_dropout")(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax", dtype="float32",
                                 name="classifier")(x)
    return keras.Model(inputs, outputs, name=f"scratch_{base_model.name}")


def make_feature_extractor(base_model, preprocessing="auto"):
    """Returns a model from raw pixels to pooled backbone features `(batch, channels)`.

    Used for embeddings and the linear probe; BatchNorm runs in inference mode.
    """
    if preprocessing == "auto":
        preprocessing = preprocessing_for(base_model)
    inputs = keras.Input(base_model.input_shape[1:], name="image")
    x = inputs
    if preprocessing is not None:
        x = ApplicationPreprocessing(preprocessing, name="preprocess")(x)
    x = base_model(x, training=False)
    if len(x.shape) == 4:
        x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    return keras.Model(inputs, x, name=f"features_{base_model.name}")


def build_linear_probe(num_features, num_classes, l2=1e-4):
    """Returns a softmax regression on frozen features: one Dense layer, `(num_features,) -> num_classes`."""
    _check_classes_and_dropout(num_classes, 0.0)
    inputs = keras.Input((num_features,), name="features")
    outputs = keras.layers.Dense(num_classes, activation="softmax",
                                 kernel_regularizer=keras.regularizers.L2(l2), name="probe")(inputs)
    return keras.Model(inputs, outputs, name="linear_probe")


# --------------------------------------------------------------------------- freezing

def count_trainable_params(model):
    """Returns the number of trainable parameters (what `model.summary()` lists as trainable)."""
    return int(sum(int(np.prod(w.shape)) for w in model.trainable_weights))


def find_base_model(model):
    """Returns the backbone nested in a transfer model (the sub-model with most layers), or `model`."""
    nested = [layer for layer in model.layers
              if isinstance(layer, keras.Model) and layer.name != "augmentation"]
    if not nested:
        return model
    return max(nested, key=lambda layer: len(layer.layers))


def unfreeze_top_layers(model_or_base, num_layers, keep_batchnorm_frozen=True):
    """Unfreezes the last `num_layers` layers of the backbone; everything below stays frozen.

    BatchNormalization layers stay frozen (their scale/offset and statistics are
    kept, and a frozen BatchNorm layer runs in inference mode even inside `fit`),
    as the Keras fine-tuning guide recommends for small datasets. With
    `keep_batchnorm_frozen=False` they normalise each training batch with its own
    statistics and update their moving averages: on tiny batches this wrecks them.
    Re-compile the model afterwards: trainability is read at compile time.

    Args:
        model_or_base: a transfer model (its nested backbone is found) or a backbone.
        num_layers: int in [0, number of backbone layers]; 0 keeps all frozen.
        keep_batchnorm_frozen: bool.

    Returns:
        The names of the layers that now hold trainable weights.

    Raises:
        ValueError: `num_layers` is out of range.
    """
    base = find_base_model(model_or_base)
    total = len(base.layers)
    if isinstance(num_layers, bool) or not isinstance(num_layers, (int, np.integer)) or not 0 <= num_layers <= total:
        raise ValueError(
            f"num_layers should be an int between 0 and {total} (the backbone "
            f"{base.name!r} has {total} layers). Received: num_layers={num_layers!r}")
    base.trainable = True
    cut = total - int(num_layers)
    for index, layer in enumerate(base.layers):
        frozen = index < cut or (keep_batchnorm_frozen and isinstance(layer, keras.layers.BatchNormalization))
        layer.trainable = not frozen
    return [layer.name for layer in base.layers if layer.trainable and layer.trainable_weights]


# --------------------------------------------------------------------------- training helpers

def compile_classifier(model, learning_rate=1e-3):
    """Compiles with Adam, sparse categorical cross-entropy and accuracy (int labels)."""
    model.compile(optimizer=keras.optimizers.Adam(learning_rate),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def fine_tune(model, train_data, validation_data=None, head_epochs=10, fine_tune_epochs=10,
              num_layers=30, learning_rates=(1e-3, 1e-5), batch_size=32, callbacks=None):
    """Two-phase fine-tuning: the head with the base frozen, then the top layers at a low rate.

    Args:
        model: from `build_transfer_model` (base frozen).
        train_data: a tf.data dataset of (images, labels) batches, or a tuple (x, y).
        validation_data: same kinds, or None.
        head_epochs, fine_tune_epochs: ints >= 0.
        num_layers: backbone layers to unfreeze in phase 2 (BatchNorm stays frozen).
        learning_rates: (phase 1, phase 2); phase 2 should be 10-100x lower.
        batch_size: used when the data are arrays.
        callbacks: list of callbacks for both phases, or None.

    Returns:
        `(history_head, history_fine)`; the second is None when `fine_tune_epochs` is 0.
    """
    if len(learning_rates) != 2 or learning_rates[1] > learning_rates[0]:
        raise ValueError(
            "learning_rates should be (head, fine-tune) with the fine-tune rate lower, e.g. "
            f"(1e-3, 1e-5). Received: learning_rates={learning_rates!r}")

    def fit(epochs, initial_epoch=0):
        kwargs = dict(validation_data=validation_data, epochs=initial_epoch + epochs,
                      initial_epoch=initial_epoch, verbose=0, callbacks=callbacks)
        if isinstance(train_data, tuple):
            return model.fit(*train_data, batch_size=batch_size, shuffle=True, **kwargs)
        return model.fit(train_data, **kwargs)

    find_base_model(model).trainable = False
    compile_classifier(model, learning_rates[0])
    history_head = fit(head_epochs)
    if not fine_tune_epochs:
        return history_head, None
    unfreeze_top_layers(model, num_layers)
    compile_classifier(model, learning_rates[1])
    history_fine = fit(fine_tune_epochs, initial_epoch=head_epochs)
    return history_head, history_fine


def enable_mixed_precision():
    """Turns on mixed precision when a GPU is present; returns the policy name.

    "mixed_float16" on a GPU, "float32" (unchanged) on CPU, where mixed precision
    is slower. The heads built here keep their softmax in float32, as the
    mixed-precision guide requires. (Colab's TPU runtimes ship without TensorFlow.)
    """
    import tensorflow as tf
    policy = "mixed_float16" if tf.config.list_physical_devices("GPU") else "float32"
    keras.mixed_precision.set_global_policy(policy)
    return policy


def make_checkpoint_callbacks(directory=None, monitor="val_accuracy"):
    """Returns callbacks that let a run resume after a Colab disconnect.

    - `BackupAndRestore(directory/backup)`: re-running the same `fit` call
      resumes from the last finished epoch (weights, optimizer, epoch counter).
    - `ModelCheckpoint(directory/best.keras)`: keeps the best model by `monitor`.

    Args:
        directory: where to write; on Colab a Drive folder survives a disconnect
            (`/content/drive/MyDrive/course_checkpoints/lab03`, after
            `google.colab.drive.mount("/content/drive")`). None: `cache_dir("checkpoints")`.
        monitor: the metric to keep the best model by, e.g. "val_accuracy" or "val_loss".

    Returns:
        A list of two callbacks for `model.fit(..., callbacks=...)`.
    """
    directory = Path(directory).expanduser() if directory is not None else runtime.cache_dir("checkpoints")
    directory.mkdir(parents=True, exist_ok=True)
    mode = "min" if "loss" in monitor else "max"
    return [
        keras.callbacks.BackupAndRestore(str(directory / "backup")),
        keras.callbacks.ModelCheckpoint(str(directory / "best.keras"), monitor=monitor,
                                        mode=mode, save_best_only=True, verbose=0),
    ]


# --------------------------------------------------------------------------- saving and predicting

def load_transfer_model(path):
    """Loads a `.keras` file saved with `model.save(path)` (preprocessing layer included).

    Raises:
        ValueError: `path` does not end in `.keras`.
        FileNotFoundError: no such file.
    """
    path = Path(path)
    if path.suffix != ".keras":
        raise ValueError(
            "path should be a .keras file written by model.save('name.keras'). "
            f"Received: path={str(path)!r}")
    if not path.is_file():
        raise FileNotFoundError(f"No model file at {path}. Save one with model.save({str(path)!r}).")
    return keras.saving.load_model(path)


def predict_image_file(model, path, class_names, top_k=3):
    """Classifies one image file; returns the `top_k` (class name, probability) pairs, best first.

    The image is resized to the model's input size and given as raw [0, 255]
    pixels (the model preprocesses them itself); grayscale files are converted
    to RGB when the model takes 3 channels.

    Raises:
        FileNotFoundError: no such file.
        ValueError: `class_names` does not match the model's outputs, or
            `top_k` is not in [1, number of classes].

    Example:

    >>> predict_image_file(model, "my_photo.jpg", class_names, top_k=2)
    [('Sneaker', 0.91), ('Ankle boot', 0.06)]
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No image file at {path}. Check the path (ls {path.parent}).")
    num_outputs = int(model.output_shape[-1])
    if len(class_names) != num_outputs:
        raise ValueError(
            f"class_names should hold one name per model output ({num_outputs}), got "
            f"{len(class_names)}. Pass train_ds.class_names. Received: class_names={list(class_names)!r}")
    if isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer)) or not 1 <= top_k <= num_outputs:
        raise ValueError(f"top_k should be an int between 1 and {num_outputs}. Received: top_k={top_k!r}")
    height, width, channels = model.input_shape[1:4]
    image = keras.utils.load_img(path, target_size=(height, width),
                                 color_mode="grayscale" if channels == 1 else "rgb")
    batch = keras.utils.img_to_array(image)[None].astype("float32")
    probabilities = np.asarray(model.predict(batch, verbose=0))[0]
    order = np.argsort(probabilities)[::-1][:top_k]
    return [(class_names[i], float(probabilities[i])) for i in order]
