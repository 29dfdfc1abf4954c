"""Tests for course_lib.metrics.detection: average precision and (COCO) mAP, by hand."""

import numpy as np
import pytest

import course_lib
from course_lib.metrics import average_precision, box_iou, mean_average_precision, precision_recall_curve
from course_lib.metrics.detection import COCO_IOU_THRESHOLDS, coco_mean_average_precision


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
        corners = rng.uniform(0, 60, (6, 2))
        boxes = np.concatenate([corners, corners + rng.uniform(1, 40, (6, 2))], axis=1)
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


# ------------------------------------------------------------------- COCO mAP@[.5:.95]


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


def test_top_level_exports():
    assert course_lib.mean_average_precision is mean_average_precision
    assert course_lib.coco_mean_average_precision is coco_mean_average_precision


# ------------------------------------------------------- against pycocotools (COCOeval)


def _generated_detections(seed, num_images=25, num_classes=3):
    """Ground truths and noisy detections (jittered copies, misses, false positives)."""
    rng = np.random.default_rng(seed)
    detections, ground_truths = [], []
    for _ in range(num_images):
        m = int(rng.integers(0, 6))
        xy = rng.uniform(0, 80, size=(m, 2))
        wh = rng.uniform(8, 40, size=(m, 2))
        gt_boxes = np.concatenate([xy, xy + wh], axis=1)
        gt_labels = rng.integers(0, num_classes, size=m)
        found = rng.random(m) < 0.8                      # about one object in five is missed
        jitter = rng.normal(scale=3.0, size=(m, 4)) * wh.repeat(2, axis=0).reshape(m, 4) / 20
        boxes = (gt_boxes + jitter)[found]
        labels = gt_labels[found]
        k = int(rng.integers(0, 4))                      # false positives, anywhere
        fp_xy = rng.uniform(0, 80, size=(k, 2))
        fp_boxes = np.concatenate([fp_xy, fp_xy + rng.uniform(8, 40, size=(k, 2))], axis=1)
        boxes = np.concatenate([boxes, fp_boxes]).reshape(-1, 4)
        boxes[:, 2:] = np.maximum(boxes[:, 2:], boxes[:, :2] + 1.0)
        labels = np.concatenate([labels, rng.integers(0, num_classes, size=k)]).astype(int)
        detections.append({"boxes": boxes, "labels": labels, "scores": rng.random(len(boxes))})
        ground_truths.append({"boxes": gt_boxes.reshape(-1, 4), "labels": gt_labels.astype(int)})
    return detections, ground_truths


def _cocoeval_map(detections, ground_truths, num_classes, iou_threshold=None):
    """COCO's own evaluation (pycocotools), all areas, up to 100 detections per image."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    def xywh(box):
        return [float(box[0]), float(box[1]), float(box[2] - box[0]), float(box[3] - box[1])]

    images, annotations, results = [], [], []
    for image_id, (det, gt) in enumerate(zip(detections, ground_truths), start=1):
        images.append({"id": image_id, "width": 128, "height": 128})
        for box, label in zip(gt["boxes"], gt["labels"]):
            w, h = box[2] - box[0], box[3] - box[1]
            annotations.append({"id": len(annotations) + 1, "image_id": image_id,
                                "category_id": int(label), "bbox": xywh(box),
                                "area": float(w * h), "iscrowd": 0})
        for box, label, score in zip(det["boxes"], det["labels"], det["scores"]):
            results.append({"image_id": image_id, "category_id": int(label),
                            "bbox": xywh(box), "score": float(score)})
    coco = COCO()
    coco.dataset = {"images": images, "annotations": annotations,
                    "categories": [{"id": c} for c in range(num_classes)]}
    coco.createIndex()
    evaluation = COCOeval(coco, coco.loadRes(results), iouType="bbox")
    if iou_threshold is not None:
        evaluation.params.iouThrs = np.array([iou_threshold])
    evaluation.evaluate()
    evaluation.accumulate()
    # precision: [threshold, recall point, class, area range ("all" first), max detections (100 last)]
    precision = evaluation.eval["precision"][:, :, :, 0, -1]
    return float(np.mean(precision[precision > -1]))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_coco_map_agrees_with_pycocotools(seed, capsys):
    detections, ground_truths = _generated_detections(seed)
    ours = coco_mean_average_precision(detections, ground_truths, num_classes=3)["map"]
    theirs = _cocoeval_map(detections, ground_truths, num_classes=3)
    capsys.readouterr()                                   # COCOeval prints its progress
    assert 0.05 < theirs < 0.95                           # a case that tests something
    assert ours == pytest.approx(theirs, abs=1e-6)


@pytest.mark.parametrize("iou_threshold", [0.5, 0.75])
def test_101_point_map_at_one_threshold_agrees_with_pycocotools(iou_threshold, capsys):
    detections, ground_truths = _generated_detections(seed=3)
    ours = mean_average_precision(detections, ground_truths, iou_threshold=iou_threshold,
                                  num_classes=3, method="101_point")["map"]
    theirs = _cocoeval_map(detections, ground_truths, num_classes=3, iou_threshold=iou_threshold)
    capsys.readouterr()
    assert ours == pytest.approx(theirs, abs=1e-6)
