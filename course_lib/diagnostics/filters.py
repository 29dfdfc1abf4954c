"""What a CNN looks at: convolution by hand, first-layer filters, feature maps.

    KERNELS["vertical_edge"]                       # the lecture's 3x3 kernels
    correlate2d(image, KERNELS["box_blur"])        # NumPy, "same" size output, as Conv2D computes it
    plot_kernel_results(image); plt.show()         # all lecture kernels on one photo
    plot_filters(model); plt.show()                # first conv layer's kernels
    plot_feature_maps(model, image, "conv_2")      # what one layer outputs for one image
"""

import numpy as np

from course_lib.scratch.conv import correlate2d

#: The lecture's 3x3 kernels, written for cross-correlation (`correlate2d`), which is what
#: `keras.layers.Conv2D` computes: "shift" moves the picture one pixel to the left,
#: out[i, j] = image[i, j + 1]. `convolve2d` flips the kernel first, so there the same
#: "shift" kernel moves the picture to the right.
KERNELS = {
    "identity": np.array([[0, 0, 0], [0, 1, 0], [0, 0, 0]], dtype="float64"),
    "shift": np.array([[0, 0, 0], [0, 0, 1], [0, 0, 0]], dtype="float64"),
    "box_blur": np.full((3, 3), 1.0 / 9.0),
    "sharpen": np.array([[0, 0, 0], [0, 2, 0], [0, 0, 0]], dtype="float64") - np.full((3, 3), 1.0 / 9.0),
    "vertical_edge": np.array([[1, 0, -1], [2, 0, -2], [1, 0, -1]], dtype="float64"),
}


def plot_kernel_results(image, kernels=None, ax=None):
    """Shows `image` filtered by each kernel (by default the lecture's five) as Conv2D does, side by side.

    Each panel is `correlate2d(image, kernel)`: cross-correlation, no flip.

    Args:
        image: 2D grayscale array.
        kernels: dict name -> 2D kernel; None uses `KERNELS`.
        ax: sequence of len(kernels) Axes, or None for a new figure.

    Returns:
        The list of Axes.
    """
    kernels = KERNELS if kernels is None else kernels
    if not isinstance(kernels, dict) or not kernels:
        raise ValueError(f"kernels should be a non-empty dict name -> 2D array, e.g. KERNELS. "
                         f"Received: kernels of type {type(kernels).__name__}")
    import matplotlib.pyplot as plt
    if ax is None:
        _, axes = plt.subplots(1, len(kernels), figsize=(2.4 * len(kernels), 2.8), squeeze=False)
        axes = list(axes[0])
    else:
        axes = list(np.ravel(ax))
        if len(axes) != len(kernels):
            raise ValueError(f"ax should hold one Axes per kernel ({len(kernels)}). Received: {len(axes)} Axes")
    for axis, (name, kernel) in zip(axes, kernels.items()):
        result = correlate2d(image, kernel)
        if name == "vertical_edge" or result.min() < -1e-9:
            axis.imshow(np.abs(result), cmap="gray")  # edges: magnitude of the response
        else:
            axis.imshow(np.clip(result, 0, 255), cmap="gray", vmin=0, vmax=255)
        axis.set_title(name.replace("_", " "), fontsize="small")
        axis.axis("off")
    return axes


def _conv_layers(model):
    import keras
    return [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]


def plot_filters(model, layer_name=None, max_filters=32, ax=None):
    """Draws the kernels of a conv layer (default: the first), one small image per filter.

    Kernels with 3 input channels are drawn in colour; otherwise the mean over
    input channels is drawn in grayscale. Each kernel is rescaled to [0, 1] on
    its own.

    Args:
        model: a Keras model with at least one Conv2D layer.
        layer_name: name of a Conv2D layer, or None for the first one.
        max_filters: int, how many filters to draw at most.
        ax: sequence of at least min(filters, max_filters) Axes, or None.

    Returns:
        The list of Axes used.

    Raises:
        ValueError: the model has no such Conv2D layer.
    """
    layer = _find_conv(model, layer_name)
    kernel = np.asarray(layer.kernel)  # (kh, kw, in, out)
    count = min(kernel.shape[-1], max_filters)
    axes = _grid(count, ax, size=1.0)
    for i, axis in enumerate(axes):
        k = kernel[..., i]
        k = k if k.shape[-1] == 3 else k.mean(axis=-1)
        k = (k - k.min()) / (k.max() - k.min() + 1e-12)
        axis.imshow(k, cmap=None if k.ndim == 3 else "gray", interpolation="nearest")
        axis.set_title(str(i), fontsize="x-small")
        axis.axis("off")
    if axes:
        axes[0].figure.suptitle(f"{layer.name}: {count} of {kernel.shape[-1]} filters "
                                f"({kernel.shape[0]}x{kernel.shape[1]}x{kernel.shape[2]})", fontsize="small")
    return axes


def _find_conv(model, layer_name):
    convs = _conv_layers(model)
    if not convs:
        raise ValueError(f"model {model.name!r} has no Conv2D layer. Received: layers "
                         f"{[layer.name for layer in model.layers]}")
    if layer_name is None:
        return convs[0]
    for layer in convs:
        if layer.name == layer_name:
            return layer
    raise ValueError(f"No Conv2D layer named {layer_name!r}. Conv2D layers: "
                     f"{[layer.name for layer in convs]}. Received: layer_name={layer_name!r}")


def _grid(count, ax, size):
    import matplotlib.pyplot as plt
    if ax is not None:
        axes = list(np.ravel(ax))
        if len(axes) < count:
            raise ValueError(f"ax should hold at least {count} Axes. Received: {len(axes)} Axes")
        return axes[:count]
    columns = min(8, count)
    rows = -(-count // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(size * columns + 0.4, size * rows + 0.6),
                             squeeze=False)
    axes = list(axes.ravel())
    for extra in axes[count:]:
        extra.axis("off")
    return axes[:count]


def get_feature_maps(model, image, layer_name):
    """Returns the output of layer `layer_name` for one image, shape (height, width, channels).

    Raises:
        ValueError: no layer of that name, or `image` does not match the model input.
    """
    import keras
    names = [layer.name for layer in model.layers]
    if layer_name not in names:
        raise ValueError(f"No layer named {layer_name!r}. Layers: {names}. Received: layer_name={layer_name!r}")
    image = np.asarray(image)
    received = image.shape
    expected = tuple(model.inputs[0].shape[1:])
    if image.ndim == len(expected) - 1 and expected[-1] == 1:
        image = image[..., None]
    if image.shape != expected:
        raise ValueError(f"image should have the model's input shape {expected} (one image, no batch "
                         f"dimension). Received: image of shape {received}")
    probe = keras.Model(model.inputs[0], model.get_layer(layer_name).output)
    return np.asarray(probe(image[None].astype("float32"), training=False))[0]


def plot_feature_maps(model, image, layer_name, max_maps=16, ax=None):
    """Draws the feature maps (channels) that layer `layer_name` outputs for one image.

    Args:
        model: a Keras functional or Sequential model built with `keras.Input`.
        image: one image with the model's input shape (the channel axis may be
            left out for grayscale).
        layer_name: name of a layer with a 4D output (conv, activation, pooling).
        max_maps: int, how many channels to draw at most.
        ax: sequence of Axes or None.

    Returns:
        The list of Axes used.
    """
    maps = get_feature_maps(model, image, layer_name)
    if maps.ndim != 3:
        raise ValueError(f"Layer {layer_name!r} outputs shape {maps.shape}; pick a conv, activation or "
                         "pooling layer (output height x width x channels).")
    count = min(maps.shape[-1], max_maps)
    axes = _grid(count, ax, size=1.3)
    for i, axis in enumerate(axes):
        axis.imshow(maps[..., i], cmap="viridis")
        axis.set_title(str(i), fontsize="x-small")
        axis.axis("off")
    if axes:
        axes[0].figure.suptitle(f"{layer_name}: {count} of {maps.shape[-1]} feature maps, "
                                f"{maps.shape[0]}x{maps.shape[1]} each", fontsize="small")
    return axes
