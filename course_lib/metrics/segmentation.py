"""Confusion matrix, per-class IoU, mean IoU and pixel accuracy for semantic segmentation, in NumPy.

    y_pred = model.predict(images, verbose=0).argmax(axis=-1)   # (batch_size, height, width)
    mean_iou(masks, y_pred, num_classes=21, ignore_index=255)   # PASCAL VOC: 255 marks object borders

Label maps hold one integer class per pixel and may have any shape (one image,
a batch, a flat vector), as long as `y_true` and `y_pred` have the same one.
Every function counts pixels over the whole input: a batch is scored as one big
image, which is how `keras.metrics.MeanIoU` accumulates over a data set.

Pixel accuracy is misleading when one class covers most pixels (a model that
predicts "background" everywhere can score 90%); mean IoU gives each class the same
weight, whatever its size.
"""

import numpy as np

from course_lib._validation import check_num_classes, is_int


def _as_label_map(values, name):
    array = np.asarray(values)
    if array.dtype.kind in "iub":
        return array.astype("int64")
    if array.dtype.kind == "f" and np.all(np.isfinite(array)) and np.all(array == np.round(array)):
        return array.astype("int64")  # e.g. masks loaded as float32 images
    hint = (" For probabilities or logits (..., num_classes), take y_pred.argmax(axis=-1) first."
            if array.dtype.kind == "f" else "")
    raise ValueError(f"{name} should be a label map of integer class ids, one per pixel.{hint} "
                     f"Received: {name} with dtype={array.dtype}, shape={array.shape}")


def _check_label_maps(y_true, y_pred, num_classes, ignore_index):
    """Returns (true labels, predicted labels) as flat int64 arrays of the pixels that count."""
    y_true = _as_label_map(y_true, "y_true")
    y_pred = _as_label_map(y_pred, "y_pred")
    if y_true.shape != y_pred.shape:
        hint = (" y_pred looks like scores per class: take y_pred.argmax(axis=-1)."
                if y_pred.shape[:-1] == y_true.shape else
                " Drop a trailing channel axis with np.squeeze(y_true, axis=-1) if there is one.")
        raise ValueError(f"y_true and y_pred should have the same shape (one class id per pixel)."
                         f"{hint} Received: y_true.shape={y_true.shape}, y_pred.shape={y_pred.shape}")
    if ignore_index is not None and not is_int(ignore_index):
        raise ValueError(f"ignore_index should be an int (the label of pixels to skip, e.g. 255) or "
                         f"None. Received: ignore_index={ignore_index!r}")
    y_true, y_pred = y_true.reshape(-1), y_pred.reshape(-1)
    if ignore_index is not None:
        keep = y_true != ignore_index
        y_true, y_pred = y_true[keep], y_pred[keep]
    for name, labels in (("y_true", y_true), ("y_pred", y_pred)):
        outside = (labels < 0) | (labels >= num_classes)
        if outside.any():
            values = np.unique(labels[outside])
            hint = (" If they mark pixels to skip (e.g. 255 on object borders), pass ignore_index."
                    if name == "y_true" else "")
            raise ValueError(
                f"{name} should hold class ids in [0, {num_classes}) for num_classes={num_classes}, "
                f"but {int(outside.sum())} pixels have other values.{hint} "
                f"Received: {name} values {values[:10].tolist()}")
    return y_true, y_pred


def confusion_matrix(y_true, y_pred, num_classes, ignore_index=None):
    """Counts pixels of each (true class, predicted class) pair.

    Entry [i, j] is the number of pixels of class i predicted as class j: the diagonal
    is right, row i's other entries are class i's missed pixels (false negatives),
    column j's other entries are pixels wrongly called j (false positives). All the
    other scores in this module are read from this matrix.

    Args:
        y_true: integer label map, any shape, e.g. `(batch_size, height, width)`.
        y_pred: integer label map of the same shape (e.g. `model.predict(x).argmax(-1)`).
        num_classes: int, the number of classes; labels are in [0, num_classes).
        ignore_index: None, or a label in `y_true` whose pixels are skipped (e.g. 255).

    Returns:
        int64 array `(num_classes, num_classes)`, rows: true class, columns: predicted
        class (as `tf.math.confusion_matrix`).

    Raises:
        ValueError: shapes differ, labels are not integers, or a label (other than
            `ignore_index` in `y_true`) is outside [0, num_classes).

    Example:

    >>> confusion_matrix([[0, 0], [1, 2]], [[0, 1], [1, 1]], num_classes=3)
    array([[1, 1, 0],
           [0, 1, 0],
           [0, 1, 0]])
    """
    num_classes = check_num_classes(num_classes, minimum=1, example=21,
                                    hint="Count every class, background included (21 for PASCAL VOC).")
    y_true, y_pred = _check_label_maps(y_true, y_pred, num_classes, ignore_index)
    counts = np.bincount(y_true * num_classes + y_pred, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes).astype("int64")


def _iou_from_confusion(matrix):
    intersection = np.diag(matrix).astype("float64")
    # union = true pixels of the class + predicted pixels of the class - the pixels in both
    union = matrix.sum(axis=0) + matrix.sum(axis=1) - intersection
    iou = np.full(len(matrix), np.nan)
    np.divide(intersection, union, out=iou, where=union > 0)
    return iou


def per_class_iou(y_true, y_pred, num_classes, ignore_index=None):
    """IoU of each class: |true ∩ predicted| / |true ∪ predicted| pixels, i.e. TP / (TP + FP + FN).

    Args:
        y_true, y_pred, num_classes, ignore_index: as in `confusion_matrix`.

    Returns:
        float64 array `(num_classes,)`; NaN for a class absent from both `y_true` and
        `y_pred` (0 / 0: nothing to get right or wrong). `np.nanmean` of it is `mean_iou`.

    Raises:
        ValueError: as `confusion_matrix`.

    Example (class 2 appears nowhere):

    >>> per_class_iou([0, 0, 1, 1], [0, 1, 1, 1], num_classes=3)   # class 0: 1/2, class 1: 2/3
    array([0.5       , 0.66666667,        nan])
    """
    return _iou_from_confusion(confusion_matrix(y_true, y_pred, num_classes, ignore_index))


def mean_iou(y_true, y_pred, num_classes, ignore_index=None):
    """Mean over classes of the per-class IoU: the standard semantic-segmentation score.

    Each class counts the same, however many pixels it covers, so a model that ignores
    a small class (poles, bicycles) is penalized even if pixel accuracy is high.

    Classes absent from both `y_true` and `y_pred` are left out of the mean, as
    `keras.metrics.MeanIoU` does. A class predicted but absent from `y_true` has IoU 0
    and counts. Pixels whose true label is `ignore_index` are skipped entirely, as
    with MeanIoU's `ignore_class`; if `ignore_index` is itself a class id, that class
    still counts when the model predicts it on other pixels.

    Args:
        y_true, y_pred, num_classes, ignore_index: as in `confusion_matrix`.

    Returns:
        float, between 0 and 1.

    Raises:
        ValueError: as `confusion_matrix`, or no pixel is left to score (empty inputs, or
            every pixel is `ignore_index`).

    Example (class 2 appears nowhere and is left out):

    >>> mean_iou([0, 0, 1, 1], [0, 1, 1, 1], num_classes=3)        # (1/2 + 2/3) / 2
    0.5833333333333333
    """
    iou = per_class_iou(y_true, y_pred, num_classes, ignore_index)
    if np.isnan(iou).all():
        raise ValueError(
            "No pixel is left to score (the inputs are empty, or every pixel of y_true is "
            f"ignore_index), so the mean IoU is undefined. Received: ignore_index={ignore_index!r}, "
            f"y_true of shape {np.shape(y_true)}")
    return float(np.nanmean(iou))


def pixel_accuracy(y_true, y_pred, num_classes, ignore_index=None):
    """Fraction of pixels whose predicted class is right (ignored pixels excluded).

    Easy to read but dominated by large classes: report it next to `mean_iou`.

    Args:
        y_true, y_pred, num_classes, ignore_index: as in `confusion_matrix`.

    Returns:
        float, between 0 and 1.

    Raises:
        ValueError: as `mean_iou`.

    Example (255 marks a pixel to skip):

    >>> pixel_accuracy([0, 0, 1, 255], [0, 1, 1, 0], num_classes=2, ignore_index=255)   # 2 of 3
    0.6666666666666666
    """
    matrix = confusion_matrix(y_true, y_pred, num_classes, ignore_index)
    total = matrix.sum()
    if total == 0:
        raise ValueError(
            "No pixel is left to score (the inputs are empty, or every pixel of y_true is "
            f"ignore_index), so the accuracy is undefined. Received: ignore_index={ignore_index!r}, "
            f"y_true of shape {np.shape(y_true)}")
    return float(np.trace(matrix) / total)
