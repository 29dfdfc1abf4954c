"""Layers with a forward and a backward pass, in NumPy only.

Every layer works on a whole batch at once (no Python loop over samples) and
remembers what its backward pass needs from the forward pass:

    layer = Dense(784, 128, seed=0)
    out = layer.forward(x)                   # x: (batch_size, 784) -> out: (batch_size, 128)
    grad_x = layer.backward(grad_out)        # dLoss/dout (batch_size, 128) -> dLoss/dx (batch_size, 784)
    layer.grads["kernel"]                    # dLoss/dkernel, same shape as layer.params["kernel"]

Shapes follow Keras: inputs are `(batch_size, features)` and a dense kernel is
`(input_dim, units)`, so `out = x @ kernel + bias`. The tests compare every
backward pass with `tf.GradientTape` on the same float64 numbers.
"""

import numpy as np

from course_lib._validation import check_int
from course_lib.scratch.initializers import glorot_uniform, he_normal, make_rng

_INITIALIZERS = ("glorot_uniform", "he_normal", "zeros")


def check_float_dtype(dtype):
    """Checks the dtype of a from-scratch layer: float32 or float64 (a name, type or np.dtype)."""
    name = np.dtype(dtype).name if isinstance(dtype, (type, np.dtype)) else dtype
    if name not in ("float32", "float64"):
        raise ValueError(
            f"dtype should be 'float32' (fast training) or 'float64' (gradient checks). "
            f"Received: dtype={dtype!r}")
    return np.dtype(name)


class Layer:
    """Base class: `forward(x)` returns the output, `backward(grad_output)` returns dLoss/dx.

    Attributes:
        params: dict of parameter name -> NumPy array (empty for activations).
        grads: dict with the same keys, filled by `backward`.
        name: set by `Sequential` ("dense", "dense_1", ...), used in reports.
    """

    def __init__(self):
        self.params = {}
        self.grads = {}
        self.name = None
        self._input = None

    def forward(self, x):
        raise NotImplementedError

    def backward(self, grad_output):
        raise NotImplementedError

    def __call__(self, x):
        return self.forward(x)

    def count_params(self):
        """Returns the number of scalar parameters."""
        return int(sum(p.size for p in self.params.values()))

    def _require_forward(self):
        if self._input is None:
            raise RuntimeError(
                f"{type(self).__name__}.backward() was called before forward(): the backward "
                f"pass needs the input of the forward pass. Call forward(x) first.")

    def __repr__(self):
        return f"{type(self).__name__}()"


class Dense(Layer):
    """Fully connected layer: `out = x @ kernel + bias`.

    Args:
        input_dim: int, number of input features.
        units: int, number of outputs.
        use_bias: bool, whether to add a bias (the lecture's worked example has none).
        kernel_initializer: "glorot_uniform" (Keras's default), "he_normal" (for ReLU) or "zeros".
        seed: int or `np.random.Generator`, for a repeatable initialisation.
        dtype: "float32" (training) or "float64" (gradient checks).

    Shapes:
        forward: `(batch_size, input_dim)` -> `(batch_size, units)`.
        backward: `(batch_size, units)` -> `(batch_size, input_dim)`, and fills
        `grads["kernel"]` `(input_dim, units)` and `grads["bias"]` `(units,)`.

    Example:

    >>> layer = Dense(3, 2, seed=0)
    >>> layer.forward(np.ones((4, 3), "float32")).shape
    (4, 2)
    """

    def __init__(self, input_dim, units, use_bias=True, kernel_initializer="glorot_uniform",
                 seed=None, dtype="float32"):
        super().__init__()
        self.input_dim = check_int(input_dim, "input_dim", example=784)
        self.units = check_int(units, "units", example=128)
        if kernel_initializer not in _INITIALIZERS:
            raise ValueError(
                f"kernel_initializer should be one of {list(_INITIALIZERS)}. "
                f"Received: kernel_initializer={kernel_initializer!r}")
        self.dtype = check_float_dtype(dtype)
        self.use_bias = bool(use_bias)
        rng = make_rng(seed)
        shape = (self.input_dim, self.units)
        if kernel_initializer == "glorot_uniform":
            kernel = glorot_uniform(rng, shape)
        elif kernel_initializer == "he_normal":
            kernel = he_normal(rng, shape)
        else:
            kernel = np.zeros(shape)
        self.params["kernel"] = kernel.astype(self.dtype)
        if self.use_bias:
            self.params["bias"] = np.zeros(self.units, dtype=self.dtype)

    @property
    def kernel(self):
        return self.params["kernel"]

    @property
    def bias(self):
        return self.params.get("bias")

    def set_weights(self, kernel, bias=None):
        """Replaces the kernel (and bias) by given values, e.g. the lecture's weights.

        Raises:
            ValueError: a shape does not match `(input_dim, units)` / `(units,)`.
        """
        kernel = np.asarray(kernel, dtype=self.dtype)
        if kernel.shape != (self.input_dim, self.units):
            raise ValueError(
                f"kernel should have shape (input_dim, units) = {(self.input_dim, self.units)}. "
                f"Received: kernel.shape={kernel.shape}")
        self.params["kernel"][...] = kernel
        if bias is not None:
            if not self.use_bias:
                raise ValueError("This Dense layer was built with use_bias=False; pass bias=None.")
            bias = np.asarray(bias, dtype=self.dtype)
            if bias.shape != (self.units,):
                raise ValueError(
                    f"bias should have shape (units,) = {(self.units,)}. Received: bias.shape={bias.shape}")
            self.params["bias"][...] = bias
        return self

    def forward(self, x):
        if x.ndim != 2 or x.shape[1] != self.input_dim:
            raise ValueError(
                f"Dense expects inputs of shape (batch_size, {self.input_dim}). "
                f"Received: x.shape={x.shape}. Flatten images first, e.g. x.reshape(len(x), -1).")
        self._input = x
        out = x @ self.params["kernel"]
        if self.use_bias:
            out += self.params["bias"]
        return out

    def backward(self, grad_output, compute_input_grad=True):
        """Fills `grads` and returns dLoss/dx (None when `compute_input_grad=False`).

        The first layer of a network does not need dLoss/dx; `Sequential` skips it
        there, which saves a third of that layer's work.
        """
        self._require_forward()
        # dL/dkernel = x^T g: the sum over the batch happens inside the matrix product.
        self.grads["kernel"] = self._input.T @ grad_output
        if self.use_bias:
            self.grads["bias"] = grad_output.sum(axis=0)
        if not compute_input_grad:
            return None
        return grad_output @ self.params["kernel"].T

    def __repr__(self):
        return f"Dense({self.input_dim}, {self.units}, use_bias={self.use_bias})"


def dense_backward(grad_output, x, kernel):
    """Backward pass of `out = x @ kernel + bias` for a batch, as a plain function.

    Args:
        grad_output: dLoss/dout, `(batch_size, units)`.
        x: the layer's input, `(batch_size, input_dim)`.
        kernel: `(input_dim, units)`.

    Returns:
        `(grad_x, grad_kernel, grad_bias)` of shapes `(batch_size, input_dim)`,
        `(input_dim, units)` and `(units,)`. The kernel and bias gradients are summed
        over the batch (the loss already averaged it).
    """
    return grad_output @ kernel.T, x.T @ grad_output, grad_output.sum(axis=0)


class ReLU(Layer):
    """`max(0, x)`; its gradient is 1 where x > 0 and 0 elsewhere (0 at x = 0, as in TensorFlow)."""

    def forward(self, x):
        self._input = x
        self._mask = x > 0
        return np.maximum(x, 0)

    def backward(self, grad_output):
        self._require_forward()
        return grad_output * self._mask


def sigmoid(x):
    """Numerically stable logistic function `1 / (1 + exp(-x))` (no overflow for large |x|)."""
    x = np.asarray(x)
    e = np.exp(-np.abs(x))  # in (0, 1]: never overflows
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


class Sigmoid(Layer):
    """Logistic function; its derivative is `s * (1 - s)`, at most 0.25 (hence vanishing gradients)."""

    def forward(self, x):
        self._input = x
        self._output = sigmoid(x)
        return self._output

    def backward(self, grad_output):
        self._require_forward()
        s = self._output
        return grad_output * s * (1 - s)


class Tanh(Layer):
    """Hyperbolic tangent; its derivative is `1 - tanh(x)^2`."""

    def forward(self, x):
        self._input = x
        self._output = np.tanh(x)
        return self._output

    def backward(self, grad_output):
        self._require_forward()
        return grad_output * (1 - self._output ** 2)


class Flatten(Layer):
    """Reshapes `(batch_size, d1, d2, ...)` to `(batch_size, d1 * d2 * ...)`, as `keras.layers.Flatten`."""

    def forward(self, x):
        self._input = x
        self._shape = x.shape
        return x.reshape(x.shape[0], -1)

    def backward(self, grad_output):
        self._require_forward()
        return grad_output.reshape(self._shape)


ACTIVATIONS = {"relu": ReLU, "sigmoid": Sigmoid, "tanh": Tanh}


def get_activation(name):
    """Returns a new activation layer from its name: "relu", "sigmoid" or "tanh"."""
    if name not in ACTIVATIONS:
        raise ValueError(f"activation should be one of {sorted(ACTIVATIONS)}. Received: activation={name!r}")
    return ACTIVATIONS[name]()
