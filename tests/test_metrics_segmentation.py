"""Tests for course_lib.metrics.segmentation: confusion matrix, IoU, pixel accuracy, against Keras."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import course_lib
from course_lib.metrics import confusion_matrix, mean_iou, per_class_iou, pixel_accuracy

def test_confusion_matrix_hand_worked():
    # true [[0, 0], [1, 2]], predicted [[0, 1], [1, 1]]: (0,0) (0,1) (1,1) (2,1)
    matrix = confusion_matrix([[0, 0], [1, 2]], [[0, 1], [1, 1]], num_classes=3)
    np.testing.assert_array_equal(matrix, [[1, 1, 0], [0, 1, 0], [0, 1, 0]])
    assert matrix.dtype == np.int64
    ignored = confusion_matrix([[0, 255], [1, 2]], [[0, 1], [1, 1]], num_classes=3, ignore_index=255)
    np.testing.assert_array_equal(ignored, [[1, 0, 0], [0, 1, 0], [0, 1, 0]])
    # float masks holding whole numbers (e.g. loaded as images) are accepted
    np.testing.assert_array_equal(confusion_matrix(np.array([0.0, 1.0]), [0, 1], num_classes=2), np.eye(2))


def test_segmentation_scores_hand_worked():
    # 2x3 image, 3 classes. true:       predicted:
    #   0 0 1                          0 1 1
    #   2 2 2                          2 2 0
    # class 0: both {(0,0)}, union {(0,0), (0,1), (1,2)} -> 1/3
    # class 1: both {(0,2)}, union {(0,1), (0,2)}        -> 1/2
    # class 2: both {(1,0), (1,1)}, union 3 pixels       -> 2/3
    y_true = np.array([[0, 0, 1], [2, 2, 2]])
    y_pred = np.array([[0, 1, 1], [2, 2, 0]])
    np.testing.assert_allclose(per_class_iou(y_true, y_pred, 3), [1 / 3, 1 / 2, 2 / 3])
    assert mean_iou(y_true, y_pred, 3) == pytest.approx((1 / 3 + 1 / 2 + 2 / 3) / 3)
    assert pixel_accuracy(y_true, y_pred, 3) == pytest.approx(4 / 6)
    # With a 4th class absent from both maps: NaN, and the mean does not change
    iou = per_class_iou(y_true, y_pred, 4)
    assert np.isnan(iou[3])
    assert mean_iou(y_true, y_pred, 4) == pytest.approx(0.5)


def test_background_everywhere_has_high_accuracy_but_low_mean_iou():
    y_true = np.zeros((10, 10), dtype=int)
    y_true[:1] = 1  # a small object: 10 pixels of 100
    y_pred = np.zeros_like(y_true)
    assert pixel_accuracy(y_true, y_pred, 2) == 0.9
    # background IoU 90/100, object IoU 0/10
    assert mean_iou(y_true, y_pred, 2) == pytest.approx(0.45)


def keras_mean_iou(y_true, y_pred, num_classes, ignore_class=None, target_class_ids=None):
    if target_class_ids is None:
        metric = keras.metrics.MeanIoU(num_classes=num_classes, ignore_class=ignore_class)
    else:
        metric = keras.metrics.IoU(num_classes=num_classes, target_class_ids=target_class_ids,
                                   ignore_class=ignore_class)
    metric.update_state(y_true, y_pred)
    return float(metric.result())


@pytest.mark.parametrize("seed", [0, 1])
def test_segmentation_matches_keras_and_tensorflow(seed):
    rng = np.random.default_rng(seed)
    num_classes = 6
    # truth uses classes 0-3, predictions 0-4: class 4 is predicted but never true (IoU 0, counted),
    # class 5 appears nowhere (left out by both Keras and us).
    y_true = rng.integers(0, 4, size=(2, 16, 16))
    y_pred = np.where(rng.uniform(size=y_true.shape) < 0.6, y_true, rng.integers(0, 5, size=y_true.shape))
    expected_cm = tf.math.confusion_matrix(y_true.reshape(-1), y_pred.reshape(-1), num_classes=num_classes)
    np.testing.assert_array_equal(confusion_matrix(y_true, y_pred, num_classes), expected_cm.numpy())

    iou = per_class_iou(y_true, y_pred, num_classes)
    assert iou[4] == 0.0 and np.isnan(iou[5])
    for k in range(5):
        expected = keras_mean_iou(y_true, y_pred, num_classes, target_class_ids=[k])
        assert iou[k] == pytest.approx(expected, rel=1e-5)
    ours = mean_iou(y_true, y_pred, num_classes)
    assert ours == pytest.approx(keras_mean_iou(y_true, y_pred, num_classes), rel=1e-5)
    # Like with like: averaging over all 6 classes (absent one as 0) would differ
    assert abs(np.nan_to_num(iou).mean() - ours) > 0.05

    # ignore_index outside the classes (VOC's 255) and inside them (class 0 as "void")
    y_true_void = np.where(rng.uniform(size=y_true.shape) < 0.2, 255, y_true)
    assert mean_iou(y_true_void, y_pred, num_classes, ignore_index=255) == pytest.approx(
        keras_mean_iou(y_true_void, y_pred, num_classes, ignore_class=255), rel=1e-5)
    assert mean_iou(y_true, y_pred, num_classes, ignore_index=0) == pytest.approx(
        keras_mean_iou(y_true, y_pred, num_classes, ignore_class=0), rel=1e-5)

    keep = y_true_void != 255
    accuracy = keras.metrics.Accuracy()
    accuracy.update_state(y_true_void.reshape(-1), y_pred.reshape(-1), sample_weight=keep.reshape(-1))
    assert pixel_accuracy(y_true_void, y_pred, num_classes, ignore_index=255) == pytest.approx(
        float(accuracy.result()), rel=1e-6)


@pytest.mark.parametrize("args, kwargs, match", [
    (([[0, 1]], [[0, 1, 1]], 2), {},
     r"y_true and y_pred should have the same shape.*Received: y_true.shape=\(1, 2\), y_pred.shape=\(1, 3\)"),
    ((np.zeros((2, 4)), np.zeros((2, 4, 3)), 3), {},
     r"looks like scores per class: take y_pred.argmax\(axis=-1\)"),
    (([0, 1], [0.2, 0.8], 2), {},
     r"y_pred should be a label map of integer class ids.*argmax.*dtype=float64"),
    (([0, 1], ["a", "b"], 2), {},
     r"y_pred should be a label map of integer class ids.*Received: y_pred with dtype=<U1"),
    (([0, 255], [0, 1], 2), {},
     r"y_true should hold class ids in \[0, 2\).*but 1 pixels.*pass ignore_index.*"
     r"Received: y_true values \[255\]"),
    (([0, 1], [0, 7], 2), {}, r"y_pred should hold class ids in \[0, 2\).*Received: y_pred values \[7\]"),
    (([0, 1], [0, -1], 2), {}, r"Received: y_pred values \[-1\]"),
    (([0, 1], [0, 1], 0), {}, r"num_classes should be a positive int \(e.g. num_classes=21\).*PASCAL VOC.*Received: num_classes=0"),
    (([0, 1], [0, 1], 2.0), {}, r"Received: num_classes=2.0"),
    (([0, 1], [0, 1], 2), dict(ignore_index="void"),
     r"ignore_index should be an int.*Received: ignore_index='void'"),
])
@pytest.mark.parametrize("function", [confusion_matrix, per_class_iou, mean_iou, pixel_accuracy])
def test_segmentation_errors(function, args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        function(*args, **kwargs)


@pytest.mark.parametrize("function, what", [(mean_iou, "mean IoU"), (pixel_accuracy, "accuracy")])
def test_nothing_left_to_score(function, what):
    match = rf"No pixel is left to score.*{what} is undefined.*Received: ignore_index=255"
    with pytest.raises(ValueError, match=match):
        function([255, 255], [0, 1], 2, ignore_index=255)
    match = r"No pixel is left to score.*Received: ignore_index=None, y_true of shape \(0,\)"
    with pytest.raises(ValueError, match=match):
        function(np.zeros(0, int), np.zeros(0, int), 2)


# ------------------------------------------------------------------ the package itself


def test_top_level_exports():
    assert course_lib.mean_iou is mean_iou
    assert course_lib.confusion_matrix is confusion_matrix
