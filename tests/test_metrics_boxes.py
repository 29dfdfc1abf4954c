"""Tests for course_lib.metrics.boxes: the box checker, IoU and NMS, by hand and against Keras/TensorFlow."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import course_lib
from course_lib.metrics.boxes import (CONVERT_XYWH_HINT, box_iou, check_box_format, check_boxes, check_per_box,
                                      non_max_suppression)


def random_boxes(rng, n, size=100.0, max_side=40.0):
    """(n, 4) "xyxy" float32 boxes inside [0, size], crowded enough to overlap often."""
    corner = rng.uniform(0, size - max_side, size=(n, 2))
    side = rng.uniform(1, max_side, size=(n, 2))
    return np.concatenate([corner, corner + side], axis=1).astype("float32")


# -------------------------------------------------------------------------- box_iou


def test_box_iou_hand_worked():
    # [0, 0, 2, 2] and [1, 1, 3, 3]: intersection 1x1 = 1, union 4 + 4 - 1 = 7
    assert box_iou([0, 0, 2, 2], [1, 1, 3, 3]) == pytest.approx(1 / 7)
    assert box_iou([0, 0, 2, 2], [0, 0, 2, 2]) == 1.0
    assert box_iou([0, 0, 2, 2], [2, 0, 4, 2]) == 0.0  # touching edges share no area
    assert box_iou([0, 0, 4, 4], [1, 1, 2, 2]) == pytest.approx(1 / 16)  # inside: area ratio
    # "xywh": (1, 1, 2, 2) is the "xyxy" box (1, 1, 3, 3)
    assert box_iou([0, 0, 2, 2], [1, 1, 2, 2], box_format="xywh") == pytest.approx(1 / 7)
    assert box_iou([0, 0, 2, 2], [1, 1, 2, 2], box_format="XYWH") == pytest.approx(1 / 7)


def test_box_iou_shapes_follow_the_inputs():
    a = np.array([[0, 0, 2, 2], [1, 1, 3, 3], [0, 0, 1, 1]])
    b = np.array([[0, 0, 2, 2], [5, 5, 6, 6]])
    matrix = box_iou(a, b)
    assert matrix.shape == (3, 2)
    np.testing.assert_allclose(matrix, [[1, 0], [1 / 7, 0], [1 / 4, 0]])
    np.testing.assert_allclose(box_iou(a[1], b), matrix[1])
    np.testing.assert_allclose(box_iou(a, b[0]), matrix[:, 0])
    assert box_iou(np.zeros((0, 4)), b).shape == (0, 2)
    assert box_iou(a, []).shape == (3, 0)


def test_box_iou_zero_area_boxes_give_zero_not_nan():
    point = [1, 1, 1, 1]
    line = [0, 1, 3, 1]
    iou = box_iou([point, line, [0, 0, 2, 2]], [point, line])
    assert not np.isnan(iou).any()
    np.testing.assert_array_equal(iou, np.zeros((3, 2)))


@pytest.mark.parametrize("box_format", ["xyxy", "xywh"])
def test_box_iou_matches_keras_compute_iou(box_format):
    rng = np.random.default_rng(0)
    a, b = random_boxes(rng, 9), random_boxes(rng, 6)
    if box_format == "xywh":
        a[:, 2:] -= a[:, :2]
        b[:, 2:] -= b[:, :2]
    expected = keras.ops.convert_to_numpy(
        keras.utils.bounding_boxes.compute_iou(a, b, bounding_box_format=box_format))
    ours = box_iou(a, b, box_format=box_format)
    assert (ours > 0).sum() >= 10  # the boxes do overlap: the comparison is not all zeros
    np.testing.assert_allclose(ours, expected, atol=1e-6)


@pytest.mark.parametrize("kwargs, match", [
    (dict(boxes_a=[[0, 0, 1]], boxes_b=[0, 0, 1, 1]),
     r"boxes_a should have shape \(num_boxes, 4\).*Received: boxes_a.shape=\(1, 3\)"),
    (dict(boxes_a=[0, 0, 1, 1], boxes_b=np.zeros((2, 2, 4))),
     r"boxes_b should have shape .*Received: boxes_b.shape=\(2, 2, 4\)"),
    (dict(boxes_a=[[0, 0, 1, 1], [0, 0, np.nan, 1]], boxes_b=[0, 0, 1, 1]),
     r"boxes_a should hold finite coordinates, but box 1 .*Received: boxes_a\[1\]=\[0.0, 0.0, nan, 1.0\]"),
    (dict(boxes_a=[0, 0, 1, 1], boxes_b=[[0, 0, 1, 1], [0, 0, 1, 1], [5, 5, 2, 8]]),
     r"box 2 has x_max < x_min.*box_format=\"xywh\".*Received: boxes_b\[2\]=\[5.0, 5.0, 2.0, 8.0\]"),
    (dict(boxes_a=[0, 0, -1, 2], boxes_b=[0, 0, 1, 1], box_format="xywh"),
     r"width, height >= 0, but box 0 .*Received: boxes_a\[0\]=\[0.0, 0.0, -1.0, 2.0\]"),
    (dict(boxes_a=[0, 0, 1, 1], boxes_b=[0, 0, 1, 1], box_format="yxhw"),
     r'box_format should be "xyxy" .* or "xywh".*Received: box_format=\'yxhw\''),
    (dict(boxes_a="0 0 1 1", boxes_b=[0, 0, 1, 1]),
     r"boxes_a should be an array of numbers .*Received: boxes_a of type str"),
])
def test_box_iou_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        box_iou(**kwargs)


# ---------------------------------------------------------------- non_max_suppression


def test_non_max_suppression_hand_worked():
    # Boxes 0 and 1 cover the same object: overlap 38 x 36 = 1368, union 1600 + 1440 - 1368 = 1672,
    # IoU 0.82. Box 2 is elsewhere. Box 1 scores best, suppresses box 0, then box 2 stays.
    boxes = [[10, 10, 50, 50], [12, 12, 52, 48], [100, 100, 140, 140]]
    scores = [0.6, 0.9, 0.8]
    assert box_iou(boxes[0], boxes[1]) == pytest.approx(1368 / 1672)
    keep = non_max_suppression(boxes, scores, iou_threshold=0.5)
    assert keep.dtype == np.int64
    assert keep.tolist() == [1, 2]
    # A threshold above their IoU keeps all three, by decreasing score
    assert non_max_suppression(boxes, scores, iou_threshold=0.9).tolist() == [1, 2, 0]
    assert non_max_suppression(boxes, scores, iou_threshold=0.9, max_output_size=2).tolist() == [1, 2]
    # score_threshold drops boxes scoring 0.8 or less (strictly above is kept, as in TensorFlow)
    assert non_max_suppression(boxes, scores, iou_threshold=0.9, score_threshold=0.8).tolist() == [1]
    # "xywh" boxes: the same three boxes
    xywh = [[10, 10, 40, 40], [12, 12, 40, 36], [100, 100, 40, 40]]
    assert non_max_suppression(xywh, scores, box_format="xywh").tolist() == [1, 2]


def test_non_max_suppression_edge_cases():
    # IoU exactly 0.5: suppressed only when IoU is strictly above the threshold
    pair = [[0, 0, 2, 1], [0, 0, 1, 1]]
    assert non_max_suppression(pair, [0.9, 0.8], iou_threshold=0.5).tolist() == [0, 1]
    assert non_max_suppression(pair, [0.9, 0.8], iou_threshold=0.49).tolist() == [0]
    # equal scores: lower index first
    apart = [[0, 0, 1, 1], [5, 5, 6, 6], [9, 9, 10, 10]]
    assert non_max_suppression(apart, [0.5, 0.7, 0.5]).tolist() == [1, 0, 2]
    # a suppressed box does not suppress others: 0 removes 1, and 2 (which overlaps 1 only) stays
    chain = [[0, 0, 10, 10], [5, 0, 15, 10], [11, 0, 21, 10]]
    assert non_max_suppression(chain, [0.9, 0.8, 0.7], iou_threshold=0.3).tolist() == [0, 2]
    assert non_max_suppression(np.zeros((0, 4)), []).tolist() == []
    assert non_max_suppression(chain, [0.9, 0.8, 0.7], max_output_size=0).tolist() == []


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("iou_threshold, score_threshold, max_output_size", [
    (0.5, None, None), (0.3, 0.4, None), (0.7, None, 10), (0.0, None, None), (1.0, 0.2, 25)])
def test_non_max_suppression_matches_tensorflow(seed, iou_threshold, score_threshold, max_output_size):
    rng = np.random.default_rng(seed)
    boxes = random_boxes(rng, 80)
    # scores rounded to 0.1: many ties, so the tie-breaking rule is compared too
    scores = np.round(rng.uniform(size=80), 1).astype("float32")
    ours = non_max_suppression(boxes, scores, iou_threshold=iou_threshold, score_threshold=score_threshold,
                               max_output_size=max_output_size)
    expected = tf.image.non_max_suppression(
        boxes[:, [1, 0, 3, 2]], scores,  # TensorFlow's (y_min, x_min, y_max, x_max) order
        max_output_size=80 if max_output_size is None else max_output_size,
        iou_threshold=iou_threshold,
        score_threshold=float("-inf") if score_threshold is None else score_threshold).numpy()
    assert 0 < len(ours) < 80 or iou_threshold == 1.0  # boxes are suppressed: not a trivial comparison
    np.testing.assert_array_equal(ours, expected)


@pytest.mark.parametrize("kwargs, match", [
    (dict(scores=[0.9, 0.8]),
     r"scores should have shape \(3,\): one score per box.*Received: scores.shape=\(2,\)"),
    (dict(scores=[0.9, np.inf, 0.1]), r"scores should hold finite numbers, but entry 1 is inf"),
    (dict(scores=[0.9, 0.8, 0.1], iou_threshold=-0.1),
     r"iou_threshold should be a number in \[0, 1\].*Received: iou_threshold=-0.1"),
    (dict(scores=[0.9, 0.8, 0.1], iou_threshold=1.5), r"Received: iou_threshold=1.5"),
    (dict(scores=[0.9, 0.8, 0.1], score_threshold=-0.5),
     r"score_threshold should be a number >= 0 .*Received: score_threshold=-0.5"),
    (dict(scores=[0.9, 0.8, 0.1], max_output_size=2.5),
     r"max_output_size should be a non-negative int.*None keeps every box.*Received: max_output_size=2.5"),
    (dict(scores=[0.9, 0.8, 0.1], max_output_size=-1), r"Received: max_output_size=-1"),
    (dict(scores=[0.9, 0.8, 0.1], box_format="cxcywh"), r"Received: box_format='cxcywh'"),
    (dict(scores="high"), r"scores should be an array of numbers .*Received: scores of type str"),
])
def test_non_max_suppression_errors(kwargs, match):
    boxes = [[0, 0, 1, 1], [0, 0, 2, 2], [5, 5, 6, 6]]
    with pytest.raises(ValueError, match=match):
        non_max_suppression(boxes, **kwargs)
    match = r"box 1 has x_max < x_min.*Received: boxes\[1\]=\[2.0, 0.0, 1.0, 1.0\]"
    with pytest.raises(ValueError, match=match):
        non_max_suppression([[0, 0, 1, 1], [2, 0, 1, 1]], [0.5, 0.5])


# ---------------------------------------------------------------- check_boxes


def test_check_boxes_returns_float64_xyxy():
    out = check_boxes([[10, 20, 30, 40]], box_format="xywh")
    assert out.dtype == np.float64 and out.tolist() == [[10, 20, 40, 60]]
    np.testing.assert_array_equal(check_boxes(np.float32([[1, 2, 3, 4]])), [[1, 2, 3, 4]])
    assert check_boxes([]).shape == (0, 4) and check_boxes(np.zeros((0, 4)), image_size=(8, 8)).shape == (0, 4)
    assert check_boxes([1, 2, 3, 4], allow_single=True).tolist() == [[1, 2, 3, 4]]
    assert check_boxes([[0, 0, 64, 32]], image_size=(32, 64)).shape == (1, 4)   # (height, width): x up to 64
    assert check_box_format("XYWH") == "xywh"


@pytest.mark.parametrize("kwargs, match", [
    (dict(boxes=[[10, 0, 5, 8]]),
     r'boxes should be "xyxy" boxes \(x_min, y_min, x_max, y_max\) with width, height >= 0, but box 0 has '
     r'x_max < x_min or y_max < y_min. If your boxes are \(x_min, y_min, width, height\), pass box_format="xywh". '
     r"Received: boxes\[0\]=\[10.0, 0.0, 5.0, 8.0\]"),
    (dict(boxes=[[0, 0, 5, 5], [0, 0, 5, -1]], box_format="xywh"),
     r'"xywh" boxes \(x_min, y_min, width, height\).*box 1 has a negative width or height. '
     r'If your boxes are \(x_min, y_min, x_max, y_max\), pass box_format="xyxy"'),
    (dict(boxes=[[0, 0, 5, 5], [60, 10, 70, 20]], image_size=(64, 64)),
     r"inside the image.*box 1 does not.*Received: boxes\[1\]=\[60.0, 10.0, 70.0, 20.0\]"),
    (dict(boxes=[[0, 0, 5, 5]], image_size=64), r"image_size should be \(height, width\).*Received: image_size=64"),
    (dict(boxes=[], image_size=(64,)), r"image_size should be \(height, width\)"),    # checked before any work
    (dict(boxes=[0, 0, 5, 5]),
     r"boxes should have shape \(num_boxes, 4\).*for one box use \[\[x_min, y_min, x_max, y_max\]\]. "
     r"Received: boxes.shape=\(4,\)"),
    (dict(boxes=[0, 0, 5, 5], box_format="xywh"), r"for one box use \[\[x_min, y_min, width, height\]\]"),
    (dict(boxes=[[0, 0, 5]], allow_single=True), r"or \(4,\) for one box. Received: boxes.shape=\(1, 3\)"),
    (dict(boxes=[[0, 0, np.nan, 5]], name="gt"), r"gt should hold finite coordinates, but box 0 has NaN or inf"),
    (dict(boxes="boxes"), r"boxes should be an array of numbers of shape \(num_boxes, 4\).*type str"),
    (dict(boxes=[[0, 0, 1, 1]], box_format="cxcywh"), r"box_format should be.*Received: box_format='cxcywh'"),
])
def test_check_boxes_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        check_boxes(**kwargs)


def test_check_boxes_hint_replaces_the_box_format_advice():
    # Functions without a box_format argument (anchors, R-CNN) say how to convert instead.
    with pytest.raises(ValueError, match=r"x_max < x_min") as error:
        check_boxes([[10, 0, 5, 8]], hint=CONVERT_XYWH_HINT)
    assert "convert them: x_max = x_min + width" in str(error.value) and "box_format=" not in str(error.value)


def test_check_per_box():
    assert check_per_box([0.5, 1], "scores", 2).dtype == np.float64
    assert check_per_box([1, 2.0], "labels", 2, "label", integer=True).tolist() == [1, 2]
    assert check_per_box([], "scores", 0).shape == (0,)
    with pytest.raises(ValueError, match=r"labels should hold integer class ids >= 0.*Received: labels\[1\]=-1.0"):
        check_per_box([1, -1], "labels", 2, "label", integer=True)
    with pytest.raises(ValueError, match=r"scores should have shape \(3,\): one score per box"):
        check_per_box([0.5], "scores", 3)


def test_exports():
    assert course_lib.box_iou is box_iou and course_lib.check_boxes is check_boxes
    assert course_lib.non_max_suppression is non_max_suppression
    assert course_lib.metrics.box_iou is box_iou and course_lib.metrics.check_boxes is check_boxes
