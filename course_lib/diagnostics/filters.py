"""What a CNN looks at: convolution by hand, first-layer filters, feature maps.

    KERNELS["vertical_edge"]                       # the lecture's 3x3 kernels
    correlate2d(image, KERNELS["box_blur"])        # NumPy, "same" size output, as Conv2D computes it
    plot_kernel_results(image); plt.show()         # all lecture kernels on one photo
    plot_filters(model); plt.show()                # first conv layer's kernels
    plot_feature_maps(model, image, "conv_2")      # what one layer outputs for one image
"""

import numpy as np

from course_lib._validation import check_int
from course_lib.image_grid import image_grid, show_image
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

    Each panel is `correlate2d(image, kernel)`: cross-correlation, no flip. Results with
    negative values (edges) show their magnitude, stretched to the panel's maximum.

    Args:
        image: 2D grayscale array, values in [0, 255].
        kernels: dict name -> 2D kernel; None uses `KERNELS`.
        ax: None for a new figure, or at least len(kernels) Axes.

    Returns:
        A 1-D NumPy array of Axes, one per kernel (`course_lib.image_grid`).
    """
    kernels = KERNELS if kernels is None else kernels
    if not isinstance(kernels, dict) or not kernels:
        raise ValueError(f"kernels should be a non-empty dict name -> 2D array, e.g. KERNELS. "
                         f"Received: kernels of type {type(kernels).__name__}")
    axes = image_grid(len(kernels), num_columns=len(kernels), ax=ax, size=2.4)
    for axis, (name, kernel) in zip(axes, kernels.items()):
        result = correlate2d(image, kernel)
        if name == "vertical_edge" or result.min() < -1e-9:
            shown = np.abs(result) / max(np.abs(result).max(), 1e-12)  # edges: magnitude of the response
        else:
            shown = np.clip(result, 0, 255) / 255.0
        show_image(axis, shown, title=name.replace("_", " "), cmap="gray")
    return axes


def _find_conv(model, layer_name):
    import keras
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
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


def _plot_panels(panels, title, ax, size, cmap):
    """Draws each panel rescaled to [0, 1] on its own, titled by its index; `title` over the figure."""
    axes = image_grid(len(panels), ax=ax, size=size)
    for i, (axis, panel) in enumerate(zip(axes, panels)):
        panel = (panel - panel.min()) / (panel.max() - panel.min() + 1e-12)
        show_image(axis, panel, title=str(i), cmap=cmap)
    if len(axes):
        axes[0].figure.suptitle(title, fontsize="small")
    return axes


def plot_filters(model, layer_name=None, num_filters=32, ax=None):
    """Draws the kernels of a conv layer (default: the first), one small image per filter.

    Kernels with 3 input channels are drawn in colour; otherwise the mean over
    input channels is drawn in grayscale. Each kernel is rescaled to [0, 1] on
    its own.

    Args:
        model: a Keras model with at least one Conv2D layer.
        layer_name: name of a Conv2D layer, or None for the first one.
        num_filters: int, how many filters to draw (the first ones; fewer if the layer has fewer).
        ax: None for a new figure, or at least that many Axes.

    Returns:
        A 1-D NumPy array of Axes, one per filter drawn (`course_lib.image_grid`).

    Raises:
        ValueError: the model has no such Conv2D layer.
    """
    num_filters = check_int(num_filters, "num_filters", example=32)
    layer = _find_conv(model, layer_name)
    kernel = np.asarray(layer.kernel)  # (kh, kw, in, out)
    count = min(kernel.shape[-1], num_filters)
    panels = [kernel[..., i] if kernel.shape[2] == 3 else kernel[..., i].mean(axis=-1) for i in range(count)]
    return _plot_panels(panels, f"{layer.name}: {count} of {kernel.shape[-1]} filters "
                        f"({kernel.shape[0]}x{kernel.shape[1]}x{kernel.shape[2]})", ax, size=1.0, cmap=None)


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


def plot_feature_maps(model, image, layer_name, num_maps=16, ax=None):
    """Draws the feature maps (channels) that layer `layer_name` outputs for one image.

    Each map is rescaled to [0, 1] on its own (viridis: dark is its lowest value).

    Args:
        model: a Keras functional or Sequential model built with `keras.Input`.
        image: one image with the model's input shape (the channel axis may be
            left out for grayscale).
        layer_name: name of a layer with a 4D output (conv, activation, pooling).
        num_maps: int, how many channels to draw (the first ones; fewer if the layer has fewer).
        ax: None for a new figure, or at least that many Axes.

    Returns:
        A 1-D NumPy array of Axes, one per map drawn (`course_lib.image_grid`).
    """
    num_maps = check_int(num_maps, "num_maps", example=16)
    maps = get_feature_maps(model, image, layer_name)
    if maps.ndim != 3:
        raise ValueError(f"Layer {layer_name!r} outputs shape {maps.shape}; pick a conv, activation or "
                         "pooling layer (output height x width x channels).")
    count = min(maps.shape[-1], num_maps)
    return _plot_panels([maps[..., i] for i in range(count)], f"{layer_name}: {count} of {maps.shape[-1]} "
                        f"feature maps, {maps.shape[0]}x{maps.shape[1]} each", ax, size=1.3, cmap="viridis")
