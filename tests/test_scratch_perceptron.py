"""The perceptron learns AND, OR and NAND but not XOR (NumPy only)."""

import numpy as np
import pytest

from course_lib.scratch import Perceptron, make_logic_gate


@pytest.mark.parametrize("gate", ["and", "or", "nand"])
def test_perceptron_learns_linearly_separable_gates(gate):
    x, y = make_logic_gate(gate)
    perceptron = Perceptron(2)
    errors = perceptron.fit(x, y, epochs=20)
    assert errors[-1] == 0
    np.testing.assert_array_equal(perceptron.predict(x), y)


def test_perceptron_cannot_learn_xor():
    x, y = make_logic_gate("xor")
    for batch_size in (1, 4):
        errors = Perceptron(2).fit(x, y, epochs=100, batch_size=batch_size)
        assert min(errors) >= 1  # no straight line separates XOR


def test_perceptron_errors():
    with pytest.raises(ValueError, match=r"name should be one of \['and', 'nand', 'or', 'xor'\]. Received: name='nor'"):
        make_logic_gate("nor")
    with pytest.raises(ValueError, match=r"learning_rate should be a positive number, e.g. learning_rate=1.0. Received: learning_rate=0"):
        Perceptron(2, learning_rate=0)
    x, y = make_logic_gate("and")
    with pytest.raises(ValueError, match=r"y should hold 0/1 targets. Received values: \[-1, 1\]"):
        Perceptron(2).fit(x, 2 * y - 1)
    with pytest.raises(ValueError, match=r"x should have shape \(num_samples, 3\)"):
        Perceptron(3).fit(x, y)
    with pytest.raises(ValueError, match=r"x should have shape \(num_samples, 2\). Received: x.shape=\(4,\)"):
        Perceptron(2).predict(np.zeros(4))
