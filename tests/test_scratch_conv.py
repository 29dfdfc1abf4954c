import numpy as np
import pytest
import tensorflow as tf

from course_lib.scratch.conv import convolve2d, correlate2d, max_pool2d, max_pool2d_backward

RNG = np.random.default_rng(0)
IMAGE = RNG.uniform(0, 255, (12, 10))


def test_correlate2d_is_what_conv2d_computes():
    kernel = RNG.normal(size=(3, 5))
    expected = tf.nn.conv2d(IMAGE[None, ..., None], kernel[:, :, None, None], 1, "SAME")
    np.testing.assert_allclose(correlate2d(IMAGE, kernel), np.asarray(expected)[0, ..., 0], atol=1e-9)


def test_convolve2d_is_correlate2d_with_the_flipped_kernel():
    kernel = RNG.normal(size=(3, 3))
    expected = tf.nn.conv2d(IMAGE[None, ..., None], kernel[::-1, ::-1, None, None], 1, "SAME")
    np.testing.assert_allclose(convolve2d(IMAGE, kernel), np.asarray(expected)[0, ..., 0], atol=1e-9)
    symmetric = np.full((3, 3), 1 / 9)
    np.testing.assert_allclose(convolve2d(IMAGE, symmetric), correlate2d(IMAGE, symmetric))


def test_conv_errors():
    with pytest.raises(ValueError, match=r"image should be a 2D grayscale array.*shape \(4, 4, 3\)"):
        correlate2d(np.zeros((4, 4, 3)), np.ones((3, 3)))
    with pytest.raises(ValueError, match=r"kernel should be a 2D array with odd sizes.*\(2, 2\)"):
        convolve2d(IMAGE, np.ones((2, 2)))


@pytest.mark.parametrize("shape, pool_size", [((2, 6, 8, 3), 2), ((1, 7, 5, 2), 2), ((3, 9, 9, 1), 3)])
def test_max_pool2d_and_backward_match_keras_and_gradient_tape(shape, pool_size):
    x = RNG.normal(size=shape).astype("float32")
    layer = tf.keras.layers.MaxPooling2D(pool_size)
    x_tf = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x_tf)
        out = layer(x_tf)
        grad_output = RNG.normal(size=out.shape).astype("float32")
        loss = tf.reduce_sum(out * grad_output)
    np.testing.assert_allclose(max_pool2d(x, pool_size), np.asarray(out))
    np.testing.assert_allclose(max_pool2d_backward(grad_output, x, pool_size), np.asarray(tape.gradient(loss, x_tf)),
                               atol=1e-7)


def test_max_pool2d_backward_routes_to_the_maximum_only():
    x = np.array([[1.0, 5.0], [2.0, 3.0]])[None, :, :, None]
    grad = max_pool2d_backward(np.full((1, 1, 1, 1), 10.0), x)
    np.testing.assert_array_equal(grad[0, :, :, 0], [[0.0, 10.0], [0.0, 0.0]])
    tie = max_pool2d_backward(np.ones((1, 1, 1, 1)), np.ones((1, 2, 2, 1)))
    np.testing.assert_array_equal(tie[0, :, :, 0], [[1.0, 0.0], [0.0, 0.0]])  # first maximum, as TensorFlow


def test_max_pool_errors():
    with pytest.raises(ValueError, match=r"x should have shape \(batch_size, height, width, channels\).*\(4, 4\)"):
        max_pool2d(np.zeros((4, 4)))
    with pytest.raises(ValueError, match=r"pool_size should be a positive int.*0"):
        max_pool2d(np.zeros((1, 4, 4, 1)), pool_size=0)
    with pytest.raises(ValueError, match=r"smaller than one pooling window"):
        max_pool2d(np.zeros((1, 1, 4, 1)))
    with pytest.raises(ValueError, match=r"grad_output should have the shape of max_pool2d\(x, 2\), \(1, 2, 2, 1\)"):
        max_pool2d_backward(np.zeros((1, 4, 4, 1)), np.zeros((1, 4, 4, 1)))
