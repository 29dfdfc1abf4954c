"""Keras's default initialisers in NumPy: the right scale, orthonormal recurrent kernels, one seeded stream."""

import numpy as np
import pytest

from course_lib.scratch import LSTMCell, RNNCell
from course_lib.scratch.initializers import glorot_uniform, he_normal, make_rng, orthogonal
from course_lib.scratch.layers import Dense


def test_glorot_uniform_and_he_normal_scales():
    rng = np.random.default_rng(0)
    kernel = glorot_uniform(rng, (400, 200))
    limit = np.sqrt(6.0 / 600)
    assert np.abs(kernel).max() <= limit
    assert kernel.var() == pytest.approx(limit ** 2 / 3, rel=0.02)   # variance of U(-a, a) is a^2 / 3
    assert he_normal(rng, (400, 200)).std() == pytest.approx(np.sqrt(2.0 / 400), rel=0.02)


@pytest.mark.parametrize("shape", [(16, 16), (8, 32), (32, 8)])
def test_orthogonal_rows_or_columns_are_orthonormal(shape):
    q = orthogonal(np.random.default_rng(1), shape)
    small = min(shape)
    gram = q @ q.T if shape[0] <= shape[1] else q.T @ q
    np.testing.assert_allclose(gram, np.eye(small), atol=1e-12)
    assert q.flags.c_contiguous
    np.testing.assert_allclose(np.linalg.svd(q, compute_uv=False), 1.0, atol=1e-12)


def test_one_generator_is_one_stream():
    rng = np.random.default_rng(5)
    assert make_rng(rng) is rng
    a, b = make_rng(3).normal(size=4), make_rng(3).normal(size=4)
    np.testing.assert_array_equal(a, b)
    # Dense draws exactly glorot_uniform's numbers, so a seed gives the same network as before the split
    np.testing.assert_array_equal(Dense(3, 2, seed=0).kernel,
                                  glorot_uniform(np.random.default_rng(0), (3, 2)).astype("float32"))


def test_recurrent_kernels_are_scaled_orthogonal():
    cell = RNNCell(4, 6, recurrent_scale=0.5, seed=0, dtype="float64")
    np.testing.assert_allclose(np.linalg.svd(cell.params["recurrent_kernel"], compute_uv=False), 0.5, atol=1e-12)
    lstm = LSTMCell(4, 6, seed=0, dtype="float64")
    recurrent = lstm.params["recurrent_kernel"]          # (units, 4*units): rows orthonormal
    np.testing.assert_allclose(recurrent @ recurrent.T, np.eye(6), atol=1e-12)
    np.testing.assert_array_equal(lstm.params["bias"][6:12], 1.0)   # unit_forget_bias
