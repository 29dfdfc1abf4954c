"""Transfer learning: pretrained backbones, heads, freezing, fine-tuning, saving.

Two paths, one code:

- Online (Colab): a Keras Applications backbone with ImageNet weights
  (`build_backbone("mobilenet_v2", weights="imagenet", input_shape=(160, 160, 3))`,
  also "resnet50" and "efficientnet_b0"), on a folder-per-class dataset from
  `load_image_folder`.
- Offline (CI, no internet): `weights="course_offline"`, a MobileNetV2 (alpha 0.35,
  32x32x3) that `python -m course_lib.models.pretrain` pre-trains on five
  Fashion-MNIST classes; its weights ship in `data/backbones/` with a SHA-256
  checksum verified on load. `load_transfer_task()` gives the other five classes
  with a few labels per class.

Typical use (the lecture's two-phase recipe):

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

# name -> (keras.applications constructor, module holding preprocess_input, default input shape)
BACKBONES = {
    "mobilenet_v2": ("MobileNetV2", "mobilenet_v2", (224, 224, 3)),
    "resnet50": ("ResNet50", "resnet", (224, 224, 3)),
    "efficientnet_b0": ("EfficientNetB0", "efficientnet", (224, 224, 3)),
}
WEIGHT_CHOICES = ("imagenet", "course_offline", None)

OFFLINE_WEIGHTS = "course_offline"
OFFLINE_INFO_FILE = "backbones/mobilenet_v2_fmnist.json"
OFFLINE_INPUT_SHAPE = (32, 32, 3)
OFFLINE_ALPHA = 0.35

# The offline backbone is pre-trained on SOURCE_CLASSES; the lab's target task is TARGET_CLASSES.
# Each group holds garments and footwear, so the features cover both, but no target class is seen.
SOURCE_CLASS_IDS = (0, 1, 2, 5, 8)
TARGET_CLASS_IDS = (3, 4, 6, 7, 9)
_FASHION_NAMES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                  "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
SOURCE_CLASSES = [_FASHION_NAMES[i] for i in SOURCE_CLASS_IDS]
TARGET_CLASSES = [_FASHION_NAMES[i] for i in TARGET_CLASS_IDS]


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
    for prefix, key in (("mobilenetv2", "mobilenet_v2"), ("mobilenet_v2", "mobilenet_v2"),
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
        f"build_backbone('mobilenet_v2', weights='course_offline') (MobileNetV2 pre-trained on "
        f"five Fashion-MNIST classes, input 32x32x3).")


def build_backbone(name="mobilenet_v2", weights="imagenet", input_shape=(160, 160, 3)):
    """Builds a Keras Applications backbone without its classifier (`include_top=False`).

    The result outputs feature maps `(batch, h, w, channels)` and expects the
    application's preprocessed inputs; `build_transfer_model` adds the
    preprocessing, pooling and a new head.

    Args:
        name: "mobilenet_v2", "resnet50" or "efficientnet_b0".
        weights: "imagenet" (downloaded once into the Keras cache; fails at once
            when offline and not cached), "course_offline" (the shipped
            MobileNetV2, alpha 0.35, 32x32x3; `name` must be "mobilenet_v2") or
            None (random initialisation, for training from scratch).
        input_shape: `(height, width, 3)`. For "course_offline", None or (32, 32, 3).

    Returns:
        A trainable `keras.Model` (freeze it with `base_model.trainable = False`).

    Raises:
        ValueError: unknown name or weights, or an input shape the weights cannot take.
        RuntimeError: ImageNet weights asked for offline and not in the Keras cache
            (the message says how to proceed).
        OSError: the shipped offline weights fail their SHA-256 check.

    Example:

    >>> base_model = build_backbone("mobilenet_v2", weights="course_offline", input_shape=None)
    >>> base_model.output_shape
    (None, 1, 1, 1280)
    """
    _check_name(name)
    if weights not in WEIGHT_CHOICES:
        raise ValueError(
            f"weights should be 'imagenet', 'course_offline' or None. Received: weights={weights!r}")
    if weights == OFFLINE_WEIGHTS:
        if name != "mobilenet_v2":
            raise ValueError(
                "The offline backbone is a MobileNetV2: use name='mobilenet_v2' with "
                f"weights='course_offline'. Received: name={name!r}")
        if input_shape is not None and tuple(input_shape) != OFFLINE_INPUT_SHAPE:
            raise ValueError(
                f"The offline backbone was trained on {OFFLINE_INPUT_SHAPE} images: pass "
                f"input_shape={OFFLINE_INPUT_SHAPE} (or None) and resize images to 32x32. "
                f"Received: input_shape={input_shape!r}")
        return load_offline_backbone()
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
    """Builds the shipped MobileNetV2 (alpha 0.35, 32x32x3) and loads its verified weights.

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
    base_model = keras.applications.MobileNetV2(
        include_top=False, weights=None, input_shape=OFFLINE_INPUT_SHAPE, alpha=OFFLINE_ALPHA)
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


def build_scratch_model(name="mobilenet_v2", input_shape=OFFLINE_INPUT_SHAPE, num_classes=5,
                        augmentation=None, dropout_rate=0.2, alpha=OFFLINE_ALPHA, batchnorm_momentum=0.9):
    """Builds the same architecture with random weights, trained end to end (the baseline).

    Unlike `build_transfer_model`, the backbone is called in training mode, so
    its BatchNorm layers learn their statistics; this is also how
    `course_lib.models.pretrain` trains the offline backbone.

    Args:
        name: a key of `BACKBONES`.
        input_shape: `(height, width, 3)`.
        num_classes: int >= 2.
        augmentation: as in `build_transfer_model`.
        dropout_rate: float in [0, 1).
        alpha: MobileNetV2 width multiplier (ignored by the other backbones).
        batchnorm_momentum: the applications use 0.99-0.999, tuned for ImageNet's
            ~10^6 steps; with a few hundred steps the moving statistics would lag
            far behind the weights and evaluation would stay at chance. 0.9 follows
            within about 30 steps (a few hundred images); the offline backbone's
            pre-training (about 2,000 steps) used 0.99.

    Returns:
        A `keras.Model`, not compiled; `find_base_model(model)` returns its backbone.
    """
    _check_name(name)
    _check_classes_and_dropout(num_classes, dropout_rate)
    if name == "mobilenet_v2":
        base_model = keras.applications.MobileNetV2(
            include_top=False, weights=None, input_shape=tuple(input_shape), alpha=alpha)
    else:
        base_model = build_backbone(name, weights=None, input_shape=input_shape)
    for layer in base_model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = batchnorm_momentum
    if augmentation is None:
        augmentation = make_augmentation()
    inputs = keras.Input(tuple(input_shape), name="image")
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
    """Turns on mixed precision when an accelerator is present; returns the policy name.

    "mixed_float16" on a GPU, "mixed_bfloat16" on a TPU, "float32" (unchanged) on
    CPU, where mixed precision is slower. The heads built here keep their
    softmax in float32, as the mixed-precision guide requires.
    """
    import tensorflow as tf
    if tf.config.list_logical_devices("TPU"):
        policy = "mixed_bfloat16"
    elif tf.config.list_physical_devices("GPU"):
        policy = "mixed_float16"
    else:
        policy = "float32"
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


# --------------------------------------------------------------------------- the offline target task

def to_backbone_images(images):
    """Turns Fashion-MNIST images `(n, 28, 28)` uint8 into `(n, 32, 32, 3)` float32 in [0, 255].

    Pads 2 black pixels on each side (the background is black) and repeats the
    gray channel three times, the input the offline backbone was trained on.
    """
    images = np.asarray(images)
    if images.ndim != 3 or images.shape[1:] != (28, 28):
        raise ValueError(
            f"images should have shape (n, 28, 28) like Fashion-MNIST. Received: shape {images.shape}")
    padded = np.pad(images, ((0, 0), (2, 2), (2, 2))).astype("float32")
    return np.repeat(padded[..., None], 3, axis=-1)


def _select_classes(x, y, class_ids):
    mask = np.isin(y, class_ids)
    lookup = np.full(10, -1, dtype="int64")
    lookup[list(class_ids)] = np.arange(len(class_ids))
    return x[mask], lookup[y[mask]].astype("int32")


def load_transfer_task(labels_per_class=20, validation_per_class=50, subset="small", seed=1337):
    """Loads the offline target task: the five Fashion-MNIST classes the backbone never saw.

    Classes (`TARGET_CLASSES`): Dress, Coat, Shirt, Sneaker, Ankle boot, relabelled 0-4.
    From the training split, `labels_per_class` labelled images per class for
    training and `validation_per_class` other ones for validation, drawn with
    `seed`; the test set is every test image of those classes (500 in the
    shipped small subset, 5,000 in the full set).

    Args:
        labels_per_class: int >= 1, e.g. 20 (100 labelled images in all).
        validation_per_class: int >= 1.
        subset: "small" (shipped, no download) or "full".
        seed: int.

    Returns:
        `(x_train, y_train), (x_val, y_val), (x_test, y_test)`: images
        `(n, 32, 32, 3)` float32 in [0, 255], labels int32 in 0-4.
    """
    from course_lib.data.fashion_mnist import load_fashion_mnist
    for arg, value in (("labels_per_class", labels_per_class), ("validation_per_class", validation_per_class)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{arg} should be an int >= 1, e.g. 20. Received: {arg}={value!r}")
    (x_train, y_train), (x_test, y_test) = load_fashion_mnist(subset=subset)
    x_pool, y_pool = _select_classes(x_train, y_train, TARGET_CLASS_IDS)
    needed = labels_per_class + validation_per_class
    available = int(np.bincount(y_pool).min())
    if needed > available:
        raise ValueError(
            f"labels_per_class + validation_per_class should be at most {available} (images per "
            f"class in subset={subset!r}). Received: {labels_per_class} + {validation_per_class}")
    rng = np.random.default_rng(seed)
    train_idx, val_idx = [], []
    for label in range(len(TARGET_CLASS_IDS)):
        chosen = rng.permutation(np.flatnonzero(y_pool == label))[:needed]
        train_idx.append(chosen[:labels_per_class])
        val_idx.append(chosen[labels_per_class:])
    train_idx = rng.permutation(np.concatenate(train_idx))
    val_idx = np.sort(np.concatenate(val_idx))
    x_test, y_test = _select_classes(x_test, y_test, TARGET_CLASS_IDS)
    return ((to_backbone_images(x_pool[train_idx]), y_pool[train_idx]),
            (to_backbone_images(x_pool[val_idx]), y_pool[val_idx]),
            (to_backbone_images(x_test), y_test))
