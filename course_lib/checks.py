"""Assertions for a lab's check cells, with messages a student can act on.

Check cells call these instead of bare `assert` so that every failure says what
was expected, what was received and what to look at:

    from course_lib.checks import check_close, check_shape
    check_shape(probs, (64, 10), name="softmax(logits)")
    check_close(probs.sum(axis=1), 1.0, name="row sums of softmax(logits)",
                hint="normalise each row by its own sum, not the whole matrix")

Each `check_*` is two steps, so that the grader can run them in two places:

- `to_plain(value, kind)` turns what the student's code returned into plain data
  (None, bools, ints, floats, strings, float64/int64/bool arrays, shapes, and
  tuples, lists and dicts of those). A tensor's `.numpy()` is called here, in
  the student's own process only.
- `compare(kind, value, ...)` (one `compare_*` per helper) is a pure function of
  plain data: it returns None when the check holds, else the message.

In a notebook both steps run on the spot and a failure raises `CheckError`.
When a notebook is graded (`course-lib grade`), the student's kernel only runs
`to_plain` on its values; the expected values come from the instructor's source,
run elsewhere, and the comparison runs in the grader's own process
(docs/check-cells.md). `encode_plain` / `decode_plain` carry plain data between
the two as JSON.
"""

import json
import math
import numbers

import numpy as _np


class CheckError(AssertionError):
    """A check failed; the message says what was expected and received."""


# Which kind of value each helper takes (the grader's name for it).
KINDS = {"check_close": "close", "check_equal": "equal", "check_shape": "shape",
         "check_in_range": "in_range", "check_true": "true"}

# Types whose `.shape` is trusted as is (symbolic Keras tensors cannot be converted).
_SHAPE_MODULES = ("numpy", "tensorflow", "keras", "tf_keras", "jax")
_MAX_DEPTH = 20
_MAX_REPR = 200


class Invalid:
    """Plain stand-in for a value that could not be converted (the reason travels, not the value).

    reason: 'none' (the function returned None), 'not_numbers', 'not_plain' or 'too_large'.
    type_name: the value's type name, shortened to an identifier.
    """

    def __init__(self, reason, type_name=""):
        self.reason = reason
        self.type_name = _identifier(type_name)

    def __eq__(self, other):
        return isinstance(other, Invalid) and (self.reason, self.type_name) == (
            other.reason, other.type_name)

    def __repr__(self):
        return f"Invalid({self.reason!r}, {self.type_name!r})"

    def message(self):
        if self.reason == "none":
            return "got None. Did the function forget to `return` its result?"
        if self.reason == "not_numbers":
            return f"expected numbers, got {self.type_name}"
        if self.reason == "too_large":
            return "the value is too large to check (more than a million numbers)"
        return (f"expected plain data (numbers, strings, arrays, tuples, lists, dicts), "
                f"got {self.type_name}")


def _identifier(text):
    """Keeps a type name short and made of identifier characters (it may come from a student)."""
    kept = "".join(c for c in str(text) if c.isascii() and (c.isalnum() or c in "_."))
    return kept[:40] or "?"


# ---------------------------------------------------------------------------- to plain data

_MAX_ELEMENTS = 1_000_000


def _float_array(value):
    if value is None:
        return Invalid("none")
    if isinstance(value, Invalid):
        return value
    if hasattr(value, "numpy") and callable(value.numpy):
        try:
            value = value.numpy()
        except Exception:  # noqa: BLE001 - whatever .numpy() raises, the value is not numbers
            return Invalid("not_numbers", type(value).__name__)
    try:
        array = _np.array(value, dtype=_np.float64)
    except (TypeError, ValueError, OverflowError):
        return Invalid("not_numbers", type(value).__name__)
    if array.size > _MAX_ELEMENTS:
        return Invalid("too_large", type(value).__name__)
    return array


def _shape_of(value):
    if hasattr(value, "shape") and type(value).__module__.split(".")[0] in _SHAPE_MODULES:
        try:
            return tuple(None if s is None else int(s) for s in value.shape)
        except (TypeError, ValueError):
            return Invalid("not_numbers", type(value).__name__)
    array = _float_array(value)
    return array if isinstance(array, Invalid) else tuple(array.shape)


def _structure(value, depth=0):
    if depth > _MAX_DEPTH:
        return Invalid("too_large", type(value).__name__)
    if value is None or type(value) in (bool, str):
        return value
    if isinstance(value, (bool, _np.bool_)):
        return bool(value)
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real) and type(value).__module__ in ("builtins", "numpy"):
        return float(value)
    if type(value) in (tuple, list):
        if len(value) > _MAX_ELEMENTS:
            return Invalid("too_large", type(value).__name__)
        items = [_structure(item, depth + 1) for item in value]
        return tuple(items) if type(value) is tuple else items
    if type(value) is dict:
        plain = {}
        for key, item in value.items():
            key = _structure(key, depth + 1)
            if not isinstance(key, (str, int, bool)) and key is not None:
                return Invalid("not_plain", "dict key")
            plain[key] = _structure(item, depth + 1)
        return plain
    if hasattr(value, "numpy") and callable(value.numpy):
        try:
            value = value.numpy()
        except Exception:  # noqa: BLE001
            return Invalid("not_plain", type(value).__name__)
        if not isinstance(value, (_np.ndarray, _np.generic)):
            return _structure(value, depth + 1)
    if isinstance(value, (_np.ndarray, _np.generic)):
        array = _np.asarray(value)
        if array.size > _MAX_ELEMENTS:
            return Invalid("too_large", "ndarray")
        if array.dtype.kind == "b":
            return array.astype(bool)
        if array.dtype.kind in "iu":
            return array.astype(_np.int64)
        if array.dtype.kind == "f":
            return array.astype(_np.float64)
        if array.dtype.kind in "US":
            return _structure(array.tolist(), depth + 1)
        return Invalid("not_plain", f"ndarray of {array.dtype.name}")
    array = _float_array(value)
    return Invalid("not_plain", type(value).__name__) if isinstance(array, Invalid) else array


def to_plain(value, kind="equal"):
    """Converts a check's value to plain data for `compare(kind, ...)`.

    Args:
        value: what the student's code produced (NumPy, lists, numbers, strings,
            TensorFlow tensors, ...).
        kind: 'close' and 'in_range': a float64 array; 'shape': a tuple of ints
            (None for unknown sizes); 'true': True or False; 'equal': the same
            structure with NumPy scalars and tensors turned into Python numbers
            and arrays.

    Returns:
        Plain data, or an `Invalid` that says why the value could not be converted.
    """
    if kind in ("close", "in_range"):
        return _float_array(value)
    if kind == "shape":
        return _shape_of(value)
    if kind == "true":
        return value is True or (isinstance(value, _np.bool_) and bool(value))
    if kind == "equal":
        return _structure(value)
    raise ValueError(f"kind should be one of {sorted(set(KINDS.values()))}. Received: kind={kind!r}")


# ---------------------------------------------------------------------------- comparing

def _message(name, text, hint):
    message = f"{name}: {text}"
    if hint:
        message += f"\nHint: {hint}"
    return message


def _short(value):
    text = repr(value)
    return text if len(text) <= _MAX_REPR else text[:_MAX_REPR] + "..."


def compare_close(value, expected, name="value", rtol=1e-5, atol=1e-8, hint=None):
    """Returns None if the float array `value` is element-wise close to `expected`, else the message.

    Shapes must match; a scalar `expected` applies to every element of a non-empty `value`.
    """
    actual, target = _float_array(value), _float_array(expected)
    if isinstance(actual, Invalid):
        return _message(name, actual.message(), None)
    if isinstance(target, Invalid):
        return _message("expected", target.message(), None)
    if actual.shape != target.shape:
        if target.ndim > 0:
            return _message(name, f"expected shape {target.shape}, got {actual.shape}", hint)
        if actual.size == 0:
            return _message(name, f"expected a number, got an empty array (shape {actual.shape})",
                            hint)
    if not bool(_np.all(_np.isfinite(actual))):
        return _message(name, "contains NaN or inf (overflow? division by zero?)", hint)
    diff = _np.abs(actual - target)
    tolerance = float(atol) + float(rtol) * _np.abs(target)
    if bool(_np.all(diff <= tolerance)):
        return None
    if actual.size == 1 and target.size == 1:
        got, want = float(actual.reshape(-1)[0]), float(target.reshape(-1)[0])
        return _message(name, f"expected {want:.6g}, got {got:.6g}", hint)
    worst = float(_np.max(diff)) if diff.size else 0.0
    return _message(name, f"differs from the expected values by up to {worst:.3g} "
                          f"(allowed: atol={float(atol):g} + rtol={float(rtol):g} * |expected|)", hint)


def compare_equal(value, expected, name="value", hint=None):
    """Returns None if the plain `value` equals `expected` exactly, else the message.

    Strings, bools and None must match in type and value; an int may come as an
    integer-valued float; tuples/lists of strings element by element; anything
    else is compared as a float array (same shape, same values).
    """
    if isinstance(value, Invalid):
        return _message(name, value.message(), None)
    if isinstance(expected, (str, bool)) or expected is None:
        if type(value) is type(expected) and value == expected:
            return None
        return _message(name, f"expected {expected!r}, got {_short(value)}", hint)
    if isinstance(expected, numbers.Integral):
        if isinstance(value, _np.ndarray) and value.ndim == 0:
            value = value.item()
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or (
                not isinstance(value, numbers.Integral) and not float(value).is_integer()):
            return _message(name, f"expected the integer {expected}, got {_short(value)}", hint)
        if int(value) != int(expected):
            return _message(name, f"expected {expected}, got {int(value)}", hint)
        return None
    if isinstance(expected, (tuple, list)) and all(isinstance(e, (str, bool)) for e in expected):
        if not isinstance(value, (tuple, list)) or len(value) != len(expected):
            return _message(name, f"expected {list(expected)!r}, got {_short(value)}", hint)
        for i, (v, e) in enumerate(zip(value, expected)):
            message = compare_equal(v, e, name=f"{name}[{i}]", hint=hint)
            if message:
                return message
        return None
    actual, target = _float_array(value), _float_array(expected)
    if isinstance(actual, Invalid):
        return _message(name, actual.message(), None)
    if isinstance(target, Invalid):
        return _message("expected", target.message(), None)
    if actual.shape != target.shape or not bool(_np.array_equal(actual, target)):
        return _message(name, f"expected {_short(target.tolist())}, got {_short(actual.tolist())}",
                        hint)
    return None


def compare_shape(value, expected_shape, name="value", hint=None):
    """Returns None if the shape tuple `value` matches `expected_shape` (None: any size)."""
    if isinstance(value, Invalid):
        return _message(name, value.message(), None)
    shape, expected_shape = tuple(value), tuple(expected_shape)
    ok = len(shape) == len(expected_shape) and all(
        e is None or s == e for s, e in zip(shape, expected_shape))
    return None if ok else _message(name, f"expected shape {expected_shape}, got {shape}", hint)


def compare_in_range(value, low, high, name="value", hint=None):
    """Returns None if the float array `value` is one number with `low <= value <= high`."""
    actual = _float_array(value)
    if isinstance(actual, Invalid):
        return _message(name, actual.message(), None)
    if actual.size != 1:
        return _message(name, f"expected a single number, got shape {actual.shape}", hint)
    number = float(actual.reshape(-1)[0])
    if not math.isfinite(number) or not (float(low) <= number <= float(high)):
        return _message(name, f"expected a value between {float(low):g} and {float(high):g}, "
                              f"got {number:.6g}", hint)
    return None


def compare_true(value, message, hint=None):
    """Returns None if `value` is True, else `message` (as 'check: message')."""
    return None if value is True else _message("check", message, hint)


COMPARE = {"close": compare_close, "equal": compare_equal, "shape": compare_shape,
           "in_range": compare_in_range, "true": compare_true}


def compare(kind, value, *args, **kwargs):
    """Runs the `compare_*` of `kind` ('close', 'equal', ...) on plain data."""
    return COMPARE[kind](value, *args, **kwargs)


def _expected_plain(kind, expected):
    """Converts the expected argument of a check (the instructor's) to plain data."""
    if kind == "shape":
        return tuple(expected)
    if kind == "close":
        return _float_array(expected)
    return _structure(expected)


# ---------------------------------------------------------------------------- the helpers

def _raise_if(message):
    if message is not None:
        raise CheckError(message)


def check_close(value, expected, name="value", rtol=1e-5, atol=1e-8, hint=None):
    """Checks that `value` is element-wise close to `expected`.

    Args:
        value: the student's number or array (NumPy, list, TensorFlow tensor).
        expected: the reference number or array, same shape (a single number
            applies to every element of a non-empty value).
        name: what the value is, as the student would call it.
        rtol, atol: tolerances as in `np.allclose`.
        hint: one sentence on the usual mistake.
    """
    _raise_if(compare_close(to_plain(value, "close"), _expected_plain("close", expected),
                            name=name, rtol=rtol, atol=atol, hint=hint))


def check_equal(value, expected, name="value", hint=None):
    """Checks exact equality of ints, strings, tuples/lists of them, or arrays."""
    _raise_if(compare_equal(to_plain(value, "equal"), _expected_plain("equal", expected),
                            name=name, hint=hint))


def check_shape(value, expected_shape, name="value", hint=None):
    """Checks that `value` has shape `expected_shape` (`None` matches any size).

    NumPy arrays, TensorFlow and Keras tensors report their own shape; anything
    else (lists, or an object with a made-up `.shape`) is converted to an array first.
    """
    _raise_if(compare_shape(to_plain(value, "shape"), _expected_plain("shape", expected_shape),
                            name=name, hint=hint))


def check_true(condition, message, hint=None):
    """Checks a plain boolean condition; `message` says what should hold."""
    _raise_if(compare_true(to_plain(condition, "true"), message, hint=hint))


def check_in_range(value, low, high, name="value", hint=None):
    """Checks `low <= value <= high` for one real number."""
    _raise_if(compare_in_range(to_plain(value, "in_range"), low, high, name=name, hint=hint))


# ---------------------------------------------------------------------------- JSON

def encode_plain(plain):
    """Returns plain data as a JSON-able structure (arrays, tuples and dicts tagged)."""
    if isinstance(plain, Invalid):
        return {"invalid": plain.reason, "type": plain.type_name}
    if plain is None or isinstance(plain, (bool, int, str)):
        return plain
    if isinstance(plain, float):
        return {"float": repr(plain)}
    if isinstance(plain, _np.ndarray):
        return {"array": plain.dtype.kind, "shape": list(plain.shape),
                "data": [repr(float(x)) if plain.dtype.kind == "f" else x
                         for x in plain.reshape(-1).tolist()]}
    if isinstance(plain, tuple):
        return {"tuple": [encode_plain(item) for item in plain]}
    if isinstance(plain, list):
        return [encode_plain(item) for item in plain]
    if isinstance(plain, dict):
        return {"dict": [[encode_plain(k), encode_plain(v)] for k, v in plain.items()]}
    raise TypeError(f"not plain data: {type(plain).__name__}")


class MalformedRecord(ValueError):
    """JSON that `decode_plain` does not accept."""


def decode_plain(data, depth=0):
    """Inverse of `encode_plain`, strict: anything else raises `MalformedRecord`."""
    if depth > _MAX_DEPTH + 2:
        raise MalformedRecord("nested too deeply")
    if data is None or isinstance(data, (bool, str)):
        return data
    if isinstance(data, int):
        return data
    if isinstance(data, list):
        return [decode_plain(item, depth + 1) for item in data]
    if not isinstance(data, dict) or len(data) not in (1, 2, 3):
        raise MalformedRecord(f"unexpected {type(data).__name__}")
    keys = set(data)
    if keys == {"float"} and isinstance(data["float"], str):
        return _float(data["float"])
    if keys == {"tuple"} and isinstance(data["tuple"], list):
        return tuple(decode_plain(item, depth + 1) for item in data["tuple"])
    if keys == {"dict"} and isinstance(data["dict"], list):
        plain = {}
        for pair in data["dict"]:
            if not isinstance(pair, list) or len(pair) != 2:
                raise MalformedRecord("bad dict item")
            key = decode_plain(pair[0], depth + 1)
            if not (key is None or isinstance(key, (str, int, bool))):
                raise MalformedRecord("bad dict key")
            plain[key] = decode_plain(pair[1], depth + 1)
        return plain
    if keys == {"invalid", "type"} and data["invalid"] in ("none", "not_numbers", "not_plain",
                                                          "too_large"):
        return Invalid(data["invalid"], str(data["type"]))
    if keys == {"array", "shape", "data"}:
        return _decode_array(data)
    raise MalformedRecord(f"unexpected keys {sorted(keys)[:4]}")


def _float(text):
    try:
        return float(text)
    except ValueError:
        raise MalformedRecord("bad float") from None


def _decode_array(data):
    kind, shape, flat = data["array"], data["shape"], data["data"]
    if kind not in ("f", "i", "b") or not isinstance(shape, list) or not isinstance(flat, list):
        raise MalformedRecord("bad array")
    if not all(isinstance(s, int) and not isinstance(s, bool) and 0 <= s <= _MAX_ELEMENTS
               for s in shape) or len(shape) > 32:
        raise MalformedRecord("bad array shape")
    if math.prod(shape) != len(flat) or len(flat) > _MAX_ELEMENTS:
        raise MalformedRecord("array data does not match its shape")
    if kind == "f":
        if not all(isinstance(x, str) for x in flat):
            raise MalformedRecord("bad float data")
        values = [_float(x) for x in flat]
        return _np.array(values, dtype=_np.float64).reshape(shape)
    wanted = bool if kind == "b" else int
    if not all(type(x) is wanted for x in flat):
        raise MalformedRecord("bad array data")
    return _np.array(flat, dtype=bool if kind == "b" else _np.int64).reshape(shape)


def dumps(plain):
    """JSON text of plain data (see `encode_plain`)."""
    return json.dumps(encode_plain(plain), separators=(",", ":"))
