"""Semantic segmentation models: an FCN, an encoder-decoder and a U-Net; transposed convolutions.

    fcn = build_fcn((64, 64, 1), num_classes=5)                      # coarse scores, upsampled x8 at once
    plain = build_unet((64, 64, 1), num_classes=5, skips=False)      # encoder-decoder, no skips
    unet = build_unet((64, 64, 1), num_classes=5)                    # the same plus skip connections
    compile_segmentation_model(unet)                                 # per-pixel cross-entropy, pixel accuracy, mIoU
    unet.fit(images, masks, validation_split=0.1, epochs=10, verbose=2)
    predicted = predict_masks(unet, test_images)                     # (n, height, width) class ids
    segmentation_scores(test_masks, predicted, class_names)          # pixel accuracy, mIoU, IoU per class

Every model takes raw pixels in [0, 255] (uint8 arrays) and rescales them in its
first layer. Outputs are softmax probabilities of shape
`(batch, height, width, num_classes)`, the input's height and width: compile with
`loss="sparse_categorical_crossentropy"` and integer masks `(batch, height, width)`.

Transposed convolutions, by formula and by hand:

    transposed_conv_output_size(4, kernel_size=3, strides=2)         # 9 = (4 - 1) * 2 + 3, as Keras
    transposed_conv_by_hand(x, kernel, strides=2)                    # zero insertion, then convolution
    checkerboard_demo(kernel_size=3, strides=2)                      # uneven overlap -> checkerboard
"""

import keras
import numpy as np
from keras import layers

from course_lib._validation import (check_choice, check_input_shape, check_int, check_ints, check_num_classes,
                                    check_number, is_int)
from course_lib.data.scenes import check_segmentation_data
from course_lib.metrics.segmentation import mean_iou, per_class_iou, pixel_accuracy

UPSAMPLING_METHODS = ("transposed", "bilinear")
CHECKERBOARD_METHODS = ("transposed", "resize_conv")


def _check_divisible(input_shape, times, what, fix, received):
    factor = 2 ** times
    height, width = input_shape[:2]
    if height % factor or width % factor:
        fixed = tuple(-(-s // factor) * factor for s in (height, width))
        raise ValueError(
            f"{what} halves the image {times} times and doubles it back, so height and width "
            f"should be multiples of 2**{times} = {factor}. Resize or pad the images to "
            f"{fixed[0]}x{fixed[1]}, or use {fix}. Received: input_shape={input_shape!r}, {received}")


# --------------------------------------------------------------------------- transposed convolutions

def transposed_conv_output_size(input_size, kernel_size, strides=1, padding="valid", output_padding=None):
    """Output size of a transposed convolution along one axis, as `keras.layers.Conv2DTranspose` computes it.

    The lecture's formula, with `padding` zeros cropped from each side of the output:

        out = (in - 1) * strides - 2 * padding + kernel_size (+ output_padding)

    Keras' `padding="valid"` crops nothing: `(in - 1) * strides + kernel_size`, but never
    less than `in * strides` (when `kernel_size < strides`, Keras pads the output to
    that). `padding="same"` gives exactly `in * strides`, the inverse of a strided
    "same" convolution. An explicit `output_padding` (< strides) replaces those rules:
    `(in - 1) * strides + kernel_size + output_padding` for "valid",
    `(in - 1) * strides + kernel_size % 2 + output_padding` for "same".

    Args:
        input_size: int, the input's height or width.
        kernel_size: int.
        strides: int.
        padding: "valid", "same" (Keras), or an int >= 0 (the lecture's and PyTorch's P).
        output_padding: None, or an int >= 0 added to one side of the output.

    Returns:
        int, the output size.

    Raises:
        ValueError: an argument is out of range.

    Example:

    >>> transposed_conv_output_size(4, kernel_size=3, strides=2)                 # (4 - 1) * 2 + 3
    9
    >>> transposed_conv_output_size(4, kernel_size=3, strides=2, padding="same")
    8
    >>> transposed_conv_output_size(4, kernel_size=3, strides=2, padding=1)      # 9 - 2
    7
    """
    input_size = check_int(input_size, "input_size", example=4)
    kernel_size = check_int(kernel_size, "kernel_size", example=3)
    strides = check_int(strides, "strides", example=2)
    output_padding = check_int(output_padding, "output_padding", minimum=0, example=1, allow_none=True,
                               hint="Keras wants it smaller than strides.")
    if isinstance(padding, str) and padding.lower() in ("valid", "same"):
        if padding.lower() == "valid":
            extra = max(kernel_size, strides) - kernel_size if output_padding is None else output_padding
            return (input_size - 1) * strides + kernel_size + extra
        if output_padding is None:
            return input_size * strides
        return (input_size - 1) * strides + kernel_size % 2 + output_padding
    if not is_int(padding) or padding < 0:
        raise ValueError(f'padding should be "valid", "same" or an int >= 0 (zeros cropped from each '
                         f'side of the output). Received: padding={padding!r}')
    size = (input_size - 1) * strides - 2 * padding + kernel_size + (output_padding or 0)
    if size < 1:
        raise ValueError(f"padding={padding} crops more than the whole output "
                         f"({(input_size - 1) * strides + kernel_size} before cropping); use less padding. "
                         f"Received: input_size={input_size}, kernel_size={kernel_size}, strides={strides}")
    return size


def insert_zeros(x, strides=2):
    """Puts `strides - 1` zeros between neighbouring pixels of a 2-D array (the first step of a transposed convolution).

    Example:

    >>> insert_zeros(np.array([[1, 2], [3, 4]]), strides=2)
    array([[1, 0, 2],
           [0, 0, 0],
           [3, 0, 4]])
    """
    x = np.asarray(x)
    if x.ndim != 2:
        raise ValueError(f"x should be a 2-D array (height, width), one channel. Received: x.shape={x.shape}")
    strides = check_int(strides, "strides", example=2)
    out = np.zeros(((x.shape[0] - 1) * strides + 1, (x.shape[1] - 1) * strides + 1), dtype=x.dtype)
    out[::strides, ::strides] = x
    return out


def transposed_conv_by_hand(x, kernel, strides=2):
    """A transposed convolution in NumPy ("valid" padding, one channel): zero insertion, then convolution.

    1. insert `strides - 1` zeros between the input pixels (`insert_zeros`);
    2. pad `kernel_size - 1` zeros on every side;
    3. slide the kernel, **flipped** in both directions, over the result (stride 1).

    The same numbers as "stamping" a copy of the kernel, scaled by each input pixel,
    every `strides` pixels of the output and summing where the copies overlap. Equal to
    `keras.layers.Conv2DTranspose(1, kernel.shape, strides, padding="valid", use_bias=False)`
    with that kernel (checked in the tests), output size
    `transposed_conv_output_size(in, k, strides)`.

    Args:
        x: 2-D array `(height, width)`.
        kernel: 2-D array `(kernel_height, kernel_width)`.
        strides: int.

    Returns:
        float64 array `((height - 1) * strides + kernel_height, ...)`, padded with zeros to
        `height * strides` when the kernel is smaller than the stride (as Keras does).
    """
    x = np.asarray(x, dtype="float64")
    kernel = np.asarray(kernel, dtype="float64")
    if kernel.ndim != 2:
        raise ValueError(f"kernel should be a 2-D array (kernel_height, kernel_width). "
                         f"Received: kernel.shape={kernel.shape}")
    dilated = insert_zeros(x, strides)
    kh, kw = kernel.shape
    padded = np.pad(dilated, ((kh - 1, kh - 1), (kw - 1, kw - 1)))
    flipped = kernel[::-1, ::-1]
    out_h, out_w = padded.shape[0] - kh + 1, padded.shape[1] - kw + 1
    out = np.zeros((out_h, out_w))
    for i in range(kh):
        for j in range(kw):
            out += flipped[i, j] * padded[i:i + out_h, j:j + out_w]
    full = (transposed_conv_output_size(x.shape[0], kh, strides),
            transposed_conv_output_size(x.shape[1], kw, strides))
    return np.pad(out, ((0, full[0] - out_h), (0, full[1] - out_w)))


def checkerboard_demo(input_size=6, kernel_size=3, strides=2, method="transposed"):
    """Upsamples a constant image with all-ones weights and returns the result: where does it stay flat?

    - "transposed": `Conv2DTranspose(1, kernel_size, strides, padding="same")`. When
      `kernel_size` is not a multiple of `strides`, the stamped kernels overlap unevenly:
      some output pixels receive 4 contributions, others 2 or 1, a checkerboard that
      a trained network must learn to cancel (Odena et al., 2016, "Deconvolution and
      checkerboard artifacts").
    - "resize_conv": nearest-neighbour `UpSampling2D(strides)` then
      `Conv2D(1, kernel_size, padding="same")`: every interior pixel sums the same
      number of taps, so the output is flat (only the zero-padded border is darker).

    Args:
        input_size: int, height and width of the constant input.
        kernel_size: int.
        strides: int, the upsampling factor.
        method: "transposed" or "resize_conv".

    Returns:
        float64 array `(input_size * strides, input_size * strides)`.
    """
    input_size = check_int(input_size, "input_size", example=6)
    kernel_size = check_int(kernel_size, "kernel_size", example=3)
    strides = check_int(strides, "strides", example=2)
    check_choice(method, "method", CHECKERBOARD_METHODS)
    ones = keras.initializers.Ones()
    inputs = keras.Input((input_size, input_size, 1))
    if method == "transposed":
        outputs = layers.Conv2DTranspose(1, kernel_size, strides=strides, padding="same", use_bias=False,
                                         kernel_initializer=ones)(inputs)
    else:
        upsampled = layers.UpSampling2D(strides, interpolation="nearest")(inputs)
        outputs = layers.Conv2D(1, kernel_size, padding="same", use_bias=False,
                                kernel_initializer=ones)(upsampled)
    model = keras.Model(inputs, outputs)
    result = model.predict(np.ones((1, input_size, input_size, 1), "float32"), verbose=0)
    return np.asarray(result[0, ..., 0], dtype="float64")


def plot_checkerboard_demo(input_size=6, kernel_size=3, strides=2, axes=None):
    """Draws `checkerboard_demo` for both methods side by side, each pixel annotated with its value.

    Returns:
        The array of the two Axes.
    """
    import matplotlib.pyplot as plt
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(9, 4.4))
    axes = np.asarray(axes).reshape(-1)
    titles = {"transposed": f"Conv2DTranspose, kernel {kernel_size}, stride {strides}",
              "resize_conv": f"nearest upsampling x{strides} + Conv2D {kernel_size}x{kernel_size}"}
    for axis, method in zip(axes, CHECKERBOARD_METHODS):
        values = checkerboard_demo(input_size, kernel_size, strides, method)
        axis.imshow(values, cmap="viridis", vmin=0)
        if values.shape[0] <= 16:
            for (r, c), v in np.ndenumerate(values):
                axis.text(c, r, f"{v:.0f}", ha="center", va="center", fontsize=7, color="white")
        axis.set_title(titles[method], fontsize=9)
        axis.set_xlabel("output column")
        axis.set_ylabel("output row")
    return axes


def bilinear_upsampling_kernel(factor, channels):
    """The weights that make `Conv2DTranspose(channels, 2 * factor, factor, padding="same")` a bilinear upsampling.

    FCN initializes its upsampling layer this way (Long et al., 2015): each channel is
    upsampled on its own; training can then refine the kernel.

    Returns:
        float32 array `(2 * factor, 2 * factor, channels, channels)` (Keras' kernel layout).
    """
    factor = check_int(factor, "factor", example=8)
    channels = check_int(channels, "channels", example=5)
    size = 2 * factor
    center = factor - 0.5
    profile = 1 - np.abs(np.arange(size) - center) / factor
    kernel = np.zeros((size, size, channels, channels), dtype="float32")
    for c in range(channels):
        kernel[:, :, c, c] = np.outer(profile, profile)
    return kernel


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

def compile_segmentation_model(model, learning_rate=1e-3):
    """Compiles with Adam, per-pixel sparse cross-entropy, pixel accuracy and mean IoU.

    The loss averages the cross-entropy over every pixel of every image: a pixel is
    one classification example. "accuracy" is pixel accuracy; "mean_iou" is Keras'
    `MeanIoU` (argmax of the scores, accumulated over the epoch).

    Returns:
        The model (compiled in place).
    """
    check_number(learning_rate, "learning_rate", low=1e-12, high=10.0, example=1e-3)
    num_classes = int(model.output_shape[-1])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate),
                  loss="sparse_categorical_crossentropy",
                  metrics=["accuracy", keras.metrics.MeanIoU(num_classes, sparse_y_pred=False,
                                                             name="mean_iou")])
    return model


def fit_segmentation_model(model, images, masks, epochs=10, batch_size=32, validation_split=0.1,
                           cosine_decay=True, verbose=2):
    """Checks images and masks against the model, then trains it; returns the `History`.

    Holds out the last `validation_split` of the data for validation (Keras shuffles the
    training part at every epoch). With `cosine_decay`, the learning rate falls from its
    compiled value to 5 % of it along a half cosine over the `epochs`: large steps first,
    then small ones that let the last epochs settle instead of bouncing around (short
    runs end much less noisily).

    Args:
        model: a compiled segmentation model (`compile_segmentation_model`).
        images: `(n, height, width, channels)` pixels in [0, 255], the model's input size.
        masks: `(n, height, width)` integer class ids in [0, num_classes).
        epochs, batch_size, validation_split, verbose: as in `model.fit`.
        cosine_decay: bool, decay the learning rate over the epochs.

    Returns:
        The `keras.callbacks.History`.

    Raises:
        ValueError: image/mask count or size mismatch, labels outside the model's classes,
            images whose size the model does not take.
    """
    num_classes = int(model.output_shape[-1])
    images, masks = check_segmentation_data(images, masks, num_classes)
    expected = tuple(model.input_shape[1:])
    if tuple(images.shape[1:]) != tuple(s if s is not None else images.shape[1 + i]
                                        for i, s in enumerate(expected)):
        raise ValueError(f"The model takes images of shape {expected}, but images have shape "
                         f"{images.shape[1:]}; build the model with input_shape={images.shape[1:]} "
                         f"or resize the images.")
    epochs = check_int(epochs, "epochs", example=10)
    batch_size = check_int(batch_size, "batch_size", example=32)
    callbacks = []
    if cosine_decay:
        initial = float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))

        def schedule(epoch, learning_rate):
            return initial * (0.05 + 0.95 * 0.5 * (1 + np.cos(np.pi * epoch / epochs)))

        callbacks.append(keras.callbacks.LearningRateScheduler(schedule))
    return model.fit(images, masks, epochs=epochs, batch_size=batch_size,
                     validation_split=validation_split, callbacks=callbacks, verbose=verbose)


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


# --------------------------------------------------------------------------- instance segmentation (Mask R-CNN's mask head)

#: Mask R-CNN predicts each object's mask on a 28x28 grid over its box.
MASK_SIZE = (28, 28)


def make_mask_targets(images, instance_maps, boxes, labels, crop_size=MASK_SIZE):
    """Mask R-CNN's mask-head examples: each object's RoIAlign crop and its binary mask over the box.

    Args:
        images: `(n, height, width, channels)` scenes.
        instance_maps: `(n, height, width)` from `make_instance_maps` (object j of image i
            has value j + 1).
        boxes: list of `(m_i, 4)` "xyxy" boxes per image (`scenes.boxes`).
        labels: list of `(m_i,)` class ids 1..K per image (`scenes.labels`).
        crop_size: the mask grid.

    Returns:
        A dict: "crops" float32 `(objects, crop_h, crop_w, channels)` (the image sampled over
        each box, RoIAlign with one sample per cell), "class_id" int64 `(objects,)`, "masks"
        float32 `(objects, crop_h, crop_w)` in {0, 1} (the object's own pixels, not those of
        another object in its box), and "image_index" int64 `(objects,)`.
    """
    from course_lib.models.rcnn import crop_regions
    images = np.asarray(images)
    instance_maps = np.asarray(instance_maps)
    if instance_maps.shape != images.shape[:3]:
        raise ValueError(f"instance_maps should have the images' (n, height, width) = {images.shape[:3]}. "
                         f"Received: instance_maps.shape={instance_maps.shape}; make them with "
                         f"make_instance_maps(...) with the arguments of make_fashion_scenes(...)")
    counts = [len(b) for b in boxes]
    flat_boxes = np.concatenate([np.asarray(b, dtype="float32").reshape(-1, 4) for b in boxes])
    image_index = np.repeat(np.arange(len(counts)), counts)
    number = np.concatenate([np.arange(1, c + 1) for c in counts])
    crops = crop_regions(images.astype("float32"), flat_boxes, crop_size, image_index)
    own = (instance_maps[image_index] == number[:, None, None]).astype("float32")[..., None]
    masks = crop_regions(own, flat_boxes, crop_size, np.arange(len(own)))[..., 0]
    return {"crops": crops, "class_id": np.concatenate([np.asarray(l) for l in labels]).astype("int64"),
            "masks": (masks >= 0.5).astype("float32"), "image_index": image_index.astype("int64")}


def _select_class_mask_layer():
    class SelectClassMask(layers.Layer):
        """Keeps, of the K per-class masks, the one of each object's class (ids 1..K)."""

        def call(self, masks, class_id):
            one_hot = keras.ops.one_hot(keras.ops.cast(keras.ops.reshape(class_id, (-1,)), "int32") - 1,
                                        keras.ops.shape(masks)[-1])
            return keras.ops.sum(masks * one_hot[:, None, None, :], axis=-1)

    return SelectClassMask


def build_mask_head(input_shape=(28, 28, 1), num_classes=4, filters=(16, 32)):
    """A Mask R-CNN style mask head: a small FCN on one object's crop, one mask per class.

    Conv 3x3 blocks with a 2x2 pooling (28 -> 14), a `Conv2DTranspose(k=2, s=2)` back
    to 28, then a 1x1 convolution with `num_classes` sigmoid outputs: a binary mask per
    class, as in Mask R-CNN. Only the mask of the object's class is kept (given as the
    second input, "class_id", 1..K: the ground truth in training, the detector's class at
    test time), so classes do not compete for pixels; the loss is the per-pixel binary
    cross-entropy of that one mask.

    Returns:
        An uncompiled `keras.Model` with inputs {"crops": (batch, h, w, c), "class_id": (batch,)}
        and output `(batch, h, w)`, the probability that each cell of the box is the object.
    """
    check_num_classes(num_classes, example=5)
    filters = check_ints(filters, "filters", example=(16, 32, 64))
    crops = keras.Input(tuple(input_shape), name="crops")
    class_id = keras.Input((), dtype="int32", name="class_id")
    scaled = layers.Rescaling(1.0 / 255, name="rescaling")(crops)
    x = layers.Conv2D(filters[0], 3, padding="same", activation="relu", name="mask_conv1")(scaled)
    x = layers.MaxPooling2D(2, name="mask_pool")(x)
    for i, f in enumerate(filters[1:], start=2):
        x = layers.Conv2D(f, 3, padding="same", activation="relu", name=f"mask_conv{i}")(x)
    x = layers.Conv2DTranspose(filters[-1], 2, strides=2, activation="relu", name="mask_up")(x)
    x = layers.Concatenate(name="mask_skip")([x, scaled])
    x = layers.Conv2D(filters[0], 3, padding="same", activation="relu", name="mask_conv_out")(x)
    masks = layers.Conv2D(num_classes, 1, activation="sigmoid", name="class_masks", dtype="float32")(x)
    selected = _select_class_mask_layer()(name="mask")(masks, class_id)
    return keras.Model({"crops": crops, "class_id": class_id}, selected, name="mask_head")


def paste_masks(mask_probabilities, boxes, image_size, threshold=0.5):
    """Puts each box's mask back into the image: resize it to the box, threshold, paste.

    Args:
        mask_probabilities: `(objects, h, w)` probabilities over each box.
        boxes: `(objects, 4)` "xyxy" boxes in pixels (rounded to whole pixels here).
        image_size: `(height, width)` of the image.
        threshold: a pixel belongs to the object when its probability is at least this.

    Returns:
        bool array `(objects, height, width)`: each object's mask in the image.
    """
    mask_probabilities = np.asarray(mask_probabilities, dtype="float32")
    boxes = np.round(np.asarray(boxes, dtype="float64").reshape(-1, 4)).astype(int)
    if len(boxes) != len(mask_probabilities):
        raise ValueError(f"paste_masks needs one box per mask. Received: {len(mask_probabilities)} masks and "
                         f"{len(boxes)} boxes")
    height, width = image_size
    pasted = np.zeros((len(boxes), height, width), dtype=bool)
    for k, ((x1, y1, x2, y2), mask) in enumerate(zip(boxes, mask_probabilities)):
        x1, y1, x2, y2 = max(x1, 0), max(y1, 0), min(x2, width), min(y2, height)
        if x2 <= x1 or y2 <= y1:
            continue
        resized = keras.ops.convert_to_numpy(keras.ops.image.resize(mask[None, :, :, None], (y2 - y1, x2 - x1),
                                                                    interpolation="bilinear"))[0, ..., 0]
        pasted[k, y1:y2, x1:x2] = resized >= threshold
    return pasted


def instance_mask_iou(predicted, instance_maps, image_index):
    """IoU of each predicted object mask with its true one (object j of image i: value j + 1).

    Args:
        predicted: bool `(objects, height, width)` from `paste_masks`, objects in the order
            of `make_mask_targets` (image by image, object by object).
        instance_maps: `(n, height, width)` from `make_instance_maps`.
        image_index: `(objects,)` the image of each object (`make_mask_targets(...)["image_index"]`).

    Returns:
        float64 `(objects,)`.
    """
    image_index = np.asarray(image_index)
    number = np.zeros(len(image_index), dtype=int)
    for i in np.unique(image_index):
        where = np.flatnonzero(image_index == i)
        number[where] = np.arange(1, len(where) + 1)
    truth = np.asarray(instance_maps)[image_index] == number[:, None, None]
    predicted = np.asarray(predicted, dtype=bool)
    intersection = (truth & predicted).sum(axis=(1, 2))
    union = (truth | predicted).sum(axis=(1, 2))
    return np.where(union > 0, intersection / np.maximum(union, 1), 1.0)


__all__ = ["transposed_conv_output_size", "insert_zeros", "transposed_conv_by_hand", "checkerboard_demo",
           "plot_checkerboard_demo", "bilinear_upsampling_kernel", "build_fcn", "build_unet",
           "compile_segmentation_model", "fit_segmentation_model", "predict_masks", "segmentation_scores",
           "format_scores_table", "dense_as_convolution", "MASK_SIZE", "make_mask_targets",
           "build_mask_head", "paste_masks", "instance_mask_iou"]
