"""Argument checks shared by course_lib, in the spirit of scikit-learn's `utils/validation.py`.

Every checker raises `ValueError` with one message template: what the argument
should be, an example, and what was received:

    image_size should be (height, width), two positive ints, e.g. (160, 160). Received: image_size=160

NumPy integers count as ints; booleans never do.
"""

import numbers

import numpy as np


def _fail(name, expected, value, hint=""):
    raise ValueError(f"{name} should be {expected}.{hint} Received: {name}={value!r}")


def is_int(value):
    """True for Python and NumPy integers, False for booleans."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def check_int(value, name, minimum=1, example=None, allow_none=False, hint=""):
    """Checks an int >= `minimum` (or None when `allow_none`); returns it as a Python int.

    `hint` is a sentence added to the message, e.g. what the number counts.
    """
    if value is None and allow_none:
        return None
    if not is_int(value) or value < minimum:
        kind = {0: "a non-negative int", 1: "a positive int"}.get(minimum, f"an int >= {minimum}")
        example = f" (e.g. {name}={example})" if example is not None else ""
        _fail(name, kind + example + (", or None" if allow_none else ""), value,
              f" {hint}" if hint else "")
    return int(value)


def check_num_classes(value, minimum=2, example=10, hint=""):
    """Checks `num_classes`, an int >= `minimum` (2 for a classifier); returns a Python int."""
    return check_int(value, "num_classes", minimum=minimum, example=example, hint=hint)


def check_ints(values, name, example, length=None, minimum=1, allow_empty=False):
    """Checks a tuple or list of ints >= `minimum` (of `length` items if given; empty only if `allow_empty`).

    For `filters=(32, 64)`, `units=(256, 128)`, `input_shape=(28, 28, 1)`.
    Returns a tuple of Python ints.
    """
    ok = (isinstance(values, (tuple, list)) and (len(values) > 0 or allow_empty)
          and (length is None or len(values) == length)
          and all(is_int(v) and v >= minimum for v in values))
    if not ok:
        count = (f"{length} " if length is not None
                 else "a tuple (possibly empty) of " if allow_empty else "a non-empty tuple of ")
        kind = {0: "non-negative ints", 1: "positive ints"}.get(minimum, f"ints >= {minimum}")
        _fail(name, f"{count}{kind}, e.g. {name}={example}", values)
    return tuple(int(v) for v in values)


def check_input_shape(value, example=(28, 28, 1), name="input_shape"):
    """Checks an input shape without the batch axis, e.g. (height, width, channels)."""
    axes = {3: "(height, width, channels)", 4: "(time, height, width, channels)"}
    ok = (isinstance(value, (tuple, list)) and len(value) == len(example)
          and all(is_int(v) and v > 0 for v in value))
    if not ok:
        _fail(name, f"{axes.get(len(example), f'{len(example)} positive ints')} of positive ints, "
              f"e.g. {name}={tuple(example)}", value)
    return tuple(int(v) for v in value)


def check_number(value, name, low=0.0, high=1.0, example=0.5, include_high=True):
    """Checks a real number in [low, high] (or [low, high) when not `include_high`)."""
    inside = (isinstance(value, numbers.Real) and not isinstance(value, bool)
              and low <= value and (value <= high if include_high else value < high))
    if not inside:
        bracket = "]" if include_high else ")"
        _fail(name, f"a number in [{low:g}, {high:g}{bracket}, e.g. {name}={example}", value)
    return float(value)


def check_positive_number(value, name, example):
    """Checks a real number > 0 (a learning rate, a step count, a norm); returns it as a float."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value > 0:
        _fail(name, f"a positive number, e.g. {name}={example}", value)
    return float(value)


def check_image_batch(images):
    """Returns `images` as a NumPy array `(num_images, height, width, channels)`; a grayscale
    batch `(num_images, height, width)` gets its channel axis."""
    images = np.asarray(images)
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4:
        raise ValueError(f"images should have shape (num_images, height, width, channels). "
                         f"Received: images.shape={images.shape}")
    return images


def check_fraction(value, name, example=0.2, allow_none=False):
    """Checks a number in [0, 1) (or None when `allow_none`)."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 <= value < 1:
        _fail(name, f"a fraction between 0 and 1 (e.g. {name}={example})"
              + (", or None" if allow_none else ""), value)
    return float(value)


def check_image_size(value, name="image_size"):
    """Checks (height, width), two positive ints; returns a tuple of Python ints."""
    if not isinstance(value, (tuple, list)) or len(value) != 2 or not all(
            is_int(s) and s > 0 for s in value):
        hint = (f" For square images pass {name}=({value}, {value})." if is_int(value) else "")
        _fail(name, "(height, width), two positive ints, e.g. (160, 160)", value, hint)
    return int(value[0]), int(value[1])


def check_seed(value, name="seed"):
    """Checks an int seed; returns it as a Python int."""
    if not is_int(value):
        _fail(name, f"an int (e.g. {name}=1337) so that every run gives the same result", value)
    return int(value)


def check_choice(value, name, choices):
    """Checks that `value` is one of `choices`."""
    if not any(value is c or (isinstance(value, str) and value == c) for c in choices):
        _fail(name, f"one of {list(choices)}", value)
    return value


def resolve_classes(classes, class_names, argument="classes"):
    """Returns the list of class indices asked for (names or ints), in the order given."""
    if classes is None:
        return list(range(len(class_names)))
    if isinstance(classes, str) or is_int(classes):
        classes = [classes]
    chosen = []
    for item in classes:
        if is_int(item):
            if not 0 <= item < len(class_names):
                raise ValueError(f"Class index {item} is out of range: there are "
                                 f"{len(class_names)} classes (0 to {len(class_names) - 1}). "
                                 f"Received: {argument}={classes!r}")
            index = int(item)
        elif item in class_names:
            index = list(class_names).index(item)
        else:
            raise ValueError(f"Unknown class {item!r}. Choose among {list(class_names)}. "
                             f"Received: {argument}={classes!r}")
        if index in chosen:
            raise ValueError(f"Class {class_names[index]!r} is listed twice. "
                             f"Received: {argument}={classes!r}")
        chosen.append(index)
    if not chosen:
        raise ValueError(f"{argument} is empty; pass None for the default classes or a list of "
                         f"names. "
                         f"Received: {argument}={classes!r}")
    return chosen
