"""The NumPy losses and softmax against TensorFlow, on the same float64 numbers."""

import numpy as np
import pytest

from course_lib import runtime

runtime.quiet_tensorflow()
tf = pytest.importorskip("tensorflow")

from course_lib.scratch import (BinaryCrossEntropy, MeanSquaredError, SoftmaxCrossEntropy,  # noqa: E402
                                log_softmax, naive_softmax, one_hot, relative_error, softmax,
                                softmax_cross_entropy_grad)
from gradient_tape import TOL, tape_grads  # noqa: E402


@pytest.fixture
def rng():
    return np.random.default_rng(42)


def test_naive_softmax_overflows_and_stable_softmax_does_not():
    logits = np.array([[1000.0, 1001.0, 1002.0]])
    with np.errstate(over="ignore", invalid="ignore"):
        assert np.isnan(naive_softmax(logits)).all()
    expected = tf.nn.softmax(tf.constant(logits)).numpy()
    np.testing.assert_allclose(softmax(logits), expected, rtol=1e-12)
    np.testing.assert_allclose(log_softmax(logits), tf.nn.log_softmax(logits).numpy(), rtol=1e-12)
    np.testing.assert_allclose(naive_softmax(logits - 1000), expected, rtol=1e-12)


@pytest.mark.parametrize("sparse", [True, False])
def test_softmax_cross_entropy_matches_tensorflow(rng, sparse):
    logits = rng.normal(scale=4.0, size=(9, 5))
    labels = rng.integers(0, 5, size=9)
    targets = labels if sparse else one_hot(labels, 5, dtype="float64")
    loss = SoftmaxCrossEntropy()
    value = loss.forward(logits, targets)
    grad = loss.backward()

    def tf_loss(z):
        return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels, z))

    tf_value, (tf_grad,) = tape_grads(tf_loss, logits)
    assert abs(value - tf_value) / tf_value < 1e-12
    assert relative_error(grad, tf_grad) < TOL
    np.testing.assert_allclose(softmax_cross_entropy_grad(logits, targets), tf_grad, rtol=1e-10, atol=1e-15)
    assert loss.accuracy(logits, targets) == pytest.approx(np.mean(logits.argmax(1) == labels))


def test_softmax_cross_entropy_at_initialisation_is_ln_num_classes():
    loss = SoftmaxCrossEntropy()
    assert loss.forward(np.zeros((4, 10)), np.arange(4)) == pytest.approx(np.log(10))


def test_softmax_cross_entropy_survives_huge_logits():
    logits = np.array([[5000.0, 0.0, -5000.0]])
    loss = SoftmaxCrossEntropy()
    assert loss.forward(logits, np.array([1])) == pytest.approx(5000.0)
    assert np.isfinite(loss.backward()).all()


@pytest.mark.parametrize("from_logits", [False, True])
def test_binary_cross_entropy_matches_tensorflow(rng, from_logits):
    z = rng.normal(scale=2.0, size=(10, 1))
    y = rng.integers(0, 2, size=(10, 1)).astype("float64")
    y_pred = z if from_logits else 1 / (1 + np.exp(-z))
    loss = BinaryCrossEntropy(from_logits=from_logits)
    value = loss.forward(y_pred, y)
    grad = loss.backward()

    if from_logits:
        def tf_loss(p):
            return tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=y, logits=p))
    else:
        def tf_loss(p):
            return -tf.reduce_mean(y * tf.math.log(p) + (1 - y) * tf.math.log(1 - p))

    tf_value, (tf_grad,) = tape_grads(tf_loss, y_pred)
    assert value == pytest.approx(tf_value, rel=1e-12)
    assert relative_error(grad, tf_grad) < TOL
    threshold = 0.0 if from_logits else 0.5
    assert loss.accuracy(y_pred, y) == pytest.approx(np.mean((y_pred > threshold) == (y > 0.5)))


def test_binary_cross_entropy_clips_probabilities_like_keras():
    loss = BinaryCrossEntropy()
    value = loss.forward(np.array([[0.0], [1.0]]), np.array([[1.0], [0.0]]))
    assert value == pytest.approx(-np.log(1e-7), rel=1e-6)
    np.testing.assert_array_equal(loss.backward(), 0.0)  # clipped entries pass no gradient


@pytest.mark.parametrize("half", [False, True])
def test_mean_squared_error_matches_tensorflow(rng, half):
    y_pred = rng.normal(size=(6, 3))
    y = rng.normal(size=(6, 3))
    loss = MeanSquaredError(half=half)
    value = loss.forward(y_pred, y)
    grad = loss.backward()
    scale = 0.5 if half else 1.0
    tf_value, (tf_grad,) = tape_grads(lambda p: scale * tf.reduce_mean((p - y) ** 2), y_pred)
    assert value == pytest.approx(tf_value, rel=1e-12)
    assert relative_error(grad, tf_grad) < TOL
    if not half:
        keras_value = tf.keras.losses.MeanSquaredError(dtype="float64")(y, y_pred).numpy()
        assert value == pytest.approx(keras_value, rel=1e-12)


def test_loss_argument_errors():
    loss = SoftmaxCrossEntropy()
    with pytest.raises(ValueError, match=r"logits should have shape \(batch_size, num_classes\). "
                                         r"Received: logits.shape=\(5,\)"):
        loss.forward(np.zeros(5), np.zeros(5, int))
    with pytest.raises(ValueError, match=r"labels should lie in \[0, 2\] for 3 classes. Received: labels between 0 and 3"):
        loss.forward(np.zeros((2, 3)), np.array([0, 3]))
    with pytest.raises(ValueError, match=r"Integer class labels are expected.*Received: labels.dtype=float64"):
        loss.forward(np.zeros((2, 3)), np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match=r"labels should have shape \(batch_size,\) = \(2,\).*"
                                         r"Received: labels.shape=\(3,\)"):
        loss.forward(np.zeros((2, 3)), np.array([0, 1, 2]))
    for other in (BinaryCrossEntropy(), MeanSquaredError()):
        with pytest.raises(ValueError, match=r"same shape.*Received: y_pred.shape=\(4, 1\), y_true.shape=\(4,\)"):
            other.forward(np.zeros((4, 1)), np.zeros(4))
