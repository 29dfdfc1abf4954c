"""Tests for course_lib._validation: one message template, NumPy ints accepted, bools refused."""

import numpy as np
import pytest

from course_lib._validation import (check_choice, check_fraction, check_image_batch, check_image_size,
                                    check_input_shape, check_int, check_ints, check_num_classes, check_number,
                                    check_positive_number, check_seed, is_int, resolve_classes)


def test_is_int_accepts_numpy_ints_and_refuses_bools():
    assert is_int(3) and is_int(np.int64(3)) and is_int(np.uint8(3))
    assert not is_int(True) and not is_int(3.0) and not is_int("3")


def test_check_int():
    assert check_int(np.int64(10), "num_classes") == 10
    assert type(check_int(np.int32(4), "batch_size")) is int
    assert check_int(None, "batch_size", allow_none=True) is None
    assert check_int(0, "seed", minimum=0) == 0
    with pytest.raises(ValueError, match=r"^num_classes should be a positive int \(e.g. "
                                         r"num_classes=10\). Received: num_classes=0$"):
        check_int(0, "num_classes", example=10)
    with pytest.raises(ValueError, match=r"batch_size should be a positive int, or None\. "
                                         r"Received: batch_size=True"):
        check_int(True, "batch_size", allow_none=True)
    with pytest.raises(ValueError, match=r"an int >= 2\. Received: k=1"):
        check_int(1, "k", minimum=2)


def test_check_fraction():
    assert check_fraction(0, "validation_split") == 0.0
    assert check_fraction(None, "validation_split", allow_none=True) is None
    for bad in (1, 1.0, -0.1, "0.2", True):
        with pytest.raises(ValueError, match=r"validation_split should be a fraction between 0 "
                                             r"and 1 \(e\.g\. validation_split=0\.2\)"):
            check_fraction(bad, "validation_split")


def test_check_image_size():
    assert check_image_size([np.int64(28), 28]) == (28, 28)
    with pytest.raises(ValueError, match=r"image_size should be \(height, width\), two positive "
                                         r"ints, e\.g\. \(160, 160\)\. For square images pass "
                                         r"image_size=\(64, 64\)\. Received: image_size=64"):
        check_image_size(64)
    for bad in ((0, 10), (10, 10, 3), (10.0, 10), "160x160", (True, 4)):
        with pytest.raises(ValueError, match="image_size should be"):
            check_image_size(bad)


def test_check_seed_and_choice():
    assert check_seed(np.int64(7)) == 7
    with pytest.raises(ValueError, match=r"seed should be an int \(e\.g\. seed=1337\)"):
        check_seed(None)
    assert check_choice("rgb", "color_mode", {"rgb": 3, "grayscale": 1}) == "rgb"
    with pytest.raises(ValueError, match=r"color_mode should be one of \['rgb', 'grayscale'\]\. "
                                         r"Received: color_mode='RGB'"):
        check_choice("RGB", "color_mode", {"rgb": 3, "grayscale": 1})
    with pytest.raises(ValueError, match="color_mode should be one of"):
        check_choice(["rgb"], "color_mode", ("rgb",))  # unhashable: a clear error, not TypeError


def test_resolve_classes():
    names = ["T-shirt/top", "Trouser", "Bag"]
    assert resolve_classes(None, names) == [0, 1, 2]
    assert resolve_classes(["Bag", np.int64(0)], names) == [2, 0]
    assert resolve_classes("Trouser", names) == [1]
    with pytest.raises(ValueError, match=r"Unknown class 'Shoe'\. Choose among"):
        resolve_classes(["Shoe"], names)
    with pytest.raises(ValueError, match="Class index 3 is out of range: there are 3 classes"):
        resolve_classes([3], names)
    with pytest.raises(ValueError, match="'Bag' is listed twice"):
        resolve_classes(["Bag", 2], names)
    with pytest.raises(ValueError, match="classes is empty"):
        resolve_classes([], names)


def test_check_num_classes_accepts_numpy_ints_and_says_what_it_counts():
    assert check_num_classes(np.int64(10)) == 10
    assert check_num_classes(1, minimum=1) == 1
    with pytest.raises(ValueError, match=r"num_classes should be an int >= 2 .*background.*Received: num_classes=1"):
        check_num_classes(1, hint="Count the background (class 0) too.")
    with pytest.raises(ValueError, match="Received: num_classes=True"):
        check_num_classes(True)


def test_check_ints():
    assert check_ints([np.int64(32), 64], "filters", (32, 64)) == (32, 64)
    for bad in [32, (), (32, 0), (32.0, 64), "32", (True, 2)]:
        with pytest.raises(ValueError, match=r"filters should be a non-empty tuple of positive ints, "
                                             r"e.g. filters=\(32, 64\)"):
            check_ints(bad, "filters", (32, 64))
    with pytest.raises(ValueError, match=r"2 positive ints"):
        check_ints((1, 2, 3), "kernel_size", (3, 3), length=2)
    assert check_ints([], "hidden_units", (256,), allow_empty=True) == ()
    with pytest.raises(ValueError, match=r"hidden_units should be a tuple \(possibly empty\) of positive ints"):
        check_ints((0,), "hidden_units", (256,), allow_empty=True)


def test_check_input_shape():
    assert check_input_shape((np.int64(28), 28, 1)) == (28, 28, 1)
    with pytest.raises(ValueError, match=r"\(height, width, channels\) .*Received: input_shape=\(28, 28\)"):
        check_input_shape((28, 28))
    with pytest.raises(ValueError, match=r"\(time, height, width, channels\)"):
        check_input_shape((8, 32, 32), example=(8, 32, 32, 1))


def test_check_number():
    assert check_number(0, "iou_threshold") == 0.0
    assert check_number(1, "iou_threshold") == 1.0
    with pytest.raises(ValueError, match=r"in \[0, 1\), e.g. dropout_rate=0.5"):
        check_number(1.0, "dropout_rate", include_high=False)
    for bad in [-0.1, float("nan"), True, "0.5"]:
        with pytest.raises(ValueError, match="iou_threshold should be a number in"):
            check_number(bad, "iou_threshold")


def test_check_positive_number():
    assert check_positive_number(np.float32(0.5), "learning_rate", 1e-3) == 0.5
    for bad in [0, -1e-3, float("nan"), True, "0.1", None]:
        with pytest.raises(ValueError, match=r"learning_rate should be a positive number, e.g. "
                                             r"learning_rate=0.001. Received: learning_rate="):
            check_positive_number(bad, "learning_rate", 1e-3)


def test_check_image_batch_adds_the_channel_axis_and_refuses_other_shapes():
    assert check_image_batch(np.zeros((2, 5, 6), "uint8")).shape == (2, 5, 6, 1)
    assert check_image_batch([np.zeros((5, 6, 3))]).shape == (1, 5, 6, 3)
    with pytest.raises(ValueError, match=r"images should have shape \(num_images, height, width, channels\). "
                                         r"Received: images.shape=\(5, 6\)"):
        check_image_batch(np.zeros((5, 6)))
