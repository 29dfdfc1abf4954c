"""The NumPy layers (Dense, activations, Flatten) against tf.GradientTape, on the same float64 numbers."""

import numpy as np
import pytest

from course_lib import runtime

runtime.quiet_tensorflow()
tf = pytest.importorskip("tensorflow")

from course_lib.scratch import (Dense, Flatten, ReLU, Sigmoid, SoftmaxCrossEntropy, Tanh,  # noqa: E402
                                dense_backward, get_activation, relative_error, sigmoid)
from gradient_tape import TOL, tape_grads  # noqa: E402


@pytest.fixture
def rng():
    return np.random.default_rng(42)


def test_dense_forward_and_backward_match_tensorflow(rng):
    layer = Dense(7, 5, seed=0, dtype="float64")
    layer.set_weights(rng.normal(size=(7, 5)), rng.normal(size=5))
    x = rng.normal(size=(6, 7))
    upstream = rng.normal(size=(6, 5))  # dLoss/dout: loss = sum(out * upstream)

    out = layer.forward(x)
    grad_x = layer.backward(upstream)

    def tf_loss(x_, kernel, bias):
        return tf.reduce_sum((x_ @ kernel + bias) * upstream)

    _, (gx, gk, gb) = tape_grads(tf_loss, x, layer.kernel, layer.bias)
    np.testing.assert_allclose(out, x @ layer.kernel + layer.bias, rtol=1e-12)
    assert relative_error(grad_x, gx) < TOL
    assert relative_error(layer.grads["kernel"], gk) < TOL
    assert relative_error(layer.grads["bias"], gb) < TOL
    assert grad_x.shape == x.shape and layer.grads["kernel"].shape == (7, 5)


def test_dense_backward_function_matches_the_layer(rng):
    layer = Dense(4, 3, seed=1, dtype="float64")
    x, g = rng.normal(size=(5, 4)), rng.normal(size=(5, 3))
    layer.forward(x)
    grad_x = layer.backward(g)
    fx, fk, fb = dense_backward(g, x, layer.kernel)
    np.testing.assert_allclose(fx, grad_x)
    np.testing.assert_allclose(fk, layer.grads["kernel"])
    np.testing.assert_allclose(fb, layer.grads["bias"])


def test_dense_without_bias_and_skip_input_grad(rng):
    layer = Dense(3, 2, use_bias=False, dtype="float64")
    assert "bias" not in layer.params and layer.count_params() == 6
    layer.forward(rng.normal(size=(4, 3)))
    assert layer.backward(np.ones((4, 2)), compute_input_grad=False) is None
    assert layer.grads["kernel"].shape == (3, 2)


@pytest.mark.parametrize("layer_cls, tf_fn", [
    (ReLU, tf.nn.relu),
    (Sigmoid, tf.sigmoid),
    (Tanh, tf.tanh),
])
def test_activation_backward_matches_tensorflow(rng, layer_cls, tf_fn):
    x = rng.normal(scale=3.0, size=(8, 6))
    upstream = rng.normal(size=(8, 6))
    layer = layer_cls()
    out = layer.forward(x)
    grad_x = layer.backward(upstream)
    value, (gx,) = tape_grads(lambda v: tf.reduce_sum(tf_fn(v) * upstream), x)
    np.testing.assert_allclose(out, tf_fn(x).numpy(), rtol=1e-12, atol=1e-15)
    assert relative_error(grad_x, gx) < TOL


def test_flatten_round_trips_shapes(rng):
    x = rng.normal(size=(3, 4, 5))
    layer = Flatten()
    assert layer.forward(x).shape == (3, 20)
    np.testing.assert_array_equal(layer.backward(np.arange(60.0).reshape(3, 20)),
                                  np.arange(60.0).reshape(3, 4, 5))


def test_sigmoid_is_stable_for_large_inputs():
    with np.errstate(over="raise"):
        values = sigmoid(np.array([-1000.0, 0.0, 1000.0]))
    np.testing.assert_allclose(values, [0.0, 0.5, 1.0])


def test_layers_keep_float32():
    x = np.ones((2, 3), dtype="float32")
    layer = Dense(3, 4, seed=0)
    out = ReLU().forward(layer.forward(x))
    assert out.dtype == np.float32
    assert layer.backward(np.ones((2, 4), "float32")).dtype == np.float32


# ----- error messages ----------------------------------------------------------------------

def test_dense_argument_errors():
    with pytest.raises(ValueError, match=r"input_dim should be a positive int.*Received: input_dim=0"):
        Dense(0, 3)
    with pytest.raises(ValueError, match=r"units should be a positive int.*Received: units=2.5"):
        Dense(3, 2.5)
    with pytest.raises(ValueError, match=r"kernel_initializer should be one of.*Received: kernel_initializer='ones'"):
        Dense(3, 2, kernel_initializer="ones")
    with pytest.raises(ValueError, match=r"dtype should be 'float32'.*Received: dtype='int32'"):
        Dense(3, 2, dtype="int32")


def test_dense_shape_errors():
    layer = Dense(3, 2)
    with pytest.raises(ValueError, match=r"expects inputs of shape \(batch_size, 3\). Received: x.shape=\(4, 5\)"):
        layer.forward(np.zeros((4, 5), "float32"))
    with pytest.raises(ValueError, match=r"kernel should have shape \(input_dim, units\) = \(3, 2\). "
                                         r"Received: kernel.shape=\(2, 3\)"):
        layer.set_weights(np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"bias should have shape \(units,\) = \(2,\). Received: bias.shape=\(3,\)"):
        layer.set_weights(np.zeros((3, 2)), np.zeros(3))
    with pytest.raises(ValueError, match="built with use_bias=False"):
        Dense(3, 2, use_bias=False).set_weights(np.zeros((3, 2)), np.zeros(2))


def test_backward_before_forward_is_explained():
    with pytest.raises(RuntimeError, match=r"Dense.backward\(\) was called before forward\(\)"):
        Dense(2, 2).backward(np.zeros((1, 2)))
    with pytest.raises(RuntimeError, match=r"SoftmaxCrossEntropy.backward\(\) was called before forward\(\)"):
        SoftmaxCrossEntropy().backward()


def test_get_activation_errors():
    assert isinstance(get_activation("tanh"), Tanh)
    with pytest.raises(ValueError, match=r"activation should be one of \['relu', 'sigmoid', 'tanh'\]. "
                                         r"Received: activation='softmax'"):
        get_activation("softmax")
