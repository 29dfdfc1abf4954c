"""Tests of course_lib.models.anchors: anchors, box offsets, anchor assignment and detection targets."""

import doctest

import numpy as np
import pytest

from course_lib.data.scenes import make_fashion_scenes
from course_lib.metrics.boxes import box_iou
from course_lib.models import anchors as anchors_module
from course_lib.models.anchors import assign_anchors, decode_boxes, encode_boxes, make_anchors, make_detection_targets


# --------------------------------------------------------------------------- anchors

def test_anchor_count_shape_and_order():
    anchors = make_anchors((64, 64), (8, 8), sizes=(16, 28), aspect_ratios=(0.5, 1.0, 2.0))
    assert anchors.shape == (8 * 8 * 6, 4) and anchors.dtype == np.float32
    centres = (anchors[:, :2] + anchors[:, 2:]) / 2
    np.testing.assert_allclose(centres[:6], [[4, 4]] * 6, atol=1e-5)       # first cell: (4, 4)
    np.testing.assert_allclose(centres[6], [12, 4], atol=1e-5)              # next column
    np.testing.assert_allclose(centres[8 * 6], [4, 12], atol=1e-5)          # next row
    np.testing.assert_allclose(centres[-1], [60, 60], atol=1e-5)
    sizes = anchors[:6, 2:] - anchors[:6, :2]                                # (w, h)
    np.testing.assert_allclose(np.sqrt(sizes.prod(axis=1)), [16, 16, 16, 28, 28, 28], rtol=1e-5)
    np.testing.assert_allclose(sizes[:3, 0] / sizes[:3, 1], [0.5, 1.0, 2.0], rtol=1e-5)


def test_anchors_rectangular_grid():
    anchors = make_anchors((32, 64), (4, 16), sizes=(8,), aspect_ratios=(1.0,))
    assert anchors.shape == (64, 4)
    np.testing.assert_allclose(anchors[1], [2, 0, 10, 8])   # stride 4 in x, 8 in y: centre (6, 4)


@pytest.mark.parametrize("kwargs, match", [
    ({"image_size": (64, 64), "feature_size": (7, 7)}, r"feature_size should divide image_size.*\(64, 64\)"),
    ({"image_size": "64"}, r"image_size should be \(height, width\).*Received: image_size='64'"),
    ({"image_size": 64}, r"image_size should be \(height, width\).*pass image_size=\(64, 64\).*Received: image_size=64"),
    ({"feature_size": 8}, r"feature_size should be 2 positive ints, e.g. feature_size=\(8, 8\).*Received: feature_size=8"),
    ({"sizes": (16, -4)}, r"sizes should be a non-empty list of positive numbers.*-4"),
    ({"aspect_ratios": ()}, r"aspect_ratios should be a non-empty list"),
])
def test_anchor_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_anchors(**kwargs)


# --------------------------------------------------------------------------- offsets

def test_encode_decode_round_trip():
    rng = np.random.default_rng(0)
    anchors = make_anchors((64, 64), (8, 8))
    top_left = rng.uniform(0, 40, (len(anchors), 2))
    boxes = np.concatenate([top_left, top_left + rng.uniform(2, 24, (len(anchors), 2))], axis=1)
    offsets = encode_boxes(boxes, anchors)
    np.testing.assert_allclose(decode_boxes(offsets, anchors), boxes, atol=1e-3)
    np.testing.assert_allclose(encode_boxes(anchors, anchors), 0, atol=1e-6)   # a box equal to its anchor
    batch = np.stack([offsets, offsets])                                      # leading batch axis
    assert decode_boxes(batch, anchors).shape == (2, len(anchors), 4)


def test_encode_known_values():
    offsets = encode_boxes([[2, 0, 12, 20]], [[0, 0, 10, 10]])
    np.testing.assert_allclose(offsets, [[0.2, 0.5, 0.0, np.log(2)]], rtol=1e-5)


def test_encode_errors():
    with pytest.raises(ValueError, match=r"boxes and anchors should have the same shape.*\(1, 4\).*\(2, 4\)"):
        encode_boxes([[0, 0, 5, 5]], [[0, 0, 5, 5], [1, 1, 4, 4]])
    with pytest.raises(ValueError, match=r"positive width and height to be encoded.*\[3.0, 3.0, 3.0, 8.0\]"):
        encode_boxes([[3, 3, 3, 8]], [[0, 0, 5, 5]])
    with pytest.raises(ValueError, match=r"offsets should have shape \(..., num_anchors, 4\).*num_anchors = 2"):
        decode_boxes(np.zeros((3, 4)), [[0, 0, 5, 5], [1, 1, 4, 4]])
    with pytest.raises(ValueError, match=r"anchors should have shape \(num_anchors, 4\).*\(4,\)"):
        decode_boxes(np.zeros((1, 4)), [0, 0, 5, 5])


@pytest.mark.parametrize("call", [lambda boxes: encode_boxes(boxes, [[0, 0, 5, 5]]),
                                  lambda boxes: assign_anchors([[0, 0, 5, 5]], boxes, [1])])
def test_bad_boxes_get_the_shared_message_without_box_format(call):
    # The functions take "xyxy" only: the message says how to convert, not to pass box_format.
    with pytest.raises(ValueError, match=r"box 0 has x_max < x_min or y_max < y_min.*x_max = x_min \+ width"
                                         r".*Received: boxes\[0\]=\[10.0, 0.0, 5.0, 8.0\]") as error:
        call([[10, 0, 5, 8]])
    assert "box_format" not in str(error.value)
    with pytest.raises(ValueError, match=r"boxes should have shape \(num_boxes, 4\).*for one box use \[\[x_min"):
        call([0, 0, 5, 5])


# --------------------------------------------------------------------------- assignment

def test_assign_hand_made():
    anchors = [[0, 0, 10, 10], [5, 0, 15, 10], [2, 0, 12, 10], [30, 30, 40, 40]]
    classes, offsets = assign_anchors(anchors, [[0, 0, 10, 10]], [2], positive_iou=0.5, negative_iou=0.4)
    # IoUs: 1 (positive), 1/3 (background), 8/12 = 0.67 (positive), 0 (background)
    assert classes.tolist() == [2, 0, 2, 0]
    np.testing.assert_allclose(offsets[0], 0, atol=1e-6)
    np.testing.assert_allclose(offsets[2], encode_boxes([[0, 0, 10, 10]], [[2, 0, 12, 10]])[0], atol=1e-6)
    np.testing.assert_allclose(offsets[[1, 3]], 0)


def test_assign_ignore_band_and_best_anchor():
    anchors = [[0, 0, 10, 10], [4, 0, 14, 10], [20, 20, 30, 30]]
    # Box 0 vs anchor 1: IoU 6/14 = 0.43 -> ignored; box 1 overlaps anchor 2 with IoU 0.25 only,
    # but anchor 2 is its best anchor, so it becomes positive anyway.
    classes, _ = assign_anchors(anchors, [[0, 0, 10, 10], [25, 25, 35, 35]], [1, 3])
    assert classes.tolist() == [1, -1, 3]


def test_assign_without_objects_is_all_background():
    classes, offsets = assign_anchors(make_anchors((64, 64), (8, 8)), np.zeros((0, 4)), [])
    assert (classes == 0).all() and (offsets == 0).all()


def test_assign_errors():
    anchors = [[0, 0, 10, 10]]
    with pytest.raises(ValueError, match=r"labels should hold one int class id >= 1 per box \(1 boxes; 0 is the background"):
        assign_anchors(anchors, [[0, 0, 5, 5]], [0])
    with pytest.raises(ValueError, match=r"labels should hold one int class id >= 1 per box \(2 boxes"):
        assign_anchors(anchors, [[0, 0, 5, 5], [1, 1, 3, 3]], [1])
    with pytest.raises(ValueError, match=r"negative_iou should be <= positive_iou.*0.3.*0.6"):
        assign_anchors(anchors, [[0, 0, 5, 5]], [1], positive_iou=0.3, negative_iou=0.6)
    with pytest.raises(ValueError, match=r"positive_iou should be a number in \[0, 1\].*1.5"):
        assign_anchors(anchors, [[0, 0, 5, 5]], [1], positive_iou=1.5)
    with pytest.raises(ValueError, match=r"inside the image"):
        assign_anchors(anchors, [[0, 0, 5, 50]], [1], image_size=(32, 32))
    with pytest.raises(ValueError, match=r"one entry per image.*2 box arrays and 1 label arrays"):
        make_detection_targets(anchors, [np.zeros((0, 4))] * 2, [[]])


def test_targets_shape_and_every_object_has_a_positive():
    scenes = make_fashion_scenes(6, seed=0)
    anchors = make_anchors((64, 64), (8, 8))
    targets = make_detection_targets(anchors, scenes.boxes, scenes.labels, image_size=(64, 64))
    assert targets.shape == (6, 384, 5)
    for i in range(6):
        positive = targets[i, :, 0] > 0
        decoded = decode_boxes(targets[i, positive, 1:], anchors[positive])
        iou = box_iou(decoded, scenes.boxes[i])
        assert (iou.max(axis=0) > 0.999).all()   # each ground truth is decoded back exactly


def test_docstring_examples_give_the_printed_output():
    result = doctest.testmod(anchors_module, extraglobs={"np": np}, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
