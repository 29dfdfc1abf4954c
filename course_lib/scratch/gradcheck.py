"""Gradient checking: the analytic backward pass against centered finite differences.

For one parameter entry w, the centered difference

    (L(w + epsilon) - L(w - epsilon)) / (2 epsilon)

approximates dL/dw with an error of order epsilon^2. If the backward pass is right,
the two agree to about 1e-8 in float64 with epsilon = 1e-5 (float32 is too coarse
for this test: use `dtype="float64"`).

    model = build_mlp(20, (16,), 3, activation="tanh", dtype="float64")
    errors = check_gradients(model, x, y, SoftmaxCrossEntropy())
    # {'dense/kernel': 3e-10, 'dense/bias': 1e-10, 'dense_1/kernel': ..., ...}
"""

import numpy as np

from course_lib.scratch.layers import Layer
from course_lib.scratch.losses import Loss
from course_lib.scratch.network import Sequential


def relative_error(a, b, floor=1e-8):
    """Maximum element-wise relative error `|a - b| / max(|a| + |b|, floor)`.

    The floor keeps entries where both values are (nearly) zero, e.g. behind a dead
    ReLU, from dividing by zero. Below 1e-7: the same numbers up to rounding.
    """
    a = np.asarray(a, dtype="float64")
    b = np.asarray(b, dtype="float64")
    if a.shape != b.shape:
        raise ValueError(f"relative_error compares arrays of the same shape. Received: {a.shape} and {b.shape}")
    if a.size == 0:
        return 0.0
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(a) + np.abs(b), floor)))


def check_gradients(model, x, y, loss, epsilon=1e-5, max_checks=50, seed=0, verbose=False):
    """Compares the backward pass with centered finite differences, parameter by parameter.

    Args:
        model: a `Sequential` or a single layer with parameters, built with `dtype="float64"`.
        x, y: a small batch (a few samples are enough).
        loss: a `Loss`, e.g. `SoftmaxCrossEntropy()`.
        epsilon: step of the finite differences.
        max_checks: entries checked per parameter, drawn at random (all of them if the
            parameter is smaller); each costs two forward passes.
        seed: seed for drawing the entries.
        verbose: print one line per parameter.

    Returns:
        dict parameter name -> maximum relative error over the checked entries
        (see `relative_error`). Below 1e-6: correct. Around 1e-4 with ReLU: an entry
        crossed the kink at 0, usually harmless. Above 1e-3: a bug.

    Raises:
        ValueError: the model is not float64, has no parameters, or `loss` is not a `Loss`.
    """
    if isinstance(model, Layer):
        model = Sequential([model])
    if not isinstance(model, Sequential):
        raise ValueError(f"model should be a Sequential or a Layer. Received: {type(model).__name__}")
    if not isinstance(loss, Loss):
        raise ValueError(f"loss should be a course_lib.scratch loss, e.g. SoftmaxCrossEntropy(). "
                         f"Received: loss={loss!r}")
    entries = model.parameters()
    if not entries:
        raise ValueError("The model has no parameters to check (only activations).")
    if model.dtype != np.float64:
        raise ValueError(
            f"Gradient checks need float64: in float32 the finite differences are dominated by "
            f"rounding. Build the model with dtype='float64'. Received: parameters of dtype {model.dtype}")
    if not (isinstance(epsilon, float) and 0 < epsilon < 1):
        raise ValueError(f"epsilon should be a small positive float, e.g. 1e-5. Received: epsilon={epsilon!r}")
    x = np.asarray(x, dtype="float64")
    y = np.asarray(y)
    rng = np.random.default_rng(seed)

    loss.forward(model.forward(x), y)
    model.backward(loss.backward())
    analytic = {name: layer.grads[key].copy() for name, layer, key in entries}

    errors = {}
    for name, layer, key in entries:
        param = layer.params[key]
        flat = param.reshape(-1)  # a view: writing to it changes the parameter
        if flat.size <= max_checks:
            indices = np.arange(flat.size)
        else:
            indices = rng.choice(flat.size, size=max_checks, replace=False)
        numeric = np.empty(len(indices))
        for j, i in enumerate(indices):  # finite differences are one entry at a time by nature
            original = flat[i]
            flat[i] = original + epsilon
            plus = loss.forward(model.forward(x), y)
            flat[i] = original - epsilon
            minus = loss.forward(model.forward(x), y)
            flat[i] = original
            numeric[j] = (plus - minus) / (2 * epsilon)
        errors[name] = relative_error(analytic[name].reshape(-1)[indices], numeric)
        if verbose:
            print(f"{name:<16} {param.shape!s:<12} checked {len(indices):>3} entries, "
                  f"max relative error {errors[name]:.1e}")
    return errors
