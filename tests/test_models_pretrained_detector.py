"""Tests of course_lib.models.pretrained_detector, on a tiny KerasHub RetinaNet with random weights (offline)."""

import sys

import keras
import numpy as np
import pytest

from course_lib.models.pretrained_detector import (_read_detector_output, coco_class_name, load_pretrained_detector,
                                                   pretrained_detections)


def _tiny_retinanet(image_size=(64, 64)):
    """A RetinaNet with KerasHub's real classes and output format, tiny and with random weights."""
    keras_hub = pytest.importorskip("keras_hub")
    keras.utils.set_random_seed(0)
    encoder = keras_hub.models.ResNetBackbone(
        input_conv_filters=[64], input_conv_kernel_sizes=[3], stackwise_num_filters=[64, 8, 8, 8],
        stackwise_num_blocks=[1, 1, 1, 1], stackwise_num_strides=[1, 2, 2, 2], block_type="basic_block")
    backbone = keras_hub.models.RetinaNetBackbone(image_encoder=encoder, min_level=3, max_level=4, use_p5=False)
    converter = keras_hub.layers.RetinaNetImageConverter(image_size=image_size, scale=1 / 255.0)
    preprocessor = keras_hub.models.RetinaNetObjectDetectorPreprocessor(image_converter=converter)
    model = keras_hub.models.RetinaNetObjectDetector(backbone=backbone, num_classes=91,
                                                     preprocessor=preprocessor)
    model.prediction_decoder.confidence_threshold = 0.0   # random weights: keep every box
    return model


def test_pretrained_detections_read_keras_hub_output_in_image_pixels():
    # Issue 10: keras-hub >= 0.20 returns boxes, confidence, labels, num_detections ("classes" is gone).
    model = _tiny_retinanet()
    image = np.random.default_rng(0).uniform(0, 255, (48, 96, 3))     # not the model's 64x64
    found = pretrained_detections(model, image, score_threshold=0.0)
    assert set(found) == {"boxes", "labels", "scores"}
    n = len(found["scores"])
    assert n > 0 and found["boxes"].shape == (n, 4) and found["labels"].shape == (n,)
    assert found["labels"].dtype == np.int64 and (found["labels"] >= 0).all() and (found["labels"] < 91).all()
    assert np.all(np.diff(found["scores"]) <= 0)                       # best first
    boxes = found["boxes"]
    assert (boxes[:, 2] >= boxes[:, 0]).all() and (boxes[:, 3] >= boxes[:, 1]).all()   # xyxy, not yxyx
    # The model saw the image at 64x64 and answered "yxyx": back to "xyxy" in this 96 x 48 image.
    raw = model.predict(keras.ops.image.resize(image[None].astype("float32"), (64, 64)), verbose=0)
    order = np.argsort(-np.asarray(raw["confidence"])[0][:n], kind="stable")
    y1, x1, y2, x2 = np.asarray(raw["boxes"])[0][:n][order].T
    expected = np.clip(np.stack([x1 * 1.5, y1 * 0.75, x2 * 1.5, y2 * 0.75], axis=1), 0, [96, 48, 96, 48])
    np.testing.assert_allclose(boxes, expected, rtol=1e-4, atol=1e-3)
    threshold = float(np.median(found["scores"]))
    kept = pretrained_detections(model, image, score_threshold=threshold)
    # Random weights give nearly saturated scores, often tied: count, do not assume fewer.
    assert (kept["scores"] >= threshold).all() and len(kept["scores"]) == int((found["scores"] >= threshold).sum())
    with pytest.raises(ValueError, match=r"one colour image of shape \(height, width, 3\).*\(48, 96\)"):
        pretrained_detections(model, image[..., 0])


def test_detector_output_of_an_old_keras_hub_says_what_to_do():
    old = {"boxes": np.zeros((1, 2, 4)), "classes": np.zeros((1, 2)), "confidence": np.ones((1, 2)),
           "num_detections": np.array([2])}
    with pytest.raises(ValueError, match=r"lacks \['labels'\].*upgrade keras-hub"):
        _read_detector_output(old)


def test_load_pretrained_detector_fails_with_one_catchable_error(monkeypatch):
    from course_lib.runtime import DatasetUnavailableError
    monkeypatch.setitem(sys.modules, "keras_hub", None)                 # not installed
    with pytest.raises(DatasetUnavailableError, match="needs the keras-hub package.*pip install keras-hub"):
        load_pretrained_detector()
    monkeypatch.undo()
    keras_hub = pytest.importorskip("keras_hub")
    monkeypatch.setenv("COURSE_LIB_OFFLINE", "1")
    with pytest.raises(DatasetUnavailableError, match="offline"):
        load_pretrained_detector()

    def refuse(*args, **kwargs):
        raise OSError("HTTP 503 from the model host")

    monkeypatch.setenv("COURSE_LIB_OFFLINE", "0")
    monkeypatch.setattr(keras_hub.models.RetinaNetObjectDetector, "from_preset", refuse)
    with pytest.raises(DatasetUnavailableError, match="could not download.*OSError: HTTP 503"):
        load_pretrained_detector()


def test_coco_class_name():
    pytest.importorskip("keras_hub")
    assert coco_class_name(1) == "person" and coco_class_name(12345) == "12345"
