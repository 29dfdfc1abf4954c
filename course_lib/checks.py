"""Assertions for a lab's check cells, with messages a student can act on.

Check cells call these instead of bare `assert` so that every failure says what
was expected, what was received and what to look at:

    from course_lib.checks import check_close, check_shape
    check_shape(probs, (64, 10), name="softmax(logits)")
    check_close(probs.sum(axis=1), 1.0, name="row sums of softmax(logits)",
                hint="normalise each row by its own sum, not the whole matrix")

They are hardened against the usual tricks of a student's answer cell: values are
converted to plain float64 NumPy arrays before comparing (an object whose `==` is
always True does not pass), comparisons use private references to NumPy functions
taken when this module is imported (monkey-patching `np.allclose` afterwards does
nothing here), and the failure is an `AssertionError` raised from this module.
"""

import math
import numbers

import numpy as _np

# Private references taken at import time; a student patching np.* later does not reach them.
_asarray = _np.asarray
_isfinite = _np.isfinite
_abs = _np.abs
_max = _np.max
_all = _np.all
_float64 = _np.float64
_array_equal = _np.array_equal


class CheckError(AssertionError):
    """A check failed; the message says what was expected and received."""


def _fail(name, message, hint):
    text = f"{name}: {message}"
    if hint:
        text += f"\nHint: {hint}"
    raise CheckError(text)


def _as_float_array(value, name):
    if value is None:
        _fail(name, "got None. Did the function forget to `return` its result?", None)
    if hasattr(value, "numpy") and callable(value.numpy):
        value = value.numpy()
    try:
        array = _asarray(value, dtype=_float64)
    except (TypeError, ValueError) as error:
        _fail(name, f"expected numbers, got {type(value).__name__} ({error})", None)
    return array


# Types whose `.shape` is trusted as is (symbolic Keras tensors cannot be converted).
_SHAPE_MODULES = ("numpy", "tensorflow", "keras", "tf_keras", "jax")


def check_shape(value, expected_shape, name="value", hint=None):
    """Checks that `value` has shape `expected_shape` (`None` matches any size).

    NumPy arrays, TensorFlow and Keras tensors report their own shape; anything
    else (lists, or an object with a made-up `.shape`) is converted to an array first.
    """
    if hasattr(value, "shape") and type(value).__module__.split(".")[0] in _SHAPE_MODULES:
        shape = tuple(int(s) if s is not None else None for s in value.shape)
    else:
        shape = tuple(_as_float_array(value, name).shape)
    expected_shape = tuple(expected_shape)
    ok = len(shape) == len(expected_shape) and all(
        e is None or s == e for s, e in zip(shape, expected_shape))
    if not ok:
        _fail(name, f"expected shape {expected_shape}, got {shape}", hint)


def check_close(value, expected, name="value", rtol=1e-5, atol=1e-8, hint=None):
    """Checks that `value` is element-wise close to `expected`.

    Args:
        value: the student's number or array (NumPy, list, TensorFlow tensor).
        expected: the reference number or array; broadcast against `value`.
        name: what the value is, as the student would call it.
        rtol, atol: tolerances as in `np.allclose`.
        hint: one sentence on the usual mistake.
    """
    actual = _as_float_array(value, name)
    target = _as_float_array(expected, "expected")
    try:
        diff = _abs(actual - target)
    except ValueError:
        _fail(name, f"expected shape {target.shape}, got {actual.shape}", hint)
    if actual.shape != target.shape and target.ndim > 0:
        _fail(name, f"expected shape {target.shape}, got {actual.shape}", hint)
    if not bool(_all(_isfinite(actual))):
        _fail(name, "contains NaN or inf (overflow? division by zero?)", hint)
    tolerance = atol + rtol * _abs(target)
    if not bool(_all(diff <= tolerance)):
        worst = float(_max(diff)) if diff.size else 0.0
        if actual.size == 1 and target.size == 1:
            got = float(actual.reshape(-1)[0])
            want = float(target.reshape(-1)[0])
            _fail(name, f"expected {want:.6g}, got {got:.6g}", hint)
        _fail(name, f"differs from the expected values by up to {worst:.3g} "
                    f"(allowed: atol={atol:g} + rtol={rtol:g} * |expected|)", hint)


def check_equal(value, expected, name="value", hint=None):
    """Checks exact equality of ints, strings, tuples/lists of them, or arrays."""
    if isinstance(expected, (str, bool)) or expected is None:
        ok = type(value) is type(expected) and value == expected
        if ok is not True:
            _fail(name, f"expected {expected!r}, got {value!r}", hint)
        return
    if isinstance(expected, numbers.Integral):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) and not (
                isinstance(value, numbers.Real) and float(value).is_integer()):
            _fail(name, f"expected the integer {expected}, got {value!r}", hint)
        if int(value) != int(expected):
            _fail(name, f"expected {expected}, got {int(value)}", hint)
        return
    if isinstance(expected, (tuple, list)) and all(isinstance(e, (str, bool)) for e in expected):
        if not isinstance(value, (tuple, list)) or len(value) != len(expected):
            _fail(name, f"expected {expected!r}, got {value!r}", hint)
        for i, (v, e) in enumerate(zip(value, expected)):
            check_equal(v, e, name=f"{name}[{i}]", hint=hint)
        return
    actual = _as_float_array(value, name)
    target = _as_float_array(expected, "expected")
    if actual.shape != target.shape or not bool(_array_equal(actual, target)):
        _fail(name, f"expected {target.tolist()!r}, got {actual.tolist()!r}", hint)


def check_true(condition, message, hint=None):
    """Checks a plain boolean condition; `message` says what should hold."""
    if condition is not True and not (isinstance(condition, _np.bool_) and bool(condition)):
        _fail("check", message, hint)


def check_in_range(value, low, high, name="value", hint=None):
    """Checks `low <= value <= high` for one real number."""
    actual = _as_float_array(value, name)
    if actual.size != 1:
        _fail(name, f"expected a single number, got shape {actual.shape}", hint)
    number = float(actual.reshape(-1)[0])
    if not math.isfinite(number) or not (low <= number <= high):
        _fail(name, f"expected a value between {low:g} and {high:g}, got {number:.6g}", hint)
