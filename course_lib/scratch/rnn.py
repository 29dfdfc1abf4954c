"""Recurrent networks from scratch in NumPy (lab 06): RNN and LSTM cells, backpropagation through time.

A cell computes one time step; a layer (`RNN`, or its shortcuts `SimpleRNN` and `LSTM`)
applies the same cell, with the same weights, at every step of a sequence:

    layer = LSTM(input_dim=28, units=64, seed=0)
    out = layer.forward(x)             # x: (batch_size, time, features) -> out: (batch_size, units), last h
    grad_x = layer.backward(grad_out)  # backpropagation through time: dLoss/dx (batch_size, time, features)
    layer.grads["recurrent_kernel"]    # summed over the time steps, like every weight shared across time
    layer.activations["forget_gate"]   # (batch_size, time, units): the gates of the last forward pass

Shapes and weights follow Keras, so weights copy both ways with `get_weights` /
`set_weights` (the tests check that `keras.layers.SimpleRNN` and `keras.layers.LSTM`
give the same outputs, and `tf.GradientTape` the same gradients):

    SimpleRNN   h_t = tanh(x_t @ kernel + h_{t-1} @ recurrent_kernel + bias)
                kernel (input_dim, units), recurrent_kernel (units, units), bias (units,)
    LSTM        z = x_t @ kernel + h_{t-1} @ recurrent_kernel + bias, split in 4 blocks of `units`
                in Keras's order i, f, c, o:
                i = sigmoid(z_i)  input gate       f = sigmoid(z_f)  forget gate
                g = tanh(z_c)     candidate        o = sigmoid(z_o)  output gate
                c_t = f * c_{t-1} + i * g          h_t = o * tanh(c_t)
                kernel (input_dim, 4*units), recurrent_kernel (units, 4*units), bias (4*units,)

Why the LSTM trains on long sequences: backpropagating through a tanh RNN multiplies the
gradient by `recurrent_kernel.T` and by `1 - h^2 <= 1` at every step, so its norm shrinks
(or grows) geometrically with the distance; the LSTM's cell state is updated by an
addition, and dLoss/dc_{t-1} = dLoss/dc_t * f: with the forget gate near 1 the gradient
passes almost unchanged. `gradient_norms_through_time` measures both.
"""

from dataclasses import dataclass

import numpy as np

from course_lib.scratch.layers import Layer, _check_dtype, _check_positive_int, sigmoid

LSTM_GATES = ("input_gate", "forget_gate", "candidate", "output_gate")  # Keras's order: i, f, c, o


# ----- initialisers (Keras's defaults) --------------------------------------------------------

def _rng(seed):
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


def _glorot_uniform(rng, shape):
    limit = np.sqrt(6.0 / (shape[0] + shape[1]))
    return rng.uniform(-limit, limit, size=shape)


def _orthogonal(rng, shape):
    """Orthogonal matrix as Keras's `Orthogonal` initializer: rows or columns orthonormal."""
    rows, cols = shape
    flat = rng.normal(size=(max(rows, cols), min(rows, cols)))
    q, r = np.linalg.qr(flat)
    q *= np.sign(np.diag(r))  # makes the decomposition unique, hence uniformly distributed
    return np.ascontiguousarray(q if rows >= cols else q.T)  # C order: check_gradients edits a flat view


# ----- argument checks -------------------------------------------------------------------------

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


def _check_step_shapes(x_t, h_prev, kernel, recurrent_kernel, bias, gates=1):
    """Shape checks shared by the one-step functions (the exercises' reference answers)."""
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
    x_t, h_prev, kernel, recurrent_kernel, bias = _check_step_shapes(x_t, h_prev, kernel, recurrent_kernel, bias)
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


def lstm_cell_update(z, c_prev):
    """The LSTM's gates and state update from the pre-activations `z` of one step.

    Args:
        z: `(batch_size, 4*units)`, `x_t @ kernel + h_prev @ recurrent_kernel + bias`, in Keras's
            gate order i, f, c, o.
        c_prev: `(batch_size, units)`, the previous cell state.

    Returns:
        `(h, c, gates)`: the new hidden state and cell state, `(batch_size, units)` each, and a dict
        with "input_gate", "forget_gate", "candidate", "output_gate".
    """
    z = np.asarray(z)
    c_prev = np.asarray(c_prev)
    if z.ndim != 2 or z.shape[1] % 4 or c_prev.shape != (z.shape[0], z.shape[1] // 4):
        raise ValueError(
            f"z should have shape (batch_size, 4*units) and c_prev (batch_size, units). "
            f"Received: z.shape={z.shape}, c_prev.shape={c_prev.shape}")
    return _lstm_update(z, c_prev)


def _lstm_update(z, c_prev):
    # The cells call this one: lab 06's from-scratch question forbids the public functions
    # (the grader makes them raise), and the LSTM layers must keep working without them.
    i, f, g, o = np.split(z, 4, axis=1)
    i, f, g, o = sigmoid(i), sigmoid(f), np.tanh(g), sigmoid(o)
    c = f * c_prev + i * g          # additive path: keep a share f of the old memory, write i * g
    h = o * np.tanh(c)
    return h, c, {"input_gate": i, "forget_gate": f, "candidate": g, "output_gate": o}


def lstm_step(x_t, h_prev, c_prev, kernel, recurrent_kernel, bias):
    """One LSTM step, as `keras.layers.LSTM` computes it (gate order i, f, c, o).

    Args:
        x_t: `(batch_size, input_dim)`; h_prev, c_prev: `(batch_size, units)`.
        kernel: `(input_dim, 4*units)`; recurrent_kernel: `(units, 4*units)`; bias: `(4*units,)`.

    Returns:
        `(h_t, c_t, gates)`, see `lstm_cell_update`.
    """
    x_t, h_prev, kernel, recurrent_kernel, bias = _check_step_shapes(
        x_t, h_prev, kernel, recurrent_kernel, bias, gates=4)
    c_prev = np.asarray(c_prev)
    if c_prev.shape != h_prev.shape:
        raise ValueError(f"c_prev should have the shape of h_prev, {h_prev.shape}. Received: c_prev.shape={c_prev.shape}")
    return _lstm_update(x_t @ kernel + h_prev @ recurrent_kernel + bias, c_prev)


# ----- cells -------------------------------------------------------------------------------------

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
        self.input_dim = _check_positive_int(input_dim, "input_dim")
        self.units = _check_positive_int(units, "units")
        if isinstance(recurrent_scale, bool) or not isinstance(recurrent_scale, (int, float)) \
                or not recurrent_scale >= 0:
            raise ValueError(f"recurrent_scale should be a number >= 0, e.g. recurrent_scale=1.0. "
                             f"Received: recurrent_scale={recurrent_scale!r}")
        self.dtype = _check_dtype(dtype)
        rng = _rng(seed)
        self.params = {
            "kernel": _glorot_uniform(rng, (self.input_dim, self.units)).astype(self.dtype),
            "recurrent_kernel": (recurrent_scale * _orthogonal(rng, (self.units, self.units))).astype(self.dtype),
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


class LSTMCell(RNNCell):
    """An LSTM cell with explicit gates, in Keras's layout (gate order i, f, c, o).

    Args:
        input_dim: features per time step.
        units: size of the hidden state h and of the cell state c.
        unit_forget_bias: start the forget gate's bias at 1 (Keras's default), so that
            f = sigmoid(1) = 0.73 at first and the memory is kept rather than erased.
        seed: int or `np.random.Generator`.
        dtype: "float32" or "float64".

    Attributes:
        params, grads: "kernel" `(input_dim, 4*units)`, "recurrent_kernel" `(units, 4*units)`,
            "bias" `(4*units,)`; columns `[0:units]` belong to the input gate, then forget gate,
            candidate and output gate.
    """

    state_names = ("h", "c")
    trace_names = LSTM_GATES + ("cell", "hidden")
    gates = 4
    kind = "LSTM"

    def __init__(self, input_dim, units, unit_forget_bias=True, seed=None, dtype="float32"):
        self.input_dim = _check_positive_int(input_dim, "input_dim")
        self.units = _check_positive_int(units, "units")
        self.dtype = _check_dtype(dtype)
        self.unit_forget_bias = bool(unit_forget_bias)
        rng = _rng(seed)
        u = self.units
        bias = np.zeros(4 * u)
        if self.unit_forget_bias:
            bias[u:2 * u] = 1.0
        self.params = {
            "kernel": _glorot_uniform(rng, (self.input_dim, 4 * u)).astype(self.dtype),
            "recurrent_kernel": _orthogonal(rng, (u, 4 * u)).astype(self.dtype),
            "bias": bias.astype(self.dtype),
        }
        self.zero_grads()

    def step(self, x_t, states):
        """Returns `(output, new_states, cache)`; `states` is `[h_prev, c_prev]`; output is h_t."""
        p = self.params
        h_prev, c_prev = states
        h, c, gates = _lstm_update(x_t @ p["kernel"] + h_prev @ p["recurrent_kernel"] + p["bias"], c_prev)
        cache = {"x": x_t, "h_prev": h_prev, "c_prev": c_prev, "c": c, "h": h, **gates}
        return h, [h, c], cache

    def step_backward(self, grad_states, cache):
        """`grad_states` is `[dLoss/dh_t, dLoss/dc_t]`; returns `(grad_x_t, [dLoss/dh_prev, dLoss/dc_prev])`."""
        grad_h, grad_c = grad_states
        i, f, g, o = (cache[name] for name in LSTM_GATES)
        tanh_c = np.tanh(cache["c"])
        grad_o = grad_h * tanh_c
        grad_c = grad_c + grad_h * o * (1.0 - tanh_c ** 2)   # both paths into c_t
        grad_c_prev = grad_c * f                              # the additive path: only scaled by f
        grad_z = np.concatenate([
            grad_c * g * i * (1.0 - i),           # input gate, sigmoid' = s (1 - s)
            grad_c * cache["c_prev"] * f * (1.0 - f),   # forget gate
            grad_c * i * (1.0 - g ** 2),          # candidate, tanh' = 1 - tanh^2
            grad_o * o * (1.0 - o),               # output gate
        ], axis=1)
        p = self.params
        self.grads["kernel"] += cache["x"].T @ grad_z
        self.grads["recurrent_kernel"] += cache["h_prev"].T @ grad_z
        self.grads["bias"] += grad_z.sum(axis=0)
        return grad_z @ p["kernel"].T, [grad_z @ p["recurrent_kernel"].T, grad_c_prev]

    def trace(self, cache):
        out = {name: cache[name] for name in LSTM_GATES}
        out["cell"] = cache["c"]
        out["hidden"] = cache["h"]
        return out


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


class LSTM(RNN):
    """`RNN(LSTMCell(input_dim, units, ...))`, like `keras.layers.LSTM(units)`.

    Example:

    >>> layer = LSTM(input_dim=3, units=4, seed=0)
    >>> layer.count_params()    # 4 gates * (3 + 4 + 1) * 4
    128
    """

    def __init__(self, input_dim, units, return_sequences=False, unit_forget_bias=True, seed=None,
                 dtype="float32"):
        super().__init__(LSTMCell(input_dim, units, unit_forget_bias=unit_forget_bias, seed=seed, dtype=dtype),
                         return_sequences=return_sequences)


# ----- gradient clipping ---------------------------------------------------------------------------

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
    if isinstance(max_norm, bool) or not isinstance(max_norm, (int, float, np.floating)) or not max_norm > 0:
        raise ValueError(f"max_norm should be a positive number, e.g. max_norm=1.0. Received: max_norm={max_norm!r}")
    keys, values = _as_list(grads, "clip_by_global_norm")
    norm = global_norm(values)
    scale = max_norm / max(norm, max_norm)  # 1 when norm <= max_norm
    clipped = [(v * scale).astype(v.dtype, copy=False) for v in values]
    return (dict(zip(keys, clipped)) if keys is not None else clipped), norm


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
    sequence_length = _check_positive_int(sequence_length, "sequence_length")
    batch_size = _check_positive_int(batch_size, "batch_size")
    if isinstance(input_scale, bool) or not isinstance(input_scale, (int, float)) or input_scale < 0:
        raise ValueError(f"input_scale should be a number >= 0. Received: input_scale={input_scale!r}")
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


# ----- a tiny worked example ------------------------------------------------------------------

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
