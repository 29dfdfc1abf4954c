"""A tiny one-stage object detector: the model, its loss, post-processing with NMS, and a one-object localizer.

SSD / RetinaNet in miniature, small enough for a CPU and the 64x64 scenes of
`course_lib.data.scenes`; its anchors and training targets come from `course_lib.models.anchors`:

    model = build_tiny_detector((64, 64, 1), num_classes=5)        # background + 4 classes
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss=DetectionLoss(num_classes=5))
    model.fit(images, make_detection_targets(model.anchors, scenes.boxes, scenes.labels), ...)
    detections = detect(model, images, score_threshold=0.5, iou_threshold=0.5)
    mean_average_precision(detections, scenes.ground_truths())

Classification plus localisation, one object per image: `build_localizer` (class, box and
keypoint heads), `make_localization_targets`, `evaluate_localizer`.

Boxes are "xyxy" `(x_min, y_min, x_max, y_max)` in pixels. Class ids count the background:
0 = background, 1..K = objects, so a detector has `num_classes = K + 1`.
"""

import keras
import numpy as np
from keras import layers, ops

from course_lib._validation import check_image_batch, check_input_shape, check_ints, check_num_classes, check_number
from course_lib.metrics.boxes import box_iou, non_max_suppression
from course_lib.models.anchors import decode_boxes, make_anchors

#: Said when a detector's num_classes is wrong: it counts the background class.
BACKGROUND_HINT = ("A detector's classes include the background (class 0): 4 object classes need "
                   "num_classes=5.")


# --------------------------------------------------------------------------- the detector

def conv_pool_blocks(inputs, filters, pool_last=True):
    """Rescaling to [0, 1], then per entry of `filters` a 3x3 convolution (ReLU) and a 2x2 max pooling.

    The backbone of every small model here: the tiny detector, the localizer, R-CNN's crop
    classifier, and Fast R-CNN's (`pool_last=False`: no pooling after the last convolution).
    Layers are named "rescale", "conv_1", "pool_1", ...
    """
    x = layers.Rescaling(1 / 255, name="rescale")(inputs)
    for i, f in enumerate(filters, start=1):
        x = layers.Conv2D(f, 3, padding="same", activation="relu", name=f"conv_{i}")(x)
        if pool_last or i < len(filters):
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
    num_classes = check_num_classes(num_classes, example=5, hint=BACKGROUND_HINT)
    input_shape = check_input_shape(input_shape, example=(64, 64, 1))
    filters = check_ints(filters, "filters", example=(16, 32, 64))
    stride = 2 ** len(filters)
    height, width = input_shape[:2]
    if height % stride or width % stride:
        raise ValueError(
            f"input height and width should be divisible by 2**len(filters) = {stride} ({len(filters)} "
            f"poolings by 2), so that every anchor sits on a whole cell. Received: input_shape="
            f"{input_shape}; resize the images (e.g. to 64x64) or use fewer filters")
    anchors = make_anchors((height, width), (height // stride, width // stride), sizes, aspect_ratios)
    per_cell = len(anchors) // ((height // stride) * (width // stride))
    inputs = keras.Input(input_shape, name="images")
    x = conv_pool_blocks(inputs, filters)
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
        self.num_classes = check_num_classes(num_classes, example=5, hint=BACKGROUND_HINT)
        self.box_weight = float(box_weight)

    def call(self, y_true, y_pred):
        return detection_loss(y_true, y_pred, self.num_classes, self.box_weight)

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes, "box_weight": self.box_weight}

# --------------------------------------------------------------------------- inference

def check_images(images, image_size=None, what="the model"):
    """Checks a batch of images `(num_images, height, width, channels)` (a missing channel axis is added).

    With `image_size=(height, width)`, the images must have that size: the one `what`
    was built for. Returns the images as a NumPy array.
    """
    images = check_image_batch(images)
    if image_size is not None and tuple(images.shape[1:3]) != tuple(image_size):
        raise ValueError(
            f"images should be {image_size[0]}x{image_size[1]}, the size {what} was built for "
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

    Example (an untrained model finds boxes too, at random):

    >>> model = build_tiny_detector((64, 64, 1), num_classes=5)
    >>> detections = detect(model, np.zeros((2, 64, 64, 1)), score_threshold=0.0)
    >>> len(detections), sorted(detections[0])
    (2, ['boxes', 'labels', 'scores'])
    """
    anchors = getattr(model, "anchors", None)
    if anchors is None:
        raise ValueError("model should be a detector built by build_tiny_detector (it keeps its anchors "
                         "in model.anchors). Received: a model without .anchors; set model.anchors = "
                         "make_anchors(...) with the anchors it was trained on")
    score_threshold = check_number(score_threshold, "score_threshold", example=0.5)
    iou_threshold = check_number(iou_threshold, "iou_threshold", example=0.5)
    images = check_images(images, model.input_shape[1:3], "the model")
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


def build_localizer(input_shape=(64, 64, 1), num_classes=4, filters=(16, 32, 64), dense_units=128):
    """Classification plus localisation: one CNN, three heads (class, box, keypoint).

    The backbone of `build_tiny_detector` (conv 3x3 - ReLU - max pooling per entry of
    `filters`), flattened, one dense layer, then: "class" (`num_classes` logits), "box"
    (4 numbers, "xyxy" in [0, 1], sigmoid) and "keypoint" (`(x, y)` in [0, 1], sigmoid).
    The box and the keypoint are plain regression outputs trained with an L2 loss:

        model.compile(optimizer=keras.optimizers.Adam(2e-3),
                      loss={"class": keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                            "box": "mse", "keypoint": "mse"},
                      loss_weights={"class": 1.0, "box": 10.0, "keypoint": 10.0})

    The coordinates are in [0, 1], so their squared errors are small (0.01 is a box off
    by 10 % of the image): the weights scale both L2 terms up to the cross-entropy's size.

    Returns:
        An uncompiled `keras.Model` with a dict output {"class", "box", "keypoint"}.
    """
    num_classes = check_num_classes(num_classes, example=4)
    inputs = keras.Input(check_input_shape(input_shape, example=(64, 64, 1)), name="images")
    x = conv_pool_blocks(inputs, check_ints(filters, "filters", example=(16, 32, 64)))
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(dense_units, activation="relu", name="dense")(x)
    outputs = {"class": layers.Dense(num_classes, name="class")(x),
               "box": layers.Dense(4, activation="sigmoid", name="box")(x),
               "keypoint": layers.Dense(2, activation="sigmoid", name="keypoint")(x)}
    return keras.Model(inputs, outputs, name="localizer")


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


__all__ = ["BACKGROUND_HINT", "conv_pool_blocks", "build_tiny_detector", "detection_loss", "DetectionLoss",
           "check_images", "postprocess_detections", "detect", "make_localization_targets",
           "build_localizer", "evaluate_localizer"]
