"""Average precision and (COCO) mean average precision for object detection, in NumPy.

    recall, precision, scores = precision_recall_curve(detections, ground_truths, class_id=1)
    ap = average_precision(recall, precision)                   # area under the curve
    result = mean_average_precision(detections, ground_truths)  # {"map": ..., "per_class": {...}}

Detections are matched to ground truths by IoU (`box_iou` from `course_lib.metrics.boxes`,
which also describes the box formats, "xyxy" by default, and holds non-max suppression).

One image's detections and ground truths are dicts of arrays:

    detection    = {"boxes": (n, 4), "labels": (n,) int, "scores": (n,) float}
    ground_truth = {"boxes": (m, 4), "labels": (m,) int}

and a data set is a list of them, one per image, in the same order.
"""

import numpy as np

from course_lib._validation import check_int, check_number
from course_lib.metrics.boxes import box_iou, check_box_format, check_boxes, check_per_box

AP_METHODS = ("all_points", "11_point", "101_point")


# -------------------------------------------------------------- average precision


def _check_method(method):
    if method not in AP_METHODS:
        raise ValueError(
            'method should be "all_points" (VOC 2010+, area under the precision envelope), '
            '"11_point" (VOC 2007) or "101_point" (COCO). '
            f"Received: method={method!r}")


def average_precision(recall, precision, method="all_points"):
    """Area under a precision-recall curve, after making precision non-increasing.

    Ranking the detections by score and walking down the list, recall (share of the
    objects found) rises while precision (share of the detections that are right)
    wobbles. AP summarizes the whole curve in one number between 0 and 1. Every method
    first replaces precision at recall r by the best precision at any recall >= r (the
    "envelope"), so a detector is not penalized for the order of near-ties.

    Args:
        recall: `(K,)` non-decreasing recall after each ranked detection.
        precision: `(K,)` precision after each ranked detection.
        method: "all_points" (PASCAL VOC 2010 onwards: exact area under the envelope),
            "11_point" (VOC 2007: mean of the envelope at recall 0, 0.1, ..., 1) or
            "101_point" (COCO: recall 0, 0.01, ..., 1).

    Returns:
        float, the average precision; 0.0 for empty curves.

    Raises:
        ValueError: shapes differ or are not 1D, a value is outside [0, 1], recall
            decreases somewhere, or `method` is unknown.

    Example (3 detections ranked right, wrong, right, for 2 objects):

    >>> average_precision([0.5, 0.5, 1.0], [1.0, 0.5, 2 / 3])   # 0.5 * 1 + 0.5 * 2/3
    0.8333333333333333
    >>> round(average_precision([0.5, 0.5, 1.0], [1.0, 0.5, 2 / 3], method="11_point"), 4)
    0.8485
    """
    _check_method(method)
    values = {}
    for name, curve in (("recall", recall), ("precision", precision)):
        try:
            array = np.asarray(curve, dtype="float64")
        except (TypeError, ValueError):
            raise ValueError(f"{name} should be a 1D array of numbers in [0, 1]. "
                             f"Received: {name} of type {type(curve).__name__}") from None
        if array.ndim != 1:
            raise ValueError(f"{name} should be a 1D array, one value per ranked detection. "
                             f"Received: {name}.shape={array.shape}")
        if not np.all((array >= 0) & (array <= 1)):  # also False for NaN
            raise ValueError(f"{name} should hold values in [0, 1]. Received: {name} between "
                             f"{np.nanmin(array)} and {np.nanmax(array)} (NaN: {np.isnan(array).any()})")
        values[name] = array
    recall, precision = values["recall"], values["precision"]
    if recall.shape != precision.shape:
        raise ValueError(f"recall and precision should have the same shape (one value each per ranked "
                         f"detection). Received: recall.shape={recall.shape}, "
                         f"precision.shape={precision.shape}")
    if np.any(np.diff(recall) < 0):
        i = int(np.flatnonzero(np.diff(recall) < 0)[0])
        raise ValueError(
            f"recall should be non-decreasing: compute it on detections sorted by decreasing score "
            f"(see precision_recall_curve). Received: recall[{i}]={recall[i]}, "
            f"recall[{i + 1}]={recall[i + 1]}")
    if recall.size == 0:
        return 0.0
    if method == "all_points":
        # Pad with (0, 0) and (1, 0), take the running maximum from the right (the envelope),
        # then sum rectangle areas wherever recall steps up.
        r = np.concatenate([[0.0], recall, [1.0]])
        p = np.concatenate([[0.0], precision, [0.0]])
        p = np.maximum.accumulate(p[::-1])[::-1]
        steps = np.flatnonzero(r[1:] != r[:-1])
        return float(np.sum((r[steps + 1] - r[steps]) * p[steps + 1]))
    num_points = 11 if method == "11_point" else 101
    envelope = np.maximum.accumulate(precision[::-1])[::-1]  # best precision at recall >= recall[i]
    total = 0.0
    for level in np.linspace(0.0, 1.0, num_points):
        reached = np.flatnonzero(recall >= level)
        total += envelope[reached[0]] if reached.size else 0.0
    return float(total / num_points)


# ------------------------------------------------------- matching and mean AP


def _check_images(detections, ground_truths, num_classes, box_format):
    """Validates both lists; returns them as lists of dicts of checked arrays."""
    check_int(num_classes, "num_classes", example=20, allow_none=True, hint="None uses the labels present.")
    for name, images in (("detections", detections), ("ground_truths", ground_truths)):
        if not isinstance(images, (list, tuple)):
            raise ValueError(
                f"{name} should be a list with one dict per image, e.g. [{{'boxes': ..., "
                f"'labels': ...}}]. Received: {name} of type {type(images).__name__}")
    if len(detections) != len(ground_truths):
        raise ValueError(
            f"detections and ground_truths should have one entry per image, in the same order (use "
            f"an empty dict of arrays for an image without boxes). "
            f"Received: len(detections)={len(detections)}, len(ground_truths)={len(ground_truths)}")
    checked = {"detections": [], "ground_truths": []}
    for name, images, keys in (("detections", detections, ("boxes", "labels", "scores")),
                               ("ground_truths", ground_truths, ("boxes", "labels"))):
        for i, image in enumerate(images):
            if not isinstance(image, dict) or any(k not in image for k in keys):
                got = sorted(image) if isinstance(image, dict) else type(image).__name__
                raise ValueError(
                    f"{name}[{i}] should be a dict with keys {list(keys)} (arrays, one row per "
                    f"box). Received: {name}[{i}]={got!r}")
            boxes = check_boxes(image["boxes"], f"{name}[{i}]['boxes']", box_format, allow_single=True)
            labels = check_per_box(image["labels"], f"{name}[{i}]['labels']", len(boxes), "label",
                                   integer=True)
            if num_classes is not None and labels.size and labels.max() >= num_classes:
                raise ValueError(
                    f"{name}[{i}]['labels'] should lie in [0, {num_classes}) for "
                    f"num_classes={num_classes}; pass the right num_classes, or None to use the "
                    f"labels present. Received: {name}[{i}]['labels'] up to {labels.max()}")
            entry = {"boxes": boxes, "labels": labels}
            if "scores" in keys:
                entry["scores"] = check_per_box(image["scores"], f"{name}[{i}]['scores']", len(boxes),
                                                "score")
            checked[name].append(entry)
    return checked["detections"], checked["ground_truths"]


def _match_class(detections, ground_truths, class_id, iou_threshold):
    """Greedy matching of one class over all images.

    Returns (scores, is_true_positive, num_ground_truths), the first two sorted by
    decreasing score over the whole data set.
    """
    all_scores, all_hits, num_ground_truths = [], [], 0
    for det, gt in zip(detections, ground_truths):
        true_boxes = gt["boxes"][gt["labels"] == class_id]
        num_ground_truths += len(true_boxes)
        mine = det["labels"] == class_id
        boxes, scores = det["boxes"][mine], det["scores"][mine]
        order = np.argsort(-scores, kind="stable")
        iou = box_iou(boxes[order], true_boxes)
        taken = np.zeros(len(true_boxes), dtype=bool)
        hits = np.zeros(len(order), dtype=bool)
        for rank in range(len(order)):
            # The detection takes the still-unmatched ground truth it overlaps most (COCO's rule);
            # a second detection of an already-found object is a false positive.
            candidates = np.where(taken, -1.0, iou[rank])
            if candidates.size and candidates.max() >= iou_threshold:
                best = int(candidates.argmax())
                taken[best] = True
                hits[rank] = True
        all_scores.append(scores[order])
        all_hits.append(hits)
    scores = np.concatenate(all_scores) if all_scores else np.zeros(0)
    hits = np.concatenate(all_hits) if all_hits else np.zeros(0, dtype=bool)
    order = np.argsort(-scores, kind="stable")  # equal scores keep image order
    return scores[order], hits[order], num_ground_truths


def _curve(hits, num_ground_truths):
    true_positives = np.cumsum(hits)
    ranks = np.arange(1, len(hits) + 1)
    return true_positives / num_ground_truths, true_positives / ranks


def precision_recall_curve(detections, ground_truths, class_id, iou_threshold=0.5, box_format="xyxy"):
    """Recall and precision of one class after each detection, ranked by decreasing score.

    Each detection of `class_id` is matched, in order of decreasing score, to the
    unmatched ground-truth box of that class (same image) it overlaps most; it is a
    true positive when that IoU is >= `iou_threshold`, a false positive otherwise
    (including a second detection of an object already found). Plot
    `precision` against `recall` to see the trade-off; `average_precision` takes the area.

    Args:
        detections: list, one dict per image: "boxes" `(n, 4)`, "labels" `(n,)` int,
            "scores" `(n,)`.
        ground_truths: list, one dict per image, same order: "boxes" `(m, 4)`, "labels" `(m,)`.
        class_id: int, the class to evaluate.
        iou_threshold: IoU needed for a match, in [0, 1] (0.5 in PASCAL VOC).
        box_format: "xyxy" or "xywh", see `course_lib.metrics.boxes`.

    Returns:
        A tuple `(recall, precision, scores)` of `(K,)` arrays for the K detections of
        `class_id`, sorted by decreasing score (equal scores keep image order).

    Raises:
        ValueError: malformed inputs (see `mean_average_precision`), or no ground-truth box
            of `class_id` (recall would divide by zero).

    Example (one image, 2 objects; ranked detections right, wrong, right):

    >>> gt = [{"boxes": [[0, 0, 10, 10], [20, 20, 30, 30]], "labels": [0, 0]}]
    >>> det = [{"boxes": [[0, 0, 10, 10], [50, 50, 60, 60], [20, 20, 30, 30]],
    ...         "labels": [0, 0, 0], "scores": [0.9, 0.8, 0.7]}]
    >>> recall, precision, scores = precision_recall_curve(det, gt, class_id=0)
    >>> recall, precision.round(3)
    (array([0.5, 0.5, 1. ]), array([1.   , 0.5  , 0.667]))
    """
    box_format = check_box_format(box_format)
    iou_threshold = check_number(iou_threshold, "iou_threshold", example=0.5)
    detections, ground_truths = _check_images(detections, ground_truths, None, box_format)
    class_id = check_int(class_id, "class_id", minimum=0, example=1)
    scores, hits, num_ground_truths = _match_class(detections, ground_truths, class_id, iou_threshold)
    if num_ground_truths == 0:
        raise ValueError(
            f"There is no ground-truth box of class {class_id}, so recall is undefined (0 / 0); "
            f"choose a class present in ground_truths. Received: class_id={class_id}")
    recall, precision = _curve(hits, num_ground_truths)
    return recall, precision, scores


def mean_average_precision(detections, ground_truths, iou_threshold=0.5, num_classes=None,
                           method="all_points", box_format="xyxy"):
    """Mean over classes of the average precision: the standard object-detection score.

    For each class, detections of all images are ranked by score and matched greedily
    to ground-truth boxes (see `precision_recall_curve`): each ground truth is matched
    at most once, so duplicate detections count as false positives, and objects never
    detected lower recall. The class's AP is the area under its precision-recall curve
    (`average_precision`); mAP is the mean over classes.

    Classes with no ground-truth box in the data set are left out of `per_class` and of
    the mean (their AP is undefined), even when they have detections. A class with
    ground truths but no detection has AP 0 and counts. COCO's mAP@[.5:.95] is the
    mean of this function's "map" for iou_threshold = 0.5, 0.55, ..., 0.95 with
    method="101_point" (without COCO's "crowd" boxes and area ranges).

    Args:
        detections: list, one dict per image: "boxes" `(n, 4)`, "labels" `(n,)` int,
            "scores" `(n,)`. An image without detections has `np.zeros((0, 4))` and `[]`.
        ground_truths: list, one dict per image in the same order: "boxes" `(m, 4)`,
            "labels" `(m,)` int.
        iou_threshold: IoU needed for a match, in [0, 1] (0.5 in PASCAL VOC); IoU equal
            to the threshold matches.
        num_classes: None, or an int: every label must then be in [0, num_classes).
        method: "all_points", "11_point" or "101_point", see `average_precision`.
        box_format: "xyxy" or "xywh", see `course_lib.metrics.boxes`.

    Returns:
        A dict: "map" (float) and "per_class" ({class_id: AP} for each class with ground truth).

    Raises:
        ValueError: the lists differ in length, an entry lacks a key, shapes disagree, a
            label is outside [0, num_classes), bad boxes or scores (see `check_boxes`), a
            threshold outside [0, 1], or there is no ground-truth box at all.

    Example (class 0 as in `precision_recall_curve`; class 1 found perfectly):

    >>> gt = [{"boxes": [[0, 0, 10, 10], [20, 20, 30, 30], [0, 20, 10, 30]], "labels": [0, 0, 1]}]
    >>> det = [{"boxes": [[0, 0, 10, 10], [50, 50, 60, 60], [20, 20, 30, 30], [0, 21, 10, 30]],
    ...         "labels": [0, 0, 0, 1], "scores": [0.9, 0.8, 0.7, 0.6]}]
    >>> mean_average_precision(det, gt)        # (0.8333 + 1) / 2
    {'map': 0.9166666666666666, 'per_class': {0: 0.8333333333333333, 1: 1.0}}
    """
    box_format = check_box_format(box_format)
    iou_threshold = check_number(iou_threshold, "iou_threshold", example=0.5)
    _check_method(method)
    detections, ground_truths = _check_images(detections, ground_truths, num_classes, box_format)
    classes = sorted({int(c) for gt in ground_truths for c in gt["labels"]})
    if not classes:
        raise ValueError(
            "ground_truths hold no box at all, so every AP is undefined; check that the 'boxes' "
            f"and 'labels' of each image are filled. Received: {len(ground_truths)} images, 0 boxes")
    per_class = {}
    for class_id in classes:
        _, hits, num_ground_truths = _match_class(detections, ground_truths, class_id, iou_threshold)
        recall, precision = _curve(hits, num_ground_truths)
        per_class[class_id] = average_precision(recall, precision, method=method)
    return {"map": float(np.mean(list(per_class.values()))), "per_class": per_class}


#: COCO's IoU thresholds for mAP@[.5:.95]: 0.50, 0.55, ..., 0.95.
COCO_IOU_THRESHOLDS = tuple(round(0.5 + 0.05 * i, 2) for i in range(10))


def coco_mean_average_precision(detections, ground_truths, num_classes=None, box_format="xyxy"):
    """COCO's headline score, mAP@[.5:.95]: mAP averaged over IoU thresholds 0.50, 0.55, ..., 0.95.

    Each threshold's mAP uses COCO's 101-point interpolation (`method="101_point"`).
    A detector whose boxes are only roughly placed keeps its mAP@0.5 but loses at the
    strict thresholds, so this score rewards precise boxes. Without COCO's "crowd"
    boxes and per-area breakdowns.

    Args:
        detections, ground_truths, num_classes, box_format: as in `mean_average_precision`.

    Returns:
        A dict: "map" (float, the mean over the 10 thresholds) and "per_threshold"
        ({threshold: mAP at that threshold}).

    Example (one box found exactly, one shifted by 2 px: IoU 0.67 matches up to 0.65;
    above, recall stops at 1/2 and the 101-point AP is 51/101):

    >>> gt = [{"boxes": [[0, 0, 10, 10], [20, 0, 30, 10]], "labels": [1, 1]}]
    >>> det = [{"boxes": [[0, 0, 10, 10], [22, 0, 32, 10]], "labels": [1, 1], "scores": [0.9, 0.8]}]
    >>> round(coco_mean_average_precision(det, gt)["map"], 4)     # (4 * 1 + 6 * 51 / 101) / 10
    0.703
    """
    per_threshold = {t: mean_average_precision(detections, ground_truths, iou_threshold=t,
                                               num_classes=num_classes, method="101_point",
                                               box_format=box_format)["map"]
                     for t in COCO_IOU_THRESHOLDS}
    return {"map": float(np.mean(list(per_threshold.values()))), "per_threshold": per_threshold}


__all__ = ["AP_METHODS", "COCO_IOU_THRESHOLDS", "average_precision", "precision_recall_curve",
           "mean_average_precision", "coco_mean_average_precision"]
