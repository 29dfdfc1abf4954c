"""Boxes: the one box checker, intersection over union and non-max suppression, in NumPy.

    boxes = check_boxes(boxes, "boxes")                          # float64 "xyxy" (n, 4), or a clear error
    iou = box_iou(predicted_boxes, true_boxes)                   # (N, M) matrix
    keep = non_max_suppression(boxes, scores, iou_threshold=0.5)

Boxes are arrays `(num_boxes, 4)` in absolute coordinates, in one of the formats
named as in `keras.utils.bounding_boxes`:

    "xyxy": (x_min, y_min, x_max, y_max)   (the default)
    "xywh": (x_min, y_min, width, height)

Areas are `width * height` on continuous coordinates (no "+1 pixel" as in the
old VOC devkit). IoU does not change when x and y are swapped in every box, so
boxes in tf.image's (y_min, x_min, y_max, x_max) order can be passed as "xyxy".
Average precision and mAP, which match boxes by IoU, are in `course_lib.metrics.detection`.
"""

import numbers

import numpy as np

from course_lib._validation import check_image_size, check_int, check_number

BOX_FORMATS = ("xyxy", "xywh")
_LAYOUTS = {"xyxy": "(x_min, y_min, x_max, y_max)", "xywh": "(x_min, y_min, width, height)"}

#: The fix to suggest for width-height boxes where a function takes only "xyxy" (no box_format argument).
CONVERT_XYWH_HINT = ("If your boxes are (x_min, y_min, width, height), convert them: "
                     "x_max = x_min + width, y_max = y_min + height.")


# ---------------------------------------------------------------- argument checks


def check_box_format(box_format):
    """Checks a box format name ("xyxy" or "xywh", any case); returns it in lower case."""
    if not isinstance(box_format, str) or box_format.lower() not in BOX_FORMATS:
        raise ValueError(
            'box_format should be "xyxy" (x_min, y_min, x_max, y_max) or "xywh" '
            "(x_min, y_min, width, height), as named in keras.utils.bounding_boxes. "
            f"Received: box_format={box_format!r}")
    return box_format.lower()


def check_boxes(boxes, name="boxes", box_format="xyxy", image_size=None, allow_single=False, hint=None):
    """Checks boxes and returns them as float64 "xyxy" `(n, 4)`: the checker every box function uses.

    Args:
        boxes: `(n, 4)` array-like of boxes in `box_format`; `[]` or `(0, 4)` for an image without
            boxes.
        name: the argument's name, for the message (e.g. "boxes_a", "detections[3]['boxes']").
        box_format: "xyxy" or "xywh" (see the module docstring); "xywh" boxes are converted.
        image_size: None, or `(height, width)`: every box must then lie inside the image.
        allow_single: accept one box of shape `(4,)` too (returned as `(1, 4)`).
        hint: the sentence that says how to fix a box with x_max < x_min (or a negative width);
            None suggests the other `box_format`, for functions that take one.

    Returns:
        float64 array `(n, 4)` of (x_min, y_min, x_max, y_max).

    Raises:
        ValueError: not numbers, a wrong shape, NaN or inf, x_max < x_min or y_max < y_min
            (negative width or height in "xywh"), or a box outside the image; the message
            names the first bad box and how to fix it.

    Example:

    >>> check_boxes([[10, 20, 30, 40]], box_format="xywh")     # x_max = 10 + 30, y_max = 20 + 40
    array([[10., 20., 40., 60.]])
    """
    box_format = check_box_format(box_format)
    if image_size is not None:
        height, width = check_image_size(image_size)
    layout = _LAYOUTS[box_format]
    one_box = "; or (4,) for one box" if allow_single else f"; for one box use [[{layout[1:-1]}]]"
    try:
        array = np.asarray(boxes, dtype="float64")
    except (TypeError, ValueError):
        raise ValueError(f"{name} should be an array of numbers of shape (num_boxes, 4), e.g. "
                         f"[[10, 20, 50, 80]]. Received: {name} of type {type(boxes).__name__}") from None
    if array.size == 0:  # an image without boxes: [] or np.zeros((0, 4))
        return array.reshape(0, 4)
    if not (array.ndim == 2 and array.shape[1] == 4) and not (allow_single and array.shape == (4,)):
        raise ValueError(
            f'{name} should have shape (num_boxes, 4), one {layout} row per box ("{box_format}")'
            f"{one_box}. Received: {name}.shape={array.shape}")
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
        if hint is None:
            hint = f'If your boxes are {_LAYOUTS[other]}, pass box_format="{other}".'
        raise ValueError(
            f'{name} should be "{box_format}" boxes {layout} with width, height >= 0, but box '
            f"{i} has {problem}. {hint} Received: {name}[{i}]={array[i].tolist()}")
    if box_format == "xywh":
        array = np.concatenate([array[:, :2], array[:, :2] + array[:, 2:]], axis=1)
    if image_size is not None:
        bad = np.flatnonzero((array[:, 0] < 0) | (array[:, 1] < 0) | (array[:, 2] > width)
                             | (array[:, 3] > height))
        if bad.size:
            i = int(bad[0])
            raise ValueError(f"{name} should lie inside the image (0 <= x <= {width}, 0 <= y <= {height} "
                             f"for image_size=(height, width)=({height}, {width})), but box {i} does not; "
                             f"clip it (np.clip) or check that the boxes are in pixels, not in [0, 1]. "
                             f"Received: {name}[{i}]={array[i].tolist()}")
    return array


def check_per_box(values, name, num_boxes, what="score", integer=False):
    """Checks one finite number per box (scores, or class ids with `integer=True`); returns `(num_boxes,)`.

    Returns float64, or int64 when `integer` (class ids must then be whole numbers >= 0).
    """
    try:
        array = np.asarray(values, dtype="float64")
    except (TypeError, ValueError):
        raise ValueError(f"{name} should be an array of numbers with one {what} per box. "
                         f"Received: {name} of type {type(values).__name__}") from None
    if array.size == 0 and num_boxes == 0:
        array = array.reshape(0)
    if array.shape != (num_boxes,):
        raise ValueError(f"{name} should have shape ({num_boxes},): one {what} per box, and there are "
                         f"{num_boxes} boxes. Received: {name}.shape={array.shape}")
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
            or `box_format` is unknown (see `check_boxes`).

    Example:

    >>> box_iou([0, 0, 2, 2], [[1, 1, 3, 3], [0, 0, 2, 2], [5, 5, 6, 6]])  # overlap 1, union 7
    array([0.14285714, 1.        , 0.        ])
    >>> box_iou([0, 0, 2, 2], [1, 0, 2, 2], box_format="xywh")   # (0, 0, 2, 2), (1, 0, 3, 2): 2 / 6
    0.3333333333333333
    """
    a = check_boxes(boxes_a, "boxes_a", box_format, allow_single=True)
    b = check_boxes(boxes_b, "boxes_b", box_format, allow_single=True)
    iou = _pairwise_iou(a, b)
    single_a, single_b = np.shape(boxes_a) == (4,), np.shape(boxes_b) == (4,)   # checked: shapes exist
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
        ValueError: bad boxes (see `check_boxes`), `scores` not of shape `(N,)` or not finite,
            a threshold outside [0, 1], or `max_output_size` not an int >= 0.

    Example (boxes 0 and 1 overlap with IoU 0.82; box 2 is elsewhere):

    >>> boxes = [[10, 10, 50, 50], [12, 12, 52, 48], [100, 100, 140, 140]]
    >>> non_max_suppression(boxes, [0.6, 0.9, 0.8], iou_threshold=0.5)
    array([1, 2])
    """
    boxes = check_boxes(boxes, "boxes", box_format)
    scores_given = scores
    scores = check_per_box(scores, "scores", len(boxes), "score")
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


__all__ = ["BOX_FORMATS", "CONVERT_XYWH_HINT", "check_box_format", "check_boxes", "check_per_box", "box_iou",
           "non_max_suppression"]
