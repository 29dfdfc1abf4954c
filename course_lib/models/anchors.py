"""Anchors, box offsets and anchor assignment: the training targets of an anchor-based detector, in NumPy.

The pieces every anchor-based detector shares (SSD, RetinaNet, the RPN of Faster R-CNN):

    anchors = make_anchors((64, 64), feature_size=(8, 8), sizes=(16, 28), aspect_ratios=(0.5, 1, 2))
    offsets = encode_boxes(boxes, anchors)            # (tx, ty, tw, th) per anchor
    boxes = decode_boxes(offsets, anchors)            # and back
    classes, offsets = assign_anchors(anchors, boxes, labels)      # one image's training targets
    targets = make_detection_targets(anchors, scenes.boxes, scenes.labels)   # a batch: (n, anchors, 5)

Boxes are "xyxy" `(x_min, y_min, x_max, y_max)` in pixels, as in
`course_lib.metrics.boxes`. Class ids count the background: 0 = background,
1..K = objects (the labels of `make_fashion_scenes`). The detector that trains on
these targets is in `course_lib.models.detection`.
"""

import numbers

import numpy as np

from course_lib._validation import check_image_size, check_ints, check_number
from course_lib.metrics.boxes import CONVERT_XYWH_HINT, box_iou, check_boxes

#: Anchors of the lab: an 8x8 grid on 64x64 scenes (stride 8), 2 sizes x 3 shapes per cell.
LAB_ANCHORS = {"image_size": (64, 64), "feature_size": (8, 8), "sizes": (16, 28),
               "aspect_ratios": (0.5, 1.0, 2.0)}

#: The (tx, ty, tw, th) of a box that fills its anchor is 0; tw = log(w / w_anchor) is
#: clipped at decoding so that exp() cannot overflow (a box 50x its anchor at most).
_MAX_LOG_SCALE = float(np.log(50.0))


# --------------------------------------------------------------------------- argument checks

def _check_positive_numbers(values, name, example):
    values = (values,) if isinstance(values, numbers.Real) else values
    try:
        array = np.asarray(values, dtype="float64").reshape(-1)
    except (TypeError, ValueError):
        array = np.zeros(0)
    if array.size == 0 or not np.all(np.isfinite(array)) or np.any(array <= 0):
        raise ValueError(f"{name} should be a non-empty list of positive numbers, e.g. {name}={example}. "
                         f"Received: {name}={values!r}")
    return array


def check_anchors(anchors):
    """Checks `(num_anchors, 4)` "xyxy" anchors (or R-CNN windows) of positive size; returns float32."""
    array = np.asarray(anchors, dtype="float32")
    if array.ndim != 2 or array.shape[1] != 4 or len(array) == 0:
        raise ValueError(f"anchors should have shape (num_anchors, 4), as make_anchors returns. "
                         f"Received: anchors.shape={array.shape}")
    if np.any(array[:, 2] <= array[:, 0]) or np.any(array[:, 3] <= array[:, 1]):
        raise ValueError("anchors should have positive widths and heights (x_max > x_min, y_max > y_min); "
                         "build them with make_anchors.")
    return array

# --------------------------------------------------------------------------- anchors and offsets

def make_anchors(image_size=(64, 64), feature_size=(8, 8), sizes=(16, 28), aspect_ratios=(0.5, 1.0, 2.0)):
    """Anchor boxes centred on every cell of a feature-map grid.

    A feature map of `feature_size` cells covers the image with a stride of
    `image_size / feature_size` pixels. Each cell gets one anchor per (size, aspect
    ratio): width `size * sqrt(ratio)`, height `size / sqrt(ratio)` (ratio = width /
    height), centred on the cell's centre `((col + 0.5) * stride_x, (row + 0.5) * stride_y)`.
    Anchors may stick out of the image, as in Faster R-CNN.

    Args:
        image_size: `(height, width)` of the input images, in pixels.
        feature_size: `(height, width)` in cells of the detector's last feature map; must divide
            `image_size` (64 / 8 = stride 8).
        sizes: anchor sides in pixels (the square root of the area).
        aspect_ratios: width / height of the anchors (0.5: tall, 2: wide).

    Returns:
        float32 array `(rows * columns * len(sizes) * len(aspect_ratios), 4)` of "xyxy"
        boxes, ordered by row, then column, then size, then ratio: the order in which
        `build_tiny_detector` outputs its predictions.

    Raises:
        ValueError: a size is not positive, a size is not a (height, width) pair, or
            `feature_size` does not divide `image_size`.

    Example:

    >>> anchors = make_anchors((64, 64), feature_size=(8, 8), sizes=(16,), aspect_ratios=(1.0,))
    >>> anchors.shape, anchors[0].tolist()       # first cell, centred at (4, 4)
    ((64, 4), [-4.0, -4.0, 12.0, 12.0])
    """
    height, width = check_image_size(image_size)
    rows, columns = check_ints(feature_size, "feature_size", example=(8, 8), length=2)
    sizes = _check_positive_numbers(sizes, "sizes", "(16, 28)")
    ratios = _check_positive_numbers(aspect_ratios, "aspect_ratios", "(0.5, 1.0, 2.0)")
    if height % rows or width % columns:
        raise ValueError(
            f"feature_size should divide image_size so that every cell covers the same number of "
            f"pixels (the network's stride), e.g. 64x64 images and an 8x8 feature map (stride 8). "
            f"Received: image_size=({height}, {width}), feature_size=({rows}, {columns}); "
            f"resize the images or change the number of poolings")
    stride_y, stride_x = height / rows, width / columns
    shapes = np.array([(s * np.sqrt(r), s / np.sqrt(r)) for s in sizes for r in ratios])  # (A, 2) w, h
    cy, cx = np.meshgrid((np.arange(rows) + 0.5) * stride_y, (np.arange(columns) + 0.5) * stride_x,
                         indexing="ij")
    centres = np.stack([cx.reshape(-1), cy.reshape(-1)], axis=1)                          # (cells, 2)
    half = shapes[None, :, :] / 2
    boxes = np.concatenate([centres[:, None, :] - half, centres[:, None, :] + half], axis=-1)
    return boxes.reshape(-1, 4).astype("float32")


def _centres(boxes):
    width, height = boxes[..., 2] - boxes[..., 0], boxes[..., 3] - boxes[..., 1]
    return boxes[..., 0] + width / 2, boxes[..., 1] + height / 2, width, height


def encode_boxes(boxes, anchors):
    """Box offsets relative to anchors: the standard (tx, ty, tw, th) parametrisation.

    `tx = (x - x_a) / w_a`, `ty = (y - y_a) / h_a`, `tw = log(w / w_a)`, `th = log(h / h_a)`,
    with (x, y) the box's centre, (w, h) its size and the subscript `a` for the anchor
    (R-CNN, Faster R-CNN, SSD). A box equal to its anchor encodes to zeros; offsets are
    scale-free, so small and large objects give targets of the same size.

    Args:
        boxes: `(n, 4)` "xyxy" boxes with positive width and height, one per anchor.
        anchors: `(n, 4)` "xyxy" anchors.

    Returns:
        float32 array `(n, 4)` of (tx, ty, tw, th).

    Raises:
        ValueError: shapes differ, or a box has zero or negative width or height.

    Example:

    >>> encode_boxes([[2, 0, 12, 20]], [[0, 0, 10, 10]]).round(4)    # shifted by w/5, 2x taller
    array([[0.2   , 0.5   , 0.    , 0.6931]], dtype=float32)
    """
    boxes = check_boxes(boxes, "boxes", hint=CONVERT_XYWH_HINT)
    anchors = check_anchors(anchors).astype("float64")
    if boxes.shape != anchors.shape:
        raise ValueError(f"boxes and anchors should have the same shape (n, 4): one box per anchor "
                         f"(index the ground truth matched to each anchor first). "
                         f"Received: boxes.shape={boxes.shape}, anchors.shape={anchors.shape}")
    x, y, w, h = _centres(boxes)
    xa, ya, wa, ha = _centres(anchors)
    if np.any(w <= 0) or np.any(h <= 0):
        i = int(np.flatnonzero((w <= 0) | (h <= 0))[0])
        raise ValueError(f"boxes should have positive width and height to be encoded (log(w / w_a) of 0 "
                         f"is -inf); drop empty boxes first. Received: boxes[{i}]={boxes[i].tolist()}")
    offsets = np.stack([(x - xa) / wa, (y - ya) / ha, np.log(w / wa), np.log(h / ha)], axis=1)
    return offsets.astype("float32")


def decode_boxes(offsets, anchors):
    """Inverse of `encode_boxes`: "xyxy" boxes from (tx, ty, tw, th) offsets and their anchors.

    Works on NumPy arrays of any leading shape `(..., n, 4)` with anchors `(n, 4)`.
    `tw` and `th` are clipped at log(50) so that a diverging regressor gives large,
    finite boxes rather than inf.

    Returns:
        float32 array of the offsets' shape.
    """
    offsets = np.asarray(offsets, dtype="float64")
    anchors = check_anchors(anchors).astype("float64")
    if offsets.shape[-2:] != anchors.shape:
        raise ValueError(f"offsets should have shape (..., num_anchors, 4) with num_anchors = "
                         f"{len(anchors)}, one row per anchor. Received: offsets.shape={offsets.shape}")
    xa, ya, wa, ha = _centres(anchors)
    tw = np.minimum(offsets[..., 2], _MAX_LOG_SCALE)
    th = np.minimum(offsets[..., 3], _MAX_LOG_SCALE)
    x, y = xa + offsets[..., 0] * wa, ya + offsets[..., 1] * ha
    w, h = wa * np.exp(tw), ha * np.exp(th)
    return np.stack([x - w / 2, y - h / 2, x + w / 2, y + h / 2], axis=-1).astype("float32")


# --------------------------------------------------------------------------- assignment

def assign_anchors(anchors, boxes, labels, positive_iou=0.5, negative_iou=0.4, image_size=None):
    """Matches one image's ground-truth boxes to anchors by IoU: the training targets.

    Each anchor takes the ground truth it overlaps most. It is **positive** (that
    box's class) when that IoU >= `positive_iou`, **negative** (background, class 0)
    when it is < `negative_iou`, and **ignored** (-1: neither loss sees it) in between.
    Each ground truth also claims its best anchor, even below `positive_iou`, so that
    no object is left without a positive anchor (Faster R-CNN, SSD).

    Args:
        anchors: `(num_anchors, 4)` "xyxy" anchors (`make_anchors`).
        boxes: `(num_objects, 4)` "xyxy" ground-truth boxes of the image.
        labels: `(num_objects,)` int class ids >= 1 (0 is the background).
        positive_iou: IoU from which an anchor is positive (0.5 in SSD, RetinaNet).
        negative_iou: IoU below which an anchor is background (0.4 in RetinaNet); must be
            <= `positive_iou`.
        image_size: None, or `(height, width)` to check that the boxes lie in the image.

    Returns:
        A tuple `(classes, offsets)`: int32 `(num_anchors,)` with -1 (ignore), 0 (background)
        or the class id; float32 `(num_anchors, 4)` `encode_boxes` offsets of each anchor's
        ground truth (zeros where the anchor is not positive).

    Raises:
        ValueError: bad boxes (see `course_lib.metrics.boxes.check_boxes`), labels not one int >= 1 per box, or
            thresholds outside [0, 1] or in the wrong order.

    Example:

    >>> anchors = [[0, 0, 10, 10], [5, 0, 15, 10], [30, 30, 40, 40]]
    >>> classes, offsets = assign_anchors(anchors, [[0, 0, 10, 10]], [2])
    >>> classes.tolist()          # IoU 1 -> class 2; IoU 1/3 -> background; IoU 0 -> background
    [2, 0, 0]
    """
    anchors = check_anchors(anchors)
    boxes = check_boxes(boxes, "boxes", image_size=image_size, hint=CONVERT_XYWH_HINT).astype("float32")
    try:
        labels_array = np.asarray(labels, dtype="float64").reshape(-1) if np.size(labels) else np.zeros(0)
    except (TypeError, ValueError):
        labels_array = None
    if labels_array is None or labels_array.shape != (len(boxes),) or (
            labels_array.size and (np.any(labels_array < 1) or np.any(labels_array != np.round(labels_array)))):
        raise ValueError(f"labels should hold one int class id >= 1 per box ({len(boxes)} boxes; 0 is the "
                         f"background, so add 1 to 0-based ids). Received: labels={labels!r}")
    positive_iou = check_number(positive_iou, "positive_iou", example=0.5)
    negative_iou = check_number(negative_iou, "negative_iou", example=0.4)
    if negative_iou > positive_iou:
        raise ValueError(f"negative_iou should be <= positive_iou (anchors in between are ignored). "
                         f"Received: positive_iou={positive_iou}, negative_iou={negative_iou}")
    classes = np.zeros(len(anchors), dtype="int32")
    offsets = np.zeros((len(anchors), 4), dtype="float32")
    if len(boxes) == 0:
        return classes, offsets
    iou = box_iou(anchors, boxes).reshape(len(anchors), len(boxes))
    best_box = iou.argmax(axis=1)
    best_iou = iou[np.arange(len(anchors)), best_box]
    classes[(best_iou >= negative_iou) & (best_iou < positive_iou)] = -1
    positive = best_iou >= positive_iou
    # Each object's best anchor is positive for it, whatever its IoU (unless it is 0).
    for j, anchor in enumerate(iou.argmax(axis=0)):
        if iou[anchor, j] > 0:
            best_box[anchor], positive[anchor] = j, True
    labels_array = labels_array.astype("int32")
    classes[positive] = labels_array[best_box[positive]]
    offsets[positive] = encode_boxes(boxes[best_box[positive]], anchors[positive])
    return classes, offsets


def make_detection_targets(anchors, boxes, labels, positive_iou=0.5, negative_iou=0.4, image_size=None):
    """Training targets for a batch of images: `assign_anchors` on each, stacked.

    Args:
        anchors: `(num_anchors, 4)` anchors (e.g. `model.anchors`).
        boxes: list of `(num_objects, 4)` arrays, one per image (`scenes.boxes`).
        labels: list of `(num_objects,)` int arrays, class ids >= 1 (`scenes.labels`).
        positive_iou, negative_iou, image_size: see `assign_anchors`.

    Returns:
        float32 array `(num_images, num_anchors, 5)`: the class target (-1, 0 or the id)
        then the 4 offsets, the `y` that `DetectionLoss` takes.
    """
    if len(boxes) != len(labels):
        raise ValueError(f"boxes and labels should have one entry per image. "
                         f"Received: {len(boxes)} box arrays and {len(labels)} label arrays")
    targets = np.zeros((len(boxes), len(check_anchors(anchors)), 5), dtype="float32")
    for i, (image_boxes, image_labels) in enumerate(zip(boxes, labels)):
        classes, offsets = assign_anchors(anchors, image_boxes, image_labels, positive_iou, negative_iou,
                                          image_size)
        targets[i, :, 0], targets[i, :, 1:] = classes, offsets
    return targets


__all__ = ["LAB_ANCHORS", "check_anchors", "make_anchors", "encode_boxes", "decode_boxes",
           "assign_anchors", "make_detection_targets"]
