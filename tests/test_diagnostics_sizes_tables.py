import keras
import pytest

from course_lib.diagnostics.sizes import (conv_output_size, conv_params, receptive_field, trace_shapes,
                                          weight_sharing_params)
from course_lib.diagnostics.tables import layer_table
from course_lib.models.classic import build_toy_cnn, build_vgg16


def test_conv_output_size_formula():
    assert conv_output_size(7, 3) == 5
    assert conv_output_size(7, 3, stride=2) == 3
    assert conv_output_size(7, 3, stride=3, padding=1) == 3
    assert conv_output_size(32, 5, padding=2) == 32
    assert conv_output_size(28, 3, stride=2, padding="same") == 14
    assert conv_output_size(7, 2, stride=2) == 3  # floor


@pytest.mark.parametrize("size, stride, padding", [(28, 1, "same"), (28, 2, "same"), (27, 2, "same"),
                                                   (28, 1, "valid"), (27, 2, "valid")])
def test_conv_output_size_agrees_with_keras(size, stride, padding):
    layer = keras.layers.Conv2D(1, 3, strides=stride, padding=padding)
    out = layer.compute_output_shape((1, size, size, 1))
    assert conv_output_size(size, 3, stride=stride, padding=padding) == out[1]


@pytest.mark.parametrize("kwargs, match", [
    (dict(input_size=0, kernel_size=3), r"input_size should be an int >= 1.*Received: input_size=0"),
    (dict(input_size=5, kernel_size=3, stride=0), r"stride should be an int >= 1.*Received: stride=0"),
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
    with pytest.raises(ValueError, match=r"input_shape should be \(height, width, channels\)"):
        trace_shapes((240, 240), [])
    with pytest.raises(ValueError, match=r'Each layer should be \("conv".*Received: \(\'dense\', 10\)'):
        trace_shapes((8, 8, 1), [("dense", 10)])
    with pytest.raises(ValueError, match=r'A conv layer is .*Received: \(\'conv\', 4\)'):
        trace_shapes((8, 8, 1), [("conv", 4)])
    with pytest.raises(ValueError, match=r"A pooling layer is"):
        trace_shapes((8, 8, 1), [("pool",)])


@pytest.fixture(scope="module")
def vgg_table():
    return layer_table(build_vgg16())


def test_layer_table_reproduces_the_lecture_vgg16_rows(vgg_table):
    conv1 = vgg_table.row("block1_conv1")
    assert conv1["output_shape"] == (224, 224, 64)
    assert conv1["activations"] == 224 * 224 * 64 == 3_211_264
    assert conv1["weights"] == (3 * 3 * 3) * 64 == 1_728
    assert vgg_table.row("input")["activations"] == 150_528
    assert vgg_table.row("block5_pool")["output_shape"] == (7, 7, 512)
    assert vgg_table.row("fc1")["weights"] == 7 * 7 * 512 * 4096 == 102_760_448
    assert vgg_table.row("fc2")["weights"] == 16_777_216
    assert vgg_table.row("predictions")["weights"] == 4_096_000


def test_layer_table_vgg16_totals(vgg_table):
    assert vgg_table.total_params == 138_357_544
    assert vgg_table.total_weights == 138_344_128
    # the rows sum to 15.2M values (61 MB), not the slide's "24M, ~96 MB"
    assert vgg_table.total_activations == 15_237_608
    assert vgg_table.total_memory_bytes == 60_950_432
    assert vgg_table.row("flatten")["counted"] is False
    assert vgg_table.largest("memory_bytes", n=2) == ["block1_conv1", "block1_conv2"]
    assert vgg_table.largest("params", n=1) == ["fc1"]
    text = str(vgg_table)
    assert "15,237,608" in text and "60.95 MB" in text and "138,357,544" in text


def test_layer_table_toy_cnn_and_errors():
    table = layer_table(build_toy_cnn())
    assert table.total_params == 421_642
    assert table.row("conv_1")["activations"] == 28 * 28 * 32
    assert layer_table(build_toy_cnn(), bytes_per_value=2).total_memory_bytes == table.total_activations * 2
    with pytest.raises(ValueError, match=r"No layer named 'conv_9'"):
        table.row("conv_9")
    with pytest.raises(ValueError, match=r'key should be "activations"'):
        table.largest("flops")
    with pytest.raises(ValueError, match=r"model should be a keras.Model.*Received: model of type str"):
        layer_table("vgg16")
    with pytest.raises(ValueError, match=r"bytes_per_value should be 4"):
        layer_table(build_toy_cnn(), bytes_per_value=3)

    class Subclassed(keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = keras.layers.Dense(2)

        def call(self, x):
            return self.dense(x)
    with pytest.raises(ValueError, match=r"build .* with keras.Input"):
        layer_table(Subclassed())


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
    (dict(input_shape=(28, 28)), r"input_shape should be \(height, width, channels\).*\(28, 28\)"),
    (dict(input_shape=(4, 4, 1), kernel_size=5), r"kernel_size \(5\) is larger than the input \(4x4\)"),
    (dict(input_shape=(4, 4, 1), filters=0), r"filters should be an int >= 1"),
])
def test_weight_sharing_params_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        weight_sharing_params(**kwargs)


def test_sizes_doctests():
    import doctest

    import course_lib.diagnostics.sizes as module
    assert doctest.testmod(module).failed == 0
