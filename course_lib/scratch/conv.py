"""Convolution and max pooling by hand, in NumPy (lab 02).

    correlate2d(image, kernel)        # what keras.layers.Conv2D computes (no flip)
    convolve2d(image, kernel)         # the textbook convolution: the kernel is flipped first
    max_pool2d(x)                     # 2x2 windows, stride 2, like keras.layers.MaxPooling2D()
    max_pool2d_backward(grad, x)      # the gradient goes to the maximum of each window only

Deep-learning libraries call "convolution" what mathematics calls cross-correlation:

    correlate2d: out[i, j] = sum over (u, v) of kernel[u, v] * image[i + u - 1, j + v - 1]
    convolve2d:  out[i, j] = sum over (u, v) of kernel[u, v] * image[i - u + 1, j - v + 1]

(for a 3x3 kernel). The two agree for kernels that are symmetric under a 180-degree turn
(box blur, sharpen) and differ for the others: `convolve2d(image, k)` equals
`correlate2d(image, k[::-1, ::-1])`. A network learns its kernels, so the flip does not
matter for training; it matters when a kernel is written by hand. NumPy only; the tests
compare these functions with `tf.nn.conv2d`, `keras.layers.MaxPooling2D` and
`tf.GradientTape`.
"""

import numpy as np

from course_lib._validation import check_int


def _check_image_and_kernel(image, kernel):
    image = np.asarray(image, dtype="float64")
    kernel = np.asarray(kernel, dtype="float64")
    if image.ndim != 2:
        raise ValueError(f"image should be a 2D grayscale array (height, width); convert colour "
                         f"images with image.mean(axis=-1). Received: image of shape {image.shape}")
    if kernel.ndim != 2 or kernel.shape[0] % 2 == 0 or kernel.shape[1] % 2 == 0:
        raise ValueError(f"kernel should be a 2D array with odd sizes, e.g. 3x3. "
                         f"Received: kernel of shape {kernel.shape}")
    return image, kernel


def correlate2d(image, kernel):
    """Slides `kernel` over `image` without flipping it (cross-correlation), zero padding.

    This is what `keras.layers.Conv2D` computes (on one channel, with `padding="same"`):

        out[i, j] = sum over (u, v) of kernel[u, v] * image[i + u - kh // 2, j + v - kw // 2]

    Args:
        image: 2D array (height, width).
        kernel: 2D array (kh, kw) with odd sizes.

    Returns:
        A float64 array with the shape of `image` ("same" output size).

    Raises:
        ValueError: `image` or `kernel` is not 2D, or a kernel size is even.

    Example:

    >>> correlate2d(np.arange(9.0).reshape(3, 3), [[0, 0, 0], [0, 0, 1], [0, 0, 0]])  # x[i, j + 1]
    array([[1., 2., 0.],
           [4., 5., 0.],
           [7., 8., 0.]])
    """
    image, kernel = _check_image_and_kernel(image, kernel)
    kh, kw = kernel.shape
    padded = np.pad(image, ((kh // 2, kh // 2), (kw // 2, kw // 2)))
    out = np.zeros_like(image)
    height, width = image.shape
    for u in range(kh):          # 9 shifted copies of the image for a 3x3 kernel,
        for v in range(kw):      # each multiplied by one kernel entry
            out += kernel[u, v] * padded[u:u + height, v:v + width]
    return out


def convolve2d(image, kernel):
    """Convolves `image` with `kernel` as mathematics defines it: the kernel is flipped first.

        out[i, j] = sum over (u, v) of kernel[u, v] * image[i - u + kh // 2, j - v + kw // 2]

    which is `correlate2d(image, kernel[::-1, ::-1])` (the kernel turned by 180 degrees).
    Arguments, result ("same" size, float64) and errors are those of `correlate2d`.

    Example:

    >>> convolve2d(np.arange(9.0).reshape(3, 3), [[0, 0, 0], [0, 0, 1], [0, 0, 0]])  # x[i, j - 1]
    array([[0., 0., 1.],
           [0., 3., 4.],
           [0., 6., 7.]])
    """
    image, kernel = _check_image_and_kernel(image, kernel)
    return correlate2d(image, kernel[::-1, ::-1])


def _check_pool_input(x, pool_size, name="x"):
    check_int(pool_size, "pool_size", example=2)
    x = np.asarray(x)
    if x.ndim != 4:
        raise ValueError(f"{name} should have shape (batch_size, height, width, channels), like a Keras "
                         f"image batch; add axes with x[None, ..., None] for one grayscale image. "
                         f"Received: {name} of shape {x.shape}")
    if x.shape[1] < pool_size or x.shape[2] < pool_size:
        raise ValueError(f"{name} is smaller than one pooling window ({pool_size}x{pool_size}). "
                         f"Received: {name} of shape {x.shape}")
    return x


def _windows(x, pool_size):
    """(batch, out_h, out_w, channels, pool_size * pool_size): the pixels of each window."""
    batch_size, height, width, channels = x.shape
    out_h, out_w = height // pool_size, width // pool_size
    x = x[:, :out_h * pool_size, :out_w * pool_size]     # "valid": a partial window at the edge is dropped
    x = x.reshape(batch_size, out_h, pool_size, out_w, pool_size, channels)
    return x.transpose(0, 1, 3, 5, 2, 4).reshape(batch_size, out_h, out_w, channels, pool_size * pool_size)


def max_pool2d(x, pool_size=2):
    """Max pooling with square windows and stride = pool_size ("valid"), like `MaxPooling2D(pool_size)`.

    Args:
        x: array (batch_size, height, width, channels).
        pool_size: int, side of each window and step between windows.

    Returns:
        Array (batch_size, height // pool_size, width // pool_size, channels).

    Raises:
        ValueError: `x` is not 4D or smaller than one window, or `pool_size` is not a positive int.
    """
    x = _check_pool_input(x, pool_size)
    return _windows(x, pool_size).max(axis=-1)


def max_pool2d_backward(grad_output, x, pool_size=2):
    """Gradient of the loss with respect to the input of `max_pool2d(x, pool_size)`.

    Each output is the maximum of its window, so its gradient flows back to the one input
    that was the maximum (the first one in reading order on a tie, as in TensorFlow), and
    every other input of the window gets 0. Inputs in a partial window at the edge get 0.

    Args:
        grad_output: dLoss/dout, shape (batch_size, height // pool_size, width // pool_size, channels).
        x: the input of the forward pass, (batch_size, height, width, channels).
        pool_size: int, as in the forward pass.

    Returns:
        dLoss/dx, an array with the shape of `x`.

    Raises:
        ValueError: the shapes do not match.
    """
    x = _check_pool_input(x, pool_size)
    grad_output = np.asarray(grad_output)
    batch_size, height, width, channels = x.shape
    out_h, out_w = height // pool_size, width // pool_size
    if grad_output.shape != (batch_size, out_h, out_w, channels):
        raise ValueError(f"grad_output should have the shape of max_pool2d(x, {pool_size}), "
                         f"{(batch_size, out_h, out_w, channels)}. Received: grad_output of shape {grad_output.shape}")
    winner = _windows(x, pool_size).argmax(axis=-1)                       # first maximum of each window
    grad_windows = grad_output[..., None] * (np.arange(pool_size * pool_size) == winner[..., None])
    grad_windows = grad_windows.reshape(batch_size, out_h, out_w, channels, pool_size, pool_size)
    grad = np.zeros(x.shape, dtype=np.result_type(grad_output, x, "float32"))
    grad[:, :out_h * pool_size, :out_w * pool_size] = (
        grad_windows.transpose(0, 1, 4, 2, 5, 3).reshape(batch_size, out_h * pool_size, out_w * pool_size, channels))
    return grad
