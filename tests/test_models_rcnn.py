"""Tests of course_lib.models.rcnn: sliding windows, R-CNN, Fast R-CNN, RoI pooling and RoIAlign."""

import doctest

import keras
import numpy as np
import pytest

from course_lib.data.scenes import make_fashion_scenes
from course_lib.metrics import mean_average_precision
from course_lib.models import rcnn
from course_lib.models.anchors import make_anchors, make_detection_targets
from course_lib.models.detection import DetectionLoss
from course_lib.models.rcnn import (build_crop_classifier, build_fast_rcnn, crop_regions, make_crop_dataset,
                                    make_sliding_windows, quantize_box, rcnn_detect, roi_align, roi_pool,
                                    time_detector)


# --------------------------------------------------------------------------- R-CNN and Fast R-CNN

def test_sliding_windows_are_the_anchors():
    np.testing.assert_array_equal(make_sliding_windows((64, 64), stride=8), make_anchors((64, 64), (8, 8)))
    with pytest.raises(ValueError, match=r"stride should divide the image's height and width.*stride=7"):
        make_sliding_windows((64, 64), stride=7)
    with pytest.raises(ValueError, match=r"stride should be a positive int.*step between windows.*stride=0"):
        make_sliding_windows((64, 64), stride=0)
    with pytest.raises(ValueError, match=r"image_size should be \(height, width\).*Received: image_size=64"):
        make_sliding_windows(64)


def test_region_builders_check_their_arguments():
    with pytest.raises(ValueError, match=r"num_classes should be an int >= 2.*background \(class 0\).*num_classes=1"):
        build_crop_classifier(num_classes=1)
    with pytest.raises(ValueError, match=r"pool_size should be 2 positive ints, e.g. pool_size=\(4, 4\).*pool_size=4"):
        build_fast_rcnn(pool_size=4)
    with pytest.raises(ValueError, match=r"crop_size should be 2 positive ints.*crop_size=\(32, 32, 1\)"):
        crop_regions(np.zeros((1, 8, 8, 1)), [[0, 0, 4, 4]], crop_size=(32, 32, 1))


def test_crop_regions_matches_slicing():
    image = np.arange(64 * 64, dtype="float32").reshape(1, 64, 64, 1)
    crop = crop_regions(image, [[8, 16, 24, 48]], crop_size=(32, 16))
    np.testing.assert_allclose(crop[0, ..., 0], image[0, 16:48, 8:24, 0], atol=1e-2)
    with pytest.raises(ValueError, match=r"box_indices should say which image.*2 images"):
        crop_regions(np.zeros((2, 8, 8, 1)), [[0, 0, 4, 4]])
    np.testing.assert_array_equal(crop_regions(image, [8, 16, 24, 48], crop_size=(32, 16)), crop)   # one box (4,)
    with pytest.raises(ValueError, match=r"boxes should be \"xyxy\" boxes.*x_max < x_min.*x_max = x_min \+ width"):
        crop_regions(image, [[24, 16, 8, 48]])


def test_rcnn_and_fast_rcnn_pipeline():
    scenes = make_fashion_scenes(4, seed=0)
    windows = make_sliding_windows((64, 64), stride=16, sizes=(24,), aspect_ratios=(1.0,))
    crops, targets = make_crop_dataset(scenes.images, scenes.boxes, scenes.labels, windows,
                                       crop_size=(16, 16), negatives_per_image=2)
    assert crops.shape[1:] == (16, 16, 1) and targets.shape == (len(crops), 5)
    assert (targets[:, 0] > 0).sum() >= 4 and (targets[:, 0] == 0).sum() == 8
    classifier = build_crop_classifier((16, 16, 1), num_classes=5, filters=(4,), dense_units=8)
    classifier.compile(optimizer=keras.optimizers.Adam(2e-3), loss=DetectionLoss(num_classes=5))
    classifier.fit(crops, targets, epochs=1, verbose=0)
    detections, cost = rcnn_detect(classifier, scenes.images, windows, score_threshold=0.0)
    assert cost["cnn_passes_per_image"] == len(windows) == 16 and cost["seconds_per_image"] > 0
    mean_average_precision(detections, scenes.ground_truths())
    fast = build_fast_rcnn((64, 64, 1), num_classes=5, windows=windows, filters=(4, 4), dense_units=8)
    fast.compile(optimizer=keras.optimizers.Adam(3e-3), loss=DetectionLoss(num_classes=5))
    assert fast.output_shape == (None, 16, 9)
    fast.fit(scenes.images, make_detection_targets(fast.anchors, scenes.boxes, scenes.labels), epochs=1, verbose=0)
    detections, seconds = time_detector(fast, scenes.images, score_threshold=0.0)
    assert len(detections) == 4 and seconds > 0
    mean_average_precision(detections, scenes.ground_truths())


def test_roi_pooling_reads_the_right_region():
    model = build_fast_rcnn((16, 16, 1), num_classes=2, windows=[[0, 0, 8, 8], [8, 8, 16, 16]], filters=(1,),
                            pool_size=(1, 1))
    conv = model.get_layer("conv_1")
    kernel = np.zeros((3, 3, 1, 1), "float32")
    kernel[1, 1] = 1.0                           # identity: the feature map is the image / 255
    conv.set_weights([kernel, np.zeros(1, "float32")])
    pooled = keras.Model(model.input, model.get_layer("roi_pool").output)
    image = np.zeros((1, 16, 16, 1), "float32")
    image[0, 8:16, 8:16, 0] = 255.0              # the second region is bright, the first dark
    out = pooled.predict(image, verbose=0)[..., 0]
    assert out.shape == (1, 2, 1, 1)
    assert out[0, 0, 0, 0] == pytest.approx(0) and out[0, 1, 0, 0] == pytest.approx(1.0)


def test_fast_rcnn_saved_loads_back_with_its_roi_layer(tmp_path):
    model = build_fast_rcnn((32, 32, 1), num_classes=3, windows=[[0, 0, 16, 16], [8, 8, 24, 24]], filters=(4, 4),
                            dense_units=4)
    model.save(tmp_path / "fast_rcnn.keras")
    loaded = keras.saving.load_model(tmp_path / "fast_rcnn.keras")      # RoiAlign is registered
    images = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 1)).astype("float32")
    np.testing.assert_allclose(loaded.predict(images, verbose=0), model.predict(images, verbose=0), atol=1e-6)


# --------------------------------------------------------------------------- RoI pooling vs RoIAlign

def _ramp(stride=8, size=8):
    """A feature map whose value is the x (in input pixels) of each cell's centre."""
    return np.tile((np.arange(size) + 0.5) * stride, (size, 1))


def test_quantize_box_snaps_to_cell_boundaries():
    np.testing.assert_array_equal(quantize_box([13, 13, 45, 45], stride=8), [16, 16, 48, 48])
    np.testing.assert_array_equal(quantize_box([11, 3, 12, 4], stride=8), [8, 0, 16, 8])   # at least one cell
    np.testing.assert_array_equal(quantize_box([12, 0, 20, 8], stride=8), [16, 0, 24, 8])  # halves round up
    with pytest.raises(ValueError, match=r"box should be 4 numbers.*Received: box=\[1.0, 2.0\]"):
        quantize_box([1, 2])


def test_roi_pool_reads_the_snapped_region_and_roi_align_the_exact_one():
    ramp = _ramp()
    # RoI pooling reads cells 2..5 (pixels 16-48): bins {2, 3} and {4, 5}, max = right cell's centre
    np.testing.assert_allclose(roi_pool(ramp, [13, 13, 45, 45], (2, 2)), [[28, 44], [28, 44]])
    # RoIAlign samples at exact positions; on a linear map the bin average is the bin's centre
    np.testing.assert_allclose(roi_align(ramp, [13, 13, 45, 45], (2, 2)), [[21, 37], [21, 37]])
    np.testing.assert_allclose(roi_align(ramp, [13, 13, 45, 45], (2, 2), sampling_ratio=1), [[21, 37]] * 2)
    # channels are pooled independently
    stacked = np.stack([ramp, -ramp], axis=-1)
    assert roi_align(stacked, [13, 13, 45, 45]).shape == (2, 2, 2)
    np.testing.assert_allclose(roi_pool(stacked, [13, 13, 45, 45])[..., 1], [[-20, -36], [-20, -36]])


def test_roi_align_with_one_sample_is_crop_and_resize():
    rng = np.random.default_rng(0)
    feature_map = rng.normal(size=(8, 8, 3))
    for box in ([13, 13, 45, 45], [2.5, 7, 30, 61.5], [0, 0, 64, 64]):
        expected = crop_regions(feature_map[None], [box], (3, 2), stride=8)[0]
        np.testing.assert_allclose(roi_align(feature_map, box, (3, 2), sampling_ratio=1), expected, atol=1e-5)


def test_roi_errors():
    with pytest.raises(ValueError, match=r"x_max > x_min.*Received: box=\[5.0, 0.0, 5.0, 8.0\]"):
        roi_align(_ramp(), [5, 0, 5, 8])
    with pytest.raises(ValueError, match=r"feature_map should be one map.*\(8,\)"):
        roi_pool(np.zeros(8), [0, 0, 8, 8])
    with pytest.raises(ValueError, match="sampling_ratio should be a positive int.*Received: sampling_ratio=0"):
        roi_align(_ramp(), [0, 0, 8, 8], sampling_ratio=0)
    with pytest.raises(ValueError, match="stride should be a positive int.*Received: stride=0"):
        crop_regions(np.zeros((1, 8, 8, 1)), [[0, 0, 8, 8]], (2, 2), stride=0)


def test_docstring_examples_give_the_printed_output():
    result = doctest.testmod(rcnn, extraglobs={"np": np}, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
