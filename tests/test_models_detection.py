"""Tests of course_lib.models.detection: the tiny detector, its loss, detect, and the one-object localizer."""

import doctest

import keras
import numpy as np
import pytest

from course_lib.data.scenes import make_fashion_scenes
from course_lib.metrics.detection import mean_average_precision
from course_lib.models import detection
from course_lib.models.anchors import make_detection_targets
from course_lib.models.detection import (DetectionLoss, build_localizer, build_tiny_detector, detect,
                                         detection_loss, evaluate_localizer, make_localization_targets,
                                         postprocess_detections)


# --------------------------------------------------------------------------- detector

def test_detector_shapes_and_anchors():
    model = build_tiny_detector((64, 64, 1), num_classes=5)
    assert model.output_shape == (None, 384, 9)
    assert model.anchors.shape == (384, 4)
    out = model.predict(np.zeros((2, 64, 64, 1), "uint8"), verbose=0)
    assert out.shape == (2, 384, 9)
    small = build_tiny_detector((32, 48, 3), num_classes=3, filters=(8, 8), sizes=(8,), aspect_ratios=(1.0,))
    assert small.output_shape == (None, 8 * 12, 7)


def test_detector_errors():
    with pytest.raises(ValueError, match=r"divisible by 2\*\*len\(filters\) = 8.*\(60, 64, 1\)"):
        build_tiny_detector((60, 64, 1))
    with pytest.raises(ValueError, match=r"num_classes should be an int >= 2.*background.*num_classes=1"):
        build_tiny_detector(num_classes=1)
    with pytest.raises(ValueError, match=r"input_shape should be \(height, width, channels\)"):
        build_tiny_detector((64, 64))


def test_loss_ignores_ignored_anchors_and_is_zero_when_perfect():
    y_true = np.zeros((1, 3, 5), "float32")
    y_true[0, :, 0] = [2, 0, -1]
    y_true[0, 0, 1:] = [0.1, -0.2, 0.3, 0.0]
    y_pred = np.zeros((1, 3, 7), "float32")
    y_pred[0, 0, 2] = y_pred[0, 1, 0] = 30.0       # confident and right
    y_pred[0, 0, 3:] = y_true[0, 0, 1:]
    y_pred[0, 2, 1] = 30.0                          # confident and wrong, but ignored
    assert float(detection_loss(y_true, y_pred, num_classes=3)) == pytest.approx(0, abs=1e-5)
    y_pred[0, 0, 3] += 2.0                          # tx off by 2: smooth L1 = 2 - 0.5
    assert float(detection_loss(y_true, y_pred, num_classes=3)) == pytest.approx(1.5, abs=1e-4)


def test_detector_saved_with_its_loss_loads_back_without_custom_objects(tmp_path):
    keras.utils.set_random_seed(0)
    model = build_tiny_detector((32, 32, 1), num_classes=3, filters=(4, 4, 4), sizes=(8,), aspect_ratios=(1.0,),
                                head_filters=4)
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss=DetectionLoss(num_classes=3, box_weight=2.0))
    images = np.random.default_rng(0).integers(0, 255, (4, 32, 32, 1)).astype("float32")
    targets = make_detection_targets(model.anchors, [np.array([[2, 2, 12, 14]])] * 4, [[1]] * 4)
    model.fit(images, targets, epochs=1, verbose=0)
    model.save(tmp_path / "detector.keras")
    loaded = keras.saving.load_model(tmp_path / "detector.keras")      # no custom_objects
    assert isinstance(loaded.loss, DetectionLoss)
    assert (loaded.loss.num_classes, loaded.loss.box_weight) == (3, 2.0)
    assert loaded.evaluate(images, targets, verbose=0) == pytest.approx(model.evaluate(images, targets, verbose=0))


def test_postprocess_nms_per_class():
    anchors = np.array([[0, 0, 10, 10], [1, 0, 11, 10], [30, 30, 40, 40]], "float32")
    logits = np.log(np.array([[0.05, 0.9, 0.05], [0.1, 0.1, 0.8], [0.1, 0.85, 0.05]]))
    result = postprocess_detections(logits, np.zeros((3, 4)), anchors, (64, 64), score_threshold=0.5)
    # anchors 0 and 1 overlap but have different classes: both kept
    assert result["labels"].tolist() == [1, 1, 2]
    np.testing.assert_allclose(result["scores"], [0.9, 0.85, 0.8], rtol=1e-5)
    same = postprocess_detections(np.log([[0.05, 0.9, 0.05], [0.1, 0.8, 0.1]]), np.zeros((2, 4)), anchors[:2],
                                  (64, 64), score_threshold=0.5)
    assert same["labels"].tolist() == [1]      # same class, IoU 0.82: NMS keeps the best


def test_tiny_detector_overfits_a_few_scenes():
    keras.utils.set_random_seed(1)
    scenes = make_fashion_scenes(8, seed=3)
    model = build_tiny_detector((64, 64, 1), num_classes=scenes.num_classes)
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss=DetectionLoss(num_classes=scenes.num_classes))
    targets = make_detection_targets(model.anchors, scenes.boxes, scenes.labels)
    # 240 steps of 16 (the 8 scenes twice per batch): about 15 s on 2 cores, mAP about 0.92
    model.fit(np.repeat(scenes.images, 8, 0), np.repeat(targets, 8, 0), batch_size=16, epochs=60, verbose=0)
    detections = detect(model, scenes.images, score_threshold=0.05, iou_threshold=0.5)
    assert len(detections) == 8 and set(detections[0]) == {"boxes", "labels", "scores"}
    result = mean_average_precision(detections, scenes.ground_truths(), iou_threshold=0.5)
    assert result["map"] > 0.8, result


def test_detect_format_accepted_by_map_and_errors():
    model = build_tiny_detector((64, 64, 1), num_classes=3, filters=(4, 4, 4), head_filters=4)
    images = np.random.default_rng(0).integers(0, 255, (3, 64, 64, 1)).astype("uint8")
    detections = detect(model, images, score_threshold=0.0)
    for d in detections:
        assert d["boxes"].shape[1:] == (4,) and len(d["boxes"]) == len(d["labels"]) == len(d["scores"])
        assert (d["boxes"] >= 0).all() and (d["boxes"] <= 64).all()
        assert set(d["labels"].tolist()) <= {1, 2}
    truths = [{"boxes": [[0, 0, 20, 20]], "labels": [1]}] * 3
    assert 0 <= mean_average_precision(detections, truths, num_classes=3)["map"] <= 1
    with pytest.raises(ValueError, match=r"images should be 64x64, the size the model was built for.*32x32"):
        detect(model, np.zeros((1, 32, 32, 1)))
    with pytest.raises(ValueError, match=r"images should have shape \(num_images, height, width, channels\)"):
        detect(model, np.zeros((64, 64)))
    with pytest.raises(ValueError, match=r"score_threshold should be a number in \[0, 1\].*2"):
        detect(model, images, score_threshold=2)
    plain = keras.Sequential([keras.Input((64, 64, 1)), keras.layers.Flatten()])
    with pytest.raises(ValueError, match=r"model should be a detector built by build_tiny_detector"):
        detect(plain, images)


# --------------------------------------------------------------------------- classification plus localisation

def test_localization_targets_and_localizer():
    scenes = make_fashion_scenes(24, max_objects=1, seed=0)
    targets = make_localization_targets(scenes)
    assert targets["class"].tolist() == [int(l[0]) - 1 for l in scenes.labels]
    np.testing.assert_allclose(targets["box"] * 64, np.concatenate(scenes.boxes))
    ys, xs = np.nonzero(scenes.masks[0])
    np.testing.assert_allclose(targets["keypoint"][0] * 64, [xs.mean() + 0.5, ys.mean() + 0.5], rtol=1e-5)
    box = targets["box"][0]
    assert box[0] <= targets["keypoint"][0, 0] <= box[2] and box[1] <= targets["keypoint"][0, 1] <= box[3]
    model = build_localizer((64, 64, 1), num_classes=4, filters=(4, 8), dense_units=8)
    model.compile(optimizer=keras.optimizers.Adam(2e-3),
                  loss={"class": keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                        "box": "mse", "keypoint": "mse"},
                  loss_weights={"class": 1.0, "box": 10.0, "keypoint": 10.0})
    assert {k: tuple(v.shape) for k, v in model.output.items()} == {
        "class": (None, 4), "box": (None, 4), "keypoint": (None, 2)}
    model.fit(scenes.images, targets, epochs=1, batch_size=8, verbose=0)
    result = evaluate_localizer(model, scenes)
    assert 0 <= result["accuracy"] <= 1 and 0 <= result["mean_box_iou"] <= 1
    assert result["boxes"].shape == (24, 4) and result["keypoints"].shape == (24, 2)
    assert (result["boxes"][:, 2:] >= result["boxes"][:, :2]).all() and set(result["labels"]) <= {1, 2, 3, 4}
    assert result["keypoint_error_px"] > 0
    with pytest.raises(ValueError, match=r"exactly one object per image.*max_objects=1"):
        make_localization_targets(make_fashion_scenes(6, max_objects=3, seed=0))


def test_docstring_examples_give_the_printed_output():
    result = doctest.testmod(detection, extraglobs={"np": np}, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
