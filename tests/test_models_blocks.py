"""The lecture's reference blocks (VGG, ResNet, Inception, DenseNet): shapes, hand-counted parameters, errors."""

import keras
import numpy as np
import pytest

from course_lib.models.blocks import dense_block, inception_block, residual_block, vgg_block


def apply(block, input_shape, **kwargs):
    inputs = keras.Input(input_shape)
    outputs = block(inputs, **kwargs)
    return keras.Model(inputs, outputs)


def test_vgg_block():
    model = apply(vgg_block, (16, 16, 3), filters=8, num_convs=2)
    assert model.output_shape == (None, 8, 8, 8)
    assert model.count_params() == (9 * 3 * 8 + 8) + (9 * 8 * 8 + 8)
    bn = apply(vgg_block, (16, 16, 3), filters=8, num_convs=1, batch_norm=True)
    assert bn.count_params() == 9 * 3 * 8 + 4 * 8
    with pytest.raises(ValueError, match=r"num_convs should be a positive int.*Received: num_convs=0"):
        apply(vgg_block, (16, 16, 3), filters=8, num_convs=0)
    with pytest.raises(ValueError, match=r"filters should be a positive int.*Received: filters=True"):
        apply(vgg_block, (16, 16, 3), filters=True)
    # NumPy ints count as ints (the old check refused np.int64(8))
    assert apply(vgg_block, (16, 16, 3), filters=np.int64(8), num_convs=np.int32(1)).output_shape == (None, 8, 8, 8)


def test_residual_block_identity_and_projection():
    model = apply(residual_block, (8, 8, 16), filters=16, batch_norm=False)
    assert model.output_shape == (None, 8, 8, 16)
    assert model.count_params() == 2 * (9 * 16 * 16 + 16)
    # With the second convolution's weights at zero, the block is relu(x): the identity shortcut
    conv2 = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)][1]
    conv2.set_weights([np.zeros_like(w) for w in conv2.get_weights()])
    x = np.random.default_rng(0).uniform(0, 1, (1, 8, 8, 16)).astype("float32")
    np.testing.assert_allclose(np.asarray(model(x)), x, atol=1e-6)
    down = apply(residual_block, (8, 8, 16), filters=32, strides=2, batch_norm=False)
    assert down.output_shape == (None, 4, 4, 32)
    assert down.count_params() == (9 * 16 * 32 + 32) + (9 * 32 * 32 + 32) + (16 * 32 + 32)
    with pytest.raises(ValueError, match=r"strides should be a positive int.*Received: strides=0"):
        apply(residual_block, (8, 8, 16), filters=16, strides=0)


def test_inception_block_matches_googlenet_3a():
    model = apply(inception_block, (28, 28, 192), filters_1x1=64, filters_3x3_reduce=96, filters_3x3=128,
                  filters_5x5_reduce=16, filters_5x5=32, filters_pool_proj=32)
    assert model.output_shape == (None, 28, 28, 256)
    assert model.count_params() == 163_696
    with pytest.raises(ValueError, match=r"filters_5x5 should be a positive int.*Received: filters_5x5=0"):
        apply(inception_block, (8, 8, 4), filters_1x1=1, filters_3x3_reduce=1, filters_3x3=1,
              filters_5x5_reduce=1, filters_5x5=0, filters_pool_proj=1)


def test_dense_block_grows_channels():
    model = apply(dense_block, (8, 8, 16), num_layers=3, growth_rate=12, batch_norm=False)
    assert model.output_shape == (None, 8, 8, 16 + 3 * 12)
    assert model.count_params() == sum(9 * (16 + i * 12) * 12 for i in range(3))
    with pytest.raises(ValueError, match=r"growth_rate should be a positive int.*Received: growth_rate=0"):
        apply(dense_block, (8, 8, 16), num_layers=2, growth_rate=0)
