"""check_gradients and relative_error: finite differences catch a wrong backward pass (NumPy only)."""

import numpy as np
import pytest

from course_lib.scratch import (Dense, MeanSquaredError, ReLU, Sequential, SoftmaxCrossEntropy, Tanh, build_mlp,
                                check_gradients, relative_error)


@pytest.fixture
def rng():
    return np.random.default_rng(7)


def test_check_gradients_passes_a_correct_model(rng):
    model = build_mlp(6, (5,), 3, activation="tanh", seed=0, dtype="float64")
    errors = check_gradients(model, rng.normal(size=(4, 6)), rng.integers(0, 3, 4), SoftmaxCrossEntropy())
    assert set(errors) == {"dense/kernel", "dense/bias", "dense_1/kernel", "dense_1/bias"}
    assert max(errors.values()) < 1e-6


def test_check_gradients_catches_a_wrong_backward_pass(rng, monkeypatch):
    model = build_mlp(6, (5,), 3, activation="tanh", seed=0, dtype="float64")
    monkeypatch.setattr(Tanh, "backward", lambda self, grad: grad)  # forgot the derivative
    errors = check_gradients(model, rng.normal(size=(4, 6)), rng.integers(0, 3, 4), SoftmaxCrossEntropy())
    assert errors["dense/kernel"] > 1e-3
    assert errors["dense_1/kernel"] < 1e-6  # the layer after the bug is still right


def test_check_gradients_on_a_single_layer_samples_entries(rng, capsys):
    layer = Dense(30, 4, dtype="float64", seed=0)
    errors = check_gradients(layer, rng.normal(size=(3, 30)), rng.normal(size=(3, 4)), MeanSquaredError(),
                             max_checks=10, verbose=True)
    assert max(errors.values()) < 1e-6
    assert "checked  10 entries" in capsys.readouterr().out


def test_check_gradients_errors(rng):
    x, y = rng.normal(size=(2, 3)), np.array([0, 1])
    with pytest.raises(ValueError, match=r"need float64.*Received: parameters of dtype float32"):
        check_gradients(build_mlp(3, (), 2), x, y, SoftmaxCrossEntropy())
    with pytest.raises(ValueError, match="has no parameters"):
        check_gradients(Sequential([ReLU()]), x, y, SoftmaxCrossEntropy())
    with pytest.raises(ValueError, match=r"loss should be a course_lib.scratch loss.*Received: loss='ce'"):
        check_gradients(build_mlp(3, (), 2, dtype="float64"), x, y, "ce")
    with pytest.raises(ValueError, match=r"epsilon should be a small positive float.*Received: epsilon=0"):
        check_gradients(build_mlp(3, (), 2, dtype="float64"), x, y, SoftmaxCrossEntropy(), epsilon=0)
    with pytest.raises(ValueError, match="model should be a Sequential or a Layer. Received: str"):
        check_gradients("model", x, y, SoftmaxCrossEntropy())


def test_relative_error_handles_zeros_and_shapes():
    assert relative_error(np.zeros(3), np.zeros(3)) == 0.0
    assert relative_error([1.0, 2.0], [1.0, 2.0 + 2e-9]) < 1e-8
    with pytest.raises(ValueError, match=r"same shape. Received: \(2,\) and \(3,\)"):
        relative_error(np.zeros(2), np.zeros(3))
