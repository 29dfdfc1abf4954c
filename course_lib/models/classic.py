"""Classic CNN builders: the lab's toy CNN, VGG-16, and plain vs residual deep nets.

    model = build_toy_cnn()                       # conv-relu-pool x 2, dense, softmax
    vgg = build_vgg16()                           # 138,357,544 parameters, no download
    plain = build_plain_net(depth=20)             # the ResNet paper's "plain" baseline
    resnet = build_residual_net(depth=20)         # same layers plus shortcuts

Every model takes raw pixels in [0, 255] (uint8 arrays or `load_image_folder`'s
float32 batches) and rescales them to [0, 1] in its first layer, except
`build_vgg16`, which mirrors the lecture's table (input 224x224x3, no rescaling).
Outputs are softmax probabilities: compile with
`loss="sparse_categorical_crossentropy"`.
"""

import keras
from keras import layers

from course_lib._validation import (check_input_shape, check_int, check_ints, check_num_classes,
                                    check_number, is_int)
from course_lib.models.blocks import residual_block, vgg_block


def _check_halvings(input_shape, halvings, who, fix=""):
    """Each pooling halves height and width: they must stay at least 1 after `halvings` of them."""
    smallest = 2 ** halvings
    if min(input_shape[:2]) < smallest:
        raise ValueError(f"{who} the image {halvings} times, so height and width should be at "
                         f"least {smallest}.{fix} Received: input_shape={input_shape!r}")


def build_toy_cnn(input_shape=(28, 28, 1), num_classes=10, filters=(32, 64), dropout_rate=0.5,
                  batch_norm=False, convs_per_block=1, dense_units=128, block_dropout_rate=0.0):
    """Builds the lab's toy CNN: [conv3x3-(BN)-ReLU] x convs_per_block + 2x2 max pool per entry of `filters`, then dense layers.

    With the defaults on 28x28x1 inputs (the lab computes these by hand):

        rescaling   28x28x1      0 parameters
        conv_1      28x28x32     3*3*1*32 + 32   =     320
        pool_1      14x14x32     0
        conv_2      14x14x64     3*3*32*64 + 64  =  18,496
        pool_2       7x7x64      0
        flatten     3136         0
        dense       128          3136*128 + 128  = 401,536
        dropout     128          0
        predictions 10           128*10 + 10     =   1,290   total 421,642

    Args:
        input_shape: (height, width, channels) of one image.
        num_classes: int, units of the softmax output.
        filters: tuple of ints, filters of each block; each block halves height and width.
        dropout_rate: float in [0, 1), dropout before the output layer (0 disables it).
        batch_norm: bool, BatchNormalization after each convolution (before ReLU);
            convolutions then drop their (redundant) bias.
        convs_per_block: int, convolutions before each pooling (2 gives VGG-style blocks).
        dense_units: int, units of the hidden dense layer (0 removes it).
        block_dropout_rate: float in [0, 1), dropout after each pooling layer
            (0, the default, adds none).

    Returns:
        An uncompiled `keras.Model` named "toy_cnn", input uint8 or float pixels in
        [0, 255], output softmax probabilities of shape (batch, num_classes).

    Raises:
        ValueError: an argument is out of range, or the input is too small for
            the number of pooling steps.

    Example:

    >>> model = build_toy_cnn()
    >>> model.count_params()
    421642
    """
    input_shape = check_input_shape(input_shape)
    num_classes = check_num_classes(num_classes)
    filters = check_ints(filters, "filters", example=(32, 64))
    convs_per_block = check_int(convs_per_block, "convs_per_block", example=2)
    dense_units = check_int(dense_units, "dense_units", minimum=0, example=128)
    check_number(dropout_rate, "dropout_rate", example=0.5, include_high=False)
    check_number(block_dropout_rate, "block_dropout_rate", example=0.25, include_high=False)
    _check_halvings(input_shape, len(filters), f"{len(filters)} blocks halve",
                    f" Use fewer filters entries or larger images (filters={filters}).")

    inputs = keras.Input(input_shape, name="image")
    x = layers.Rescaling(1.0 / 255, name="rescaling")(inputs)
    for block, num_filters in enumerate(filters, start=1):
        for i in range(1, convs_per_block + 1):
            suffix = f"{block}" if convs_per_block == 1 else f"{block}_{i}"
            x = layers.Conv2D(num_filters, 3, padding="same", use_bias=not batch_norm,
                              activation=None if batch_norm else "relu", name=f"conv_{suffix}")(x)
            if batch_norm:
                x = layers.BatchNormalization(name=f"bn_{suffix}")(x)
                x = layers.Activation("relu", name=f"relu_{suffix}")(x)
        x = layers.MaxPooling2D(2, name=f"pool_{block}")(x)
        if block_dropout_rate:
            x = layers.Dropout(block_dropout_rate, name=f"dropout_{block}")(x)
    x = layers.Flatten(name="flatten")(x)
    if dense_units:
        x = layers.Dense(dense_units, use_bias=not batch_norm,
                         activation=None if batch_norm else "relu", name="dense")(x)
        if batch_norm:
            x = layers.BatchNormalization(name="bn_dense")(x)
            x = layers.Activation("relu", name="relu_dense")(x)
    if dropout_rate:
        x = layers.Dropout(dropout_rate, name="dropout")(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs, name="toy_cnn")


def build_vgg16(input_shape=(224, 224, 3), num_classes=1000, batch_norm=False):
    """Builds VGG-16 (configuration D of Simonyan & Zisserman) with random weights.

    Same layers and names as `keras.applications.VGG16(weights=None)`: five VGG
    blocks (2, 2, 3, 3, 3 convolutions with 64, 128, 256, 512, 512 filters), then
    fc1 (4096), fc2 (4096) and the softmax (num_classes). At 224x224x3 with 1000
    classes it has 138,357,544 parameters; `layer_table` lists where they are.
    No download: use it to count, not to classify.

    Args:
        input_shape: (height, width, channels); at least 32x32.
        num_classes: int, units of the output layer.
        batch_norm: bool, VGG-16-BN variant (batch norm after each convolution).

    Returns:
        An uncompiled `keras.Model` named "vgg16".
    """
    input_shape = check_input_shape(input_shape, example=(224, 224, 3))
    num_classes = check_num_classes(num_classes, example=1000)
    _check_halvings(input_shape, 5, "VGG-16 halves")
    inputs = keras.Input(input_shape, name="input")
    x = inputs
    for block, (num_filters, num_convs) in enumerate(
            ((64, 2), (128, 2), (256, 3), (512, 3), (512, 3)), start=1):
        x = vgg_block(x, num_filters, num_convs=num_convs, batch_norm=batch_norm, name=f"block{block}")
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(4096, activation="relu", name="fc1")(x)
    x = layers.Dense(4096, activation="relu", name="fc2")(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs, name="vgg16")


def _deep_net(input_shape, num_classes, depth, filters, batch_norm, residual, name):
    input_shape = check_input_shape(input_shape)
    num_classes = check_num_classes(num_classes)
    filters = check_int(filters, "filters", example=16, hint="It counts the channels of the first stage.")
    if not is_int(depth) or depth < 8 or (depth - 2) % 6:
        raise ValueError("depth counts the weighted layers as in the ResNet paper and should be 6n + 2 "
                         f"(8, 14, 20, 32, 44, 56, ...). Received: depth={depth!r}")
    blocks_per_stage = (depth - 2) // 6
    inputs = keras.Input(input_shape, name="image")
    x = layers.Rescaling(1.0 / 255, name="rescaling")(inputs)
    x = layers.Conv2D(filters, 3, padding="same", use_bias=not batch_norm, name="stem_conv")(x)
    if batch_norm:
        x = layers.BatchNormalization(name="stem_bn")(x)
    x = layers.Activation("relu", name="stem_relu")(x)
    for stage in range(3):
        stage_filters = filters * 2 ** stage
        for block in range(blocks_per_stage):
            strides = 2 if stage > 0 and block == 0 else 1
            prefix = f"stage{stage + 1}_block{block + 1}"
            if residual:
                x = residual_block(x, stage_filters, strides=strides, batch_norm=batch_norm, name=prefix)
            else:
                for i, s in ((1, strides), (2, 1)):
                    x = layers.Conv2D(stage_filters, 3, strides=s, padding="same",
                                      use_bias=not batch_norm, name=f"{prefix}_conv{i}")(x)
                    if batch_norm:
                        x = layers.BatchNormalization(name=f"{prefix}_bn{i}")(x)
                    x = layers.Activation("relu", name=f"{prefix}_relu{i}")(x)
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="predictions")(x)
    model = keras.Model(inputs, outputs, name=name)
    for layer in model.layers:
        if isinstance(layer, layers.BatchNormalization):
            # Keras' default 0.99 needs a few hundred steps before the moving statistics used
            # for evaluation settle; the lab trains these nets for a few hundred steps only.
            layer.momentum = 0.9
    return model


def build_plain_net(input_shape=(28, 28, 1), num_classes=10, depth=20, filters=16, batch_norm=True):
    """Builds the ResNet paper's "plain" network: the residual net without shortcuts.

    `depth` weighted layers (6n + 2): a 3x3 stem convolution, three stages of 2n
    3x3 convolutions with `filters`, 2x`filters`, 4x`filters` channels (the
    first convolution of stages 2 and 3 has stride 2), global average pooling
    and a softmax layer. This is the CIFAR-10 design of section 4.2 of
    He et al. (2015), where plain nets train worse as they get deeper.

    Args:
        input_shape: (height, width, channels), at least 4x4.
        num_classes: int, units of the output layer.
        depth: int, 6n + 2 weighted layers: 8, 14, 20, 32, 44, 56, ...
        filters: int, channels of the first stage.
        batch_norm: bool, batch normalization after each convolution (as in the paper).

    Returns:
        An uncompiled `keras.Model` named "plain_<depth>".
    """
    return _deep_net(input_shape, num_classes, depth, filters, batch_norm, False, f"plain_{depth}")


def build_residual_net(input_shape=(28, 28, 1), num_classes=10, depth=20, filters=16, batch_norm=True):
    """Builds the ResNet paper's CIFAR residual network: `build_plain_net` plus shortcuts.

    Same layers as `build_plain_net(depth=...)`, with each pair of 3x3
    convolutions wrapped in a `residual_block`: identity shortcuts, and 1x1
    projection shortcuts where the stage changes the size (two extra 1x1
    convolutions in all, not counted in `depth`).

    Args:
        input_shape, num_classes, depth, filters, batch_norm: as in `build_plain_net`.

    Returns:
        An uncompiled `keras.Model` named "resnet_<depth>".
    """
    return _deep_net(input_shape, num_classes, depth, filters, batch_norm, True, f"resnet_{depth}")


# The lab's Fashion-MNIST model and training recipe in full mode; bench/bench_cnn.py measures it
# (bench/results_cnn.md: test accuracy 0.9336 in 12 epochs; 0.9286 without the block dropout).
# Two 3x3 convolutions per block with batch norm (the benchmark table's "0.934 with batch norm" row,
# VGG style), dropout after each block against overfitting, and a step decay of the learning rate.
LAB_CNN = dict(input_shape=(28, 28, 1), num_classes=10, filters=(32, 64), dropout_rate=0.4,
               batch_norm=True, convs_per_block=2, dense_units=128, block_dropout_rate=0.25)
LAB_RECIPE = dict(epochs=12, batch_size=128, learning_rate=1e-3, drop=0.3, epochs_per_drop=5)
