"""Check helpers: messages a student can act on, and the usual tricks do not pass."""

import numpy as np
import pytest

from course_lib import checks
from course_lib.checks import (CheckError, check_close, check_equal, check_in_range,
                                       check_shape, check_true)


class AlwaysEqual:
    shape = (2,)

    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False


class FakeTensor:
    def __init__(self, values):
        self.values = values

    def numpy(self):
        return np.asarray(self.values)


def test_passing_checks_return_none():
    assert check_close([0.1 + 0.2], [0.3], name="sum") is None
    assert check_close(FakeTensor([1.0, 2.0]), np.array([1.0, 2.0])) is None
    assert check_shape(np.zeros((4, 3)), (None, 3)) is None
    assert check_equal(np.array([2, 1]), [2, 1]) is None
    assert check_equal(16, 16) is None and check_equal(np.int64(16), 16) is None
    assert check_equal(("cat", "dog"), ["cat", "dog"]) is None
    assert check_true(np.bool_(True), "holds") is None
    assert check_in_range(0.5, 0, 1) is None


@pytest.mark.parametrize("call, match", [
    (lambda: check_close([1.0], [2.0], name="loss", hint="divide by n"),
     r"loss: expected 2, got 1\nHint: divide by n"),
    (lambda: check_close([1.0, 2.0], [1.0, 3.0], name="grad"), r"grad: differs from the expected values by up to 1"),
    (lambda: check_close([1.0, 2.0, 3.0], [1.0, 2.0], name="x"), r"x: expected shape \(2,\), got \(3,\)"),
    (lambda: check_close(np.ones((2, 1)), np.ones(2), name="x"), r"x: expected shape \(2,\), got \(2, 1\)"),
    (lambda: check_close([np.nan], [1.0], name="p"), r"p: contains NaN or inf"),
    (lambda: check_close(None, [1.0], name="f(x)"), r"f\(x\): got None. Did the function forget to `return`"),
    (lambda: check_close("abc", [1.0], name="y"), r"y: expected numbers, got str"),
    (lambda: check_shape(np.zeros((2, 2)), (2, 3), name="W"), r"W: expected shape \(2, 3\), got \(2, 2\)"),
    (lambda: check_equal(12, 16, name="n"), r"n: expected 16, got 12"),
    (lambda: check_equal(1.5, 16, name="n"), r"n: expected the integer 16, got 1.5"),
    (lambda: check_equal(True, 1, name="n"), r"n: expected the integer 1, got True"),
    (lambda: check_equal("Cat", "cat", name="label"), r"label: expected 'cat', got 'Cat'"),
    (lambda: check_equal(["cat"], ["cat", "dog"], name="names"), r"names: expected \['cat', 'dog'\]"),
    (lambda: check_equal([1, 2], [1, 3], name="counts"), r"counts: expected \[1.0, 3.0\], got \[1.0, 2.0\]"),
    (lambda: check_true(False, "the loss should go down", hint="lower the learning rate"),
     r"check: the loss should go down\nHint: lower the learning rate"),
    (lambda: check_true(1, "a bool is needed"), r"check: a bool is needed"),
    (lambda: check_in_range(2.0, 0, 1, name="accuracy"), r"accuracy: expected a value between 0 and 1, got 2"),
    (lambda: check_in_range([0.1, 0.2], 0, 1, name="a"), r"a: expected a single number, got shape \(2,\)"),
    (lambda: check_in_range(float("nan"), 0, 1, name="a"), r"a: expected a value between 0 and 1, got nan"),
])
def test_failure_messages(call, match):
    with pytest.raises(CheckError, match=match):
        call()


def test_check_error_is_an_assertion_error():
    assert issubclass(CheckError, AssertionError)


@pytest.mark.parametrize("call", [
    lambda: check_close(AlwaysEqual(), [1.0, 2.0]),
    lambda: check_equal(AlwaysEqual(), [1, 2]),
    lambda: check_equal(AlwaysEqual(), 16),
    lambda: check_equal(AlwaysEqual(), "cat"),
    lambda: check_equal([AlwaysEqual()], ["cat"]),
    lambda: check_shape(AlwaysEqual(), (2,)),
    lambda: check_true(AlwaysEqual(), "truthy objects are not True"),
    lambda: check_in_range(AlwaysEqual(), 0, 1),
])
def test_always_equal_objects_do_not_pass(call):
    with pytest.raises(CheckError):
        call()


def test_patching_numpy_after_import_changes_nothing(monkeypatch):
    monkeypatch.setattr(np, "allclose", lambda *a, **k: True)
    monkeypatch.setattr(np, "array_equal", lambda *a, **k: True)
    monkeypatch.setattr(np, "all", lambda *a, **k: True)
    monkeypatch.setattr(np, "asarray", lambda *a, **k: np.zeros(2))
    with pytest.raises(CheckError):
        check_close([1.0, 2.0], [1.0, 3.0])
    with pytest.raises(CheckError):
        check_equal([1, 2], [1, 3])
    assert checks._all is not np.all
