"""Tests for course_lib.metrics.detection: IoU, NMS and AP, by hand and against Keras/TensorFlow."""

import doctest

import keras
import numpy as np
import pytest
import tensorflow as tf

import course_lib
from course_lib.metrics import (average_precision, box_iou, detection, mean_average_precision,
                                non_max_suppression, precision_recall_curve)
from course_lib.metrics.detection import COCO_IOU_THRESHOLDS, coco_mean_average_precision



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


# ---------------------------------------------------------------- average_precision


def test_average_precision_hand_worked():
    # Ranked detections right, wrong, right for 2 objects: recall .5 .5 1, precision 1 .5 2/3.
    # Envelope: 1 up to recall .5, then 2/3 up to recall 1.
    recall, precision = [0.5, 0.5, 1.0], [1.0, 0.5, 2 / 3]
    # all points: .5 * 1 + .5 * 2/3
    assert average_precision(recall, precision) == pytest.approx(5 / 6)
    # 11 points: recall 0, .1, ..., .5 -> 1 (6 points); .6, ..., 1 -> 2/3 (5 points)
    assert average_precision(recall, precision, method="11_point") == pytest.approx((6 + 5 * 2 / 3) / 11)
    # 101 points: 0, .01, ..., .5 -> 1 (51 points); .51, ..., 1 -> 2/3 (50 points)
    assert average_precision(recall, precision, method="101_point") == pytest.approx((51 + 50 * 2 / 3) / 101)


def test_average_precision_uses_the_envelope_and_stops_at_the_last_recall():
    # 4 objects, 3 found: recall .25 .5 .5 .75, precision 1 1 2/3 3/4.
    # The dip to 2/3 is lifted to 3/4 by the envelope; recall above .75 gets precision 0.
    recall, precision = [0.25, 0.5, 0.5, 0.75], [1.0, 1.0, 2 / 3, 0.75]
    assert average_precision(recall, precision) == pytest.approx(0.25 + 0.25 + 0.25 * 0.75)
    # 11 points: 0..0.5 -> 1 (6), .6 .7 -> .75 (2), .8 .9 1 -> 0 (3)
    assert average_precision(recall, precision, method="11_point") == pytest.approx((6 + 2 * 0.75) / 11)
    assert average_precision([1.0], [1.0]) == 1.0
    assert average_precision([], []) == 0.0
    assert average_precision([0.0, 0.0], [0.0, 0.0]) == 0.0


@pytest.mark.parametrize("kwargs, match", [
    (dict(recall=[0.5, 1.0], precision=[1.0]),
     r"recall and precision should have the same shape.*"
     r"Received: recall.shape=\(2,\), precision.shape=\(1,\)"),
    (dict(recall=[[0.5, 1.0]], precision=[[1.0, 1.0]]),
     r"recall should be a 1D array.*Received: recall.shape=\(1, 2\)"),
    (dict(recall=[0.5, 1.0], precision=[1.0, 50.0]),
     r"precision should hold values in \[0, 1\]. Received: precision between 1.0 and 50.0"),
    (dict(recall=[0.5, np.nan], precision=[1.0, 1.0]), r"recall should hold values in \[0, 1\].*NaN: True"),
    (dict(recall=[1.0, 0.5], precision=[1.0, 1.0]),
     r"recall should be non-decreasing.*sorted by decreasing score.*"
     r"Received: recall\[0\]=1.0, recall\[1\]=0.5"),
    (dict(recall=[1.0], precision=[1.0], method="voc"),
     r'method should be "all_points".*Received: method=\'voc\''),
    (dict(recall=None, precision=[1.0]), r"recall should be a 1D array.*Received: recall.shape=\(\)"),
    (dict(recall=["a"], precision=[1.0]),
     r"recall should be a 1D array of numbers .*Received: recall of type list"),
])
def test_average_precision_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        average_precision(**kwargs)


# ------------------------------------------------------------ mean_average_precision


def ground_truth(boxes, labels):
    return {"boxes": np.asarray(boxes, dtype="float64").reshape(-1, 4),
            "labels": np.asarray(labels, dtype="int64")}


def detection_(boxes, labels, scores):
    return {**ground_truth(boxes, labels), "scores": np.asarray(scores, dtype="float64")}


def to_xywh(image):
    boxes = image["boxes"]
    return {**image, "boxes": np.concatenate([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], axis=1)}


A, B, ELSEWHERE = [0, 0, 10, 10], [20, 20, 30, 30], [50, 50, 60, 60]


def test_mean_average_precision_hand_worked():
    # One image, 2 objects of class 0, 3 detections ranked by score:
    #   0.9 on A -> TP, 0.8 on empty background -> FP, 0.7 on B -> TP
    # precision 1/1, 1/2, 2/3; recall 1/2, 1/2, 2/2
    # all-points AP = 1/2 * 1 + 1/2 * 2/3 = 0.8333; 11-point AP = (6 * 1 + 5 * 2/3) / 11 = 0.8485
    gts = [ground_truth([A, B], [0, 0])]
    dets = [detection_([A, ELSEWHERE, B], [0, 0, 0], [0.9, 0.8, 0.7])]
    recall, precision, scores = precision_recall_curve(dets, gts, class_id=0)
    np.testing.assert_allclose(recall, [0.5, 0.5, 1.0])
    np.testing.assert_allclose(precision, [1.0, 0.5, 2 / 3])
    np.testing.assert_allclose(scores, [0.9, 0.8, 0.7])
    result = mean_average_precision(dets, gts)
    assert result["map"] == pytest.approx(5 / 6)
    assert result["per_class"] == {0: pytest.approx(5 / 6)}
    assert mean_average_precision(dets, gts, method="11_point")["map"] == pytest.approx((6 + 10 / 3) / 11)
    # Detections given in any order are ranked by score: same answer
    shuffled = [detection_([B, A, ELSEWHERE], [0, 0, 0], [0.7, 0.9, 0.8])]
    assert mean_average_precision(shuffled, gts)["map"] == pytest.approx(5 / 6)


def test_mean_average_precision_perfect_detector_scores_one():
    rng = np.random.default_rng(3)
    gts, dets = [], []
    for _ in range(4):
        boxes = random_boxes(rng, 6).astype("float64")
        labels = rng.integers(0, 3, size=6)
        gts.append(ground_truth(boxes, labels))
        order = rng.permutation(6)
        dets.append(detection_(boxes[order], labels[order], rng.uniform(0.5, 1, size=6)))
    result = mean_average_precision(dets, gts, num_classes=3)
    assert result["map"] == 1.0
    assert result["per_class"] == {0: 1.0, 1: 1.0, 2: 1.0}
    # The same boxes in "xywh"
    assert mean_average_precision([to_xywh(d) for d in dets], [to_xywh(g) for g in gts],
                                  box_format="xywh")["map"] == 1.0


def test_mean_average_precision_all_wrong_scores_zero():
    gts = [ground_truth([A, B], [0, 1]), ground_truth([A], [1])]
    wrong_place = [detection_([ELSEWHERE, ELSEWHERE], [0, 1], [0.9, 0.8]), detection_([B], [1], [0.7])]
    assert mean_average_precision(wrong_place, gts) == {"map": 0.0, "per_class": {0: 0.0, 1: 0.0}}
    wrong_class = [detection_([A, B], [1, 0], [0.9, 0.8]), detection_([A], [0], [0.7])]
    assert mean_average_precision(wrong_class, gts)["map"] == 0.0
    no_detections = [detection_([], [], []), detection_(np.zeros((0, 4)), [], [])]
    assert mean_average_precision(no_detections, gts)["map"] == 0.0


def test_duplicate_detections_are_false_positives():
    # 0.9 on A (IoU 0.81) -> TP; 0.8 on A again (IoU 1, but A is taken) -> FP; 0.7 on B -> TP.
    # Same ranking TP, FP, TP as the hand-worked example: AP 0.8333, not 1.
    near_a = [0, 0, 9, 9]
    gts = [ground_truth([A, B], [0, 0])]
    dets = [detection_([near_a, A, B], [0, 0, 0], [0.9, 0.8, 0.7])]
    _, precision, _ = precision_recall_curve(dets, gts, class_id=0)
    np.testing.assert_allclose(precision, [1.0, 0.5, 2 / 3])
    assert mean_average_precision(dets, gts)["map"] == pytest.approx(5 / 6)
    # A duplicate ranked after every true positive costs nothing in all-points AP
    late = [detection_([near_a, A, B], [0, 0, 0], [0.9, 0.6, 0.7])]
    assert mean_average_precision(late, gts)["map"] == 1.0


def test_a_detection_takes_the_next_unmatched_ground_truth():
    # Two objects of one class overlap. The first detection takes the left one; the second
    # overlaps the left one most (already taken) but the right one enough: true positive (COCO's rule).
    left, right = [0, 0, 10, 10], [2, 0, 12, 10]
    gts = [ground_truth([left, right], [0, 0])]
    dets = [detection_([left, [1, 0, 11, 10]], [0, 0], [0.9, 0.8])]
    assert box_iou([1, 0, 11, 10], [left, right]).tolist() == pytest.approx([9 / 11, 9 / 11])
    assert mean_average_precision(dets, gts)["map"] == 1.0


def test_detections_are_ranked_across_images():
    # One object per image. Image 1: a false positive at 0.9 and a true positive at 0.4;
    # image 0: a true positive at 0.5. Pooled ranking: FP (0.9), TP (0.5), TP (0.4):
    # precision 0, 1/2, 2/3; recall 0, 1/2, 1 -> AP = 1/2 * 2/3 + 1/2 * 2/3 = 2/3
    # (averaging per-image APs, 1 and 1/2, would give 0.75).
    gts = [ground_truth([A], [0]), ground_truth([B], [0])]
    dets = [detection_([A], [0], [0.5]), detection_([ELSEWHERE, B], [0, 0], [0.9, 0.4])]
    assert mean_average_precision(dets, gts)["map"] == pytest.approx(2 / 3)


def test_classes_without_ground_truth_are_left_out():
    gts = [ground_truth([A], [0]), ground_truth([], [])]
    # class 2 has detections but no ground truth: not in the mean (else mAP would be 0.5)
    dets = [detection_([A, B], [0, 2], [0.9, 0.8]), detection_([ELSEWHERE], [2], [0.7])]
    assert mean_average_precision(dets, gts, num_classes=3) == {"map": 1.0, "per_class": {0: 1.0}}
    # class 1 has ground truth but no detection: AP 0, and it counts
    gts = [ground_truth([A, B], [0, 1]), ground_truth([], [])]
    assert mean_average_precision(dets, gts, num_classes=3) == {"map": 0.5, "per_class": {0: 1.0, 1: 0.0}}


def test_iou_threshold_for_a_match():
    # [0, 0, 10, 5] covers half of A: IoU exactly 0.5, a match at 0.5 but not at 0.6
    gts = [ground_truth([A], [0])]
    dets = [detection_([[0, 0, 10, 5]], [0], [0.9])]
    assert mean_average_precision(dets, gts, iou_threshold=0.5)["map"] == 1.0
    assert mean_average_precision(dets, gts, iou_threshold=0.6)["map"] == 0.0


@pytest.mark.parametrize("args, kwargs, match", [
    (([], [{"boxes": [A], "labels": [0]}]), {},
     r"one entry per image.*Received: len\(detections\)=0, len\(ground_truths\)=1"),
    (({"boxes": [A]}, []), {},
     r"detections should be a list with one dict per image.*Received: detections of type dict"),
    (([{"boxes": [A], "labels": [0]}], [{"boxes": [A], "labels": [0]}]), {},
     r"detections\[0\] should be a dict with keys \['boxes', 'labels', 'scores'\].*"
     r"Received: detections\[0\]=\['boxes', 'labels'\]"),
    (([{"boxes": [A], "labels": [0], "scores": [1.0]}], [{"boxes": [A], "classes": [0]}]), {},
     r"ground_truths\[0\] should be a dict with keys \['boxes', 'labels'\]"),
    (([{"boxes": [A], "labels": [0, 1], "scores": [1.0]}], [{"boxes": [A], "labels": [0]}]), {},
     r"detections\[0\]\['labels'\] should have shape \(1,\): one label per box.*Received: .*shape=\(2,\)"),
    (([{"boxes": [A], "labels": [0.5], "scores": [1.0]}], [{"boxes": [A], "labels": [0]}]), {},
     r"should hold integer class ids >= 0.*Received: detections\[0\]\['labels'\]\[0\]=0.5"),
    (([{"boxes": [A], "labels": [0], "scores": [1.0]}], [{"boxes": [A], "labels": [3]}]), dict(num_classes=3),
     r"ground_truths\[0\]\['labels'\] should lie in \[0, 3\).*"
     r"Received: ground_truths\[0\]\['labels'\] up to 3"),
    (([{"boxes": [A], "labels": [0], "scores": [1.0]}], [{"boxes": [A], "labels": [0]}]), dict(num_classes=0),
     r"num_classes should be a positive int.*or None.*labels present.*Received: num_classes=0"),
    (([{"boxes": [[0, 0, np.inf, 1]], "labels": [0], "scores": [1.0]}], [{"boxes": [A], "labels": [0]}]), {},
     r"detections\[0\]\['boxes'\] should hold finite coordinates"),
    (([{"boxes": [A], "labels": [0], "scores": [1.0]}], [{"boxes": [A], "labels": [0]}]),
     dict(iou_threshold=-0.5),
     r"iou_threshold should be a number in \[0, 1\].*Received: iou_threshold=-0.5"),
    (([{"boxes": [A], "labels": [0], "scores": [1.0]}], [{"boxes": [A], "labels": [0]}]), dict(method="area"),
     r"Received: method='area'"),
    (([{"boxes": [A], "labels": [0], "scores": [1.0]}], [{"boxes": [], "labels": []}]), {},
     r"ground_truths hold no box at all.*Received: 1 images, 0 boxes"),
])
def test_mean_average_precision_errors(args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        mean_average_precision(*args, **kwargs)


def test_precision_recall_curve_errors():
    gts = [ground_truth([A], [0])]
    dets = [detection_([A], [0], [0.9])]
    with pytest.raises(ValueError, match=r"no ground-truth box of class 4.*Received: class_id=4"):
        precision_recall_curve(dets, gts, class_id=4)
    with pytest.raises(ValueError, match=r"class_id should be a non-negative int \(e.g. class_id=1\). Received: class_id='cat'"):
        precision_recall_curve(dets, gts, class_id="cat")
    with pytest.raises(ValueError, match=r"Received: iou_threshold=2"):
        precision_recall_curve(dets, gts, class_id=0, iou_threshold=2)


# ------------------------------------------------------------------- segmentation




def test_coco_map_is_the_mean_of_101_point_maps_over_ten_thresholds():
    assert COCO_IOU_THRESHOLDS == (0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95)
    rng = np.random.default_rng(5)
    ground_truths, detections = [], []
    for _ in range(6):
        corners = rng.uniform(0, 50, (3, 2))
        boxes = np.concatenate([corners, corners + rng.uniform(5, 20, (3, 2))], axis=1)
        labels = rng.integers(1, 3, 3)
        ground_truths.append({"boxes": boxes, "labels": labels})
        detections.append({"boxes": boxes + rng.normal(0, 1.5, boxes.shape), "labels": labels,
                           "scores": rng.uniform(0, 1, 3)})
    result = coco_mean_average_precision(detections, ground_truths)
    expected = [mean_average_precision(detections, ground_truths, iou_threshold=t, method="101_point")["map"]
                for t in COCO_IOU_THRESHOLDS]
    assert list(result["per_threshold"].values()) == expected
    assert result["map"] == pytest.approx(np.mean(expected))
    assert expected[0] > expected[-1]                 # jittered boxes pass at 0.5, fail at 0.95



def test_docstring_examples_give_the_printed_output():
    result = doctest.testmod(detection, extraglobs={"np": np}, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


def test_top_level_exports():
    assert course_lib.mean_average_precision is mean_average_precision
    assert course_lib.non_max_suppression is non_max_suppression
