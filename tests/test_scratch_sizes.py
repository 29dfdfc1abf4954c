"""Tests for course_lib.scratch.sizes: output sizes and parameter counts by formula, against Keras."""

import keras
import numpy as np
import pytest

from course_lib.scratch.sizes import (conv_output_size, conv_params, receptive_field, trace_shapes,
                                      weight_sharing_params)


def test_conv_output_size_formula():
    assert conv_output_size(7, 3) == 5
    assert conv_output_size(7, 3, stride=2) == 3
    assert conv_output_size(7, 3, stride=3, padding=1) == 3
    assert conv_output_size(32, 5, padding=2) == 32
    assert conv_output_size(28, 3, stride=2, padding="same") == 14
    assert conv_output_size(7, 2, stride=2) == 3  # floor
    assert conv_output_size(np.int64(7), np.int64(3), padding=np.int64(1)) == 7   # NumPy ints pass, as sizes do


@pytest.mark.parametrize("size, stride, padding", [(28, 1, "same"), (28, 2, "same"), (27, 2, "same"),
                                                   (28, 1, "valid"), (27, 2, "valid")])
def test_conv_output_size_agrees_with_keras(size, stride, padding):
    layer = keras.layers.Conv2D(1, 3, strides=stride, padding=padding)
    out = layer.compute_output_shape((1, size, size, 1))
    assert conv_output_size(size, 3, stride=stride, padding=padding) == out[1]


@pytest.mark.parametrize("kwargs, match", [
    (dict(input_size=0, kernel_size=3), r"input_size should be a positive int \(e.g. input_size=28\). "
                                        r"Received: input_size=0"),
    (dict(input_size=5, kernel_size=3, stride=0), r"stride should be a positive int.*Received: stride=0"),
    (dict(input_size=5, kernel_size=True), r"kernel_size should be a positive int.*Received: kernel_size=True"),
    (dict(input_size=5, kernel_size=3, padding=-1), r'padding should be "valid", "same" or an int >= 0'),
    (dict(input_size=5, kernel_size=3, padding="full"), r'padding should be "valid", "same" or an int.*'),
    (dict(input_size=2, kernel_size=5), r"kernel \(5\) is larger than the padded input"),
])
def test_conv_output_size_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        conv_output_size(**kwargs)


def test_lecture_exercise_240_by_240():
    rows = trace_shapes((240, 240, 3), [("conv", 48, 3), ("pool", 2), ("conv", 48, 3)])
    assert [r["output_shape"] for r in rows] == [(238, 238, 48), (119, 119, 48), (117, 117, 48)]
    assert [r["params"] for r in rows] == [1_344, 0, 20_784]
    same = trace_shapes((240, 240, 3), [("conv", 48, 3, 1, "same"), ("pool", 2), ("conv", 48, 3, 1, "same")])
    assert same[-1]["output_shape"] == (120, 120, 48)
    assert conv_params(3, 3, 64, use_bias=False) == 1_728
    assert receptive_field(3) == 7


def test_trace_shapes_errors():
    with pytest.raises(ValueError, match=r"input_shape should be \(height, width, channels\) of positive ints, "
                                         r"e.g. input_shape=\(240, 240, 3\). Received: input_shape=\(240, 240\)"):
        trace_shapes((240, 240), [])
    with pytest.raises(ValueError, match=r'Each layer should be \("conv".*Received: \(\'dense\', 10\)'):
        trace_shapes((8, 8, 1), [("dense", 10)])
    with pytest.raises(ValueError, match=r'A conv layer is .*Received: \(\'conv\', 4\)'):
        trace_shapes((8, 8, 1), [("conv", 4)])
    with pytest.raises(ValueError, match=r"A pooling layer is"):
        trace_shapes((8, 8, 1), [("pool",)])


def test_weight_sharing_params_against_keras():
    counts = weight_sharing_params((10, 12, 3), kernel_size=3, filters=4)
    conv = keras.Sequential([keras.Input((10, 12, 3)), keras.layers.Conv2D(4, 3)])
    dense = keras.Sequential([keras.Input((10 * 12 * 3,)), keras.layers.Dense(8 * 10 * 4)])
    assert counts["convolutional"] == conv.count_params() == 112
    assert counts["fully_connected"] == dense.count_params()
    assert counts["locally_connected"] == 8 * 10 * 112    # one set of conv weights per output position
    assert weight_sharing_params((28, 28, 1)) == {"fully_connected": 16_981_120, "locally_connected": 216_320,
                                                  "convolutional": 320}


@pytest.mark.parametrize("kwargs, match", [
    (dict(input_shape=(28, 28)), r"input_shape should be \(height, width, channels\).*e.g. "
                                 r"input_shape=\(28, 28, 1\). Received: input_shape=\(28, 28\)"),
    (dict(input_shape=(4, 4, 1), kernel_size=5), r"kernel_size \(5\) is larger than the input \(4x4\)"),
    (dict(input_shape=(4, 4, 1), filters=0), r"filters should be a positive int \(e.g. filters=32\)"),
])
def test_weight_sharing_params_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        weight_sharing_params(**kwargs)
