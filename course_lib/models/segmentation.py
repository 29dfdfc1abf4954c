"""Semantic segmentation models: an FCN (with FCN-16s/8s skip fusion), an encoder-decoder and a U-Net.

    fcn = build_fcn((64, 64, 1), num_classes=5)                      # coarse scores, upsampled x8 at once
    plain = build_unet((64, 64, 1), num_classes=5, skips=False)      # encoder-decoder, no skips
    unet = build_unet((64, 64, 1), num_classes=5)                    # the same plus skip connections
    unet.compile(optimizer=keras.optimizers.Adam(2e-3), loss="sparse_categorical_crossentropy",
                 metrics=["accuracy", keras.metrics.MeanIoU(5, sparse_y_pred=False, name="mean_iou")])
    schedule = keras.callbacks.LearningRateScheduler(cosine_decay_by_epoch(2e-3, epochs=10))
    unet.fit(images, masks, validation_split=0.1, epochs=10, callbacks=[schedule], verbose=2)
    predicted = predict_masks(unet, test_images)                     # (n, height, width) class ids
    segmentation_scores(test_masks, predicted, class_names)          # pixel accuracy, mIoU, IoU per class

Every model takes raw pixels in [0, 255] (uint8 arrays) and rescales them in its
first layer. Outputs are softmax probabilities of shape
`(batch, height, width, num_classes)`, the input's height and width: compile with
`loss="sparse_categorical_crossentropy"` and integer masks `(batch, height, width)`.

The transposed convolution by hand lives in `course_lib.scratch.transposed_conv`;
Mask R-CNN's mask head (instance segmentation) in `course_lib.models.mask_head`.
"""

import keras
import numpy as np
from keras import layers

from course_lib._validation import (check_choice, check_input_shape, check_int, check_ints, check_num_classes,
                                    check_positive_number, is_int)
from course_lib.metrics.segmentation import mean_iou, per_class_iou, pixel_accuracy
from course_lib.scratch.transposed_conv import bilinear_upsampling_kernel

UPSAMPLING_METHODS = ("transposed", "bilinear")


def _check_divisible(input_shape, times, what, fix, received):
    factor = 2 ** times
    height, width = input_shape[:2]
    if height % factor or width % factor:
        fixed = tuple(-(-s // factor) * factor for s in (height, width))
        raise ValueError(
            f"{what} halves the image {times} times and doubles it back, so height and width "
            f"should be multiples of 2**{times} = {factor}. Resize or pad the images to "
            f"{fixed[0]}x{fixed[1]}, or use {fix}. Received: input_shape={input_shape!r}, {received}")


# --------------------------------------------------------------------------- dense layers as convolutions

def dense_as_convolution(dense_layer, input_shape):
    """The convolution that computes what a Dense layer on a flattened feature map computes.

    A Dense layer after `Flatten` on an `(h, w, c)` map sees the whole map at once: it is a
    convolution whose kernel covers the whole map, `h x w x c -> units`, "valid" padding
    (FCN turned VGG's fc6, on 7x7x512 maps, into a 7x7 convolution; fc7 and the classifier,
    which see 1x1 maps, into 1x1 convolutions). On a larger input, the convolution slides
    and gives a grid of outputs where the Dense layer gave one vector.

    Args:
        dense_layer: a built `keras.layers.Dense` that follows `Flatten` on `input_shape`.
        input_shape: `(h, w, c)` of the map before `Flatten`.

    Returns:
        A built `keras.layers.Conv2D(units, (h, w))` with the Dense layer's weights.

    Raises:
        ValueError: the Dense layer's input size is not h * w * c.
    """
    height, width, channels = (int(v) for v in input_shape)
    kernel, bias = dense_layer.get_weights()
    if kernel.shape[0] != height * width * channels:
        raise ValueError(f"dense_layer takes {kernel.shape[0]} inputs, but a flattened {input_shape} map has "
                         f"{height * width * channels}; pass the shape of the map before Flatten. "
                         f"Received: input_shape={tuple(input_shape)}")
    conv = layers.Conv2D(kernel.shape[1], (height, width), padding="valid",
                         activation=dense_layer.get_config()["activation"], name=f"{dense_layer.name}_as_conv")
    conv.build((None, height, width, channels))
    conv.set_weights([kernel.reshape(height, width, channels, kernel.shape[1]), bias])
    return conv


# --------------------------------------------------------------------------- builders

def _conv_block(x, filters, batch_norm, name):
    """Two conv3x3 ("same") with ReLU, batch norm before each ReLU if asked."""
    for i in (1, 2):
        x = layers.Conv2D(filters, 3, padding="same", use_bias=not batch_norm,
                          activation=None if batch_norm else "relu", name=f"{name}_conv{i}")(x)
        if batch_norm:
            x = layers.BatchNormalization(momentum=0.9, name=f"{name}_bn{i}")(x)
            x = layers.Activation("relu", name=f"{name}_relu{i}")(x)
    return x


def build_fcn(input_shape=(64, 64, 1), num_classes=5, filters=(16, 32, 64), upsampling="transposed",
              skip_levels=0):
    """Builds a small fully convolutional network: conv encoder, 1x1 scores, one upsampling back to input size.

    The FCN-32s idea at small scale: the encoder is a classification CNN without its
    dense layers; a 1x1 convolution ("fc_conv", 1x1 plays the role of a dense layer
    applied at every position) and a 1x1 "score" layer give `num_classes` scores on a
    grid `2 ** len(filters)` times coarser than the input (8x8 for 64x64 inputs with
    3 blocks); a single upsampling by `2 ** len(filters)` brings them back to input
    size. Each coarse score covers a block of 8x8 output pixels: the masks come out
    blobby, with rounded edges and missed thin parts.

    Layers, for 64x64x1 inputs and the defaults (5 classes):

        rescaling                         64x64x1
        block{i}_conv1, _conv2 (ReLU)     64 -> 32 -> 16 -> 8 after each block{i}_pool
        fc_conv    1x1, 2 * filters[-1]   8x8x128      64 * 128 + 128 = 8,320
        score      1x1, num_classes       8x8x5        128 * 5 + 5 = 645
        upsample   x8                     64x64x5      "transposed": 16 * 16 * 5 * 5 = 6,400, no bias
        softmax                           64x64x5      total 87,157 parameters (80,757 bilinear)

    Args:
        input_shape: (height, width, channels); height and width multiples of `2 ** len(filters)`.
        num_classes: int >= 2, background included.
        filters: tuple of ints, filters of each encoder block (two conv3x3 and a 2x2 max pool).
        upsampling: "transposed": a `Conv2DTranspose(num_classes, 2f, strides=f, padding="same")`
            initialized as a bilinear interpolation (`bilinear_upsampling_kernel`) and trained;
            "bilinear": a fixed `UpSampling2D(f, interpolation="bilinear")`, no parameters.
        skip_levels: 0 for one upsampling of the coarsest scores (FCN-32s style); k > 0 fuses
            the scores of the k pooling outputs before the last one, as FCN-16s (k = 1) and
            FCN-8s (k = 2) do: upsample the scores x2 ("fuse{i}_up", bilinear-initialised
            transposed conv), add a 1x1 score layer on the finer pooling output
            ("score_pool{b}", zero-initialised so that training starts from the coarse
            net's answer), repeat; then upsample by `2 ** (len(filters) - k)`.

    Returns:
        An uncompiled `keras.Model` named "fcn": uint8 or float pixels in [0, 255] ->
        softmax probabilities `(batch, height, width, num_classes)`.

    Raises:
        ValueError: bad arguments, or height/width not multiples of `2 ** len(filters)`.

    Example:

    >>> build_fcn((64, 64, 1), num_classes=5).count_params()
    87157
    """
    input_shape = check_input_shape(input_shape, example=(64, 64, 1))
    check_num_classes(num_classes, example=5)
    filters = check_ints(filters, "filters", example=(16, 32, 64))
    check_choice(upsampling, "upsampling", UPSAMPLING_METHODS)
    _check_divisible(input_shape, len(filters), f"An FCN with {len(filters)} blocks", "fewer filters entries",
                     f"filters={filters!r}")
    if not is_int(skip_levels) or not 0 <= skip_levels < len(filters):
        raise ValueError(f"skip_levels should be an int from 0 to len(filters) - 1 = {len(filters) - 1} (0: one "
                         f"upsampling, FCN-32s style; 1: FCN-16s; 2: FCN-8s). Received: skip_levels={skip_levels!r}")
    pools = []
    inputs = keras.Input(input_shape, name="image")
    x = layers.Rescaling(1.0 / 255, name="rescaling")(inputs)
    for block, num_filters in enumerate(filters, start=1):
        for i in (1, 2):
            x = layers.Conv2D(num_filters, 3, padding="same", activation="relu",
                              name=f"block{block}_conv{i}")(x)
        x = layers.MaxPooling2D(2, name=f"block{block}_pool")(x)
        pools.append(x)
    x = layers.Conv2D(2 * filters[-1], 1, activation="relu", name="fc_conv")(x)
    x = layers.Conv2D(num_classes, 1, name="score")(x)
    for level in range(1, skip_levels + 1):
        block = len(filters) - level          # the pooling output one level finer
        x = layers.Conv2DTranspose(num_classes, 4, strides=2, padding="same", use_bias=False,
                                   kernel_initializer=keras.initializers.Constant(
                                       bilinear_upsampling_kernel(2, num_classes)),
                                   name=f"fuse{level}_up")(x)
        finer = layers.Conv2D(num_classes, 1, kernel_initializer="zeros",
                              name=f"score_pool{block}")(pools[block - 1])
        x = layers.Add(name=f"fuse{level}")([x, finer])
    factor = 2 ** (len(filters) - skip_levels)
    if upsampling == "transposed":
        kernel = bilinear_upsampling_kernel(factor, num_classes)
        x = layers.Conv2DTranspose(num_classes, 2 * factor, strides=factor, padding="same", use_bias=False,
                                   kernel_initializer=keras.initializers.Constant(kernel),
                                   name="upsample")(x)
    else:
        x = layers.UpSampling2D(factor, interpolation="bilinear", name="upsample")(x)
    outputs = layers.Activation("softmax", name="probabilities", dtype="float32")(x)
    return keras.Model(inputs, outputs, name="fcn")


def build_unet(input_shape=(64, 64, 1), num_classes=5, base_filters=16, depth=3, skips=True,
               batch_norm=True):
    """Builds a U-Net (Ronneberger et al., 2015) or, with `skips=False`, the same encoder-decoder without skips.

    Encoder: `depth` levels of [two conv3x3 + ReLU, then 2x2 max pooling], filters
    doubling from `base_filters`; a bottleneck of two conv3x3 at `base_filters * 2**depth`.
    Decoder: per level, a `Conv2DTranspose(f, 2, strides=2)` doubles height and width,
    then (U-Net only) the encoder's feature map of the same size is **concatenated**,
    then two conv3x3. A 1x1 convolution gives the class scores at full resolution.
    The skips bring back the spatial detail the poolings threw away: without them the
    decoder must redraw edges from an 8x8 summary (for 64x64 inputs, depth 3).

    Sizes for 64x64x1 inputs, the defaults (16 filters, depth 3, batch norm), 5 classes:

        enc1 64x64x16 -> enc2 32x32x32 -> enc3 16x16x64 -> bottleneck 8x8x128
        dec3 16x16x64 (+ enc3: 128 channels in) -> dec2 32x32x32 (+ enc2) -> dec1 64x64x16 (+ enc1)
        scores 64x64x5: 483,925 parameters with skips, 435,541 without (the decoder's
        first conv of each level sees half the channels)

    Args:
        input_shape: (height, width, channels), height and width multiples of `2 ** depth`.
        num_classes: int >= 2, background included.
        base_filters: int, filters of the first level (doubled at each level down).
        depth: int >= 1, number of poolings (and of upsamplings).
        skips: bool, concatenate encoder features into the decoder (U-Net) or not.
        batch_norm: bool, batch normalization before each ReLU (convolutions then have no bias).

    Returns:
        An uncompiled `keras.Model` named "unet" (or "encoder_decoder" without skips):
        pixels in [0, 255] -> softmax probabilities `(batch, height, width, num_classes)`.

    Raises:
        ValueError: bad arguments, or height/width not multiples of `2 ** depth`.

    Example:

    >>> build_unet((64, 64, 1), num_classes=5).output_shape
    (None, 64, 64, 5)
    """
    input_shape = check_input_shape(input_shape, example=(64, 64, 1))
    check_num_classes(num_classes, example=5)
    base_filters = check_int(base_filters, "base_filters", example=16)
    depth = check_int(depth, "depth", example=3)
    _check_divisible(input_shape, depth, f"A U-Net with depth={depth}", "a smaller depth", f"depth={depth}")
    inputs = keras.Input(input_shape, name="image")
    x = layers.Rescaling(1.0 / 255, name="rescaling")(inputs)
    encoder_maps = []
    for level in range(1, depth + 1):
        x = _conv_block(x, base_filters * 2 ** (level - 1), batch_norm, f"enc{level}")
        encoder_maps.append(x)
        x = layers.MaxPooling2D(2, name=f"enc{level}_pool")(x)
    x = _conv_block(x, base_filters * 2 ** depth, batch_norm, "bottleneck")
    for level in range(depth, 0, -1):
        num_filters = base_filters * 2 ** (level - 1)
        x = layers.Conv2DTranspose(num_filters, 2, strides=2, padding="same", name=f"dec{level}_up")(x)
        if skips:
            x = layers.Concatenate(name=f"dec{level}_concat")([x, encoder_maps[level - 1]])
        x = _conv_block(x, num_filters, batch_norm, f"dec{level}")
    x = layers.Conv2D(num_classes, 1, name="scores")(x)
    outputs = layers.Activation("softmax", name="probabilities", dtype="float32")(x)
    return keras.Model(inputs, outputs, name="unet" if skips else "encoder_decoder")


# --------------------------------------------------------------------------- training and evaluation

def cosine_decay_by_epoch(initial_learning_rate, epochs):
    """A schedule for `keras.callbacks.LearningRateScheduler`: a half cosine from the rate to 5 % of it.

        schedule = keras.callbacks.LearningRateScheduler(cosine_decay_by_epoch(3e-3, epochs=12))
        model.fit(images, masks, epochs=12, callbacks=[schedule])

    Epoch e (from 0) trains at `rate * (0.05 + 0.95 * (1 + cos(pi * e / epochs)) / 2)`:
    large steps first, then small ones that let the last epochs settle instead of
    bouncing around (short runs end much less noisily). One value per epoch; Keras'
    `keras.optimizers.schedules.CosineDecay` does the same per step.

    Args:
        initial_learning_rate: float > 0, the rate the optimizer was compiled with.
        epochs: int, the epochs of the `fit` call.

    Returns:
        A function `schedule(epoch, learning_rate) -> float`.

    Example:

    >>> schedule = cosine_decay_by_epoch(1e-3, epochs=4)
    >>> [round(schedule(epoch, None) / 1e-3, 3) for epoch in range(4)]
    [1.0, 0.861, 0.525, 0.189]
    """
    check_positive_number(initial_learning_rate, "initial_learning_rate", example=1e-3)
    epochs = check_int(epochs, "epochs", example=10)
    # the optimizer holds its rate in float32: start from exactly that number, so epoch 0 keeps it
    initial = float(np.float32(initial_learning_rate))

    def schedule(epoch, learning_rate):
        return float(initial * (0.05 + 0.95 * 0.5 * (1 + np.cos(np.pi * epoch / epochs))))

    return schedule


def predict_masks(model, images, batch_size=64):
    """Returns the predicted label maps, uint8 `(n, height, width)`: the argmax of the class scores."""
    scores = model.predict(np.asarray(images), batch_size=batch_size, verbose=0)
    return np.asarray(scores).argmax(axis=-1).astype("uint8")


def segmentation_scores(masks, predicted_masks, class_names):
    """Pixel accuracy, mean IoU and IoU per class of predicted label maps.

    Args:
        masks: true label maps `(n, height, width)`.
        predicted_masks: predicted label maps, same shape.
        class_names: names of the classes, background first.

    Returns:
        dict with "pixel_accuracy" (float), "mean_iou" (float, classes absent from both
        left out) and "per_class_iou" ({class name: IoU, NaN if absent from both}).
    """
    num_classes = len(class_names)
    iou = per_class_iou(masks, predicted_masks, num_classes)
    return {"pixel_accuracy": pixel_accuracy(masks, predicted_masks, num_classes),
            "mean_iou": mean_iou(masks, predicted_masks, num_classes),
            "per_class_iou": {name: float(v) for name, v in zip(class_names, iou)}}


def format_scores_table(results):
    """A Markdown table: one row per model, pixel accuracy, mean IoU and the IoU of each class.

    Args:
        results: dict `{model name: segmentation_scores(...)}`.

    Returns:
        str, ready to `print`.
    """
    if not results:
        raise ValueError("results is empty; pass {model name: segmentation_scores(...)}.")
    class_names = list(next(iter(results.values()))["per_class_iou"])
    header = ["model", "pixel acc.", "mIoU"] + [f"IoU {name}" for name in class_names]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, scores in results.items():
        cells = [name, f"{scores['pixel_accuracy']:.3f}", f"{scores['mean_iou']:.3f}"] + [
            f"{scores['per_class_iou'][c]:.3f}" for c in class_names]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


__all__ = ["UPSAMPLING_METHODS", "dense_as_convolution", "build_fcn", "build_unet", "cosine_decay_by_epoch",
           "predict_masks", "segmentation_scores", "format_scores_table"]
