"""course_lib.data.sequences: shapes, determinism, what the targets mean, errors."""

import numpy as np
import pytest

from course_lib.data.sequences import make_adding_problem, make_recall_task


def test_recall_task_shapes_and_meaning():
    x, y = make_recall_task(200, sequence_length=30, num_classes=4, num_distractors=3, seed=0)
    assert x.shape == (200, 30, 7) and x.dtype == np.float32
    assert y.shape == (200,) and y.dtype == np.int32
    np.testing.assert_array_equal(x.sum(axis=2), 1.0)                 # one-hot at every step
    np.testing.assert_array_equal(x[:, 0].argmax(axis=1), y)          # the label is the first symbol
    assert np.all(x[:, 1:, :4] == 0) and np.all(x[:, 1:, 4:].sum(axis=2) == 1)  # then distractors only
    np.testing.assert_array_equal(np.bincount(y), [50, 50, 50, 50])   # balanced: chance is 1/4


def test_adding_problem_shapes_and_meaning():
    x, y = make_adding_problem(500, sequence_length=40, seed=0)
    assert x.shape == (500, 40, 2) and x.dtype == np.float32 and y.shape == (500,) and y.dtype == np.float32
    markers = x[..., 1]
    np.testing.assert_array_equal(markers.sum(axis=1), 2.0)
    np.testing.assert_array_equal(markers[:, :20].sum(axis=1), 1.0)  # one marker in each half
    np.testing.assert_allclose((x[..., 0] * markers).sum(axis=1), y, rtol=1e-6)
    assert 0 <= x[..., 0].min() and x[..., 0].max() < 1
    # predicting the mean (1) gives the baseline 1/6 = 0.167
    assert np.mean((y - 1.0) ** 2) == pytest.approx(1 / 6, abs=0.02)


@pytest.mark.parametrize("make", [make_recall_task, make_adding_problem])
def test_generators_are_deterministic(make):
    a = make(50, sequence_length=12, seed=3)
    b = make(50, sequence_length=12, seed=3)
    c = make(50, sequence_length=12, seed=4)
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)
    assert not np.array_equal(a[0], c[0])


def test_generator_errors():
    with pytest.raises(ValueError, match=r"num_samples should be a positive int.*Received: num_samples=0"):
        make_adding_problem(0)
    with pytest.raises(ValueError, match=r"sequence_length should be an int >= 2 \(e.g. sequence_length=50\). "
                                         r"Received: sequence_length=1"):
        make_recall_task(10, sequence_length=1)
    with pytest.raises(ValueError, match=r"sequence_length should be an int >= 2.*Received: sequence_length=2.5"):
        make_adding_problem(10, sequence_length=2.5)
    with pytest.raises(ValueError, match=r"num_classes should be an int >= 2.*label to remember.*Received: num_classes=1"):
        make_recall_task(10, num_classes=1)
    with pytest.raises(ValueError, match=r"num_classes should be an int >= 2.*Received: num_classes=True"):
        make_recall_task(10, num_classes=True)
    x, y = make_recall_task(np.int64(4), sequence_length=np.int64(5), num_classes=np.int64(2), seed=0)
    assert x.shape == (4, 5, 6) and set(y.tolist()) == {0, 1}  # NumPy ints are ints
    with pytest.raises(ValueError, match=r"num_distractors should be a positive int.*Received: num_distractors=0"):
        make_recall_task(10, num_distractors=0)
