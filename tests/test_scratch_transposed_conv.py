"""Tests for course_lib.scratch.transposed_conv: every by-hand result against Keras' layers."""

import doctest
import itertools
import subprocess
import sys

import keras
import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

from course_lib.scratch import transposed_conv  # noqa: E402
from course_lib.scratch.transposed_conv import (bilinear_upsampling_kernel, checkerboard_demo,  # noqa: E402
                                                insert_zeros, plot_checkerboard_demo, transposed_conv_by_hand,
                                                transposed_conv_output_size)


def test_module_imports_no_tensorflow():
    code = "import sys, course_lib.scratch.transposed_conv\nprint('tensorflow' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def test_doctests():
    result = doctest.testmod(transposed_conv, extraglobs={"np": np}, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted >= 5 and result.failed == 0


# --------------------------------------------------------------------------- output size

def keras_output_size(input_size, kernel_size, strides, padding, output_padding=None):
    layer = keras.layers.Conv2DTranspose(1, kernel_size, strides=strides, padding=padding,
                                         output_padding=output_padding)
    return layer.compute_output_shape((None, input_size, input_size, 1))[1]


def test_output_size_matches_keras_for_many_combinations():
    checked = 0
    for size, kernel, strides, padding in itertools.product(range(1, 8), range(1, 6), range(1, 4),
                                                            ("valid", "same")):
        for output_padding in [None] + list(range(strides)):
            expected = keras_output_size(size, kernel, strides, padding, output_padding)
            assert transposed_conv_output_size(size, kernel, strides, padding, output_padding) == expected, \
                (size, kernel, strides, padding, output_padding)
            checked += 1
    assert checked == 7 * 5 * 2 * (2 + 3 + 4)   # 630 combinations


@pytest.mark.parametrize("size, kernel, strides, padding", [
    (4, 3, 2, "valid"), (4, 3, 2, "same"), (5, 4, 2, "same"), (3, 1, 3, "valid"), (8, 2, 2, "same"),
])
def test_output_size_matches_a_real_layer_call(size, kernel, strides, padding):
    layer = keras.layers.Conv2DTranspose(2, kernel, strides=strides, padding=padding)
    output = layer(np.zeros((1, size, size, 3), "float32"))
    assert output.shape[1] == transposed_conv_output_size(size, kernel, strides, padding)


def test_output_size_with_integer_padding_is_the_lecture_formula():
    assert transposed_conv_output_size(4, 3, 2) == 9
    assert transposed_conv_output_size(4, 3, 2, padding=1) == 7           # (4 - 1) * 2 - 2 + 3
    assert transposed_conv_output_size(4, 3, 2, padding=1, output_padding=1) == 8
    assert transposed_conv_output_size(16, 4, 2, padding=1) == 32          # the usual "double it" layer
    assert transposed_conv_output_size(1, 3, 1, padding=0) == 3
    assert transposed_conv_output_size(np.int64(4), np.int64(3), np.int64(2)) == 9


@pytest.mark.parametrize("kwargs, match", [
    (dict(input_size=0, kernel_size=3), r"input_size should be a positive int.*Received: input_size=0"),
    (dict(input_size=4, kernel_size=2.5), r"kernel_size should be a positive int.*Received: kernel_size=2.5"),
    (dict(input_size=4, kernel_size=3, strides=0), r"strides should be a positive int"),
    (dict(input_size=4, kernel_size=3, padding="full"), r'padding should be "valid", "same" or an int >= 0'),
    (dict(input_size=4, kernel_size=3, padding=-1), r"Received: padding=-1"),
    (dict(input_size=4, kernel_size=3, padding=True), r"Received: padding=True"),
    (dict(input_size=4, kernel_size=3, output_padding=-1),
     r"output_padding should be a non-negative int \(e.g. output_padding=1\), or None. Keras wants it smaller "
     r"than strides. Received: output_padding=-1"),
    (dict(input_size=1, kernel_size=1, padding=1), r"padding=1 crops more than the whole output"),
])
def test_output_size_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        transposed_conv_output_size(**kwargs)


# --------------------------------------------------------------------------- by hand

def test_insert_zeros():
    np.testing.assert_array_equal(insert_zeros(np.array([[1, 2], [3, 4]]), 2),
                                  [[1, 0, 2], [0, 0, 0], [3, 0, 4]])
    assert insert_zeros(np.ones((3, 4)), 3).shape == (7, 10)
    with pytest.raises(ValueError, match=r"x should be a 2-D array.*Received: x.shape=\(3,\)"):
        insert_zeros(np.ones(3))


def keras_transposed_conv(x, kernel, strides, padding):
    layer = keras.layers.Conv2DTranspose(1, kernel.shape, strides=strides, padding=padding, use_bias=False)
    layer.build((None,) + x.shape + (1,))
    layer.set_weights([kernel[:, :, None, None]])
    return np.asarray(layer(x[None, :, :, None].astype("float32")))[0, :, :, 0]


@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("size, kernel, strides", [(2, 3, 2), (4, 3, 2), (3, 4, 2), (3, 2, 2), (5, 3, 1),
                                                   (3, 5, 3), (3, 2, 3), (1, 6, 4), (2, 1, 1)])
def test_transposed_conv_by_hand_matches_keras(size, kernel, strides, padding):
    rng = np.random.default_rng(size * 100 + kernel * 10 + strides)
    x = rng.normal(size=(size, size + 1))
    weights = rng.normal(size=(kernel, kernel + 1))       # not square: rows and columns not mixed up
    expected = keras_transposed_conv(x, weights, strides, padding)
    result = transposed_conv_by_hand(x, weights, strides, padding)
    assert result.shape == expected.shape
    np.testing.assert_allclose(result, expected, rtol=1e-4, atol=1e-4)


def test_transposed_conv_by_hand_is_stamping_the_kernel():
    x = np.array([[1.0, 2.0]])
    kernel = np.array([[1.0, 10.0, 100.0]])
    # stamps: 1 * kernel at column 0, 2 * kernel at column 2, summed where they overlap
    # (the kernel's single row is shorter than the stride: as Keras, a zero row pads the height to 1 * 2)
    np.testing.assert_array_equal(transposed_conv_by_hand(x, kernel, strides=2),
                                  [[1, 10, 102, 20, 200], [0, 0, 0, 0, 0]])
    with pytest.raises(ValueError, match=r"kernel should be a 2-D array"):
        transposed_conv_by_hand(x, np.ones(3))
    with pytest.raises(ValueError, match=r"padding should be one of \['valid', 'same'\]. Received: padding=1"):
        transposed_conv_by_hand(x, kernel, padding=1)


# --------------------------------------------------------------------------- checkerboards

def keras_checkerboard(input_size, kernel_size, strides, method):
    """The Keras layers `checkerboard_demo` describes, all-ones weights, on a constant image."""
    ones = keras.initializers.Ones()
    inputs = keras.Input((input_size, input_size, 1))
    if method == "transposed":
        outputs = keras.layers.Conv2DTranspose(1, kernel_size, strides=strides, padding="same", use_bias=False,
                                               kernel_initializer=ones)(inputs)
    else:
        upsampled = keras.layers.UpSampling2D(strides, interpolation="nearest")(inputs)
        outputs = keras.layers.Conv2D(1, kernel_size, padding="same", use_bias=False,
                                      kernel_initializer=ones)(upsampled)
    result = keras.Model(inputs, outputs).predict(np.ones((1, input_size, input_size, 1), "float32"), verbose=0)
    return result[0, ..., 0]


@pytest.mark.parametrize("method", ["transposed", "resize_conv"])
@pytest.mark.parametrize("input_size, kernel_size, strides", [(6, 3, 2), (6, 4, 2), (5, 2, 3), (4, 5, 2)])
def test_checkerboard_demo_matches_the_keras_layers(input_size, kernel_size, strides, method):
    result = checkerboard_demo(input_size, kernel_size, strides, method)
    np.testing.assert_array_equal(result, keras_checkerboard(input_size, kernel_size, strides, method))
    assert result.dtype == np.float64


def test_checkerboard_demo():
    transposed = checkerboard_demo(input_size=6, kernel_size=3, strides=2)
    assert transposed.shape == (12, 12)
    interior = transposed[2:-2, 2:-2]
    assert set(np.unique(interior)) == {1.0, 2.0, 4.0}     # uneven overlap: a checkerboard
    resized = checkerboard_demo(input_size=6, kernel_size=3, strides=2, method="resize_conv")
    assert (resized[1:-1, 1:-1] == 9).all()                # every interior pixel sums 3 x 3 taps
    even = checkerboard_demo(input_size=6, kernel_size=4, strides=2)
    assert len(np.unique(even[2:-2, 2:-2])) == 1           # kernel a multiple of the stride: flat
    with pytest.raises(ValueError, match=r"method should be one of \['transposed', 'resize_conv'\]. "
                                         r"Received: method='nearest'"):
        checkerboard_demo(method="nearest")


def test_plot_checkerboard_demo_returns_its_two_axes():
    import matplotlib.pyplot as plt
    axes = plot_checkerboard_demo()
    assert isinstance(axes, np.ndarray) and axes.shape == (2,)
    assert "Conv2DTranspose" in axes[0].get_title() and "nearest upsampling" in axes[1].get_title()
    assert len(axes[0].texts) == 12 * 12                   # every pixel annotated
    _, given = plt.subplots(1, 2)
    assert list(plot_checkerboard_demo(input_size=10, ax=given)) == list(given)
    assert len(given[0].texts) == 0                        # 20 x 20 pixels: too many to annotate
    plt.close("all")


def test_bilinear_kernel_upsamples_a_ramp_linearly():
    kernel = bilinear_upsampling_kernel(4, 2)
    assert kernel.shape == (8, 8, 2, 2) and kernel[..., 0, 1].sum() == 0
    layer = keras.layers.Conv2DTranspose(2, 8, strides=4, padding="same", use_bias=False)
    layer.build((None, 6, 6, 2))
    layer.set_weights([kernel])
    ramp = np.tile(np.arange(6, dtype="float32"), (6, 1))
    x = np.stack([np.ones((6, 6), "float32"), ramp], axis=-1)[None]
    out = np.asarray(layer(x))[0]
    np.testing.assert_allclose(out[4:-4, 4:-4, 0], 1.0, atol=1e-6)      # constants stay constant
    steps = np.diff(out[10, 4:-4, 1])
    np.testing.assert_allclose(steps, 0.25, atol=1e-5)                  # a ramp stays a ramp, 4x finer
    # the same by hand: one channel of the kernel, transposed_conv_by_hand with "same"
    np.testing.assert_allclose(transposed_conv_by_hand(ramp, kernel[:, :, 1, 1], 4, "same"), out[..., 1],
                               atol=1e-4)
