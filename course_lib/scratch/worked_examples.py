"""The lectures' worked examples, computed by the library: every number a slide shows.

`worked_example()` (lab 01): one forward and backward pass and one gradient-descent step.
`rnn_worked_example()` (lab 06): three steps of a 2-unit RNN, below.

Lab 01's network: two inputs, two linear hidden units, one linear output, no biases.

    h1 = i1*w1 + i2*w2          h2 = i1*w3 + i2*w4          prediction = h1*w5 + h2*w6
    loss = 1/2 (prediction - target)^2,   delta = dloss/dprediction = prediction - target

With i1=2, i2=3, w1..w6 = 0.11, 0.21, 0.12, 0.08, 0.14, 0.15, target 1 and learning
rate 0.05: h1 = 0.85, h2 = 0.48, prediction = 0.191, delta = -0.809, and one step of
gradient descent gives w5 = 0.1744, w6 = 0.1694, w1 = 0.1213, w2 = 0.2270,
w3 = 0.1321, w4 = 0.0982 (the slide rounds them to 0.17, 0.17, 0.12, 0.23, 0.13, 0.10).
The hidden weights' gradients use the *old* w5 and w6: every gradient is computed
first, then all weights are updated.

In Keras's layout the hidden kernel is `[[w1, w3], [w2, w4]]` (row = input, column =
hidden unit) and the output kernel `[[w5], [w6]]`, so `h = x @ kernel`.
"""

from dataclasses import dataclass, field

import numpy as np

from course_lib.scratch.layers import Dense
from course_lib.scratch.losses import MeanSquaredError
from course_lib.scratch.optimizers import SGD

LECTURE_INPUTS = (2.0, 3.0)
LECTURE_WEIGHTS = (0.11, 0.21, 0.12, 0.08, 0.14, 0.15)
NAMES = ("w1", "w2", "w3", "w4", "w5", "w6")


@dataclass
class WorkedExample:
    """Every intermediate number of one forward pass, backward pass and update.

    `weights_before`, `gradients` and `weights_after` are dicts keyed "w1" ... "w6".
    """

    inputs: tuple
    target: float
    learning_rate: float
    hidden: tuple                      # (h1, h2)
    prediction: float
    delta: float                       # prediction - target
    loss: float                        # 1/2 delta^2
    hidden_deltas: tuple               # (dloss/dh1, dloss/dh2) = (delta*w5, delta*w6), old w5, w6
    weights_before: dict = field(default_factory=dict)
    gradients: dict = field(default_factory=dict)
    weights_after: dict = field(default_factory=dict)

    @property
    def hidden_kernel_after(self):
        """The updated hidden kernel `[[w1, w3], [w2, w4]]`, as the slide writes it."""
        w = self.weights_after
        return np.array([[w["w1"], w["w3"]], [w["w2"], w["w4"]]])

    def report(self):
        """Returns the computation as text, with the slide's rounding in parentheses."""
        i1, i2 = self.inputs
        b, a, g = self.weights_before, self.weights_after, self.gradients
        h1, h2 = self.hidden
        lines = [
            "Forward pass",
            f"  h1 = i1*w1 + i2*w2 = {i1:g}*{b['w1']:g} + {i2:g}*{b['w2']:g} = {h1:.4f}",
            f"  h2 = i1*w3 + i2*w4 = {i1:g}*{b['w3']:g} + {i2:g}*{b['w4']:g} = {h2:.4f}",
            f"  prediction = h1*w5 + h2*w6 = {self.prediction:.4f} ({self.prediction:.3f})",
            f"  delta = prediction - target = {self.delta:.4f} ({self.delta:.3f})",
            f"  loss = 1/2 delta^2 = {self.loss:.4f}",
            "Backward pass (gradients of the loss)",
            f"  dw5 = delta*h1 = {g['w5']:.4f}    dw6 = delta*h2 = {g['w6']:.4f}",
            f"  hidden deltas (old w5, w6): delta*w5 = {self.hidden_deltas[0]:.4f}, "
            f"delta*w6 = {self.hidden_deltas[1]:.4f}",
            f"  dw1 = delta*w5*i1 = {g['w1']:.4f}    dw2 = delta*w5*i2 = {g['w2']:.4f}",
            f"  dw3 = delta*w6*i1 = {g['w3']:.4f}    dw4 = delta*w6*i2 = {g['w4']:.4f}",
            f"Update, w <- w - {self.learning_rate:g} * dw",
        ]
        for name in ("w5", "w6", "w1", "w2", "w3", "w4"):
            lines.append(f"  {name}: {b[name]:.2f} -> {a[name]:.4f} ({a[name]:.2f})")
        k = self.hidden_kernel_after
        lines.append(f"  [[w1, w3], [w2, w4]] = [[{k[0, 0]:.2f}, {k[0, 1]:.2f}], "
                     f"[{k[1, 0]:.2f}, {k[1, 1]:.2f}]]")
        return "\n".join(lines)


def worked_example(inputs=LECTURE_INPUTS, weights=LECTURE_WEIGHTS, target=1.0, learning_rate=0.05):
    """Runs the lecture's worked example through the library's `Dense`, loss and `SGD`.

    Args:
        inputs: `(i1, i2)`.
        weights: `(w1, w2, w3, w4, w5, w6)` as on the slide.
        target: the desired output.
        learning_rate: step size of the gradient-descent update.

    Returns:
        A `WorkedExample`; `print(result.report())` shows every step.

    Raises:
        ValueError: `inputs` does not hold 2 numbers or `weights` 6.

    Example:

    >>> result = worked_example()
    >>> round(result.prediction, 3), round(result.weights_after["w5"], 2)
    (0.191, 0.17)
    """
    inputs = tuple(float(v) for v in np.asarray(inputs, dtype=float).reshape(-1))
    weights = tuple(float(v) for v in np.asarray(weights, dtype=float).reshape(-1))
    if len(inputs) != 2:
        raise ValueError(f"inputs should be (i1, i2). Received {len(inputs)} numbers: {inputs}")
    if len(weights) != 6:
        raise ValueError(f"weights should be (w1, w2, w3, w4, w5, w6). Received {len(weights)} numbers: {weights}")
    w1, w2, w3, w4, w5, w6 = weights
    hidden_layer = Dense(2, 2, use_bias=False, dtype="float64").set_weights([[w1, w3], [w2, w4]])
    output_layer = Dense(2, 1, use_bias=False, dtype="float64").set_weights([[w5], [w6]])
    loss = MeanSquaredError(half=True)

    x = np.array([inputs])
    hidden = hidden_layer.forward(x)
    prediction = output_layer.forward(hidden)
    loss_value = loss.forward(prediction, np.array([[target]]))
    delta = loss.backward()                       # = prediction - target for one sample
    hidden_deltas = output_layer.backward(delta)  # uses w5, w6 before any update
    hidden_layer.backward(hidden_deltas)

    kernels = [hidden_layer.params["kernel"], output_layer.params["kernel"]]
    grads = [hidden_layer.grads["kernel"], output_layer.grads["kernel"]]

    def by_name(hidden_kernel, output_kernel):
        return {"w1": float(hidden_kernel[0, 0]), "w2": float(hidden_kernel[1, 0]),
                "w3": float(hidden_kernel[0, 1]), "w4": float(hidden_kernel[1, 1]),
                "w5": float(output_kernel[0, 0]), "w6": float(output_kernel[1, 0])}

    gradients = by_name(*grads)
    SGD(learning_rate=learning_rate).apply(grads, kernels)
    return WorkedExample(
        inputs=inputs, target=float(target), learning_rate=float(learning_rate),
        hidden=(float(hidden[0, 0]), float(hidden[0, 1])),
        prediction=float(prediction[0, 0]), delta=float(delta[0, 0]), loss=loss_value,
        hidden_deltas=(float(hidden_deltas[0, 0]), float(hidden_deltas[0, 1])),
        weights_before=dict(zip(NAMES, weights)), gradients=gradients,
        weights_after=by_name(*kernels))


# ----- lab 06: a 3-step RNN forward pass ---------------------------------------------------------

WORKED_KERNEL = ((0.5, -0.3),)               # W_x: 1 input, 2 hidden units
WORKED_RECURRENT_KERNEL = ((0.8, -0.2), (0.4, 0.6))
WORKED_BIAS = (0.0, 0.1)
WORKED_INPUTS = (1.0, 0.5, -1.0)


@dataclass
class RNNWorkedExample:
    """Every number of a 3-step RNN forward pass with 1 input and 2 hidden units."""

    inputs: tuple
    kernel: np.ndarray
    recurrent_kernel: np.ndarray
    bias: np.ndarray
    pre_activations: np.ndarray   # (time, units): z_t = x_t W_x + h_{t-1} W_h + b
    hidden: np.ndarray            # (time, units): h_t = tanh(z_t)

    def report(self):
        """Returns the computation as text, 4 decimals."""
        def vec(v):
            return "[" + ", ".join(f"{a:.4f}" for a in v) + "]"

        lines = [f"W_x = {self.kernel.tolist()}, W_h = {self.recurrent_kernel.tolist()}, b = {self.bias.tolist()}",
                 f"x = {list(self.inputs)}, h_0 = [0, 0]"]
        h_prev = np.zeros(2)
        for t, (x, z, h) in enumerate(zip(self.inputs, self.pre_activations, self.hidden), start=1):
            lines.append(f"t={t}: z = {x:g}*W_x + h_{t - 1} @ W_h + b = {vec(z)}   h_{t} = tanh(z) = {vec(h)}")
            h_prev = h
        lines.append(f"output (last hidden state) = {vec(h_prev)}")
        return "\n".join(lines)


def rnn_worked_example(inputs=WORKED_INPUTS):
    """Runs a 3-step sequence through a 2-unit `SimpleRNN` with fixed weights (lab 06's example).

    W_x = [[0.5, -0.3]], W_h = [[0.8, -0.2], [0.4, 0.6]], b = [0, 0.1], x = (1, 0.5, -1):
    h_1 = [0.4621, -0.1974], h_2 = [0.4936, -0.2551], h_3 = [-0.2043, 0.1472].

    Returns:
        An `RNNWorkedExample`; `print(result.report())` shows every step.
    """
    inputs = tuple(float(v) for v in np.asarray(inputs, dtype=float).reshape(-1))
    kernel, recurrent_kernel, bias = (np.array(w) for w in (WORKED_KERNEL, WORKED_RECURRENT_KERNEL, WORKED_BIAS))
    h = np.zeros((1, 2))
    pre, hidden = [], []
    for x in inputs:  # the same three weights at every step
        z = np.array([[x]]) @ kernel + h @ recurrent_kernel + bias
        h = np.tanh(z)    # written out, not rnn_step: lab 06 asks for rnn_step from scratch
        pre.append(z[0])
        hidden.append(h[0])
    return RNNWorkedExample(inputs, kernel, recurrent_kernel, bias, np.array(pre), np.array(hidden))
