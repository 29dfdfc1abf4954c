"""Transposed convolutions by hand, in NumPy (lab 05): the size formula, zero insertion, checkerboards.

    transposed_conv_output_size(4, kernel_size=3, strides=2)         # 9 = (4 - 1) * 2 + 3, as Keras
    transposed_conv_by_hand(x, kernel, strides=2)                    # zero insertion, then convolution
    checkerboard_demo(kernel_size=3, strides=2)                      # uneven overlap -> checkerboard
    bilinear_upsampling_kernel(factor=8, channels=5)                 # FCN's initial upsampling weights

NumPy only: the tests compare every function with `keras.layers.Conv2DTranspose`
(and `UpSampling2D` + `Conv2D`) on the same numbers.
"""

import numpy as np

from course_lib._validation import check_choice, check_int, is_int
from course_lib.image_grid import image_grid

CHECKERBOARD_METHODS = ("transposed", "resize_conv")


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


def transposed_conv_by_hand(x, kernel, strides=2, padding="valid"):
    """A transposed convolution in NumPy (one channel): zero insertion, then convolution.

    1. insert `strides - 1` zeros between the input pixels (`insert_zeros`);
    2. pad `kernel_size - 1` zeros on every side;
    3. slide the kernel, **flipped** in both directions, over the result (stride 1).

    The same numbers as "stamping" a copy of the kernel, scaled by each input pixel,
    every `strides` pixels of the output and summing where the copies overlap. Equal to
    `keras.layers.Conv2DTranspose(1, kernel.shape, strides, padding, use_bias=False)`
    with that kernel (checked in the tests), output size
    `transposed_conv_output_size(in, k, strides, padding)`.

    Args:
        x: 2-D array `(height, width)`.
        kernel: 2-D array `(kernel_height, kernel_width)`.
        strides: int.
        padding: "valid" (keep every stamp) or "same" (crop to `in * strides`, the first
            `max(k - strides, 0) // 2` rows and columns dropped, as TensorFlow does).

    Returns:
        float64 array. "valid": `((height - 1) * strides + kernel_height, ...)`, padded with
        zeros to `height * strides` when the kernel is smaller than the stride (as Keras
        does); "same": `(height * strides, width * strides)`.
    """
    x = np.asarray(x, dtype="float64")
    kernel = np.asarray(kernel, dtype="float64")
    if kernel.ndim != 2:
        raise ValueError(f"kernel should be a 2-D array (kernel_height, kernel_width). "
                         f"Received: kernel.shape={kernel.shape}")
    check_choice(padding, "padding", ("valid", "same"))
    dilated = insert_zeros(x, strides)
    kh, kw = kernel.shape
    padded = np.pad(dilated, ((kh - 1, kh - 1), (kw - 1, kw - 1)))
    flipped = kernel[::-1, ::-1]
    out_h, out_w = padded.shape[0] - kh + 1, padded.shape[1] - kw + 1
    out = np.zeros((out_h, out_w))
    for i in range(kh):
        for j in range(kw):
            out += flipped[i, j] * padded[i:i + out_h, j:j + out_w]
    full = [max(size, x.shape[axis] * strides) for axis, size in enumerate(out.shape)]
    out = np.pad(out, ((0, full[0] - out_h), (0, full[1] - out_w)))
    if padding == "valid":
        return out
    top, left = max(kh - strides, 0) // 2, max(kw - strides, 0) // 2
    return out[top:top + x.shape[0] * strides, left:left + x.shape[1] * strides]


def _correlate_same(x, kernel):
    """What `keras.layers.Conv2D(1, kernel.shape, padding="same")` computes on one channel, any kernel size."""
    kh, kw = kernel.shape
    padded = np.pad(x, (((kh - 1) // 2, kh // 2), ((kw - 1) // 2, kw // 2)))
    out = np.zeros_like(x, dtype="float64")
    for i in range(kh):
        for j in range(kw):
            out += kernel[i, j] * padded[i:i + x.shape[0], j:j + x.shape[1]]
    return out


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

    Example:

    >>> checkerboard_demo(input_size=3, kernel_size=3, strides=2)[1:5, 1:5]   # 1, 2 and 4 stamps
    array([[1., 2., 1., 2.],
           [2., 4., 2., 4.],
           [1., 2., 1., 2.],
           [2., 4., 2., 4.]])
    """
    input_size = check_int(input_size, "input_size", example=6)
    kernel_size = check_int(kernel_size, "kernel_size", example=3)
    strides = check_int(strides, "strides", example=2)
    check_choice(method, "method", CHECKERBOARD_METHODS)
    constant, ones = np.ones((input_size, input_size)), np.ones((kernel_size, kernel_size))
    if method == "transposed":
        return transposed_conv_by_hand(constant, ones, strides, padding="same")
    upsampled = np.repeat(np.repeat(constant, strides, axis=0), strides, axis=1)    # nearest neighbour
    return _correlate_same(upsampled, ones)


def plot_checkerboard_demo(input_size=6, kernel_size=3, strides=2, ax=None):
    """Draws `checkerboard_demo` for both methods side by side, each pixel annotated with its value.

    Args:
        input_size, kernel_size, strides: as in `checkerboard_demo`.
        ax: None for a new figure, or two Axes (see `course_lib.image_grid`).

    Returns:
        A 1-D array of the two Axes: "transposed", then "resize_conv".
    """
    axes = image_grid(2, num_columns=2, ax=ax, size=4.2)
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


__all__ = ["CHECKERBOARD_METHODS", "transposed_conv_output_size", "insert_zeros", "transposed_conv_by_hand",
           "checkerboard_demo", "plot_checkerboard_demo", "bilinear_upsampling_kernel"]
