"""Box IoU, non-max suppression and (mean) average precision for object detection, in NumPy.

    iou = box_iou(predicted_boxes, true_boxes)                  # (N, M) matrix
    keep = non_max_suppression(boxes, scores, iou_threshold=0.5)
    result = mean_average_precision(detections, ground_truths)  # {"map": ..., "per_class": {...}}

Boxes are arrays `(num_boxes, 4)` in absolute coordinates, in one of the formats
named as in `keras.utils.bounding_boxes`:

    "xyxy": (x_min, y_min, x_max, y_max)   (the default)
    "xywh": (x_min, y_min, width, height)

Areas are `width * height` on continuous coordinates (no "+1 pixel" as in the
old VOC devkit). IoU does not change when x and y are swapped in every box, so
boxes in tf.image's (y_min, x_min, y_max, x_max) order can be passed as "xyxy".

One image's detections and ground truths are dicts of arrays:

    detection    = {"boxes": (n, 4), "labels": (n,) int, "scores": (n,) float}
    ground_truth = {"boxes": (m, 4), "labels": (m,) int}

and a data set is a list of them, one per image, in the same order.
"""

import numbers

import numpy as np

from course_lib._validation import check_int, check_number

BOX_FORMATS = ("xyxy", "xywh")
AP_METHODS = ("all_points", "11_point", "101_point")
_LAYOUTS = {"xyxy": "(x_min, y_min, x_max, y_max)", "xywh": "(x_min, y_min, width, height)"}


# ---------------------------------------------------------------- argument checks


def _check_box_format(box_format):
    if not isinstance(box_format, str) or box_format.lower() not in BOX_FORMATS:
        raise ValueError(
            'box_format should be "xyxy" (x_min, y_min, x_max, y_max) or "xywh" '
            "(x_min, y_min, width, height), as named in keras.utils.bounding_boxes. "
            f"Received: box_format={box_format!r}")
    return box_format.lower()


def _as_boxes(boxes, name="boxes", box_format="xyxy"):
    """Returns (boxes as float64 (N, 4) in "xyxy", True when a single box (4,) was given)."""
    try:
        array = np.asarray(boxes, dtype="float64")
    except (TypeError, ValueError):
        raise ValueError(f"{name} should be an array of numbers of shape (num_boxes, 4), e.g. "
                         f"[[10, 20, 50, 80]]. Received: {name} of type {type(boxes).__name__}") from None
    if array.size == 0:  # an image without boxes: [] or np.zeros((0, 4))
        return array.reshape(0, 4), False
    single = array.shape == (4,)
    if not single and (array.ndim != 2 or array.shape[1] != 4):
        raise ValueError(
            f"{name} should have shape (num_boxes, 4), or (4,) for one box, with coordinates in "
            f'"{box_format}" format. Received: {name}.shape={array.shape}')
    array = array.reshape(-1, 4)
    bad = np.flatnonzero(~np.isfinite(array).all(axis=1))
    if bad.size:
        i = int(bad[0])
        raise ValueError(
            f"{name} should hold finite coordinates, but box {i} has NaN or inf; drop or fix that "
            f"box (a diverging box regressor produces these). Received: {name}[{i}]={array[i].tolist()}")
    if box_format == "xywh":
        bad, problem, other = (array[:, 2] < 0) | (array[:, 3] < 0), "a negative width or height", "xyxy"
    else:
        bad, problem, other = ((array[:, 2] < array[:, 0]) | (array[:, 3] < array[:, 1]),
                               "x_max < x_min or y_max < y_min", "xywh")
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f'"{box_format}" boxes are {_LAYOUTS[box_format]} with width, height >= 0, but box {i} has '
            f'{problem}. If your boxes are {_LAYOUTS[other]}, pass box_format="{other}". '
            f"Received: {name}[{i}]={array[i].tolist()}")
    if box_format == "xywh":
        array = np.concatenate([array[:, :2], array[:, :2] + array[:, 2:]], axis=1)
    return array, single


def _as_vector(values, name, length, what, integer=False):
    try:
        array = np.asarray(values, dtype="float64")
    except (TypeError, ValueError):
        raise ValueError(f"{name} should be an array of numbers with one {what} per box. "
                         f"Received: {name} of type {type(values).__name__}") from None
    if array.size == 0 and length == 0:
        array = array.reshape(0)
    if array.shape != (length,):
        raise ValueError(f"{name} should have shape ({length},): one {what} per box, and there are "
                         f"{length} boxes. Received: {name}.shape={array.shape}")
    if not np.isfinite(array).all():
        i = int(np.flatnonzero(~np.isfinite(array))[0])
        raise ValueError(f"{name} should hold finite numbers, but entry {i} is {array[i]}. "
                         f"Received: {name}[{i}]={array[i]}")
    if integer:
        if np.any(array != np.round(array)) or np.any(array < 0):
            i = int(np.flatnonzero((array != np.round(array)) | (array < 0))[0])
            raise ValueError(f"{name} should hold integer class ids >= 0 (e.g. 0 for the first class). "
                             f"Received: {name}[{i}]={array[i]}")
        return array.astype("int64")
    return array


# ---------------------------------------------------------------------------- IoU


def box_iou(boxes_a, boxes_b, box_format="xyxy"):
    """Intersection over union between every box of `boxes_a` and every box of `boxes_b`.

    IoU = area(A ∩ B) / area(A ∪ B), between 0 (disjoint) and 1 (identical). It is how
    detection decides whether a predicted box "found" an object (IoU >= 0.5 in
    PASCAL VOC) and whether two predictions are the same object (non-max suppression).

    Args:
        boxes_a: `(N, 4)` boxes, or one box `(4,)`.
        boxes_b: `(M, 4)` boxes, or one box `(4,)`.
        box_format: "xyxy" (x_min, y_min, x_max, y_max) or "xywh" (x_min, y_min, width,
            height), the names of `keras.utils.bounding_boxes`.

    Returns:
        float64 array `(N, M)`; a single box drops its axis: `(M,)`, `(N,)`, or a float
        when both are single boxes. Boxes of zero area give IoU 0 (not NaN).

    Raises:
        ValueError: a shape is not `(num_boxes, 4)` or `(4,)`, a coordinate is NaN or inf,
            a box has x_max < x_min or y_max < y_min (negative width or height in "xywh"),
            or `box_format` is unknown.

    Example:

    >>> box_iou([0, 0, 2, 2], [[1, 1, 3, 3], [0, 0, 2, 2], [5, 5, 6, 6]])  # overlap 1, union 7
    array([0.14285714, 1.        , 0.        ])
    >>> box_iou([0, 0, 2, 2], [1, 0, 2, 2], box_format="xywh")   # (0, 0, 2, 2), (1, 0, 3, 2): 2 / 6
    0.3333333333333333
    """
    box_format = _check_box_format(box_format)
    a, single_a = _as_boxes(boxes_a, "boxes_a", box_format)
    b, single_b = _as_boxes(boxes_b, "boxes_b", box_format)
    iou = _pairwise_iou(a, b)
    if single_a and single_b:
        return float(iou[0, 0])
    if single_a:
        return iou[0]
    if single_b:
        return iou[:, 0]
    return iou


def _pairwise_iou(a, b):
    """IoU matrix of two checked "xyxy" float arrays (N, 4) and (M, 4)."""
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    top_left = np.maximum(a[:, None, :2], b[None, :, :2])
    bottom_right = np.minimum(a[:, None, 2:], b[None, :, 2:])
    size = np.clip(bottom_right - top_left, 0, None)
    intersection = size[..., 0] * size[..., 1]
    union = area_a[:, None] + area_b[None, :] - intersection
    # Two zero-area boxes have union 0: their IoU is 0, not 0 / 0.
    return np.divide(intersection, union, out=np.zeros_like(intersection), where=union > 0)


# ---------------------------------------------------------------------------- NMS


def non_max_suppression(boxes, scores, iou_threshold=0.5, score_threshold=None, max_output_size=None,
                        box_format="xyxy"):
    """Greedy non-max suppression: keeps the best box of each cluster of overlapping boxes.

    A detector scores thousands of anchors or grid cells, and every one near an object
    fires, so each object comes out as a pile of near-identical boxes. NMS keeps the
    highest-scoring box, removes every remaining box whose IoU with it is above
    `iou_threshold`, and repeats with the next box still standing. It is run per class.

    Same result as `tf.image.non_max_suppression` (which takes boxes in
    (y_min, x_min, y_max, x_max) order; IoU is the same either way).

    Args:
        boxes: `(N, 4)` boxes.
        scores: `(N,)` confidence of each box.
        iou_threshold: a box is removed when its IoU with a kept box is strictly above this.
            Lower values remove more boxes.
        score_threshold: None (keep all), or drop boxes whose score is not strictly above it
            before suppression, as TensorFlow does.
        max_output_size: None (no limit) or the largest number of boxes to return.
        box_format: "xyxy" or "xywh", see `box_iou`.

    Returns:
        int64 array of the indices of the kept boxes, by decreasing score (equal scores:
        lower index first).

    Raises:
        ValueError: bad boxes (see `box_iou`), `scores` not of shape `(N,)` or not finite,
            a threshold outside [0, 1], or `max_output_size` not an int >= 0.

    Example (boxes 0 and 1 overlap with IoU 0.82; box 2 is elsewhere):

    >>> boxes = [[10, 10, 50, 50], [12, 12, 52, 48], [100, 100, 140, 140]]
    >>> non_max_suppression(boxes, [0.6, 0.9, 0.8], iou_threshold=0.5)
    array([1, 2])
    """
    box_format = _check_box_format(box_format)
    boxes, _ = _as_boxes(boxes, "boxes", box_format)
    scores_given = scores
    scores = _as_vector(scores, "scores", len(boxes), "score")
    iou_threshold = check_number(iou_threshold, "iou_threshold", example=0.5)
    if score_threshold is not None and not (
            isinstance(score_threshold, numbers.Real) and not isinstance(score_threshold, bool)
            and 0 <= score_threshold < np.inf):
        raise ValueError(
            "score_threshold should be a number >= 0 (scores are probabilities; apply a sigmoid "
            "to logits first), or None to keep every box. "
            f"Received: score_threshold={score_threshold!r}")
    max_output_size = check_int(max_output_size, "max_output_size", minimum=0, example=100, allow_none=True,
                                hint="None keeps every box.")

    order = np.argsort(-scores, kind="stable")  # stable: equal scores keep the lower index first
    if score_threshold is not None:
        # Compare in the scores' own precision: a float32 score of 0.4 is not above 0.4.
        given = np.asarray(scores_given).dtype
        threshold = np.asarray(score_threshold, dtype=given if given.kind == "f" else "float64")
        order = order[scores[order] > threshold]
    limit = len(order) if max_output_size is None else int(max_output_size)
    suppressed = np.zeros(len(order), dtype=bool)
    keep = []
    for position, index in enumerate(order):
        if len(keep) >= limit:
            break
        if suppressed[position]:
            continue
        keep.append(index)
        suppressed |= _pairwise_iou(boxes[index:index + 1], boxes[order])[0] > iou_threshold
    return np.asarray(keep, dtype="int64")


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
            boxes, _ = _as_boxes(image["boxes"], f"{name}[{i}]['boxes']", box_format)
            labels = _as_vector(image["labels"], f"{name}[{i}]['labels']", len(boxes), "label",
                                integer=True)
            if num_classes is not None and labels.size and labels.max() >= num_classes:
                raise ValueError(
                    f"{name}[{i}]['labels'] should lie in [0, {num_classes}) for "
                    f"num_classes={num_classes}; pass the right num_classes, or None to use the "
                    f"labels present. Received: {name}[{i}]['labels'] up to {labels.max()}")
            entry = {"boxes": boxes, "labels": labels}
            if "scores" in keys:
                entry["scores"] = _as_vector(image["scores"], f"{name}[{i}]['scores']", len(boxes),
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
        iou = _pairwise_iou(boxes[order], true_boxes)
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
        box_format: "xyxy" or "xywh", see `box_iou`.

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
    box_format = _check_box_format(box_format)
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
        box_format: "xyxy" or "xywh", see `box_iou`.

    Returns:
        A dict: "map" (float) and "per_class" ({class_id: AP} for each class with ground truth).

    Raises:
        ValueError: the lists differ in length, an entry lacks a key, shapes disagree, a
            label is outside [0, num_classes), bad boxes or scores (see `box_iou`), a
            threshold outside [0, 1], or there is no ground-truth box at all.

    Example (class 0 as in `precision_recall_curve`; class 1 found perfectly):

    >>> gt = [{"boxes": [[0, 0, 10, 10], [20, 20, 30, 30], [0, 20, 10, 30]], "labels": [0, 0, 1]}]
    >>> det = [{"boxes": [[0, 0, 10, 10], [50, 50, 60, 60], [20, 20, 30, 30], [0, 21, 10, 30]],
    ...         "labels": [0, 0, 0, 1], "scores": [0.9, 0.8, 0.7, 0.6]}]
    >>> mean_average_precision(det, gt)        # (0.8333 + 1) / 2
    {'map': 0.9166666666666666, 'per_class': {0: 0.8333333333333333, 1: 1.0}}
    """
    box_format = _check_box_format(box_format)
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
