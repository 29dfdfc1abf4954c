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
and proposes regions: the anchors, targets and loss of `course_lib.models.detection`.
"""

import time

import numpy as np

from course_lib import runtime
from course_lib.models.detection import (_check_anchors, _check_images, _check_num_classes, _check_pair,
                                         _check_threshold, assign_anchors, make_anchors,
                                         postprocess_detections)


def make_sliding_windows(image_size=(64, 64), stride=8, sizes=(16, 28), aspect_ratios=(0.5, 1.0, 2.0)):
    """Candidate regions: windows of every size and shape, every `stride` pixels.

    The same boxes as `make_anchors(image_size, image_size // stride, sizes, aspect_ratios)`:
    R-CNN's proposals and a one-stage detector's anchors can be the very same boxes.

    Returns:
        float32 array `(num_windows, 4)` of "xyxy" boxes (384 for the defaults on 64x64).
    """
    height, width = _check_pair(image_size, "image_size", "(64, 64)")
    if isinstance(stride, bool) or not isinstance(stride, int) or stride < 1 or height % stride or width % stride:
        raise ValueError(f"stride should be a positive int dividing the image's height and width, e.g. "
                         f"stride=8 for 64x64 images. Received: stride={stride!r}, image_size=({height}, {width})")
    return make_anchors((height, width), (height // stride, width // stride), sizes, aspect_ratios)


def crop_regions(images, boxes, crop_size=(32, 32), box_indices=None):
    """Crops regions out of images (or feature maps) and resizes them: `tf.image.crop_and_resize`.

    Args:
        images: `(num_images, height, width, channels)` array or tensor.
        boxes: `(num_regions, 4)` "xyxy" boxes in pixels of `images`.
        crop_size: `(height, width)` of every crop.
        box_indices: `(num_regions,)` image of each box; None when there is one image.

    Returns:
        float32 array `(num_regions, crop_height, crop_width, channels)`; parts of a box outside
        the image are 0.
    """
    crop_size = _check_pair(crop_size, "crop_size", "(32, 32)")
    images = np.asarray(images, dtype="float32")
    boxes = np.asarray(boxes, dtype="float32").reshape(-1, 4)
    if box_indices is None:
        if len(images) != 1:
            raise ValueError(f"box_indices should say which image each box comes from when there are "
                             f"several images. Received: {len(images)} images and box_indices=None")
        box_indices = np.zeros(len(boxes), dtype="int32")
    runtime.quiet_tensorflow()
    import tensorflow as tf
    return tf.image.crop_and_resize(images, _normalized_yxyx(boxes, images.shape[1:3], crop_size),
                                    np.asarray(box_indices, dtype="int32"), crop_size).numpy()


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
    images = _check_images(images, None, "")
    windows = _check_anchors(windows)
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
        `model.num_classes` set (compile it with `compile_detector`).
    """
    num_classes = _check_num_classes(num_classes)
    runtime.quiet_tensorflow()
    import keras
    inputs = keras.Input(tuple(input_shape), name="crop")
    x = keras.layers.Rescaling(1 / 255, name="rescale")(inputs)
    for i, f in enumerate(filters, start=1):
        x = keras.layers.Conv2D(f, 3, padding="same", activation="relu", name=f"conv_{i}")(x)
        x = keras.layers.MaxPooling2D(2, name=f"pool_{i}")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(dense_units, activation="relu", name="dense")(x)
    outputs = keras.layers.Dense(num_classes + 4, name="class_and_box")(x)
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
    images = _check_images(images, None, "")
    windows = _check_anchors(windows)
    score_threshold = _check_threshold(score_threshold, "score_threshold", 0.5)
    iou_threshold = _check_threshold(iou_threshold, "iou_threshold", 0.5)
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


def _make_roi_layer():
    import keras
    import tensorflow as tf

    class RoiAlign(keras.layers.Layer):
        """Pools fixed regions (in input pixels) from a feature map: crop_and_resize + max pooling 2x2."""

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

    return RoiAlign


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
        `compile_detector` and `detect` work on it as on `build_tiny_detector`.
    """
    num_classes = _check_num_classes(num_classes)
    height, width = int(input_shape[0]), int(input_shape[1])
    windows = make_sliding_windows((height, width)) if windows is None else _check_anchors(windows)
    runtime.quiet_tensorflow()
    import keras
    inputs = keras.Input(tuple(input_shape), name="images")
    x = keras.layers.Rescaling(1 / 255, name="rescale")(inputs)
    for i, f in enumerate(filters, start=1):
        x = keras.layers.Conv2D(f, 3, padding="same", activation="relu", name=f"conv_{i}")(x)
        if i < len(filters):
            x = keras.layers.MaxPooling2D(2, name=f"pool_{i}")(x)
    x = _make_roi_layer()(windows, (height, width), _check_pair(pool_size, "pool_size", "(4, 4)"),
                          name="roi_pool")(x)
    x = keras.layers.Reshape((len(windows), -1), name="flatten_regions")(x)
    x = keras.layers.Dense(dense_units, activation="relu", name="dense")(x)
    outputs = keras.layers.Dense(num_classes + 4, name="class_and_box")(x)
    model = keras.Model(inputs, outputs, name="fast_rcnn")
    model.anchors = windows
    model.num_classes = num_classes
    return model


def time_detector(model, images, score_threshold=0.5, iou_threshold=0.5):
    """Runs `detect` on all images, as `rcnn_detect` does, and returns `(detections, seconds_per_image)`.

    The time includes decoding and NMS, not the first call's tracing (a warm-up call runs first).
    """
    from course_lib.models.detection import detect
    images = _check_images(images, None, "")
    model.predict(images[:1], verbose=0)   # the first call traces the graph: not part of the cost
    start = time.perf_counter()
    detections = detect(model, images, score_threshold, iou_threshold)
    return detections, (time.perf_counter() - start) / len(images)


__all__ = ["make_sliding_windows", "crop_regions", "make_crop_dataset", "build_crop_classifier", "rcnn_detect",
           "build_fast_rcnn", "time_detector"]
