"""Rosenblatt's perceptron, the logic gates, and why XOR needs a hidden layer.

    x, y = make_logic_gate("and")
    perceptron = Perceptron(input_dim=2)
    errors = perceptron.fit(x, y, epochs=10)     # misclassified samples per epoch -> 0
    x, y = make_logic_gate("xor")
    Perceptron(2).fit(x, y, epochs=50)[-1]       # never 0: no line separates XOR
"""

import numpy as np

from course_lib._validation import check_int
from course_lib._validation import check_positive_number

_GATES = {
    "and": [0, 0, 0, 1],
    "or": [0, 1, 1, 1],
    "nand": [1, 1, 1, 0],
    "xor": [0, 1, 1, 0],
}


def make_logic_gate(name):
    """Returns the truth table of a gate: `x` (4, 2) float inputs and `y` (4,) 0/1 targets.

    Args:
        name: "and", "or", "nand" or "xor".
    """
    if name not in _GATES:
        raise ValueError(f"name should be one of {sorted(_GATES)}. Received: name={name!r}")
    x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype="float64")
    return x, np.array(_GATES[name])


class Perceptron:
    """A single neuron with a step activation, trained by the perceptron rule.

    `output = 1 if x @ weights + bias > 0 else 0`; after each mini-batch,
    `weights += learning_rate * x^T (y - output)` and `bias += learning_rate * sum(y - output)`:
    only misclassified samples move the boundary.

    Args:
        input_dim: number of inputs.
        learning_rate: step size (the perceptron's answers do not depend on it when the
            weights start at zero, only their scale does).
    """

    def __init__(self, input_dim, learning_rate=1.0):
        self.input_dim = check_int(input_dim, "input_dim", example=2)
        self.learning_rate = check_positive_number(learning_rate, "learning_rate", example=1.0)
        self.weights = np.zeros(self.input_dim)
        self.bias = 0.0

    def predict(self, x):
        """Returns 0/1 predictions for `x` of shape `(num_samples, input_dim)`."""
        x = np.asarray(x, dtype="float64")
        if x.ndim != 2 or x.shape[1] != self.input_dim:
            raise ValueError(f"x should have shape (num_samples, {self.input_dim}). Received: x.shape={x.shape}")
        return (x @ self.weights + self.bias > 0).astype(int)

    def fit(self, x, y, epochs=10, batch_size=1):
        """Applies the perceptron rule; returns the number of misclassified samples after each epoch.

        Args:
            x: `(num_samples, input_dim)`.
            y: 0/1 targets `(num_samples,)`.
            epochs: passes over the data.
            batch_size: 1 is Rosenblatt's rule (one update per sample, in order);
                `len(x)` updates once per epoch with the summed corrections.
        """
        x = np.asarray(x, dtype="float64")
        y = np.asarray(y)
        if x.ndim != 2 or x.shape[1] != self.input_dim or y.shape != (len(x),):
            raise ValueError(
                f"x should have shape (num_samples, {self.input_dim}) and y (num_samples,). "
                f"Received: x.shape={x.shape}, y.shape={y.shape}")
        if not np.isin(y, (0, 1)).all():
            raise ValueError(f"y should hold 0/1 targets. Received values: {sorted(set(y.tolist()))}")
        epochs = check_int(epochs, "epochs", example=10)
        batch_size = check_int(batch_size, "batch_size", example=1)
        errors = []
        for _ in range(epochs):
            for start in range(0, len(x), batch_size):
                xb, yb = x[start:start + batch_size], y[start:start + batch_size]
                error = yb - self.predict(xb)          # -1, 0 or +1 per sample
                self.weights += self.learning_rate * xb.T @ error
                self.bias += self.learning_rate * error.sum()
            errors.append(int((self.predict(x) != y).sum()))
        return errors
