"""Transfer learning: pretrained backbones, one classifier head, freezing and unfreezing.

Two paths, one code:

- Online (Colab): a Keras Applications backbone with ImageNet weights
  (`build_backbone("mobilenet_v2", weights="imagenet", input_shape=(160, 160, 3))`,
  also "resnet50" and "efficientnet_b0"), on a folder-per-class dataset from
  `load_image_folder`.
- Offline (CI, no internet): `build_backbone("course_cnn", weights="course_offline")`,
  the course's small CNN pre-trained on cluttered photos of five Fashion-MNIST
  classes (`course_lib.models.course_cnn`). `course_lib.data.transfer_task.load_transfer_task()`
  gives photos of the other five classes with a few labels per class.

Two-phase fine-tuning, as in the Keras transfer-learning guide:

    base_model = build_backbone("mobilenet_v2", weights="imagenet", input_shape=(160, 160, 3))
    model = build_transfer_model(base_model, num_classes=5)      # base frozen, BatchNorm in inference mode
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(train_ds, validation_data=val_ds, epochs=5, verbose=2)      # phase 1: the head only
    unfreeze_top_layers(model, num_layers=30)                              # BatchNorm stays frozen
    model.compile(optimizer=keras.optimizers.Adam(1e-5), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])                  # re-compile: trainability is read at compile time
    model.fit(train_ds, validation_data=val_ds, epochs=5, verbose=2)      # phase 2: 100x lower rate

Models take raw pixels in [0, 255] (what `load_image_folder` yields): the
application's own `preprocess_input` runs inside the model as an
`ApplicationPreprocessing` layer, so a saved `.keras` file predicts on raw images.
"""

import keras
import numpy as np

from course_lib._validation import (check_choice, check_fraction, check_input_shape, check_int,
                                    check_num_classes, is_int)
from course_lib.models import course_cnn

# name -> (keras.applications constructor, module holding preprocess_input, default input shape).
# "course_cnn" is the course's own small backbone, scaled to [-1, 1] like MobileNetV2.
BACKBONES = {
    "mobilenet_v2": ("MobileNetV2", "mobilenet_v2", (224, 224, 3)),
    "resnet50": ("ResNet50", "resnet", (224, 224, 3)),
    "efficientnet_b0": ("EfficientNetB0", "efficientnet", (224, 224, 3)),
    "course_cnn": (None, "mobilenet_v2", course_cnn.INPUT_SHAPE),
}
WEIGHT_CHOICES = ("imagenet", "course_offline", None)


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
        self.application = check_choice(application, "application", sorted(BACKBONES))
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
    check_choice(flip, "flip", ("horizontal", "vertical", "horizontal_and_vertical", None))
    for name, value in (("rotation", rotation), ("zoom", zoom), ("translation", translation)):
        check_fraction(value, name, example=0.1)
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

def _imagenet_error(name, error):
    return RuntimeError(
        f"ImageNet weights for {name!r} could not be loaded ({error}). Either\n"
        f"  1. go online (e.g. run this notebook on Colab) and call build_backbone again, or\n"
        f"  2. copy the weights file named in the URL above into the Keras cache, $KERAS_HOME/models "
        f"(by default ~/.keras/models), where Keras looks before downloading, or\n"
        f"  3. use the course's offline backbone: build_backbone('course_cnn', weights='course_offline') "
        f"(a small CNN pre-trained on photos of five Fashion-MNIST classes, input 48x48x3).")


def build_backbone(name="mobilenet_v2", weights="imagenet", input_shape=(160, 160, 3)):
    """Builds a backbone without its classifier (`include_top=False`).

    The result outputs feature maps `(batch, h, w, channels)` and expects the
    application's preprocessed inputs; `build_transfer_model` adds the
    preprocessing, pooling and a new head.

    Args:
        name: "mobilenet_v2", "resnet50" or "efficientnet_b0" (Keras
            Applications), or "course_cnn" (the course's offline backbone,
            `course_lib.models.course_cnn`).
        weights: "imagenet" (downloaded once by Keras into its cache,
            `$KERAS_HOME/models`), "course_offline" (the shipped course_cnn,
            48x48x3; `name` must be "course_cnn") or None (random
            initialisation, for training from scratch).
        input_shape: `(height, width, 3)`. For "course_cnn", None or (48, 48, 3).

    Returns:
        A trainable `keras.Model` (freeze it with `base_model.trainable = False`).

    Raises:
        ValueError: unknown name or weights, or an input shape the weights cannot take.
        RuntimeError: the ImageNet weights could not be downloaded (the message
            says how to proceed).
        OSError: the shipped offline weights fail their SHA-256 check.

    Example:

    >>> base_model = build_backbone("course_cnn", weights="course_offline", input_shape=None)
    >>> base_model.output_shape
    (None, 6, 6, 192)
    """
    check_choice(name, "name", sorted(BACKBONES))
    check_choice(weights, "weights", WEIGHT_CHOICES)
    if weights is not None and (weights == "course_offline") != (name == "course_cnn"):
        raise ValueError(
            f"weights='course_offline' goes with name='course_cnn' (the course's own backbone), and "
            f"ImageNet weights exist only for the Keras applications. Received: name={name!r}, "
            f"weights={weights!r}")
    if name == "course_cnn":
        if input_shape is not None and tuple(input_shape) != course_cnn.INPUT_SHAPE:
            raise ValueError(
                f"The offline backbone was trained on {course_cnn.INPUT_SHAPE} images: pass "
                f"input_shape={course_cnn.INPUT_SHAPE} (or None) and resize images to 48x48. "
                f"Received: input_shape={input_shape!r}")
        return course_cnn.load_course_cnn() if weights else course_cnn.build_course_cnn()
    if input_shape is None:
        input_shape = BACKBONES[name][2]
    input_shape = check_input_shape(input_shape, example=(160, 160, 3))
    if input_shape[-1] != 3 or min(input_shape[:2]) < 32:
        raise ValueError(
            "input_shape should be (height, width, 3) with height and width >= 32, e.g. "
            f"(160, 160, 3); grayscale images need 3 channels (color_mode='rgb'). "
            f"Received: input_shape={input_shape!r}")
    constructor = getattr(keras.applications, BACKBONES[name][0])
    if weights is None:
        return constructor(include_top=False, weights=None, input_shape=input_shape)
    try:
        return constructor(include_top=False, weights="imagenet", input_shape=input_shape)
    except Exception as error:  # Keras reports a failed download as a bare Exception (or OSError)
        raise _imagenet_error(name, error) from error


# --------------------------------------------------------------------------- the head

def build_transfer_model(base_model, num_classes, augmentation=None, dropout_rate=0.2,
                         preprocessing="auto", freeze_base=True):
    """Wraps a backbone for transfer learning: augment, preprocess, features, new head.

    Layers: Input (raw pixels in [0, 255]) -> augmentation (training only) ->
    `ApplicationPreprocessing` -> `base_model(x, training=False)` -> global
    average pooling -> dropout -> Dense softmax (float32 under mixed precision).

    BatchNorm and `training=False`: the base is called with `training=False`
    as the Keras transfer-learning guide does, but in Keras 3 the `training`
    flag of the outer call (`fit` passes True) overrides it for a nested model.
    What keeps BatchNorm in inference mode (moving statistics used, never
    updated) is that its layers are frozen: a BatchNormalization layer with
    `trainable=False` always runs in inference mode. `freeze_base=True` and
    `unfreeze_top_layers` (which keeps BatchNorm frozen) guarantee it. With
    `freeze_base=False` and a backbone of random weights
    (`build_backbone(..., weights=None)`) the same layers train from scratch,
    BatchNorm included.

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

    Example:

    >>> base_model = build_backbone("course_cnn", weights="course_offline", input_shape=None)
    >>> model = build_transfer_model(base_model, num_classes=5)
    >>> model.output_shape, count_trainable_params(model)      # the head only: 192 * 5 + 5
    ((None, 5), 965)
    """
    check_num_classes(num_classes, example=5)
    check_fraction(dropout_rate, "dropout_rate")
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
    """Returns a softmax regression on frozen features: one Dense layer, `(num_features,) -> num_classes`.

    The same layer as `build_transfer_model`'s head, trained on features computed
    once (`make_feature_extractor`): its weights can be copied into that head.
    """
    check_int(num_features, "num_features", example=192)
    check_num_classes(num_classes, example=5)
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
    if not is_int(num_layers) or not 0 <= num_layers <= total:
        raise ValueError(
            f"num_layers should be an int between 0 and {total} (the backbone "
            f"{base.name!r} has {total} layers). Received: num_layers={num_layers!r}")
    base.trainable = True
    cut = total - int(num_layers)
    for index, layer in enumerate(base.layers):
        frozen = index < cut or (keep_batchnorm_frozen and isinstance(layer, keras.layers.BatchNormalization))
        layer.trainable = not frozen
    return [layer.name for layer in base.layers if layer.trainable and layer.trainable_weights]
