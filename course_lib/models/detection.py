"""A tiny one-stage object detector: anchors, box offsets, anchor assignment, loss, detect.

The pieces of every anchor-based detector (SSD, RetinaNet, the RPN of Faster R-CNN),
small enough for a CPU and the 64x64 scenes of `course_lib.data.scenes`:

    anchors = make_anchors((64, 64), feature_size=(8, 8), sizes=(16, 28), aspect_ratios=(0.5, 1, 2))
    offsets = encode_boxes(boxes, anchors)            # (tx, ty, tw, th) per anchor
    boxes = decode_boxes(offsets, anchors)            # and back
    classes, offsets = assign_anchors(anchors, boxes, labels)      # one image's training targets
    model = build_tiny_detector((64, 64, 1), num_classes=5)        # background + 4 classes
    model.compile(optimizer="adam", loss=DetectionLoss(num_classes=5))
    model.fit(images, make_detection_targets(model.anchors, scenes.boxes, scenes.labels), ...)
    detections = detect(model, images, score_threshold=0.5, iou_threshold=0.5)
    mean_average_precision(detections, scenes.ground_truths())

Boxes are "xyxy" `(x_min, y_min, x_max, y_max)` in pixels, as in
`course_lib.metrics.detection`. Class ids count the background: 0 = background,
1..K = objects (the labels of `make_fashion_scenes`), so `num_classes = K + 1`.
"""

import numbers

import keras
import numpy as np
from keras import layers, ops

from course_lib import runtime
from course_lib.metrics.detection import box_iou, non_max_suppression

#: Anchors of the lab: an 8x8 grid on 64x64 scenes (stride 8), 2 sizes x 3 shapes per cell.
LAB_ANCHORS = {"image_size": (64, 64), "feature_size": (8, 8), "sizes": (16, 28),
               "aspect_ratios": (0.5, 1.0, 2.0)}

#: The (tx, ty, tw, th) of a box that fills its anchor is 0; tw = log(w / w_anchor) is
#: clipped at decoding so that exp() cannot overflow (a box 50x its anchor at most).
_MAX_LOG_SCALE = float(np.log(50.0))


# --------------------------------------------------------------------------- argument checks

def _check_pair(value, name, example, smallest=1):
    pair = (value, value) if isinstance(value, numbers.Integral) and not isinstance(value, bool) else value
    if (not isinstance(pair, (tuple, list)) or len(pair) != 2
            or not all(isinstance(v, numbers.Integral) and not isinstance(v, bool) and v >= smallest
                       for v in pair)):
        raise ValueError(f"{name} should be an int or (height, width) of ints >= {smallest}, e.g. "
                         f"{name}={example}. Received: {name}={value!r}")
    return int(pair[0]), int(pair[1])


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


def _check_threshold(value, name, example):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 <= value <= 1:
        raise ValueError(f"{name} should be a number in [0, 1], e.g. {name}={example}. "
                         f"Received: {name}={value!r}")
    return float(value)


def _check_num_classes(num_classes):
    if isinstance(num_classes, bool) or not isinstance(num_classes, numbers.Integral) or num_classes < 2:
        raise ValueError(f"num_classes should be an int >= 2: the object classes plus the background "
                         f"(class 0), e.g. num_classes=5 for the 4 scene classes. "
                         f"Received: num_classes={num_classes!r}")
    return int(num_classes)


def check_boxes(boxes, name="boxes", image_size=None):
    """Checks one image's "xyxy" boxes; returns them as float32 `(n, 4)`.

    Args:
        boxes: `(n, 4)` array-like of `(x_min, y_min, x_max, y_max)` in pixels (`(0, 4)` for none).
        name: the argument's name, for the message.
        image_size: None, or `(height, width)`: every box must then lie inside the image.

    Raises:
        ValueError: wrong shape, NaN or inf, x_max < x_min or y_max < y_min, or a box outside
            the image, saying which box and how to fix it.
    """
    try:
        array = np.asarray(boxes, dtype="float64")
    except (TypeError, ValueError):
        raise ValueError(f"{name} should be an array of numbers of shape (num_boxes, 4). "
                         f"Received: {name} of type {type(boxes).__name__}") from None
    if array.size == 0:
        return np.zeros((0, 4), dtype="float32")
    if array.ndim != 2 or array.shape[1] != 4:
        raise ValueError(f"{name} should have shape (num_boxes, 4), one (x_min, y_min, x_max, y_max) "
                         f"row per box; for one box use [[x_min, y_min, x_max, y_max]]. "
                         f"Received: {name}.shape={array.shape}")
    if not np.isfinite(array).all():
        i = int(np.flatnonzero(~np.isfinite(array).all(axis=1))[0])
        raise ValueError(f"{name} should hold finite coordinates, but box {i} has NaN or inf. "
                         f"Received: {name}[{i}]={array[i].tolist()}")
    bad = np.flatnonzero((array[:, 2] < array[:, 0]) | (array[:, 3] < array[:, 1]))
    if bad.size:
        i = int(bad[0])
        raise ValueError(f'{name} should be "xyxy" boxes (x_min, y_min, x_max, y_max), but box {i} has '
                         f"x_max < x_min or y_max < y_min. If your boxes are (x_min, y_min, width, "
                         f"height), convert them: x_max = x_min + width. Received: {name}[{i}]={array[i].tolist()}")
    if image_size is not None:
        height, width = image_size
        bad = np.flatnonzero((array[:, 0] < 0) | (array[:, 1] < 0) | (array[:, 2] > width)
                             | (array[:, 3] > height))
        if bad.size:
            i = int(bad[0])
            raise ValueError(f"{name} should lie inside the image (0 <= x <= {width}, 0 <= y <= {height} "
                             f"for image_size=(height, width)=({height}, {width})), but box {i} does not; "
                             f"clip it (np.clip) or check that the boxes are in pixels, not in [0, 1]. "
                             f"Received: {name}[{i}]={array[i].tolist()}")
    return array.astype("float32")


def _check_anchors(anchors):
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
        image_size: `(height, width)` of the input images, in pixels (or an int).
        feature_size: `(rows, columns)` of the detector's last feature map; must divide
            `image_size` (64 / 8 = stride 8).
        sizes: anchor sides in pixels (the square root of the area).
        aspect_ratios: width / height of the anchors (0.5: tall, 2: wide).

    Returns:
        float32 array `(rows * columns * len(sizes) * len(aspect_ratios), 4)` of "xyxy"
        boxes, ordered by row, then column, then size, then ratio: the order in which
        `build_tiny_detector` outputs its predictions.

    Raises:
        ValueError: a size is not positive, or `feature_size` does not divide `image_size`.

    Example:

    >>> anchors = make_anchors((64, 64), feature_size=(8, 8), sizes=(16,), aspect_ratios=(1.0,))
    >>> anchors.shape, anchors[0].tolist()       # first cell, centred at (4, 4)
    ((64, 4), [-4.0, -4.0, 12.0, 12.0])
    """
    height, width = _check_pair(image_size, "image_size", "(64, 64)")
    rows, columns = _check_pair(feature_size, "feature_size", "(8, 8)")
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

    >>> encode_boxes([[2, 0, 12, 20]], [[0, 0, 10, 10]]).round(4).tolist()  # shifted by w/5, 2x taller
    [[0.2, 0.5, 0.0, 0.6931]]
    """
    boxes = check_boxes(boxes, "boxes").astype("float64")
    anchors = _check_anchors(anchors).astype("float64")
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
    anchors = _check_anchors(anchors).astype("float64")
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
        ValueError: bad boxes (see `check_boxes`), labels not one int >= 1 per box, or
            thresholds outside [0, 1] or in the wrong order.

    Example:

    >>> anchors = [[0, 0, 10, 10], [5, 0, 15, 10], [30, 30, 40, 40]]
    >>> classes, offsets = assign_anchors(anchors, [[0, 0, 10, 10]], [2])
    >>> classes.tolist()          # IoU 1 -> class 2; IoU 1/3 -> background; IoU 0 -> background
    [2, 0, 0]
    """
    anchors = _check_anchors(anchors)
    boxes = check_boxes(boxes, "boxes", image_size=None if image_size is None else
                        _check_pair(image_size, "image_size", "(64, 64)"))
    try:
        labels_array = np.asarray(labels, dtype="float64").reshape(-1) if np.size(labels) else np.zeros(0)
    except (TypeError, ValueError):
        labels_array = None
    if labels_array is None or labels_array.shape != (len(boxes),) or (
            labels_array.size and (np.any(labels_array < 1) or np.any(labels_array != np.round(labels_array)))):
        raise ValueError(f"labels should hold one int class id >= 1 per box ({len(boxes)} boxes; 0 is the "
                         f"background, so add 1 to 0-based ids). Received: labels={labels!r}")
    positive_iou = _check_threshold(positive_iou, "positive_iou", 0.5)
    negative_iou = _check_threshold(negative_iou, "negative_iou", 0.4)
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
    targets = np.zeros((len(boxes), len(_check_anchors(anchors)), 5), dtype="float32")
    for i, (image_boxes, image_labels) in enumerate(zip(boxes, labels)):
        classes, offsets = assign_anchors(anchors, image_boxes, image_labels, positive_iou, negative_iou,
                                          image_size)
        targets[i, :, 0], targets[i, :, 1:] = classes, offsets
    return targets


# --------------------------------------------------------------------------- the detector

def _detection_backbone(inputs, filters):
    x = layers.Rescaling(1 / 255, name="rescale")(inputs)
    for i, f in enumerate(filters, start=1):
        x = layers.Conv2D(f, 3, padding="same", activation="relu", name=f"conv_{i}")(x)
        x = layers.MaxPooling2D(2, name=f"pool_{i}")(x)
    return x


def build_tiny_detector(input_shape=(64, 64, 1), num_classes=5, filters=(16, 32, 64), sizes=(16, 28),
                        aspect_ratios=(0.5, 1.0, 2.0), head_filters=64):
    """A one-stage anchor-based detector (SSD / RetinaNet in miniature).

    Backbone: `len(filters)` blocks of conv 3x3 - ReLU - max pooling 2x2 (no batch norm, so that
    training and inference behave alike on a handful of images),
    so the feature map is `input / 2**len(filters)` (64 -> 8 with 3 blocks, stride 8).
    Head: conv 3x3 (`head_filters`) then a 1x1 convolution predicting, at each cell and
    for each of its `A = len(sizes) * len(aspect_ratios)` anchors, `num_classes` class
    logits (background included) and 4 box offsets (tx, ty, tw, th).

    The model's anchors (`make_anchors` with the same arguments) are kept in
    `model.anchors`, where `detect` and `make_detection_targets` find them.

    Args:
        input_shape: `(height, width, channels)`, pixels in [0, 255]; height and width
            must be divisible by `2**len(filters)`.
        num_classes: classes including the background (5 for the scenes: background + 4).
        filters: filters of each backbone block.
        sizes, aspect_ratios: the anchors of each cell, see `make_anchors`.
        head_filters: filters of the head's 3x3 convolution.

    Returns:
        An uncompiled `keras.Model` mapping images `(batch, height, width, channels)` to
        `(batch, num_anchors, num_classes + 4)`: logits first, then offsets.

    Raises:
        ValueError: bad sizes, or an input size the poolings do not divide.

    Example:

    >>> model = build_tiny_detector((64, 64, 1), num_classes=5)
    >>> model.output_shape, model.anchors.shape      # 8 x 8 cells x 6 anchors
    ((None, 384, 9), (384, 4))
    """
    num_classes = _check_num_classes(num_classes)
    if (not isinstance(input_shape, (tuple, list)) or len(input_shape) != 3
            or not all(isinstance(s, numbers.Integral) and s >= 1 for s in input_shape)):
        raise ValueError(f"input_shape should be (height, width, channels), e.g. (64, 64, 1). "
                         f"Received: input_shape={input_shape!r}")
    filters = tuple(int(f) for f in filters)
    stride = 2 ** len(filters)
    height, width = int(input_shape[0]), int(input_shape[1])
    if height % stride or width % stride:
        raise ValueError(
            f"input height and width should be divisible by 2**len(filters) = {stride} ({len(filters)} "
            f"poolings by 2), so that every anchor sits on a whole cell. Received: input_shape="
            f"{tuple(input_shape)}; resize the images (e.g. to 64x64) or use fewer filters")
    anchors = make_anchors((height, width), (height // stride, width // stride), sizes, aspect_ratios)
    per_cell = len(anchors) // ((height // stride) * (width // stride))
    inputs = keras.Input(tuple(input_shape), name="images")
    x = _detection_backbone(inputs, filters)
    x = layers.Conv2D(head_filters, 3, padding="same", activation="relu", name="head_conv")(x)
    x = layers.Conv2D(per_cell * (num_classes + 4), 1, name="head_out")(x)
    outputs = layers.Reshape((len(anchors), num_classes + 4), name="per_anchor")(x)
    model = keras.Model(inputs, outputs, name="tiny_detector")
    model.anchors = anchors
    model.num_classes = num_classes
    return model


def detection_loss(y_true, y_pred, num_classes, box_weight=1.0):
    """Classification (softmax cross-entropy) + smooth L1 on the positives' offsets.

    Args:
        y_true: `(..., 5)`: class target (-1 ignore, 0 background, k object) then 4 offsets,
            as `make_detection_targets` builds them.
        y_pred: `(..., num_classes + 4)`: logits then offsets.
        num_classes: classes including the background.
        box_weight: weight of the box term.

    Returns:
        A scalar tensor: mean cross-entropy over positive anchors + over negative anchors
        (ignored anchors left out) + `box_weight` x smooth L1 summed over (tx, ty, tw, th),
        averaged over positive anchors.
    """
    y_true = ops.reshape(ops.cast(y_true, "float32"), (-1, 5))
    y_pred = ops.reshape(ops.cast(y_pred, "float32"), (-1, num_classes + 4))
    classes = ops.cast(ops.round(y_true[:, 0]), "int32")
    logits, offsets = y_pred[:, :num_classes], y_pred[:, num_classes:]
    cross_entropy = ops.sparse_categorical_crossentropy(ops.maximum(classes, 0), logits, from_logits=True)
    positive = ops.cast(classes > 0, "float32")
    negative = ops.cast(classes == 0, "float32")
    num_positive = ops.maximum(ops.sum(positive), 1.0)
    num_negative = ops.maximum(ops.sum(negative), 1.0)
    # Background anchors outnumber objects about 100 to 1: average each group on its own,
    # otherwise "everything is background" is an excellent answer.
    classification = (ops.sum(cross_entropy * positive) / num_positive
                      + ops.sum(cross_entropy * negative) / num_negative)
    error = ops.abs(offsets - y_true[:, 1:])
    huber = ops.where(error < 1.0, 0.5 * error ** 2, error - 0.5)     # smooth L1 (delta = 1)
    box = ops.sum(ops.sum(huber, axis=1) * positive) / num_positive
    return classification + box_weight * box


@keras.saving.register_keras_serializable(package="course_lib")
class DetectionLoss(keras.losses.Loss):
    """`detection_loss` as a Keras loss: `model.compile(loss=DetectionLoss(num_classes=5))`.

    Registered with Keras, so that a model saved with `model.save("detector.keras")`
    loads back with `keras.saving.load_model` and the same loss.

    Args:
        num_classes: classes including the background (5 for the scenes: background + 4).
        box_weight: weight of the smooth L1 box term.
    """

    def __init__(self, num_classes=5, box_weight=1.0, name="detection_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        self.num_classes = _check_num_classes(num_classes)
        self.box_weight = float(box_weight)

    def call(self, y_true, y_pred):
        return detection_loss(y_true, y_pred, self.num_classes, self.box_weight)

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes, "box_weight": self.box_weight}


def compile_detector(model, learning_rate=3e-3, box_weight=1.0):
    """Compiles a detector (from `build_tiny_detector` or `build_fast_rcnn`) with Adam and its loss."""
    loss = DetectionLoss(num_classes=model.num_classes, box_weight=box_weight)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=loss)
    return model


# --------------------------------------------------------------------------- inference

def _check_images(images, expected_hw, what):
    images = np.asarray(images)
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4:
        raise ValueError(f"images should have shape (num_images, height, width, channels). "
                         f"Received: images.shape={images.shape}")
    if expected_hw is not None and tuple(images.shape[1:3]) != tuple(expected_hw):
        raise ValueError(
            f"images should be {expected_hw[0]}x{expected_hw[1]}, the size {what} was built for "
            f"(its anchors cover that image size). Received: images of {images.shape[1]}x{images.shape[2]}; "
            f"resize them, or build the model with input_shape=({images.shape[1]}, {images.shape[2]}, "
            f"{images.shape[3]})")
    return images


def postprocess_detections(logits, offsets, anchors, image_size, score_threshold=0.5, iou_threshold=0.5,
                           max_detections=100):
    """From one image's per-anchor logits and offsets to its final detections.

    Softmax over the classes, decode the offsets, clip the boxes to the image, keep the
    (anchor, class) pairs whose probability is above `score_threshold` (background
    excluded), then non-max suppression per class.

    Args:
        logits: `(num_anchors, num_classes)`; offsets: `(num_anchors, 4)`; anchors: `(num_anchors, 4)`.
        image_size: `(height, width)`, to clip the boxes.
        score_threshold, iou_threshold, max_detections: see `detect`.

    Returns:
        A dict `{"boxes": (n, 4) float32, "labels": (n,) int64, "scores": (n,) float32}`,
        sorted by decreasing score.
    """
    logits = np.asarray(logits, dtype="float64")
    probabilities = np.exp(logits - logits.max(axis=1, keepdims=True))
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    boxes = decode_boxes(offsets, anchors)
    height, width = image_size
    boxes = np.clip(boxes, 0, [width, height, width, height]).astype("float32")
    found_boxes, found_labels, found_scores = [], [], []
    for class_id in range(1, probabilities.shape[1]):
        candidates = np.flatnonzero(probabilities[:, class_id] > score_threshold)
        if candidates.size == 0:
            continue
        scores = probabilities[candidates, class_id]
        keep = candidates[non_max_suppression(boxes[candidates], scores, iou_threshold=iou_threshold)]
        found_boxes.append(boxes[keep])
        found_labels.append(np.full(len(keep), class_id, dtype="int64"))
        found_scores.append(probabilities[keep, class_id])
    if not found_boxes:
        return {"boxes": np.zeros((0, 4), "float32"), "labels": np.zeros(0, "int64"),
                "scores": np.zeros(0, "float32")}
    boxes, labels = np.concatenate(found_boxes), np.concatenate(found_labels)
    scores = np.concatenate(found_scores).astype("float32")
    order = np.argsort(-scores, kind="stable")[:max_detections]
    return {"boxes": boxes[order], "labels": labels[order], "scores": scores[order]}


def detect(model, images, score_threshold=0.5, iou_threshold=0.5, max_detections=100, batch_size=64):
    """Runs a detector on images and returns each image's detections after NMS.

    Args:
        model: a detector from `build_tiny_detector` (it carries `model.anchors`).
        images: `(num_images, height, width, channels)` at the model's input size.
        score_threshold: keep a class for an anchor when its softmax probability is above
            this. Lower it (e.g. 0.05) to compute mAP over the whole precision-recall curve.
        iou_threshold: NMS threshold, per class (see `non_max_suppression`).
        max_detections: most boxes kept per image, best first.
        batch_size: images per forward pass.

    Returns:
        A list with one dict per image, `{"boxes": (n, 4), "labels": (n,), "scores": (n,)}`,
        boxes "xyxy" in pixels, labels 1..K: the format `mean_average_precision` takes.

    Raises:
        ValueError: the model has no anchors, the images do not have its input size,
            or a threshold is outside [0, 1].

    Example:

    >>> detections = detect(model, scenes.images[:8], score_threshold=0.05)
    >>> mean_average_precision(detections, scenes.ground_truths()[:8])["map"]
    """
    anchors = getattr(model, "anchors", None)
    if anchors is None:
        raise ValueError("model should be a detector built by build_tiny_detector (it keeps its anchors "
                         "in model.anchors). Received: a model without .anchors; set model.anchors = "
                         "make_anchors(...) with the anchors it was trained on")
    score_threshold = _check_threshold(score_threshold, "score_threshold", 0.5)
    iou_threshold = _check_threshold(iou_threshold, "iou_threshold", 0.5)
    images = _check_images(images, model.input_shape[1:3], "the model")
    outputs = model.predict(images, batch_size=batch_size, verbose=0)
    num_classes = outputs.shape[-1] - 4
    if outputs.shape[1] != len(anchors):
        raise ValueError(f"The model predicts {outputs.shape[1]} anchors but model.anchors holds "
                         f"{len(anchors)}; rebuild the model with build_tiny_detector")
    return [postprocess_detections(out[:, :num_classes], out[:, num_classes:], anchors, images.shape[1:3],
                                   score_threshold, iou_threshold, max_detections) for out in outputs]


# --------------------------------------------------------------------------- classification plus localisation

def make_localization_targets(scenes):
    """Targets for one object per image: its class, its box and a keypoint, in [0, 1] coordinates.

    The keypoint is the centre of mass of the object's visible pixels (`masks > 0`),
    a point the box alone does not give (a bag's handle, a sneaker's sole move it
    away from the box's centre), as a pose regressor's joints would be.

    Args:
        scenes: a `Scenes` from `make_fashion_scenes(..., max_objects=1)`.

    Returns:
        A dict of float32/int arrays: "class" `(n,)` 0-based class ids (`labels - 1`),
        "box" `(n, 4)` "xyxy" divided by the image's width and height, "keypoint" `(n, 2)`
        `(x, y)` divided likewise.

    Raises:
        ValueError: an image does not hold exactly one object.
    """
    counts = [len(labels) for labels in scenes.labels]
    if any(count != 1 for count in counts):
        bad = [i for i, count in enumerate(counts) if count != 1][:5]
        raise ValueError(f"make_localization_targets needs exactly one object per image (classification "
                         f"plus localisation); images {bad} hold {[counts[i] for i in bad]}. Make the scenes "
                         f"with make_fashion_scenes(..., max_objects=1).")
    height, width = scenes.masks.shape[1:3]
    scale = np.array([width, height, width, height], dtype="float32")
    boxes = np.concatenate(scenes.boxes).astype("float32") / scale
    rows, columns = np.mgrid[0:height, 0:width]
    inside = (scenes.masks > 0).astype("float64")
    area = inside.sum(axis=(1, 2))
    keypoints = np.stack([(inside * (columns + 0.5)).sum(axis=(1, 2)) / area / width,
                          (inside * (rows + 0.5)).sum(axis=(1, 2)) / area / height], axis=1)
    classes = np.concatenate(scenes.labels).astype("int64") - 1
    return {"class": classes, "box": boxes, "keypoint": keypoints.astype("float32")}


def _small_cnn_trunk(inputs, filters, dense_units):
    """Rescaling, one 3x3 convolution + 2x2 max pooling per entry of `filters`, flatten, dense.

    The small CNN behind the localizer here and R-CNN's crop classifier (`models.rcnn`).
    """
    x = layers.Rescaling(1 / 255, name="rescale")(inputs)
    for i, f in enumerate(filters, start=1):
        x = layers.Conv2D(f, 3, padding="same", activation="relu", name=f"conv_{i}")(x)
        x = layers.MaxPooling2D(2, name=f"pool_{i}")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(dense_units, activation="relu", name="dense")(x)
    return x


def build_localizer(input_shape=(64, 64, 1), num_classes=4, filters=(16, 32, 64), dense_units=128):
    """Classification plus localisation: one CNN, three heads (class, box, keypoint).

    The backbone of `build_tiny_detector` (conv 3x3 - ReLU - max pooling per entry of
    `filters`), flattened, one dense layer, then: "class" (`num_classes` logits), "box"
    (4 numbers, "xyxy" in [0, 1], sigmoid) and "keypoint" (`(x, y)` in [0, 1], sigmoid).
    The box and the keypoint are plain regression outputs trained with an L2 loss
    (`compile_localizer`).

    Returns:
        An uncompiled `keras.Model` with a dict output {"class", "box", "keypoint"}.
    """
    num_classes = _check_num_classes(num_classes)
    inputs = keras.Input(tuple(input_shape), name="images")
    x = _small_cnn_trunk(inputs, filters, dense_units)
    outputs = {"class": layers.Dense(num_classes, name="class")(x),
               "box": layers.Dense(4, activation="sigmoid", name="box")(x),
               "keypoint": layers.Dense(2, activation="sigmoid", name="keypoint")(x)}
    return keras.Model(inputs, outputs, name="localizer")


def compile_localizer(model, learning_rate=2e-3, box_weight=10.0):
    """Adam; cross-entropy for the class, L2 (mean squared error) for the box and the keypoint.

    The coordinates are in [0, 1], so their squared errors are small (0.01 is a box off
    by 10 % of the image): `box_weight` scales both L2 terms up to the cross-entropy's size.
    """
    model.compile(optimizer=keras.optimizers.Adam(learning_rate),
                  loss={"class": keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                        "box": "mse", "keypoint": "mse"},
                  loss_weights={"class": 1.0, "box": float(box_weight), "keypoint": float(box_weight)})
    return model


def evaluate_localizer(model, scenes, batch_size=64):
    """Class accuracy, box IoU and keypoint error of a localizer on single-object scenes.

    Returns:
        A dict: "accuracy", "mean_box_iou", "box_iou_at_least_0.5" (share of boxes with
        IoU >= 0.5), "keypoint_error_px" (mean distance in pixels), and the predictions
        "labels" (1..K, as in the scenes), "boxes" and "keypoints" in pixels.
    """
    targets = make_localization_targets(scenes)
    height, width = scenes.masks.shape[1:3]
    predicted = model.predict(scenes.images, batch_size=batch_size, verbose=0)
    scale = np.array([width, height, width, height], dtype="float64")
    boxes = np.asarray(predicted["box"], dtype="float64") * scale
    true_boxes = targets["box"].astype("float64") * scale
    boxes = np.concatenate([np.minimum(boxes[:, :2], boxes[:, 2:]), np.maximum(boxes[:, :2], boxes[:, 2:])], 1)
    ious = np.array([box_iou(b, t) for b, t in zip(boxes, true_boxes)])
    keypoints = np.asarray(predicted["keypoint"], dtype="float64") * [width, height]
    true_keypoints = targets["keypoint"].astype("float64") * [width, height]
    labels = np.asarray(predicted["class"]).argmax(axis=1)
    return {"accuracy": float(np.mean(labels == targets["class"])), "mean_box_iou": float(ious.mean()),
            "box_iou_at_least_0.5": float(np.mean(ious >= 0.5)),
            "keypoint_error_px": float(np.linalg.norm(keypoints - true_keypoints, axis=1).mean()),
            "labels": labels + 1, "boxes": boxes.astype("float32"), "keypoints": keypoints.astype("float32")}


# --------------------------------------------------------------------------- a pretrained detector (online)

#: KerasHub's RetinaNet (ResNet-50 + feature pyramid) trained on COCO at 800x800, about 130 MB.
PRETRAINED_DETECTOR = "retinanet_resnet50_fpn_coco"

#: The keys of a KerasHub object detector's `predict` output since keras-hub 0.20.
DETECTOR_OUTPUT_KEYS = ("boxes", "confidence", "labels", "num_detections")


def load_pretrained_detector(preset=PRETRAINED_DETECTOR):
    """Loads KerasHub's RetinaNet trained on COCO (online; the first call downloads about 130 MB).

    Args:
        preset: a KerasHub preset of `keras_hub.models.RetinaNetObjectDetector`.

    Returns:
        The `keras_hub.models.RetinaNetObjectDetector`.

    Raises:
        DatasetUnavailableError: keras-hub is not installed, the machine is offline, or
            the download failed; the message says what to do. A lab cell catches this
            one class and goes on without the pretrained detector.
    """
    what = f"load_pretrained_detector({preset!r})"
    try:
        import keras_hub
    except ImportError as error:
        raise runtime.DatasetUnavailableError(
            f"{what} needs the keras-hub package, which is not installed. On Colab it is "
            f"preinstalled; elsewhere run `pip install keras-hub` (the weights are downloaded, so you "
            f"must be online).") from error
    if runtime.is_offline():
        raise runtime.DatasetUnavailableError(
            f"{what} must download the weights (about 130 MB), but this machine is offline "
            f"({runtime.OFFLINE_ENV}=1 or no connection). Run it on Colab or online.")
    try:
        return keras_hub.models.RetinaNetObjectDetector.from_preset(preset)
    except Exception as error:  # noqa: BLE001 - kagglehub, HTTP and file errors all mean "no model"
        raise runtime.DatasetUnavailableError(
            f"{what} could not download or build the preset: {type(error).__name__}: {error}. "
            f"Check the preset's name (e.g. {PRETRAINED_DETECTOR!r}); if the host is down, try "
            f"again later.") from error


def _read_detector_output(output):
    """The first image's boxes, labels and scores from a KerasHub detector's `predict` dict."""
    missing = [key for key in DETECTOR_OUTPUT_KEYS if key not in output]
    if missing:
        raise ValueError(
            f"The detector's predict() output should hold {list(DETECTOR_OUTPUT_KEYS)} (KerasHub "
            f"object detectors since keras-hub 0.20), but it lacks {missing}. Received keys: "
            f"{sorted(output)}; upgrade keras-hub (`pip install -U keras-hub`).")
    count = int(np.asarray(output["num_detections"]).reshape(-1)[0])
    boxes = np.asarray(output["boxes"], dtype="float32")[0][:count]
    labels = np.asarray(output["labels"]).astype("int64")[0][:count]
    scores = np.asarray(output["confidence"], dtype="float32")[0][:count]
    return boxes, labels, scores


def pretrained_detections(model, image, score_threshold=0.5):
    """Runs a KerasHub object detector on one image; boxes come back in the image's pixels.

    The image is resized to the size the model's preprocessor expects (800x800 for the
    COCO RetinaNet), so that its boxes are in known pixels; they are converted from the
    model's `bounding_box_format` ("yxyx" for RetinaNet) to "xyxy", scaled back to
    the image's own size and clipped to it.

    Args:
        model: a `keras_hub.models.ObjectDetector`, e.g. from `load_pretrained_detector`.
        image: `(height, width, 3)` array, pixels in [0, 255].
        score_threshold: keep the detections whose confidence is at least this.

    Returns:
        A dict `{"boxes": (n, 4) float32 "xyxy", "labels": (n,) int64 (COCO ids for the
        COCO presets, see `keras_hub.utils.coco_id_to_name`), "scores": (n,) float32}`,
        best first.

    Raises:
        ValueError: the image is not `(height, width, 3)`, a bad threshold, or the model's
            output lacks the keys of `DETECTOR_OUTPUT_KEYS` (a keras-hub older than 0.20).
    """
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[-1] != 3:
        raise ValueError(f"image should be one colour image of shape (height, width, 3). "
                         f"Received: image.shape={image.shape}")
    score_threshold = _check_threshold(score_threshold, "score_threshold", 0.5)
    height, width = image.shape[:2]
    converter = getattr(getattr(model, "preprocessor", None), "image_converter", None)
    size = getattr(converter, "image_size", None) or (height, width)
    resized = ops.convert_to_numpy(
        ops.image.resize(image[None].astype("float32"), tuple(size)))
    boxes, labels, scores = _read_detector_output(model.predict(resized, verbose=0))
    boxes = ops.convert_to_numpy(keras.utils.bounding_boxes.convert_format(
        boxes, source=getattr(model, "bounding_box_format", "yxyx"), target="xyxy",
        height=size[0], width=size[1]))
    boxes = boxes * np.array([width / size[1], height / size[0]] * 2)
    boxes = np.clip(boxes, 0, [width, height, width, height]).astype("float32")
    order = np.argsort(-scores, kind="stable")
    order = order[scores[order] >= score_threshold]
    return {"boxes": boxes[order].reshape(-1, 4), "labels": labels[order], "scores": scores[order]}


def coco_class_name(class_id):
    """The COCO name of a KerasHub COCO class id (e.g. 1 -> "person"), or the id as text."""
    try:
        from keras_hub.utils import coco_id_to_name
        return coco_id_to_name(int(class_id))
    except (ImportError, KeyError):
        return str(int(class_id))


__all__ = ["LAB_ANCHORS", "make_anchors", "encode_boxes", "decode_boxes", "check_boxes", "assign_anchors",
           "make_detection_targets", "build_tiny_detector", "detection_loss", "DetectionLoss",
           "compile_detector", "postprocess_detections", "detect", "PRETRAINED_DETECTOR", "DETECTOR_OUTPUT_KEYS",
           "load_pretrained_detector", "pretrained_detections", "coco_class_name", "make_localization_targets",
           "build_localizer", "compile_localizer", "evaluate_localizer"]
