"""Tests for course_lib.checks, the students' check helpers: actionable messages; the usual tricks do not pass."""

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


def test_an_empty_array_does_not_pass_a_scalar_check():
    with pytest.raises(CheckError, match=r"x: expected a number, got an empty array \(shape \(0,\)\)"):
        check_close(np.zeros(0), 1.0, name="x")
    with pytest.raises(CheckError, match=r"expected shape \(\), got \(0,\)|empty array"):
        check_close([], 0.0)
    assert check_close(np.full((2, 3), 0.5), 0.5) is None      # a scalar applies to every element


def test_to_plain_by_kind():
    assert checks.to_plain(FakeTensor([1, 2]), "shape") == (2,)
    assert checks.to_plain(np.bool_(True), "true") is True
    assert checks.to_plain(1, "true") is False
    plain = checks.to_plain({"a": (np.int64(3), np.float32(0.5), "s", None), "b": np.arange(3)})
    assert plain["a"] == (3, 0.5, "s", None) and type(plain["a"][0]) is int
    assert plain["b"].dtype == np.int64
    assert checks.to_plain(None, "close") == checks.Invalid("none")
    assert checks.to_plain(AlwaysEqual(), "equal").reason == "not_plain"


def test_compare_functions_are_pure_and_return_messages():
    assert checks.compare("close", np.array([1.0]), [1.0]) is None
    assert checks.compare("equal", 12, 16, name="n") == "n: expected 16, got 12"
    assert checks.compare("shape", (2, 2), (2, None)) is None
    assert checks.compare("in_range", np.array(0.5), 0, 1) is None
    assert checks.compare("true", False, "it holds", hint="h") == "check: it holds\nHint: h"
    assert checks.compare("equal", checks.Invalid("none"), 1, name="f(x)").startswith(
        "f(x): got None")


@pytest.mark.parametrize("plain", [
    None, True, 3, 0.1, float("inf"), "text", (1, "a"), [1.5, [2, None]],
    {"k": (1, 2), 3: "x"}, np.array([[1.0, np.nan]]), np.arange(4).reshape(2, 2),
    np.array([True, False]), np.zeros((0, 3)), checks.Invalid("not_numbers", "Foo"),
])
def test_plain_data_survives_json(plain):
    import json
    back = checks.decode_plain(json.loads(checks.dumps(plain)))
    if isinstance(plain, np.ndarray):
        assert back.dtype == plain.dtype and back.shape == plain.shape
        np.testing.assert_array_equal(back, plain)
    elif isinstance(plain, float) or plain is None or isinstance(plain, (int, str)):
        assert back == plain and type(back) is type(plain)
    else:
        assert back == plain


@pytest.mark.parametrize("data", [
    {"array": "O", "shape": [1], "data": [1]},
    {"array": "f", "shape": [2], "data": ["1.0"]},
    {"array": "i", "shape": [1], "data": [True]},
    {"array": "f", "shape": [1], "data": ["__import__('os')"]},
    {"evil": 1}, {"tuple": 3}, {"dict": [[{"tuple": []}, 1]]}, 1.5,
])
def test_malformed_records_are_rejected(data):
    with pytest.raises(checks.MalformedRecord):
        checks.decode_plain(data)
