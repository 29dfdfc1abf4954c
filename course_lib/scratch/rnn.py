"""Recurrent networks from scratch in NumPy (lab 06): the RNN cell, backpropagation through time.

A cell computes one time step; a layer (`RNN`, or its shortcut `SimpleRNN`) applies the
same cell, with the same weights, at every step of a sequence (the LSTM, in `lstm.py`, is
another cell for the same layer):

    layer = SimpleRNN(input_dim=28, units=64, seed=0)
    out = layer.forward(x)             # x: (batch_size, time, features) -> out: (batch_size, units), last h
    grad_x = layer.backward(grad_out)  # backpropagation through time: dLoss/dx (batch_size, time, features)
    layer.grads["recurrent_kernel"]    # summed over the time steps, like every weight shared across time
    layer.activations["hidden"]        # (batch_size, time, units): the states of the last forward pass

Shapes and weights follow Keras, so weights copy both ways with `get_weights` /
`set_weights` (the tests check that `keras.layers.SimpleRNN` gives the same outputs, and
`tf.GradientTape` the same gradients):

    SimpleRNN   h_t = tanh(x_t @ kernel + h_{t-1} @ recurrent_kernel + bias)
                kernel (input_dim, units), recurrent_kernel (units, units), bias (units,)

Why plain RNNs forget: backpropagating through a tanh RNN multiplies the gradient by
`recurrent_kernel.T` and by `1 - h^2 <= 1` at every step, so its norm shrinks (or grows)
geometrically with the distance. `gradient_norms_through_time` measures it, for this cell
and for the LSTM's.
"""

import math

import numpy as np

from course_lib._validation import check_int, check_number
from course_lib.scratch.initializers import glorot_uniform, make_rng, orthogonal
from course_lib.scratch.layers import Layer, check_float_dtype


# ----- shape checks -----------------------------------------------------------------------------

def _check_sequences(x, input_dim, who):
    x = np.asarray(x)
    if x.ndim != 3:
        raise ValueError(
            f"{who} expects sequences of shape (batch_size, time, features) = (batch_size, time, {input_dim}). "
            f"Received: x.shape={x.shape}. Add a batch axis to a single sequence (x[np.newaxis]); "
            f"images of shape (num_images, 28, 28) already read as 28 steps of 28 features.")
    if x.shape[2] != input_dim:
        raise ValueError(
            f"{who} was built with input_dim={input_dim} features per step, but x has {x.shape[2]}. "
            f"Received: x.shape={x.shape}, expected (batch_size, time, {input_dim}). "
            f"Build the layer with input_dim={x.shape[2]}, or check which axis holds the features.")
    if x.shape[1] == 0:
        raise ValueError(f"{who} needs at least one time step. Received: x.shape={x.shape}")
    return x


def _check_state(value, batch_size, units, name):
    value = np.asarray(value)
    if value.shape != (batch_size, units):
        raise ValueError(
            f"{name} should have shape (batch_size, units) = {(batch_size, units)}: one hidden state of "
            f"size units={units} per sequence. Received: {name}.shape={value.shape}. "
            f"Start from zeros with np.zeros(({batch_size}, {units})), or build the layer with the "
            f"units of the state you pass.")
    return value


def _check_weight(value, expected, name, what):
    value = np.asarray(value)
    if value.shape != expected:
        raise ValueError(
            f"{name} should have shape {what} = {expected}. Received: {name}.shape={value.shape}")
    return value


def check_step_shapes(x_t, h_prev, kernel, recurrent_kernel, bias, gates=1):
    """Checks the arrays of one step (`rnn_step`, `lstm_step` with gates=4); returns them as arrays."""
    x_t, h_prev = np.asarray(x_t), np.asarray(h_prev)
    kernel, recurrent_kernel, bias = np.asarray(kernel), np.asarray(recurrent_kernel), np.asarray(bias)
    cols = "units" if gates == 1 else f"{gates}*units"
    if kernel.ndim != 2 or kernel.shape[1] % gates:
        raise ValueError(f"kernel should have shape (input_dim, {cols}). Received: kernel.shape={kernel.shape}")
    units = kernel.shape[1] // gates
    if x_t.ndim != 2 or x_t.shape[1] != kernel.shape[0]:
        raise ValueError(
            f"x_t should have shape (batch_size, input_dim) = (batch_size, {kernel.shape[0]}): one time step "
            f"of a batch, as x[:, t]. Received: x_t.shape={x_t.shape}")
    if h_prev.shape != (x_t.shape[0], units):
        raise ValueError(
            f"h_prev should have shape (batch_size, units) = {(x_t.shape[0], units)}. "
            f"Received: h_prev.shape={h_prev.shape}. The hidden state size is fixed by the kernel's "
            f"{kernel.shape[1]} columns.")
    _check_weight(recurrent_kernel, (units, kernel.shape[1]), "recurrent_kernel", f"(units, {cols})")
    _check_weight(bias, (kernel.shape[1],), "bias", f"({cols},)")
    return x_t, h_prev, kernel, recurrent_kernel, bias


# ----- one time step, as plain functions --------------------------------------------------------

def rnn_step(x_t, h_prev, kernel, recurrent_kernel, bias):
    """One step of a vanilla (Elman) RNN: `h_t = tanh(x_t @ kernel + h_prev @ recurrent_kernel + bias)`.

    Args:
        x_t: `(batch_size, input_dim)`, the inputs at step t (`x[:, t]`).
        h_prev: `(batch_size, units)`, the hidden state of step t-1 (zeros before the first step).
        kernel: `(input_dim, units)`; recurrent_kernel: `(units, units)`; bias: `(units,)`.

    Returns:
        h_t, `(batch_size, units)`, every entry in (-1, 1).

    Example:

    >>> rnn_step(np.ones((1, 1)), np.zeros((1, 2)), np.array([[0.5, -0.5]]), np.eye(2), np.zeros(2)).round(4)
    array([[ 0.4621, -0.4621]])
    """
    x_t, h_prev, kernel, recurrent_kernel, bias = check_step_shapes(x_t, h_prev, kernel, recurrent_kernel, bias)
    return np.tanh(x_t @ kernel + h_prev @ recurrent_kernel + bias)


def rnn_step_backward(grad_h, x_t, h_prev, h_t, kernel, recurrent_kernel):
    """Backward pass of `rnn_step` for one time step.

    Args:
        grad_h: dLoss/dh_t, `(batch_size, units)`: everything that reaches h_t (from the output at
            step t and from step t+1).
        x_t, h_prev, h_t: the step's input, previous state and output.
        kernel, recurrent_kernel: the weights used by the step.

    Returns:
        `(grad_x, grad_h_prev, grad_kernel, grad_recurrent_kernel, grad_bias)`. The weight
        gradients are this step's share; backpropagation through time sums them over the steps.
        `grad_h_prev` is what flows back to step t-1.
    """
    grad_z = grad_h * (1.0 - h_t ** 2)  # tanh'(z) = 1 - tanh(z)^2 = 1 - h_t^2, from the output
    return (grad_z @ kernel.T, grad_z @ recurrent_kernel.T, x_t.T @ grad_z, h_prev.T @ grad_z,
            grad_z.sum(axis=0))


# ----- the cell -------------------------------------------------------------------------------------

class RNNCell:
    """A vanilla RNN cell: weights and one time step forward and backward.

    Args:
        input_dim: features per time step.
        units: size of the hidden state h.
        recurrent_scale: multiplies the orthogonal recurrent kernel (Keras's default
            initialisation), so that all its singular values equal `recurrent_scale`: below 1
            gradients vanish through time, well above 1 they can explode.
        seed: int or `np.random.Generator`.
        dtype: "float32" (training) or "float64" (gradient checks).

    Attributes:
        params, grads: dicts with "kernel" `(input_dim, units)`, "recurrent_kernel" `(units, units)`
            and "bias" `(units,)`; `grads` accumulates over the steps of a backward pass.
    """

    state_names = ("h",)
    trace_names = ("hidden",)
    gates = 1
    kind = "SimpleRNN"

    def __init__(self, input_dim, units, recurrent_scale=1.0, seed=None, dtype="float32"):
        self.input_dim = check_int(input_dim, "input_dim", example=28)
        self.units = check_int(units, "units", example=64)
        check_number(recurrent_scale, "recurrent_scale", high=math.inf, example=1.0)
        self.dtype = check_float_dtype(dtype)
        rng = make_rng(seed)
        self.params = {
            "kernel": glorot_uniform(rng, (self.input_dim, self.units)).astype(self.dtype),
            "recurrent_kernel": (recurrent_scale * orthogonal(rng, (self.units, self.units))).astype(self.dtype),
            "bias": np.zeros(self.units, dtype=self.dtype),
        }
        self.zero_grads()

    def zero_grads(self):
        self.grads = {key: np.zeros_like(value) for key, value in self.params.items()}

    def step(self, x_t, states):
        """Returns `(output, new_states, cache)` for one step; `states` is `[h_prev]`."""
        p = self.params
        (h_prev,) = states
        h = np.tanh(x_t @ p["kernel"] + h_prev @ p["recurrent_kernel"] + p["bias"])
        return h, [h], {"x": x_t, "h_prev": h_prev, "h": h}

    def step_backward(self, grad_states, cache):
        """Backward through one step: `grad_states` is `[dLoss/dh_t]`; returns `(grad_x_t, [dLoss/dh_prev])`.

        Adds this step's weight gradients to `grads`.
        """
        p = self.params
        grad_x, grad_h_prev, gk, grk, gb = rnn_step_backward(
            grad_states[0], cache["x"], cache["h_prev"], cache["h"], p["kernel"], p["recurrent_kernel"])
        self.grads["kernel"] += gk
        self.grads["recurrent_kernel"] += grk
        self.grads["bias"] += gb
        return grad_x, [grad_h_prev]

    def trace(self, cache):
        return {"hidden": cache["h"]}


# ----- layers: a cell unrolled over time ----------------------------------------------------------

class RNN(Layer):
    """Applies a cell at every time step, with the same weights, as `keras.layers.RNN(cell)`.

    Args:
        cell: an `RNNCell` or an `LSTMCell`.
        return_sequences: return the hidden state of every step `(batch_size, time, units)`
            instead of the last one only `(batch_size, units)`.

    After `forward`:
        activations: dict name -> `(batch_size, time, units)` array: "hidden" for every cell,
            plus "input_gate", "forget_gate", "candidate", "output_gate" and "cell" for an LSTM.
    After `backward`:
        grads: dLoss/dweights summed over the steps (same keys as `params`).
        state_grads: `(batch_size, time, units)`, dLoss/dh_t for every t, including what flows
            back from later steps: its norm against t shows vanishing gradients.
        initial_state_grads: list of dLoss/d(initial state) arrays.

    Raises:
        ValueError: inputs are not `(batch_size, time, input_dim)`, or an initial state does not
            have shape `(batch_size, units)`.
    """

    def __init__(self, cell, return_sequences=False):
        super().__init__()
        if not isinstance(cell, RNNCell):
            raise ValueError(f"cell should be an RNNCell or an LSTMCell, e.g. RNN(LSTMCell(28, 64)). "
                             f"Received: cell={cell!r} of type {type(cell).__name__}")
        self.cell = cell
        self.return_sequences = bool(return_sequences)
        self.params = cell.params  # the same arrays: an optimizer updating one updates the other
        self.grads = cell.grads
        self._caches = None

    @property
    def units(self):
        return self.cell.units

    @property
    def input_dim(self):
        return self.cell.input_dim

    @property
    def dtype(self):
        return self.cell.dtype

    def get_weights(self):
        """Returns copies of `[kernel, recurrent_kernel, bias]`, the order of Keras's `layer.get_weights()`."""
        return [self.params[key].copy() for key in ("kernel", "recurrent_kernel", "bias")]

    def set_weights(self, weights):
        """Copies `[kernel, recurrent_kernel, bias]` in, e.g. `keras_layer.get_weights()`.

        Raises:
            ValueError: not three arrays, or a shape differs from this layer's.
        """
        weights = list(weights)
        if len(weights) != 3:
            raise ValueError(
                f"set_weights expects [kernel, recurrent_kernel, bias] (3 arrays, as Keras's get_weights() "
                f"of a layer with use_bias=True). Received: {len(weights)} arrays")
        g = self.cell.gates
        u = self.units
        cols = f"{g}*units" if g > 1 else "units"
        for key, value, what in zip(("kernel", "recurrent_kernel", "bias"), weights,
                                    (f"(input_dim, {cols})", f"(units, {cols})", f"({cols},)")):
            expected = self.params[key].shape
            value = np.asarray(value)
            if value.shape != expected:
                raise ValueError(
                    f"{key} should have shape {what} = {expected} for this {self.cell.kind} "
                    f"(input_dim={self.input_dim}, units={u}). Received: {key}.shape={value.shape}")
            self.params[key][...] = value
        return self

    def forward(self, x, initial_state=None):
        x = _check_sequences(x, self.input_dim, type(self).__name__)
        x = x.astype(self.dtype, copy=False)
        batch_size, steps, _ = x.shape
        states = self._initial_states(initial_state, batch_size)
        self._input = x
        self._caches = []
        outputs = []
        for t in range(steps):
            output, states, cache = self.cell.step(x[:, t], states)
            self._caches.append(cache)
            outputs.append(output)
        self.final_states = states
        return np.stack(outputs, axis=1) if self.return_sequences else outputs[-1]

    def _initial_states(self, initial_state, batch_size):
        names = self.cell.state_names
        if initial_state is None:
            return [np.zeros((batch_size, self.units), dtype=self.dtype) for _ in names]
        if len(names) == 1 and not isinstance(initial_state, (list, tuple)):
            initial_state = [initial_state]
        if not isinstance(initial_state, (list, tuple)) or len(initial_state) != len(names):
            raise ValueError(
                f"initial_state of an {self.cell.kind} should be a list [{', '.join(names)}] of "
                f"{len(names)} arrays of shape (batch_size, units) = {(batch_size, self.units)}. "
                f"Received: {type(initial_state).__name__} of length "
                f"{len(initial_state) if isinstance(initial_state, (list, tuple)) else 1}")
        return [_check_state(s, batch_size, self.units, f"initial_state ({name})").astype(self.dtype)
                for s, name in zip(initial_state, names)]

    def backward(self, grad_output):
        """Backpropagation through time; returns dLoss/dx `(batch_size, time, input_dim)`.

        Args:
            grad_output: dLoss/doutput, `(batch_size, units)` (or `(batch_size, time, units)` with
                `return_sequences=True`).
        """
        self._require_forward()
        batch_size, steps, _ = self._input.shape
        expected = (batch_size, steps, self.units) if self.return_sequences else (batch_size, self.units)
        grad_output = np.asarray(grad_output)
        if grad_output.shape != expected:
            raise ValueError(
                f"grad_output should have the shape of the forward output, {expected} "
                f"(return_sequences={self.return_sequences}). Received: grad_output.shape={grad_output.shape}")
        self.cell.zero_grads()
        self.grads = self.cell.grads
        grad_x = np.zeros_like(self._input)
        state_grads = np.zeros((batch_size, steps, self.units), dtype=self.dtype)
        grad_states = [np.zeros((batch_size, self.units), dtype=self.dtype) for _ in self.cell.state_names]
        for t in range(steps - 1, -1, -1):
            # h_t reaches the loss through the output at step t and through step t+1
            grad_h = grad_states[0] + (grad_output[:, t] if self.return_sequences else
                                       (grad_output if t == steps - 1 else 0.0))
            grad_states = [grad_h] + grad_states[1:]
            state_grads[:, t] = grad_h
            grad_x[:, t], grad_states = self.cell.step_backward(grad_states, self._caches[t])
        self.state_grads = state_grads
        self.initial_state_grads = grad_states
        return grad_x

    @property
    def activations(self):
        if not self._caches:
            raise RuntimeError(f"{type(self).__name__}.activations needs a forward pass first: "
                               f"call layer.forward(x).")
        traces = [self.cell.trace(cache) for cache in self._caches]
        return {name: np.stack([tr[name] for tr in traces], axis=1) for name in self.cell.trace_names}

    def count_params(self):
        return int(sum(p.size for p in self.params.values()))

    def __repr__(self):
        return (f"{type(self).__name__}({self.input_dim}, {self.units}, "
                f"return_sequences={self.return_sequences})")


class SimpleRNN(RNN):
    """`RNN(RNNCell(input_dim, units, ...))`, like `keras.layers.SimpleRNN(units)`.

    Example:

    >>> layer = SimpleRNN(input_dim=3, units=4, seed=0)
    >>> layer.forward(np.zeros((2, 10, 3))).shape
    (2, 4)
    """

    def __init__(self, input_dim, units, return_sequences=False, recurrent_scale=1.0, seed=None,
                 dtype="float32"):
        super().__init__(RNNCell(input_dim, units, recurrent_scale=recurrent_scale, seed=seed, dtype=dtype),
                         return_sequences=return_sequences)


# ----- vanishing gradients -----------------------------------------------------------------------

def gradient_norms_through_time(cell, sequence_length=50, batch_size=16, input_scale=1.0, seed=0):
    """Measures how the gradient of a loss at the last step shrinks (or grows) going back in time.

    Runs random sequences through the cell, takes a loss that depends on the last hidden state
    only (`L = u . h_T` for a random unit vector u per sequence, so `||dL/dh_T|| = 1`), and
    backpropagates through time.

    Args:
        cell: an `RNNCell` or `LSTMCell` (or a `SimpleRNN` / `LSTM` layer), e.g.
            `RNNCell(8, 32, recurrent_scale=0.5, seed=0)`.
        sequence_length: number of steps T.
        batch_size: sequences averaged over.
        input_scale: standard deviation of the random inputs (large values saturate tanh).
        seed: seed of the inputs and of u.

    Returns:
        `(sequence_length,)` array, entry t = mean over the sequences of `||dL/dh_t||`; the last
        entry is 1. Entry `T - 1 - d` is the gradient norm at distance d from the loss.

    Raises:
        ValueError: `cell` is not a cell or recurrent layer, or a size is not a positive int.

    Example:

    >>> norms = gradient_norms_through_time(RNNCell(8, 32, recurrent_scale=0.5, seed=0), 20)
    >>> bool(norms[0] < 1e-4 * norms[-1])
    True
    """
    if isinstance(cell, RNN):
        cell = cell.cell
    if not isinstance(cell, RNNCell):
        raise ValueError(
            f"cell should be an RNNCell or LSTMCell (or a SimpleRNN / LSTM layer), e.g. "
            f"RNNCell(8, 32, recurrent_scale=0.5). Received: {type(cell).__name__}")
    sequence_length = check_int(sequence_length, "sequence_length", example=50)
    batch_size = check_int(batch_size, "batch_size", example=16)
    check_number(input_scale, "input_scale", high=math.inf, example=1.0)
    rng = np.random.default_rng(seed)
    x = rng.normal(scale=input_scale, size=(batch_size, sequence_length, cell.input_dim))
    u = rng.normal(size=(batch_size, cell.units))
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    saved = {key: value.copy() for key, value in cell.grads.items()}
    layer = RNN(cell)
    layer.forward(x)
    layer.backward(u.astype(cell.dtype))
    cell.grads.update(saved)  # measuring must not change what an optimizer would read
    return np.linalg.norm(layer.state_grads.astype("float64"), axis=2).mean(axis=0)
