"""SGD, SGD with momentum, Adam and learning-rate decay, in NumPy, with Keras's update rules.

An optimizer updates a list of parameter arrays in place from their gradients,
in the same order as Keras (`optimizer.apply(grads, variables)`):

    optimizer = Adam(learning_rate=1e-3)
    optimizer.apply(grads, params)      # lists of arrays, same order and shapes

The formulas are those of `keras.optimizers.SGD` and `keras.optimizers.Adam`, and the
tests check that a few steps give the same numbers as Keras:

    SGD:       w <- w - lr * g
    momentum:  v <- momentum * v - lr * g;   w <- w + v
    Adam:      m <- beta_1 m + (1 - beta_1) g;   v <- beta_2 v + (1 - beta_2) g^2
               w <- w - lr * sqrt(1 - beta_2^t) / (1 - beta_1^t) * m / (sqrt(v) + epsilon)

The learning rate can be a number or a schedule, a callable of the step number (0, 1, ...).
`clip_by_global_norm` shortens the gradients before the update, as Keras's `global_clipnorm`.
"""

import math

import numpy as np

from course_lib._validation import check_number, check_positive_number


class ExponentialDecay:
    """`initial_learning_rate * decay_rate ** (step / decay_steps)`, as Keras's schedule.

    Args:
        initial_learning_rate: the rate at step 0.
        decay_steps: number of steps over which the rate is multiplied by `decay_rate`.
        decay_rate: e.g. 0.5 halves the rate every `decay_steps` steps.
        staircase: if True, decays in steps (integer division) instead of smoothly.

    Example:

    >>> schedule = ExponentialDecay(0.1, decay_steps=100, decay_rate=0.5)
    >>> schedule(0), schedule(100), schedule(200)
    (0.1, 0.05, 0.025)
    """

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False):
        self.initial_learning_rate = check_positive_number(initial_learning_rate, "initial_learning_rate", 0.01)
        self.decay_steps = check_positive_number(decay_steps, "decay_steps", 1000)
        self.decay_rate = check_positive_number(decay_rate, "decay_rate", 0.96)
        self.staircase = bool(staircase)

    def __call__(self, step):
        p = np.asarray(step, dtype=float) / self.decay_steps
        if self.staircase:
            p = np.floor(p)
        value = self.initial_learning_rate * self.decay_rate ** p
        return float(value) if np.ndim(value) == 0 else value


class InverseTimeDecay:
    """`initial_learning_rate / (1 + decay_rate * step / decay_steps)`, as Keras's schedule."""

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False):
        self.initial_learning_rate = check_positive_number(initial_learning_rate, "initial_learning_rate", 0.01)
        self.decay_steps = check_positive_number(decay_steps, "decay_steps", 1000)
        self.decay_rate = check_number(decay_rate, "decay_rate", high=math.inf, example=0.5)
        self.staircase = bool(staircase)

    def __call__(self, step):
        p = np.asarray(step, dtype=float) / self.decay_steps
        if self.staircase:
            p = np.floor(p)
        value = self.initial_learning_rate / (1 + self.decay_rate * p)
        return float(value) if np.ndim(value) == 0 else value


class Optimizer:
    """Base class. `apply(grads, variables)` updates `variables` in place; `iterations` counts steps."""

    def __init__(self, learning_rate):
        if not callable(learning_rate):
            learning_rate = check_positive_number(learning_rate, "learning_rate", 0.001)
        self.learning_rate = learning_rate
        self.iterations = 0
        self._slots = None

    def current_learning_rate(self):
        """The learning rate of the next step (a schedule is evaluated at `iterations`)."""
        if callable(self.learning_rate):
            return float(self.learning_rate(self.iterations))
        return self.learning_rate

    def apply(self, grads, variables):
        grads = list(grads)
        variables = list(variables)
        if len(grads) != len(variables):
            raise ValueError(
                f"apply(grads, variables) needs one gradient per variable. "
                f"Received: {len(grads)} gradients for {len(variables)} variables")
        for g, v in zip(grads, variables):
            if g.shape != v.shape:
                raise ValueError(
                    f"Each gradient should have its variable's shape. "
                    f"Received: gradient {g.shape} for variable {v.shape}")
        if self._slots is None:
            self._slots = self._build(variables)
        elif len(self._slots) != len(variables):
            raise ValueError(
                f"This optimizer was first used with {len(self._slots)} variables and now "
                f"receives {len(variables)}; use one optimizer per model.")
        lr = self.current_learning_rate()
        self._update(grads, variables, lr)
        self.iterations += 1

    def _build(self, variables):
        return [None] * len(variables)

    def _update(self, grads, variables, lr):
        raise NotImplementedError


class SGD(Optimizer):
    """Stochastic gradient descent, with optional (Nesterov) momentum, as `keras.optimizers.SGD`.

    Args:
        learning_rate: float or schedule; Keras's default is 0.01.
        momentum: in [0, 1); 0 is plain SGD, 0.9 the usual choice.
        nesterov: use Nesterov momentum.
    """

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False):
        super().__init__(learning_rate)
        self.momentum = check_number(momentum, "momentum", example=0.9, include_high=False)
        self.nesterov = bool(nesterov)

    def _build(self, variables):
        if self.momentum == 0:
            return [None] * len(variables)
        return [np.zeros_like(v) for v in variables]

    def _update(self, grads, variables, lr):
        for g, w, velocity in zip(grads, variables, self._slots):
            if velocity is None:
                w -= lr * g
                continue
            velocity *= self.momentum
            velocity -= lr * g
            if self.nesterov:
                w += self.momentum * velocity - lr * g
            else:
                w += velocity


def sgd_momentum_step(param, grad, velocity, learning_rate=0.01, momentum=0.9):
    """One SGD-with-momentum step as a pure function (Keras's convention).

    `velocity <- momentum * velocity - learning_rate * grad`, then `param <- param + velocity`.

    Returns:
        `(new_param, new_velocity)`; the inputs are not modified.
    """
    new_velocity = momentum * velocity - learning_rate * grad
    return param + new_velocity, new_velocity


class Adam(Optimizer):
    """Adam with Keras's defaults and update rule (`keras.optimizers.Adam`).

    Args:
        learning_rate: float or schedule (default 0.001).
        beta_1, beta_2: decay rates of the first and second moment estimates.
        epsilon: added to sqrt(v); Keras uses 1e-7.
        bias_correction: divide m by (1 - beta_1^t) and v by (1 - beta_2^t), as Adam (and Keras)
            does. False only shows what the correction is for: m and v start at 0, so without
            it the first steps are several times larger than the learning rate.
    """

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, bias_correction=True):
        super().__init__(learning_rate)
        self.beta_1 = check_number(beta_1, "beta_1", example=0.9, include_high=False)
        self.beta_2 = check_number(beta_2, "beta_2", example=0.999, include_high=False)
        self.epsilon = check_positive_number(epsilon, "epsilon", 1e-7)
        self.bias_correction = bool(bias_correction)

    def _build(self, variables):
        # m, v and a scratch buffer per variable: the update below allocates nothing.
        return [(np.zeros_like(v), np.zeros_like(v), np.empty_like(v)) for v in variables]

    def _update(self, grads, variables, lr):
        t = self.iterations + 1
        # Bias correction folded into the step size, as Keras does.
        # (Python floats, so float32 parameters stay float32.)
        alpha = float(lr * np.sqrt(1 - self.beta_2 ** t) / (1 - self.beta_1 ** t)) if self.bias_correction else float(lr)
        for g, w, (m, v, buffer) in zip(grads, variables, self._slots):
            # In place, the same as: m += (1 - beta_1) (g - m);  v += (1 - beta_2) (g^2 - v);
            # w -= alpha m / (sqrt(v) + epsilon). Half of a NumPy training step is spent here.
            np.subtract(g, m, out=buffer)
            buffer *= 1 - self.beta_1
            m += buffer
            np.multiply(g, g, out=buffer)
            buffer -= v
            buffer *= 1 - self.beta_2
            v += buffer
            np.sqrt(v, out=buffer)
            buffer += self.epsilon
            np.divide(m, buffer, out=buffer)
            buffer *= alpha
            w -= buffer


# ----- gradient clipping (Keras: the optimizers' global_clipnorm argument) ---------------------------

def _as_list(grads, who):
    if isinstance(grads, dict):
        keys, values = list(grads), list(grads.values())
    elif isinstance(grads, (list, tuple)):
        keys, values = None, list(grads)
    else:
        raise ValueError(f"{who} expects a list (or dict) of gradient arrays, e.g. "
                         f"list(layer.grads.values()). Received: {type(grads).__name__}")
    if not values:
        raise ValueError(f"{who} expects at least one gradient array. Received: an empty {type(grads).__name__}")
    return keys, [np.asarray(v) for v in values]


def global_norm(grads):
    """`sqrt(sum of every squared entry of every array)`: the norm of all gradients as one vector.

    Same as `tf.linalg.global_norm`. Accepts a list or a dict of arrays.
    """
    _, values = _as_list(grads, "global_norm")
    return float(np.sqrt(sum(float(np.sum(np.square(v, dtype="float64"))) for v in values)))


def clip_by_global_norm(grads, max_norm):
    """Rescales all gradients together so that their global norm is at most `max_norm`.

    Same as `tf.clip_by_global_norm(grads, max_norm)` and Keras's `global_clipnorm`: when the
    global norm exceeds `max_norm`, every array is multiplied by `max_norm / global_norm`, so the
    update keeps its direction and only gets shorter; below it, nothing changes. (Keras's
    `clipnorm` clips each array by its own norm, which does change the direction.)

    Args:
        grads: list (or dict) of gradient arrays.
        max_norm: positive number, e.g. 1.0 or 5.0.

    Returns:
        `(clipped, norm)`: new arrays in the same container type, and the global norm before clipping.

    Example:

    >>> clipped, norm = clip_by_global_norm([np.array([3.0]), np.array([4.0])], max_norm=1.0)
    >>> norm, [c.round(2) for c in clipped]
    (5.0, [array([0.6]), array([0.8])])
    """
    check_positive_number(max_norm, "max_norm", 1.0)
    keys, values = _as_list(grads, "clip_by_global_norm")
    norm = global_norm(values)
    scale = max_norm / max(norm, max_norm)  # 1 when norm <= max_norm
    clipped = [(v * scale).astype(v.dtype, copy=False) for v in values]
    return (dict(zip(keys, clipped)) if keys is not None else clipped), norm
