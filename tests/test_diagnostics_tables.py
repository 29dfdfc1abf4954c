"""Tests for course_lib.diagnostics.tables: layer_table against the lecture's VGG-16 table."""

import keras
import pytest

from course_lib.diagnostics.tables import layer_table
from course_lib.models.classic import build_toy_cnn, build_vgg16


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
