"""The reference modules of the lecture, each a small function of the functional API.

Each block takes a tensor and returns a tensor, so blocks stack like layers:

    inputs = keras.Input((28, 28, 1))
    x = vgg_block(inputs, filters=32, num_convs=2)      # 14 x 14 x 32
    x = residual_block(x, filters=32)                     # 14 x 14 x 32
    x = inception_block(x, 16, 16, 32, 8, 8, 8)           # 14 x 14 x 64
    x = dense_block(x, num_layers=3, growth_rate=12)      # 14 x 14 x 100

- VGG (Simonyan & Zisserman, 2014): stacks of 3x3 convolutions, then 2x2 max pooling.
- ResNet (He et al., 2015): y = relu(F(x) + x); the shortcut lets a deep net
  start as (nearly) the identity, so adding layers cannot make training worse.
- Inception / GoogLeNet (Szegedy et al., 2014): 1x1, 3x3, 5x5 convolutions and
  pooling side by side, concatenated; 1x1 "bottleneck" convolutions keep it cheap.
- DenseNet (Huang et al., 2016): every layer receives the concatenation of all
  earlier feature maps of the block and adds `growth_rate` new channels.
"""

from keras import layers

from course_lib._validation import check_int


def _prefix(name, suffix):
    return None if name is None else f"{name}_{suffix}"


def vgg_block(x, filters, num_convs=2, batch_norm=False, name=None):
    """A VGG block: `num_convs` 3x3 convolutions ("same" padding, ReLU), then 2x2 max pooling.

    Shapes: (batch, H, W, C) -> (batch, H // 2, W // 2, filters).
    Parameters: 9 * C * filters + filters for the first convolution,
    9 * filters * filters + filters for each further one
    (plus 4 * filters per batch-norm layer, half of them trainable).

    Args:
        x: a 4D tensor of the functional API (batch, height, width, channels).
        filters: int, number of filters of every convolution in the block.
        num_convs: int, number of convolutions before the pooling (2 or 3 in VGG-16).
        batch_norm: bool, insert BatchNormalization between each convolution and its
            ReLU (the convolution then drops its bias, which batch norm makes redundant).
        name: optional prefix for the layer names, e.g. "block1" gives
            "block1_conv1", ..., "block1_pool" as in `keras.applications.VGG16`.

    Returns:
        The output tensor of the pooling layer.
    """
    filters = check_int(filters, "filters", example=64)
    num_convs = check_int(num_convs, "num_convs", example=2)
    for i in range(1, num_convs + 1):
        if batch_norm:
            x = layers.Conv2D(filters, 3, padding="same", use_bias=False,
                              name=_prefix(name, f"conv{i}"))(x)
            x = layers.BatchNormalization(name=_prefix(name, f"bn{i}"))(x)
            x = layers.Activation("relu", name=_prefix(name, f"relu{i}"))(x)
        else:
            x = layers.Conv2D(filters, 3, padding="same", activation="relu",
                              name=_prefix(name, f"conv{i}"))(x)
    return layers.MaxPooling2D(2, strides=2, name=_prefix(name, "pool"))(x)


def residual_block(x, filters, strides=1, batch_norm=True, name=None):
    """A basic ResNet block: relu(F(x) + shortcut(x)) with F = conv3x3-relu-conv3x3.

    The shortcut is the identity when the shape does not change; otherwise
    (strides > 1 or a different number of channels) it is a 1x1 convolution
    with the same strides ("projection shortcut", option B of the paper).

    Shapes: (batch, H, W, C) -> (batch, ceil(H / strides), ceil(W / strides), filters).
    Parameters with batch_norm=False and the identity shortcut:
    2 * (9 * filters * filters + filters).

    Args:
        x: a 4D tensor (batch, height, width, channels).
        filters: int, channels of both convolutions and of the output.
        strides: int, stride of the first convolution (2 halves height and width).
        batch_norm: bool, batch normalization after each convolution, as in the paper.
        name: optional prefix for the layer names.

    Returns:
        The output tensor.
    """
    filters = check_int(filters, "filters", example=64)
    strides = check_int(strides, "strides", example=1)
    shortcut = x
    use_bias = not batch_norm
    y = layers.Conv2D(filters, 3, strides=strides, padding="same", use_bias=use_bias,
                      name=_prefix(name, "conv1"))(x)
    if batch_norm:
        y = layers.BatchNormalization(name=_prefix(name, "bn1"))(y)
    y = layers.Activation("relu", name=_prefix(name, "relu1"))(y)
    y = layers.Conv2D(filters, 3, padding="same", use_bias=use_bias,
                      name=_prefix(name, "conv2"))(y)
    if batch_norm:
        y = layers.BatchNormalization(name=_prefix(name, "bn2"))(y)
    if strides != 1 or x.shape[-1] != filters:
        shortcut = layers.Conv2D(filters, 1, strides=strides, use_bias=use_bias,
                                 name=_prefix(name, "shortcut"))(x)
        if batch_norm:
            shortcut = layers.BatchNormalization(name=_prefix(name, "shortcut_bn"))(shortcut)
    y = layers.Add(name=_prefix(name, "add"))([y, shortcut])
    return layers.Activation("relu", name=_prefix(name, "out"))(y)


def inception_block(x, filters_1x1, filters_3x3_reduce, filters_3x3,
                    filters_5x5_reduce, filters_5x5, filters_pool_proj, name=None):
    """A GoogLeNet inception module (the version with 1x1 dimension reductions).

    Four branches on the same input, concatenated along channels:
    1x1 conv; 1x1 reduce -> 3x3 conv; 1x1 reduce -> 5x5 conv;
    3x3 max pooling (stride 1) -> 1x1 projection. All use ReLU and "same" padding.

    Shapes: (batch, H, W, C) -> (batch, H, W, filters_1x1 + filters_3x3 + filters_5x5
    + filters_pool_proj). GoogLeNet's "inception (3a)" on 28x28x192 is
    `inception_block(x, 64, 96, 128, 16, 32, 32)` -> 28x28x256, 163,696 parameters.

    Args:
        x: a 4D tensor (batch, height, width, channels).
        filters_1x1 ... filters_pool_proj: ints, output channels of each convolution,
            named as in Table 1 of the GoogLeNet paper.
        name: optional prefix for the layer names.

    Returns:
        The concatenated output tensor.
    """
    for value, arg in ((filters_1x1, "filters_1x1"), (filters_3x3_reduce, "filters_3x3_reduce"),
                       (filters_3x3, "filters_3x3"), (filters_5x5_reduce, "filters_5x5_reduce"),
                       (filters_5x5, "filters_5x5"), (filters_pool_proj, "filters_pool_proj")):
        check_int(value, arg, example=32)

    def conv(t, filters, size, suffix):
        return layers.Conv2D(filters, size, padding="same", activation="relu",
                             name=_prefix(name, suffix))(t)

    branch1 = conv(x, filters_1x1, 1, "1x1")
    branch3 = conv(conv(x, filters_3x3_reduce, 1, "3x3_reduce"), filters_3x3, 3, "3x3")
    branch5 = conv(conv(x, filters_5x5_reduce, 1, "5x5_reduce"), filters_5x5, 5, "5x5")
    pooled = layers.MaxPooling2D(3, strides=1, padding="same", name=_prefix(name, "pool"))(x)
    branch_pool = conv(pooled, filters_pool_proj, 1, "pool_proj")
    return layers.Concatenate(axis=-1, name=_prefix(name, "concat"))(
        [branch1, branch3, branch5, branch_pool])


def dense_block(x, num_layers, growth_rate=12, batch_norm=True, name=None):
    """A DenseNet block: each layer sees all earlier feature maps of the block.

    Each of the `num_layers` layers is BN-ReLU-conv3x3 (`growth_rate` filters,
    no bias) applied to the concatenation of the block input and all earlier
    layer outputs; its output is concatenated in turn.

    Shapes: (batch, H, W, C) -> (batch, H, W, C + num_layers * growth_rate).
    Parameters with batch_norm=False: sum over i of 9 * (C + i * growth_rate) * growth_rate.

    Args:
        x: a 4D tensor (batch, height, width, channels).
        num_layers: int, number of conv layers in the block.
        growth_rate: int, channels each layer adds (k in the paper).
        batch_norm: bool, BatchNormalization before each ReLU, as in the paper.
        name: optional prefix for the layer names.

    Returns:
        The output tensor.
    """
    num_layers = check_int(num_layers, "num_layers", example=4)
    growth_rate = check_int(growth_rate, "growth_rate", example=12)
    for i in range(1, num_layers + 1):
        y = x
        if batch_norm:
            y = layers.BatchNormalization(name=_prefix(name, f"bn{i}"))(y)
        y = layers.Activation("relu", name=_prefix(name, f"relu{i}"))(y)
        y = layers.Conv2D(growth_rate, 3, padding="same", use_bias=False,
                          name=_prefix(name, f"conv{i}"))(y)
        x = layers.Concatenate(axis=-1, name=_prefix(name, f"concat{i}"))([x, y])
    return x


__all__ = ["vgg_block", "residual_block", "inception_block", "dense_block"]
