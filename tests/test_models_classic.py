"""The classic builders: the toy CNN counted by hand, VGG-16 against keras.applications, plain vs residual nets."""

import keras
import numpy as np
import pytest

from course_lib.models.classic import (LAB_CNN, build_plain_net, build_residual_net, build_toy_cnn,
                                       build_vgg16)


def test_toy_cnn_shapes_and_hand_counted_params():
    model = build_toy_cnn()
    assert model.output_shape == (None, 10)
    # 320 + 18,496 + 401,536 + 1,290 (see the docstring)
    assert model.count_params() == 421_642
    assert model.get_layer("conv_1").count_params() == 3 * 3 * 1 * 32 + 32
    assert model.get_layer("dense").count_params() == 7 * 7 * 64 * 128 + 128
    probs = model(np.zeros((2, 28, 28, 1), "uint8"))
    np.testing.assert_allclose(np.asarray(probs).sum(axis=1), 1.0, rtol=1e-5)


def test_toy_cnn_variants():
    bn = build_toy_cnn(batch_norm=True, convs_per_block=2)
    assert bn.get_layer("conv_1_2").count_params() == 9 * 32 * 32  # no bias under batch norm
    assert bn.count_params() == build_toy_cnn(**LAB_CNN).count_params() == 468_778
    rgb = build_toy_cnn(input_shape=(32, 32, 3), num_classes=5, filters=(8, 16, 32), dropout_rate=0.0,
                        dense_units=0)
    assert rgb.output_shape == (None, 5)
    assert "dropout" not in [layer.name for layer in rgb.layers]
    assert rgb.get_layer("predictions").count_params() == 4 * 4 * 32 * 5 + 5
    blocks = build_toy_cnn(block_dropout_rate=0.25)
    assert blocks.get_layer("dropout_2").rate == 0.25
    assert blocks.count_params() == 421_642  # dropout adds no parameter


@pytest.mark.parametrize("kwargs, match", [
    (dict(input_shape=(28, 28)), r"input_shape should be \(height, width, channels\).*Received: input_shape=\(28, 28\)"),
    (dict(num_classes=1), r"num_classes should be an int >= 2.*Received: num_classes=1"),
    (dict(dropout_rate=1.0), r"dropout_rate should be a number in \[0, 1\).*Received: dropout_rate=1.0"),
    (dict(filters=32), r"filters should be a non-empty tuple.*Received: filters=32"),
    (dict(num_classes=10.0), r"num_classes should be an int >= 2.*Received: num_classes=10.0"),
    (dict(filters=(32, True)), r"filters should be a non-empty tuple of positive ints.*Received: filters=\(32, True\)"),
    (dict(convs_per_block=0), r"convs_per_block should be a positive int.*Received: convs_per_block=0"),
    (dict(dense_units=-1), r"dense_units should be a non-negative int.*Received: dense_units=-1"),
    (dict(block_dropout_rate=-0.1), r"block_dropout_rate should be a number in \[0, 1\).*Received: block_dropout_rate=-0.1"),
    (dict(input_shape=(8, 8, 1), filters=(8, 8, 8, 8)),
     r"4 blocks halve the image 4 times.*at least 16. Use fewer filters entries.*Received: input_shape=\(8, 8, 1\)"),
])
def test_toy_cnn_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        build_toy_cnn(**kwargs)


def test_builders_accept_numpy_ints():
    # A class count read from data is often a NumPy int (len(np.unique(y)), y.max() + 1);
    # build_toy_cnn refused np.int64(10) while build_unet accepted it.
    model = build_toy_cnn(input_shape=(np.int64(16), 16, 1), num_classes=np.int64(10),
                          filters=(np.int64(4), 8), convs_per_block=np.int64(1), dense_units=np.int64(8))
    assert model.output_shape == (None, 10)
    assert model.input_shape == (None, 16, 16, 1)
    assert build_residual_net(num_classes=np.int64(3), depth=np.int64(8), filters=np.int64(4)).output_shape == (None, 3)
    assert build_vgg16(input_shape=(32, 32, 3), num_classes=np.int32(5)).output_shape == (None, 5)


def test_vgg16_matches_keras_applications_count():
    model = build_vgg16()
    # keras.applications.VGG16(weights=None).count_params() == 138,357,544
    assert model.count_params() == 138_357_544
    assert model.get_layer("block1_conv1").count_params() == 1_728 + 64
    assert model.get_layer("fc1").count_params() == 102_760_448 + 4096
    assert model.output_shape == (None, 1000)
    with pytest.raises(ValueError, match=r"halves the image 5 times.*at least 32"):
        build_vgg16(input_shape=(16, 16, 3))


def test_plain_and_residual_nets_have_the_same_depth():
    plain = build_plain_net(depth=8, filters=4)
    resnet = build_residual_net(depth=8, filters=4)
    count = lambda m: sum(isinstance(layer, keras.layers.Conv2D) and "shortcut" not in layer.name  # noqa: E731
                          for layer in m.layers)
    assert count(plain) == count(resnet) == 7  # + the dense layer = 8 weighted layers
    assert plain.output_shape == resnet.output_shape == (None, 10)
    # the only extra parameters are the two 1x1 projection shortcuts (with their batch norms)
    extra = (4 * 8 + 4 * 8) + (8 * 16 + 4 * 16)
    assert resnet.count_params() - plain.count_params() == extra
    assert plain.name == "plain_8" and resnet.name == "resnet_8"
    for bad in (7, 10, 2):
        with pytest.raises(ValueError, match=rf"should be 6n \+ 2.*Received: depth={bad}"):
            build_plain_net(depth=bad)
    with pytest.raises(ValueError, match=r"filters should be a positive int.*Received: filters=0"):
        build_residual_net(depth=8, filters=0)
