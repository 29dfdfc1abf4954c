"""Keras's default weight initialisers, in NumPy: where the first weights come from.

    rng = make_rng(seed)                      # an int seed, None, or a Generator to share
    kernel = glorot_uniform(rng, (784, 128))  # Dense and the RNN kernels
    kernel = he_normal(rng, (784, 128))       # for ReLU layers
    recurrent = orthogonal(rng, (64, 64))     # the recurrent kernels of SimpleRNN and LSTM

Each one draws from `rng`, so a network built layer after layer from one generator is
repeatable with one seed. The formulas are those of `keras.initializers`:

    glorot_uniform  U(-limit, limit), limit = sqrt(6 / (fan_in + fan_out))
    he_normal       N(0, sqrt(2 / fan_in))  (Keras truncates it; not here)
    orthogonal      Q of the QR decomposition of a normal matrix: rows or columns orthonormal
"""

import numpy as np


def make_rng(seed):
    """Returns `seed` if it is a `np.random.Generator`, else a new generator seeded with it."""
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


def glorot_uniform(rng, shape):
    """Glorot (Xavier) uniform, Keras's default for kernels: keeps the variance of activations."""
    limit = np.sqrt(6.0 / (shape[0] + shape[1]))
    return rng.uniform(-limit, limit, size=shape)


def he_normal(rng, shape):
    """He normal: variance 2 / fan_in, which ReLU (zero on half the inputs) needs."""
    return rng.normal(0.0, np.sqrt(2.0 / shape[0]), size=shape)


def orthogonal(rng, shape):
    """Orthogonal matrix as Keras's `Orthogonal` initializer: rows or columns orthonormal.

    Every singular value is 1, so multiplying by it many times (as a recurrent kernel is,
    once per time step) neither shrinks nor grows a vector at first.
    """
    rows, cols = shape
    flat = rng.normal(size=(max(rows, cols), min(rows, cols)))
    q, r = np.linalg.qr(flat)
    q *= np.sign(np.diag(r))  # makes the decomposition unique, hence uniformly distributed
    return np.ascontiguousarray(q if rows >= cols else q.T)  # C order: check_gradients edits a flat view
