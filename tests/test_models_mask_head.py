"""Tests for course_lib.models.mask_head: Mask R-CNN's mask targets, head, pasting and mask IoU."""

import keras
import numpy as np
import pytest

from course_lib.data.scenes import make_fashion_scenes, make_instance_maps
from course_lib.models.mask_head import (SelectClassMask, build_mask_head, instance_mask_iou, make_mask_targets,
                                         paste_masks)


def test_mask_targets_head_paste_and_iou():
    scenes = make_fashion_scenes(12, seed=3)
    instances = make_instance_maps(12, seed=3)
    targets = make_mask_targets(scenes.images, instances, scenes.boxes, scenes.labels)
    objects = sum(len(b) for b in scenes.boxes)
    assert targets["crops"].shape == (objects, 28, 28, 1) and targets["masks"].shape == (objects, 28, 28)
    assert set(np.unique(targets["masks"])) <= {0.0, 1.0} and targets["masks"].mean() > 0.3
    assert targets["class_id"].tolist() == np.concatenate(scenes.labels).tolist()
    # the true masks, pasted back into their boxes, are close to the instance maps
    pasted = paste_masks(targets["masks"], np.concatenate(scenes.boxes), (64, 64))
    iou = instance_mask_iou(pasted, instances, targets["image_index"])
    assert iou.shape == (objects,) and iou.mean() > 0.85
    boxes_as_masks = paste_masks(np.ones((objects, 28, 28)), np.concatenate(scenes.boxes), (64, 64))
    assert instance_mask_iou(boxes_as_masks, instances, targets["image_index"]).mean() < iou.mean()
    head = build_mask_head((28, 28, 1), num_classes=4, filters=(4, 8))
    assert head.output.shape == (None, 28, 28)
    head.compile(optimizer="adam", loss="binary_crossentropy")
    head.fit({"crops": targets["crops"], "class_id": targets["class_id"]}, targets["masks"], epochs=1, verbose=0)
    # the output is the mask channel of the given class
    crops = targets["crops"][:2]
    per_class = keras.Model(head.inputs, head.get_layer("class_masks").output).predict(
        {"crops": crops, "class_id": np.array([1, 1])}, verbose=0)
    for class_id in (1, 3):
        out = head.predict({"crops": crops, "class_id": np.array([class_id] * 2)}, verbose=0)
        np.testing.assert_allclose(out, per_class[..., class_id - 1], atol=1e-6)
    with pytest.raises(ValueError, match="instance_maps should have the images.*make_instance_maps"):
        make_mask_targets(scenes.images, instances[:3], scenes.boxes, scenes.labels)
    with pytest.raises(ValueError, match="one box per mask.*2 masks and 1 boxes"):
        paste_masks(np.zeros((2, 28, 28)), [[0, 0, 4, 4]], (64, 64))


def test_select_class_mask_keeps_the_channel_of_each_class_and_is_registered():
    masks = np.arange(2 * 3 * 3 * 4, dtype="float32").reshape(2, 3, 3, 4)
    out = np.asarray(SelectClassMask()(masks, np.array([1, 4])))
    np.testing.assert_array_equal(out[0], masks[0, ..., 0])
    np.testing.assert_array_equal(out[1], masks[1, ..., 3])
    assert keras.saving.get_registered_object("course_lib>SelectClassMask") is SelectClassMask


def test_mask_head_saves_and_loads_without_custom_objects(tmp_path):
    head = build_mask_head((28, 28, 1), num_classes=2, filters=(4,))
    path = tmp_path / "head.keras"
    head.save(path)
    loaded = keras.saving.load_model(path)
    inputs = {"crops": np.random.default_rng(0).uniform(0, 255, (3, 28, 28, 1)).astype("float32"),
              "class_id": np.array([1, 2, 1])}
    np.testing.assert_allclose(loaded.predict(inputs, verbose=0), head.predict(inputs, verbose=0), atol=1e-6)


@pytest.mark.parametrize("kwargs, match", [
    (dict(num_classes=0), r"num_classes should be a positive int \(e.g. num_classes=4\). Count the object "
                          r"classes only, not the background. Received: num_classes=0"),
    (dict(filters=(16, -1)), r"filters should be a non-empty tuple of positive ints.*Received: filters=\(16, -1\)"),
    (dict(input_shape=(28, 28)), r"input_shape should be \(height, width, channels\)"),
])
def test_mask_head_rejects(kwargs, match):
    with pytest.raises(ValueError, match=match):
        build_mask_head(**kwargs)


def test_paste_masks_checks_its_arguments():
    with pytest.raises(ValueError, match=r"image_size should be \(height, width\).*Received: image_size=64"):
        paste_masks(np.zeros((1, 28, 28)), [[0, 0, 4, 4]], 64)
    with pytest.raises(ValueError, match=r"threshold should be a number in \[0, 1\].*Received: threshold=2"):
        paste_masks(np.zeros((1, 28, 28)), [[0, 0, 4, 4]], (64, 64), threshold=2)
    # a box outside the image pastes nothing
    assert not paste_masks(np.ones((1, 28, 28)), [[70, 70, 80, 80]], (64, 64)).any()
