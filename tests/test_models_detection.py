"""Tests of course_lib.models.detection, course_lib.models.rcnn and course_lib.diagnostics.boxes."""

import matplotlib

matplotlib.use("Agg")

import sys  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from course_lib.diagnostics.boxes import (map_table, plot_boxes, plot_detections, plot_nms,  # noqa: E402
                                          plot_precision_recall)
from course_lib.metrics.detection import box_iou, mean_average_precision  # noqa: E402
from course_lib.models.detection import (DetectionLoss, _read_detector_output, assign_anchors,  # noqa: E402
                                         build_localizer, build_tiny_detector, check_boxes, coco_class_name,
                                         compile_detector, compile_localizer, evaluate_localizer,
                                         make_localization_targets, decode_boxes, detect, detection_loss,
                                         encode_boxes, load_pretrained_detector, make_anchors,
                                         make_detection_targets, postprocess_detections,
                                         pretrained_detections)
from course_lib.models.rcnn import (build_crop_classifier, build_fast_rcnn, crop_regions,  # noqa: E402
                                    make_crop_dataset, make_sliding_windows, quantize_box, rcnn_detect,
                                    roi_align, roi_pool, time_detector)


# --------------------------------------------------------------------------- anchors

def test_anchor_count_shape_and_order():
    anchors = make_anchors((64, 64), (8, 8), sizes=(16, 28), aspect_ratios=(0.5, 1.0, 2.0))
    assert anchors.shape == (8 * 8 * 6, 4) and anchors.dtype == np.float32
    centres = (anchors[:, :2] + anchors[:, 2:]) / 2
    np.testing.assert_allclose(centres[:6], [[4, 4]] * 6, atol=1e-5)       # first cell: (4, 4)
    np.testing.assert_allclose(centres[6], [12, 4], atol=1e-5)              # next column
    np.testing.assert_allclose(centres[8 * 6], [4, 12], atol=1e-5)          # next row
    np.testing.assert_allclose(centres[-1], [60, 60], atol=1e-5)
    sizes = anchors[:6, 2:] - anchors[:6, :2]                                # (w, h)
    np.testing.assert_allclose(np.sqrt(sizes.prod(axis=1)), [16, 16, 16, 28, 28, 28], rtol=1e-5)
    np.testing.assert_allclose(sizes[:3, 0] / sizes[:3, 1], [0.5, 1.0, 2.0], rtol=1e-5)


def test_anchors_rectangular_grid():
    anchors = make_anchors((32, 64), (4, 16), sizes=(8,), aspect_ratios=(1.0,))
    assert anchors.shape == (64, 4)
    np.testing.assert_allclose(anchors[1], [2, 0, 10, 8])   # stride 4 in x, 8 in y: centre (6, 4)


@pytest.mark.parametrize("kwargs, match", [
    ({"image_size": (64, 64), "feature_size": (7, 7)}, r"feature_size should divide image_size.*\(64, 64\)"),
    ({"image_size": "64"}, r"image_size should be an int or \(height, width\).*Received: image_size='64'"),
    ({"sizes": (16, -4)}, r"sizes should be a non-empty list of positive numbers.*-4"),
    ({"aspect_ratios": ()}, r"aspect_ratios should be a non-empty list"),
])
def test_anchor_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_anchors(**kwargs)


def test_sliding_windows_are_the_anchors():
    np.testing.assert_array_equal(make_sliding_windows((64, 64), stride=8), make_anchors((64, 64), (8, 8)))
    with pytest.raises(ValueError, match=r"stride should be a positive int dividing.*stride=7"):
        make_sliding_windows((64, 64), stride=7)


# --------------------------------------------------------------------------- offsets

def test_encode_decode_round_trip():
    rng = np.random.default_rng(0)
    anchors = make_anchors((64, 64), (8, 8))
    top_left = rng.uniform(0, 40, (len(anchors), 2))
    boxes = np.concatenate([top_left, top_left + rng.uniform(2, 24, (len(anchors), 2))], axis=1)
    offsets = encode_boxes(boxes, anchors)
    np.testing.assert_allclose(decode_boxes(offsets, anchors), boxes, atol=1e-3)
    np.testing.assert_allclose(encode_boxes(anchors, anchors), 0, atol=1e-6)   # a box equal to its anchor
    batch = np.stack([offsets, offsets])                                      # leading batch axis
    assert decode_boxes(batch, anchors).shape == (2, len(anchors), 4)


def test_encode_known_values():
    offsets = encode_boxes([[2, 0, 12, 20]], [[0, 0, 10, 10]])
    np.testing.assert_allclose(offsets, [[0.2, 0.5, 0.0, np.log(2)]], rtol=1e-5)


def test_encode_errors():
    with pytest.raises(ValueError, match=r"boxes and anchors should have the same shape.*\(1, 4\).*\(2, 4\)"):
        encode_boxes([[0, 0, 5, 5]], [[0, 0, 5, 5], [1, 1, 4, 4]])
    with pytest.raises(ValueError, match=r"positive width and height to be encoded.*\[3.0, 3.0, 3.0, 8.0\]"):
        encode_boxes([[3, 3, 3, 8]], [[0, 0, 5, 5]])
    with pytest.raises(ValueError, match=r"offsets should have shape \(..., num_anchors, 4\).*num_anchors = 2"):
        decode_boxes(np.zeros((3, 4)), [[0, 0, 5, 5], [1, 1, 4, 4]])
    with pytest.raises(ValueError, match=r"anchors should have shape \(num_anchors, 4\).*\(4,\)"):
        decode_boxes(np.zeros((1, 4)), [0, 0, 5, 5])


@pytest.mark.parametrize("boxes, image_size, match", [
    ([[10, 0, 5, 8]], None, r"box 0 has x_max < x_min or y_max < y_min.*x_max = x_min \+ width.*\[10.0, 0.0, 5.0, 8.0\]"),
    ([[0, 0, 5, 5], [60, 10, 70, 20]], (64, 64), r"inside the image.*box 1 does not.*\[60.0, 10.0, 70.0, 20.0\]"),
    ([0, 0, 5, 5], None, r"shape \(num_boxes, 4\).*\[\[x_min, y_min, x_max, y_max\]\].*\(4,\)"),
    ([[0, 0, np.nan, 5]], None, r"finite coordinates, but box 0 has NaN or inf"),
    ("boxes", None, r"array of numbers of shape \(num_boxes, 4\).*type str"),
])
def test_check_boxes_errors(boxes, image_size, match):
    with pytest.raises(ValueError, match=match):
        check_boxes(boxes, image_size=image_size)


# --------------------------------------------------------------------------- assignment

def test_assign_hand_made():
    anchors = [[0, 0, 10, 10], [5, 0, 15, 10], [2, 0, 12, 10], [30, 30, 40, 40]]
    classes, offsets = assign_anchors(anchors, [[0, 0, 10, 10]], [2], positive_iou=0.5, negative_iou=0.4)
    # IoUs: 1 (positive), 1/3 (background), 8/12 = 0.67 (positive), 0 (background)
    assert classes.tolist() == [2, 0, 2, 0]
    np.testing.assert_allclose(offsets[0], 0, atol=1e-6)
    np.testing.assert_allclose(offsets[2], encode_boxes([[0, 0, 10, 10]], [[2, 0, 12, 10]])[0], atol=1e-6)
    np.testing.assert_allclose(offsets[[1, 3]], 0)


def test_assign_ignore_band_and_best_anchor():
    anchors = [[0, 0, 10, 10], [4, 0, 14, 10], [20, 20, 30, 30]]
    # Box 0 vs anchor 1: IoU 6/14 = 0.43 -> ignored; box 1 overlaps anchor 2 with IoU 0.25 only,
    # but anchor 2 is its best anchor, so it becomes positive anyway.
    classes, _ = assign_anchors(anchors, [[0, 0, 10, 10], [25, 25, 35, 35]], [1, 3])
    assert classes.tolist() == [1, -1, 3]


def test_assign_without_objects_is_all_background():
    classes, offsets = assign_anchors(make_anchors((64, 64), (8, 8)), np.zeros((0, 4)), [])
    assert (classes == 0).all() and (offsets == 0).all()


def test_assign_errors():
    anchors = [[0, 0, 10, 10]]
    with pytest.raises(ValueError, match=r"labels should hold one int class id >= 1 per box \(1 boxes; 0 is the background"):
        assign_anchors(anchors, [[0, 0, 5, 5]], [0])
    with pytest.raises(ValueError, match=r"labels should hold one int class id >= 1 per box \(2 boxes"):
        assign_anchors(anchors, [[0, 0, 5, 5], [1, 1, 3, 3]], [1])
    with pytest.raises(ValueError, match=r"negative_iou should be <= positive_iou.*0.3.*0.6"):
        assign_anchors(anchors, [[0, 0, 5, 5]], [1], positive_iou=0.3, negative_iou=0.6)
    with pytest.raises(ValueError, match=r"positive_iou should be a number in \[0, 1\].*1.5"):
        assign_anchors(anchors, [[0, 0, 5, 5]], [1], positive_iou=1.5)
    with pytest.raises(ValueError, match=r"inside the image"):
        assign_anchors(anchors, [[0, 0, 5, 50]], [1], image_size=(32, 32))
    with pytest.raises(ValueError, match=r"one entry per image.*2 box arrays and 1 label arrays"):
        make_detection_targets(anchors, [np.zeros((0, 4))] * 2, [[]])


def test_targets_shape_and_every_object_has_a_positive():
    from course_lib.data.scenes import make_fashion_scenes
    scenes = make_fashion_scenes(6, seed=0)
    anchors = make_anchors((64, 64), (8, 8))
    targets = make_detection_targets(anchors, scenes.boxes, scenes.labels, image_size=(64, 64))
    assert targets.shape == (6, 384, 5)
    for i in range(6):
        positive = targets[i, :, 0] > 0
        decoded = decode_boxes(targets[i, positive, 1:], anchors[positive])
        iou = box_iou(decoded, scenes.boxes[i])
        assert (iou.max(axis=0) > 0.999).all()   # each ground truth is decoded back exactly


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
    import keras
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
    import keras
    from course_lib.data.scenes import make_fashion_scenes
    keras.utils.set_random_seed(1)
    scenes = make_fashion_scenes(8, seed=3)
    model = compile_detector(build_tiny_detector((64, 64, 1), num_classes=scenes.num_classes), 3e-3)
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
    import keras
    plain = keras.Sequential([keras.Input((64, 64, 1)), keras.layers.Flatten()])
    with pytest.raises(ValueError, match=r"model should be a detector built by build_tiny_detector"):
        detect(plain, images)


# --------------------------------------------------------------------------- R-CNN and Fast R-CNN

def test_crop_regions_matches_slicing():
    image = np.arange(64 * 64, dtype="float32").reshape(1, 64, 64, 1)
    crop = crop_regions(image, [[8, 16, 24, 48]], crop_size=(32, 16))
    np.testing.assert_allclose(crop[0, ..., 0], image[0, 16:48, 8:24, 0], atol=1e-2)
    with pytest.raises(ValueError, match=r"box_indices should say which image.*2 images"):
        crop_regions(np.zeros((2, 8, 8, 1)), [[0, 0, 4, 4]])


def test_rcnn_and_fast_rcnn_pipeline():
    from course_lib.data.scenes import make_fashion_scenes
    scenes = make_fashion_scenes(4, seed=0)
    windows = make_sliding_windows((64, 64), stride=16, sizes=(24,), aspect_ratios=(1.0,))
    crops, targets = make_crop_dataset(scenes.images, scenes.boxes, scenes.labels, windows,
                                       crop_size=(16, 16), negatives_per_image=2)
    assert crops.shape[1:] == (16, 16, 1) and targets.shape == (len(crops), 5)
    assert (targets[:, 0] > 0).sum() >= 4 and (targets[:, 0] == 0).sum() == 8
    classifier = compile_detector(build_crop_classifier((16, 16, 1), num_classes=5, filters=(4,), dense_units=8))
    classifier.fit(crops, targets, epochs=1, verbose=0)
    detections, cost = rcnn_detect(classifier, scenes.images, windows, score_threshold=0.0)
    assert cost["cnn_passes_per_image"] == len(windows) == 16 and cost["seconds_per_image"] > 0
    mean_average_precision(detections, scenes.ground_truths())
    fast = compile_detector(build_fast_rcnn((64, 64, 1), num_classes=5, windows=windows, filters=(4, 4),
                                            dense_units=8))
    assert fast.output_shape == (None, 16, 9)
    fast.fit(scenes.images, make_detection_targets(fast.anchors, scenes.boxes, scenes.labels), epochs=1, verbose=0)
    detections, seconds = time_detector(fast, scenes.images, score_threshold=0.0)
    assert len(detections) == 4 and seconds > 0
    mean_average_precision(detections, scenes.ground_truths())


def test_roi_pooling_reads_the_right_region():
    import keras
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
    import keras
    model = build_fast_rcnn((32, 32, 1), num_classes=3, windows=[[0, 0, 16, 16], [8, 8, 24, 24]], filters=(4, 4),
                            dense_units=4)
    model.save(tmp_path / "fast_rcnn.keras")
    loaded = keras.saving.load_model(tmp_path / "fast_rcnn.keras")      # RoiAlign is registered
    images = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 1)).astype("float32")
    np.testing.assert_allclose(loaded.predict(images, verbose=0), model.predict(images, verbose=0), atol=1e-6)


# --------------------------------------------------------------------------- plots

def test_plots_return_axes():
    import matplotlib.pyplot as plt
    truths = [{"boxes": np.array([[5, 5, 30, 30]]), "labels": np.array([1])}]
    detections = [{"boxes": np.array([[6, 5, 30, 31], [40, 40, 50, 50]]), "labels": np.array([1, 2]),
                   "scores": np.array([0.9, 0.3])}]
    image = np.zeros((64, 64, 1), "uint8")
    names = ["background", "a", "b"]
    assert plot_boxes(image, truths[0]["boxes"], truths[0]["labels"], class_names=names) is not None
    axes = plot_detections(image[None], truths, detections, class_names=names, max_images=1)
    assert len(axes) == 1 and len(axes[0].patches) == 3
    axes = plot_nms([[0, 0, 10, 10], [1, 1, 11, 11]], [0.9, 0.8], [0])
    assert len(axes[0].patches) == 2 and len(axes[1].patches) == 1
    ax = plot_precision_recall(detections, truths, class_names=names)
    assert "a (AP 1.00)" in [t.get_text() for t in ax.get_legend().get_texts()]
    plt.close("all")


def test_map_table():
    table = map_table({"one-stage": {"map": 0.75, "per_class": {1: 0.5, 2: 1.0}},
                       "R-CNN": {"map": 0.5, "per_class": {1: 0.5, 2: 0.5}}}, ["background", "cat", "dog"])
    lines = table.splitlines()
    assert lines[0].split() == ["class", "one-stage", "R-CNN"]
    assert lines[1].split() == ["cat", "0.500", "0.500"] and lines[-1].split() == ["mean", "0.750", "0.500"]


# --------------------------------------------------------------------------- pretrained detector (online)

def _tiny_retinanet(image_size=(64, 64)):
    """A RetinaNet with KerasHub's real classes and output format, tiny and with random weights."""
    keras_hub = pytest.importorskip("keras_hub")
    import keras
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
    import keras
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


# --------------------------------------------------------------------------- classification plus localisation

def test_localization_targets_and_localizer():
    from course_lib.data.scenes import make_fashion_scenes
    scenes = make_fashion_scenes(24, max_objects=1, seed=0)
    targets = make_localization_targets(scenes)
    assert targets["class"].tolist() == [int(l[0]) - 1 for l in scenes.labels]
    np.testing.assert_allclose(targets["box"] * 64, np.concatenate(scenes.boxes))
    ys, xs = np.nonzero(scenes.masks[0])
    np.testing.assert_allclose(targets["keypoint"][0] * 64, [xs.mean() + 0.5, ys.mean() + 0.5], rtol=1e-5)
    box = targets["box"][0]
    assert box[0] <= targets["keypoint"][0, 0] <= box[2] and box[1] <= targets["keypoint"][0, 1] <= box[3]
    model = compile_localizer(build_localizer((64, 64, 1), num_classes=4, filters=(4, 8), dense_units=8))
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
