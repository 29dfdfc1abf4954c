"""R-CNN and Fast R-CNN in miniature: classify regions, from crops or from one shared feature map.

Both score a fixed set of candidate regions (sliding windows here, where R-CNN used
Selective Search), predict for each region a class (background included) and 4 box
offsets relative to it, then keep the best boxes with per-class non-max suppression:

    windows = make_sliding_windows((64, 64), stride=8)                 # 384 candidate regions
    # R-CNN: one CNN pass per region, on the region's crop resized to 32x32
    crops, targets = make_crop_dataset(images, scenes.boxes, scenes.labels, windows)
    classifier = build_crop_classifier((32, 32, 1), num_classes=5)
    detections, cost = rcnn_detect(classifier, test_images, windows)    # 384 CNN passes per image
    # Fast R-CNN: one backbone pass per image, each region pooled from its feature map
    fast = build_fast_rcnn((64, 64, 1), num_classes=5, windows=windows)
    detections, cost = fast_rcnn_detect(fast, test_images)              # 1 backbone pass per image

Faster R-CNN replaces the windows by a small network (the RPN) that scores anchors
and proposes regions: the anchors, targets of `course_lib.models.anchors` and the loss of `course_lib.models.detection`.
"""

import time

import keras
import numpy as np
import tensorflow as tf
from keras import layers

from course_lib._validation import (check_image_size, check_input_shape, check_int, check_ints, check_num_classes,
                                    check_number)
from course_lib.metrics.boxes import CONVERT_XYWH_HINT, check_boxes
from course_lib.models.anchors import assign_anchors, check_anchors, make_anchors
from course_lib.models.detection import (BACKGROUND_HINT, check_images, conv_pool_blocks, detect,
                                         postprocess_detections)


def make_sliding_windows(image_size=(64, 64), stride=8, sizes=(16, 28), aspect_ratios=(0.5, 1.0, 2.0)):
    """Candidate regions: windows of every size and shape, every `stride` pixels.

    The same boxes as `make_anchors(image_size, image_size // stride, sizes, aspect_ratios)`:
    R-CNN's proposals and a one-stage detector's anchors can be the very same boxes.

    Returns:
        float32 array `(num_windows, 4)` of "xyxy" boxes (384 for the defaults on 64x64).
    """
    height, width = check_image_size(image_size)
    stride = check_int(stride, "stride", example=8, hint="It is the step between windows, in pixels.")
    if height % stride or width % stride:
        raise ValueError(f"stride should divide the image's height and width, e.g. stride=8 for 64x64 images. "
                         f"Received: stride={stride}, image_size=({height}, {width})")
    return make_anchors((height, width), (height // stride, width // stride), sizes, aspect_ratios)


def crop_regions(images, boxes, crop_size=(32, 32), box_indices=None, stride=1):
    """Crops regions out of images (or feature maps) and resizes them: `tf.image.crop_and_resize`.

    Each crop cell is sampled (bilinearly) at its centre: on a feature map, this is
    RoIAlign with one sample per bin (see `roi_align`).

    Args:
        images: `(num_images, height, width, channels)` array or tensor.
        boxes: `(num_regions, 4)` "xyxy" boxes in input pixels (or one box `(4,)`).
        crop_size: `(height, width)` of every crop.
        box_indices: `(num_regions,)` image of each box; None when there is one image.
        stride: input pixels per cell of `images`: 1 for images, 8 for a feature map
            computed with three 2x2 poolings.

    Returns:
        float32 array `(num_regions, crop_height, crop_width, channels)`; parts of a box outside
        the image are 0.
    """
    crop_size = check_ints(crop_size, "crop_size", example=(32, 32), length=2)
    stride = check_int(stride, "stride", example=8, hint="It counts input pixels per cell of images: 1 for "
                       "images, 8 for a feature map after three 2x2 poolings.")
    images = np.asarray(images, dtype="float32")
    boxes = check_boxes(boxes, "boxes", allow_single=True, hint=CONVERT_XYWH_HINT).astype("float32")
    if box_indices is None:
        if len(images) != 1:
            raise ValueError(f"box_indices should say which image each box comes from when there are "
                             f"several images. Received: {len(images)} images and box_indices=None")
        box_indices = np.zeros(len(boxes), dtype="int32")
    rows, columns = images.shape[1:3]
    normalized = _normalized_yxyx(boxes, (rows * stride, columns * stride), crop_size, (rows, columns))
    return tf.image.crop_and_resize(images, normalized, np.asarray(box_indices, dtype="int32"),
                                    crop_size).numpy()


def _normalized_yxyx(boxes, image_size, crop_size, feature_size=None):
    """Pixel "xyxy" boxes -> crop_and_resize's (y1, x1, y2, x2), sampling each crop cell at its centre.

    crop_and_resize samples a box's edges and evenly in between; to sample the centres of
    a `crop_size` grid over the box (RoIAlign with one sample per bin), the box passed is
    shrunk by half a cell on each side. In a map of `rows` cells (a feature map of stride
    image / rows; the image itself when `feature_size` is None), cell i's centre is at
    i + 0.5 and crop_and_resize calls it i / (rows - 1).
    """
    height, width = image_size
    rows, columns = (height, width) if feature_size is None else feature_size
    yxyx = np.asarray(boxes, dtype="float64")[:, [1, 0, 3, 2]]
    half_cell = (yxyx[:, 2:] - yxyx[:, :2]) / (2 * np.array(crop_size, dtype="float64"))
    yxyx = np.concatenate([yxyx[:, :2] + half_cell, yxyx[:, 2:] - half_cell], axis=1)
    scale = np.array([rows / height, columns / width] * 2)
    denominator = np.array([max(rows - 1, 1), max(columns - 1, 1)] * 2, dtype="float64")
    return ((yxyx * scale - 0.5) / denominator).astype("float32")


def make_crop_dataset(images, boxes, labels, windows, crop_size=(32, 32), negatives_per_image=8, seed=0):
    """R-CNN's training set: crops of windows, labelled by their IoU with the ground truth.

    For each image, every positive window (`assign_anchors`: IoU >= 0.5 with an object,
    or an object's best window) is kept with its class and box offsets, plus
    `negatives_per_image` background windows drawn at random (IoU < 0.4).

    Returns:
        `(crops, targets)`: float32 `(n, crop_height, crop_width, channels)` and float32
        `(n, 5)` (class id, then the 4 offsets), the targets `DetectionLoss` takes.
    """
    images = check_images(images)
    windows = check_anchors(windows)
    rng = np.random.default_rng(seed)
    chosen, indices, targets = [], [], []
    for i, (image_boxes, image_labels) in enumerate(zip(boxes, labels)):
        classes, offsets = assign_anchors(windows, image_boxes, image_labels, image_size=images.shape[1:3])
        positives = np.flatnonzero(classes > 0)
        negatives = np.flatnonzero(classes == 0)
        negatives = rng.choice(negatives, size=min(negatives_per_image, len(negatives)), replace=False)
        keep = np.concatenate([positives, negatives])
        chosen.append(windows[keep])
        indices.append(np.full(len(keep), i, dtype="int32"))
        targets.append(np.concatenate([classes[keep, None].astype("float32"), offsets[keep]], axis=1))
    crops = crop_regions(images, np.concatenate(chosen), crop_size, np.concatenate(indices))
    return crops, np.concatenate(targets)


def build_crop_classifier(input_shape=(32, 32, 1), num_classes=5, filters=(16, 32, 64), dense_units=64):
    """R-CNN's region classifier: a small CNN on one crop -> class logits + 4 box offsets.

    Returns:
        An uncompiled `keras.Model` `(batch, h, w, c) -> (batch, num_classes + 4)`, with
        `model.num_classes` set. Compile it with the detector's loss:
        `model.compile(optimizer=keras.optimizers.Adam(2e-3), loss=DetectionLoss(num_classes=5))`.
    """
    num_classes = check_num_classes(num_classes, example=5, hint=BACKGROUND_HINT)
    inputs = keras.Input(check_input_shape(input_shape, example=(32, 32, 1)), name="crop")
    x = conv_pool_blocks(inputs, check_ints(filters, "filters", example=(16, 32, 64)))
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(dense_units, activation="relu", name="dense")(x)
    outputs = layers.Dense(num_classes + 4, name="class_and_box")(x)
    model = keras.Model(inputs, outputs, name="crop_classifier")
    model.num_classes = num_classes
    return model


def rcnn_detect(classifier, images, windows, score_threshold=0.5, iou_threshold=0.5, batch_size=512):
    """R-CNN inference: crop every window of every image, classify each crop, then NMS.

    Args:
        classifier: from `build_crop_classifier`, trained on `make_crop_dataset`.
        images: `(num_images, height, width, channels)`.
        windows: `(num_windows, 4)` candidate regions, e.g. `make_sliding_windows()`.
        score_threshold, iou_threshold: see `detect`.
        batch_size: crops per forward pass.

    Returns:
        `(detections, cost)`: one dict per image as `detect` returns, and a dict with
        "cnn_passes_per_image" (one per window) and "seconds_per_image" (wall clock,
        cropping, classifying and NMS of all images divided by their number, after a
        warm-up call so that tracing the graph is not counted).
    """
    images = check_images(images)
    windows = check_anchors(windows)
    score_threshold = check_number(score_threshold, "score_threshold", example=0.5)
    iou_threshold = check_number(iou_threshold, "iou_threshold", example=0.5)
    crop_size = classifier.input_shape[1:3]
    num_classes = classifier.num_classes
    classifier.predict(np.zeros((1, *classifier.input_shape[1:]), "float32"), verbose=0)  # trace before timing
    start = time.perf_counter()
    indices = np.repeat(np.arange(len(images), dtype="int32"), len(windows))
    crops = crop_regions(images, np.tile(windows, (len(images), 1)), crop_size, indices)
    out = classifier.predict(crops, batch_size=batch_size, verbose=0).reshape(len(images), len(windows), -1)
    detections = [postprocess_detections(o[:, :num_classes], o[:, num_classes:], windows, images.shape[1:3],
                                         score_threshold, iou_threshold) for o in out]
    seconds = time.perf_counter() - start
    return detections, {"cnn_passes_per_image": len(windows), "seconds_per_image": seconds / len(images)}


@keras.saving.register_keras_serializable(package="course_lib")
class RoiAlign(layers.Layer):
    """Pools fixed regions (in input pixels) from a feature map: crop_and_resize, then max pooling 2x2.

    Args:
        boxes: `(num_regions, 4)` "xyxy" regions in input pixels.
        image_size: `(height, width)` of the input images, to place the regions on the map.
        pool_size: `(rows, columns)` of each pooled region.

    Shapes: `(batch, rows, columns, channels)` -> `(batch, num_regions, *pool_size, channels)`.
    """

    def __init__(self, boxes, image_size, pool_size=(4, 4), **kwargs):
        super().__init__(**kwargs)
        self.boxes = np.asarray(boxes, dtype="float32")
        self.image_size = tuple(int(s) for s in image_size)
        self.pool_size = tuple(int(s) for s in pool_size)

    def call(self, features):
        batch = tf.shape(features)[0]
        regions = len(self.boxes)
        crop = (2 * self.pool_size[0], 2 * self.pool_size[1])
        normalized = tf.constant(_normalized_yxyx(self.boxes, self.image_size, crop,
                                                  tuple(features.shape[1:3])))
        boxes = tf.tile(normalized, [batch, 1])
        indices = tf.repeat(tf.range(batch), regions)
        crops = tf.image.crop_and_resize(features, boxes, indices, crop)
        pooled = tf.nn.max_pool2d(crops, 2, 2, "VALID")
        return tf.reshape(pooled, (batch, regions, self.pool_size[0], self.pool_size[1], features.shape[-1]))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], len(self.boxes), *self.pool_size, input_shape[-1])

    def get_config(self):
        return {**super().get_config(), "boxes": self.boxes.tolist(), "image_size": self.image_size,
                "pool_size": self.pool_size}


def build_fast_rcnn(input_shape=(64, 64, 1), num_classes=5, windows=None, filters=(16, 32, 64), pool_size=(4, 4),
                    dense_units=64):
    """Fast R-CNN on fixed regions: one shared feature map, each region pooled from it.

    The backbone (conv 3x3 - ReLU - max pooling, per entry of `filters` but the last,
    which has no pooling) runs once per image. Each region is cut out of its feature map
    with `tf.image.crop_and_resize` and max-pooled to `pool_size` (RoI pooling / RoIAlign),
    then a small dense head predicts class logits and 4 box offsets for it.

    Args:
        input_shape: `(height, width, channels)`.
        num_classes: classes including the background.
        windows: `(num_regions, 4)` regions in pixels; None for `make_sliding_windows`.
        filters, pool_size, dense_units: sizes of the backbone, the pooled regions, the head.

    Returns:
        An uncompiled `keras.Model` `(batch, h, w, c) -> (batch, num_regions, num_classes + 4)`,
        with `model.anchors = windows` and `model.num_classes`: `make_detection_targets`,
        `DetectionLoss` and `detect` work on it as on `build_tiny_detector`.
    """
    num_classes = check_num_classes(num_classes, example=5, hint=BACKGROUND_HINT)
    input_shape = check_input_shape(input_shape, example=(64, 64, 1))
    pool_size = check_ints(pool_size, "pool_size", example=(4, 4), length=2)
    height, width = input_shape[:2]
    windows = make_sliding_windows((height, width)) if windows is None else check_anchors(windows)
    inputs = keras.Input(input_shape, name="images")
    x = conv_pool_blocks(inputs, check_ints(filters, "filters", example=(16, 32, 64)), pool_last=False)
    x = RoiAlign(windows, (height, width), pool_size, name="roi_pool")(x)
    x = layers.Reshape((len(windows), -1), name="flatten_regions")(x)
    x = layers.Dense(dense_units, activation="relu", name="dense")(x)
    outputs = layers.Dense(num_classes + 4, name="class_and_box")(x)
    model = keras.Model(inputs, outputs, name="fast_rcnn")
    model.anchors = windows
    model.num_classes = num_classes
    return model


def time_detector(model, images, score_threshold=0.5, iou_threshold=0.5):
    """Runs `detect` on all images, as `rcnn_detect` does, and returns `(detections, seconds_per_image)`.

    The time includes decoding and NMS, not the first call's tracing (a warm-up call runs first).
    """
    images = check_images(images)
    model.predict(images[:1], verbose=0)   # the first call traces the graph: not part of the cost
    start = time.perf_counter()
    detections = detect(model, images, score_threshold, iou_threshold)
    return detections, (time.perf_counter() - start) / len(images)


# --------------------------------------------------------------------------- RoI pooling vs RoIAlign

def _check_roi_args(feature_map, box, output_size, stride):
    feature_map = np.asarray(feature_map, dtype="float64")
    if feature_map.ndim not in (2, 3):
        raise ValueError(f"feature_map should be one map (height, width) or (height, width, channels). "
                         f"Received: feature_map.shape={feature_map.shape}")
    box = np.asarray(box, dtype="float64").reshape(-1)
    if box.shape != (4,) or not (box[2] > box[0] and box[3] > box[1]):
        raise ValueError(f"box should be one \"xyxy\" box (x_min, y_min, x_max, y_max) in input pixels with "
                         f"x_max > x_min and y_max > y_min. Received: box={box.tolist()}")
    bins = check_ints(output_size, "output_size", example=(2, 2), length=2)
    check_int(stride, "stride", example=8, hint="It counts input pixels per feature-map cell.")
    return feature_map, box, bins


def quantize_box(box, stride=8):
    """The region RoI pooling really reads: the box snapped to the feature-map grid, in pixels.

    Fast R-CNN's RoI pooling rounds each coordinate to the nearest cell boundary
    (`floor(v / stride + 0.5)` cells, halves up), keeping at least one cell.

    >>> quantize_box([13, 13, 45, 45], stride=8)       # 3 px off on every side
    array([16., 16., 48., 48.])
    """
    box = np.asarray(box, dtype="float64").reshape(-1)
    if box.shape != (4,):
        raise ValueError(f"box should be 4 numbers (x_min, y_min, x_max, y_max). Received: box={box.tolist()}")
    cells = np.floor(box / stride + 0.5)
    cells[2:] = np.maximum(cells[2:], cells[:2] + 1)
    return cells * stride


def roi_pool(feature_map, box, output_size=(2, 2), stride=8):
    """RoI pooling (Fast R-CNN): snap the box to the grid, split it into bins, max of each bin.

    The box is quantised twice: its edges to whole cells (`quantize_box`), then the
    bins to whole cells (bin i covers cells floor(i * n / bins) to ceil((i + 1) * n / bins)).

    Args:
        feature_map: `(height, width)` or `(height, width, channels)`.
        box: "xyxy" in input pixels.
        output_size: `(rows, columns)` of bins.
        stride: input pixels per cell.

    Returns:
        `(rows, columns)` or `(rows, columns, channels)` float64.
    """
    feature_map, box, (rows, columns) = _check_roi_args(feature_map, box, output_size, stride)
    x1, y1, x2, y2 = (quantize_box(box, stride) / stride).astype(int)
    height, width = feature_map.shape[:2]
    x1, x2 = min(max(x1, 0), width - 1), min(max(x2, 1), width)
    y1, y2 = min(max(y1, 0), height - 1), min(max(y2, 1), height)
    x2, y2 = max(x2, x1 + 1), max(y2, y1 + 1)
    out = np.empty((rows, columns) + feature_map.shape[2:])
    for i in range(rows):
        top, bottom = y1 + (i * (y2 - y1)) // rows, y1 + -(-(i + 1) * (y2 - y1) // rows)
        for j in range(columns):
            left, right = x1 + (j * (x2 - x1)) // columns, x1 + -(-(j + 1) * (x2 - x1) // columns)
            out[i, j] = feature_map[top:max(bottom, top + 1), left:max(right, left + 1)].max(axis=(0, 1))
    return out


def _bilinear(feature_map, y, x):
    height, width = feature_map.shape[:2]
    y, x = np.clip(y, 0, height - 1), np.clip(x, 0, width - 1)
    y0, x0 = np.minimum(np.floor(y).astype(int), height - 1), np.minimum(np.floor(x).astype(int), width - 1)
    y1, x1 = np.minimum(y0 + 1, height - 1), np.minimum(x0 + 1, width - 1)
    wy, wx = y - y0, x - x0
    if feature_map.ndim == 3:
        wy, wx = wy[..., None], wx[..., None]
    return ((1 - wy) * (1 - wx) * feature_map[y0, x0] + (1 - wy) * wx * feature_map[y0, x1]
            + wy * (1 - wx) * feature_map[y1, x0] + wy * wx * feature_map[y1, x1])


def roi_align(feature_map, box, output_size=(2, 2), stride=8, sampling_ratio=2):
    """RoIAlign (Mask R-CNN): no rounding; each bin averages bilinear samples at exact positions.

    Each bin gets `sampling_ratio x sampling_ratio` regularly spaced points, read by
    bilinear interpolation between the 4 nearest cell centres (cell j's centre is at
    pixel `(j + 0.5) * stride`). With `sampling_ratio=1`, one point at each bin's centre:
    what `crop_regions(..., stride=stride)` (`tf.image.crop_and_resize`) computes.

    Args:
        feature_map, box, output_size, stride: as in `roi_pool`.
        sampling_ratio: points per bin along each axis.

    Returns:
        `(rows, columns)` or `(rows, columns, channels)` float64.
    """
    feature_map, box, (rows, columns) = _check_roi_args(feature_map, box, output_size, stride)
    check_int(sampling_ratio, "sampling_ratio", example=2, hint="Mask R-CNN samples 2 x 2 points per bin.")
    x1, y1, x2, y2 = box / stride - 0.5          # in cell units, cell centres at integers
    steps = (np.arange(sampling_ratio) + 0.5) / sampling_ratio
    ys = y1 + (np.arange(rows)[:, None] + steps) * (y2 - y1) / rows         # (rows, samples)
    xs = x1 + (np.arange(columns)[:, None] + steps) * (x2 - x1) / columns
    out = np.empty((rows, columns) + feature_map.shape[2:])
    for i in range(rows):
        for j in range(columns):
            y, x = np.meshgrid(ys[i], xs[j], indexing="ij")
            out[i, j] = _bilinear(feature_map, y.ravel(), x.ravel()).mean(axis=0)
    return out


__all__ = ["make_sliding_windows", "crop_regions", "make_crop_dataset", "build_crop_classifier", "rcnn_detect",
           "build_fast_rcnn", "time_detector", "quantize_box", "roi_pool", "roi_align"]
