"""The lectures' worked examples: every number the slides show, checked by hand and by tf.GradientTape."""

import numpy as np
import pytest

from course_lib import runtime

runtime.quiet_tensorflow()
tf = pytest.importorskip("tensorflow")

from course_lib.scratch import SimpleRNN, rnn_worked_example, worked_example  # noqa: E402


def test_worked_example_reproduces_the_slide():
    result = worked_example()
    assert result.hidden == pytest.approx((0.85, 0.48))
    assert round(result.prediction, 3) == 0.191
    assert round(result.delta, 3) == -0.809
    rounded = {k: round(v, 2) for k, v in result.weights_after.items()}
    assert rounded == {"w1": 0.12, "w2": 0.23, "w3": 0.13, "w4": 0.10, "w5": 0.17, "w6": 0.17}
    np.testing.assert_array_equal(result.hidden_kernel_after.round(2), [[0.12, 0.13], [0.23, 0.10]])
    # Exact values by hand: w <- w - lr * delta * (input of the weight), hidden ones with the OLD w5, w6.
    d = 0.191 - 1
    expected = {"w5": 0.14 - 0.05 * d * 0.85, "w6": 0.15 - 0.05 * d * 0.48,
                "w1": 0.11 - 0.05 * d * 0.14 * 2, "w2": 0.21 - 0.05 * d * 0.14 * 3,
                "w3": 0.12 - 0.05 * d * 0.15 * 2, "w4": 0.08 - 0.05 * d * 0.15 * 3}
    for name, value in expected.items():
        assert result.weights_after[name] == pytest.approx(value, rel=1e-12), name
    assert result.hidden_deltas == pytest.approx((d * 0.14, d * 0.15))


def test_worked_example_gradients_match_tensorflow():
    result = worked_example()
    w = [tf.Variable(v, dtype=tf.float64) for v in (0.11, 0.21, 0.12, 0.08, 0.14, 0.15)]
    with tf.GradientTape() as tape:
        h1, h2 = 2 * w[0] + 3 * w[1], 2 * w[2] + 3 * w[3]
        loss = 0.5 * (h1 * w[4] + h2 * w[5] - 1.0) ** 2
    grads = tape.gradient(loss, w)
    assert result.loss == pytest.approx(loss.numpy(), rel=1e-12)
    for name, g in zip(("w1", "w2", "w3", "w4", "w5", "w6"), grads):
        assert result.gradients[name] == pytest.approx(g.numpy(), rel=1e-12), name


def test_worked_example_report_shows_the_slide_numbers():
    text = worked_example().report()
    for snippet in ("prediction = h1*w5 + h2*w6 = 0.1910 (0.191)", "(-0.809)", "w5: 0.14 -> 0.1744 (0.17)",
                    "w4: 0.08 -> 0.0982 (0.10)", "[[w1, w3], [w2, w4]] = [[0.12, 0.13], [0.23, 0.10]]"):
        assert snippet in text


def test_worked_example_errors():
    with pytest.raises(ValueError, match=r"inputs should be \(i1, i2\). Received 3 numbers"):
        worked_example(inputs=(1, 2, 3))
    with pytest.raises(ValueError, match=r"weights should be \(w1, w2, w3, w4, w5, w6\). Received 5 numbers"):
        worked_example(weights=(0.1,) * 5)


def test_rnn_worked_example_numbers():
    example = rnn_worked_example()
    np.testing.assert_allclose(example.hidden, [[0.4621, -0.1974], [0.4936, -0.2551], [-0.2043, 0.1472]],
                               atol=5e-5)
    np.testing.assert_allclose(np.tanh(example.pre_activations), example.hidden, rtol=1e-12)
    layer = SimpleRNN(1, 2, dtype="float64").set_weights([example.kernel, example.recurrent_kernel, example.bias])
    np.testing.assert_allclose(layer.forward(np.array([[[1.0], [0.5], [-1.0]]])), example.hidden[-1:], rtol=1e-12)
    report = example.report()
    assert "h_3 = tanh(z) = [-0.2043, 0.1472]" in report
    assert report.count("\n") == 5
