"""The LSTM from scratch in NumPy (lab 06): a cell with gates for the `RNN` layer of `rnn.py`.

    layer = LSTM(input_dim=28, units=64, seed=0)
    out = layer.forward(x)             # x: (batch_size, time, features) -> out: (batch_size, units), last h
    grad_x = layer.backward(grad_out)  # backpropagation through time, as for SimpleRNN
    layer.activations["forget_gate"]   # (batch_size, time, units): the gates of the last forward pass

Shapes and weights follow `keras.layers.LSTM` (the tests copy weights both ways and compare
outputs with Keras and gradients with `tf.GradientTape`):

    z = x_t @ kernel + h_{t-1} @ recurrent_kernel + bias, split in 4 blocks of `units`
    in Keras's order i, f, c, o:
        i = sigmoid(z_i)  input gate       f = sigmoid(z_f)  forget gate
        g = tanh(z_c)     candidate        o = sigmoid(z_o)  output gate
        c_t = f * c_{t-1} + i * g          h_t = o * tanh(c_t)
    kernel (input_dim, 4*units), recurrent_kernel (units, 4*units), bias (4*units,)

Why the LSTM trains on long sequences: its cell state is updated by an addition, and
dLoss/dc_{t-1} = dLoss/dc_t * f: with the forget gate near 1 the gradient passes almost
unchanged, where a tanh RNN multiplies it by `recurrent_kernel.T` and `1 - h^2` at every step.
"""

import numpy as np

from course_lib._validation import check_int
from course_lib.scratch.initializers import glorot_uniform, make_rng, orthogonal
from course_lib.scratch.layers import check_float_dtype, sigmoid
from course_lib.scratch.rnn import RNN, RNNCell, check_step_shapes

LSTM_GATES = ("input_gate", "forget_gate", "candidate", "output_gate")  # Keras's order: i, f, c, o


# ----- one time step, as plain functions ----------------------------------------------------------

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
    x_t, h_prev, kernel, recurrent_kernel, bias = check_step_shapes(
        x_t, h_prev, kernel, recurrent_kernel, bias, gates=4)
    c_prev = np.asarray(c_prev)
    if c_prev.shape != h_prev.shape:
        raise ValueError(f"c_prev should have the shape of h_prev, {h_prev.shape}. Received: c_prev.shape={c_prev.shape}")
    return _lstm_update(x_t @ kernel + h_prev @ recurrent_kernel + bias, c_prev)


# ----- the cell and its layer ---------------------------------------------------------------------

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
        self.input_dim = check_int(input_dim, "input_dim", example=28)
        self.units = check_int(units, "units", example=64)
        self.dtype = check_float_dtype(dtype)
        self.unit_forget_bias = bool(unit_forget_bias)
        rng = make_rng(seed)
        u = self.units
        bias = np.zeros(4 * u)
        if self.unit_forget_bias:
            bias[u:2 * u] = 1.0
        self.params = {
            "kernel": glorot_uniform(rng, (self.input_dim, 4 * u)).astype(self.dtype),
            "recurrent_kernel": orthogonal(rng, (u, 4 * u)).astype(self.dtype),
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
