"""Tests for course_lib.data.scenes: the Fashion-MNIST scene generator (NumPy only)."""

import subprocess
import sys

import numpy as np
import pytest

from course_lib.data.masks import pixel_class_fractions
from course_lib.data.scenes import SCENE_CLASSES, fill_holes, make_fashion_scenes, make_instance_maps


@pytest.fixture(scope="module")
def scenes():
    return make_fashion_scenes(300, seed=7)


def test_shapes_dtypes_and_class_names(scenes):
    images, masks, boxes, labels, class_names = scenes
    assert images.shape == (300, 64, 64, 1) and images.dtype == np.uint8
    assert masks.shape == (300, 64, 64) and masks.dtype == np.uint8
    assert len(boxes) == len(labels) == 300
    assert class_names == ["background", *SCENE_CLASSES]
    assert scenes.num_classes == 5
    assert all(b.dtype == np.int64 and b.shape == (len(lab), 4) for b, lab in zip(boxes, labels))
    wide = make_fashion_scenes(3, image_size=(48, 80), seed=0)
    assert wide.images.shape == (3, 48, 80, 1) and wide.masks.shape == (3, 48, 80)


def test_same_seed_same_scenes_and_prefix_property():
    a = make_fashion_scenes(12, seed=3)
    b = make_fashion_scenes(12, seed=3)
    np.testing.assert_array_equal(a.images, b.images)
    np.testing.assert_array_equal(a.masks, b.masks)
    assert all(np.array_equal(x, y) for x, y in zip(a.boxes, b.boxes))
    prefix = make_fashion_scenes(5, seed=3)
    np.testing.assert_array_equal(prefix.images, a.images[:5])
    assert not np.array_equal(make_fashion_scenes(12, seed=4).masks, a.masks)
    assert not np.array_equal(make_fashion_scenes(12, split="test", seed=3).images, a.images)


def test_label_ranges_and_every_object_visible(scenes):
    assert scenes.masks.max() <= 4
    for mask, labels in zip(scenes.masks, scenes.labels):
        assert 1 <= len(labels) <= 3
        assert labels.min() >= 1 and labels.max() <= 4
        # every object keeps visible pixels, and every labelled pixel belongs to an object
        assert set(np.unique(mask)) - {0} == set(labels.tolist())


def test_boxes_are_the_visible_masks_bounding_boxes(scenes):
    for mask, boxes, labels in zip(scenes.masks, scenes.boxes, scenes.labels):
        covered = np.zeros(mask.shape, dtype=bool)
        for (x_min, y_min, x_max, y_max), label in zip(boxes, labels):
            assert 0 <= x_min < x_max <= 64 and 0 <= y_min < y_max <= 64
            inside = mask[y_min:y_max, x_min:x_max] == label
            # each edge of the box touches a pixel of the object's class
            assert inside[0].any() and inside[-1].any() and inside[:, 0].any() and inside[:, -1].any()
            covered[y_min:y_max, x_min:x_max] |= mask[y_min:y_max, x_min:x_max] == label
        # the boxes of an image cover all its labelled pixels
        assert covered[mask > 0].all()


def test_single_object_box_is_exactly_the_mask_extent():
    single = make_fashion_scenes(20, max_objects=1, seed=1)
    for mask, boxes in zip(single.masks, single.boxes):
        rows, cols = np.nonzero(mask)
        np.testing.assert_array_equal(boxes, [[cols.min(), rows.min(), cols.max() + 1, rows.max() + 1]])


def test_top_item_wins_where_items_overlap():
    # Items are stacked in order: the box of an earlier item may contain pixels of a later one.
    found = False
    for mask, boxes, labels in zip(*make_fashion_scenes(200, seed=2)[1:4]):
        for i in range(len(labels) - 1):
            x0, y0, x1, y1 = boxes[i]
            window = mask[y0:y1, x0:x1]
            later = set(labels[i + 1:].tolist()) - {labels[i]}
            if later and np.isin(window, list(later)).any():
                found = True
    assert found


def test_class_balance_as_documented():
    masks = make_fashion_scenes(1000, seed=11).masks
    fractions = pixel_class_fractions(masks, 5)
    assert 0.76 < fractions[0] < 0.86          # about 81 % background
    assert all(0.02 < f < 0.08 for f in fractions[1:])
    assert fractions[1] > 1.4 * fractions[2] and fractions[4] > 1.4 * fractions[3]  # T-shirt, Bag larger
    presence = [(masks == k).any(axis=(1, 2)).mean() for k in range(1, 5)]
    assert all(0.35 < p < 0.55 for p in presence)


def test_thresholding_does_not_segment_the_scenes(scenes):
    pixels = scenes.images[..., 0]
    foreground = scenes.masks > 0
    for threshold in range(40, 240, 10):
        guess = pixels > threshold
        assert (guess & foreground).sum() / (guess | foreground).sum() < 0.5


def test_classes_by_name_or_index():
    picked = make_fashion_scenes(5, classes=["Bag", 1], seed=0)
    assert picked.class_names == ["background", "Bag", "Trouser"]
    assert picked.masks.max() <= 2


def test_ground_truths_format(scenes):
    truths = scenes.ground_truths()
    assert len(truths) == 300
    assert set(truths[0]) == {"boxes", "labels"}
    np.testing.assert_array_equal(truths[0]["boxes"], scenes.boxes[0])


def test_fill_holes():
    ring = np.zeros((7, 7), dtype=bool)
    ring[1:6, 1:6] = True
    ring[2:5, 2:5] = False
    filled = fill_holes(ring)
    assert filled[1:6, 1:6].all() and filled.sum() == 25
    open_ring = ring.copy()
    open_ring[3, 5] = False        # a gap to the outside: not a hole
    assert fill_holes(open_ring).sum() == open_ring.sum()
    assert fill_holes(np.stack([ring, open_ring])).shape == (2, 7, 7)


@pytest.mark.parametrize("kwargs, match", [
    (dict(num_images=0), r"num_images should be a positive int.*Received: num_images=0"),
    (dict(num_images=4, image_size=(32, 64)), r"image_size should be at least 40 pixels on each side.*Received: image_size=\(32, 64\)"),
    (dict(num_images=4, image_size=64), r"image_size should be \(height, width\).*image_size=\(64, 64\).*Received: image_size=64"),
    (dict(num_images=4, image_size=(64,)), r"image_size should be.*Received: image_size=\(64,\)"),
    (dict(num_images=4, max_objects=0), r"max_objects should be a positive int.*Received: max_objects=0"),
    (dict(num_images=4, classes=["Hat"]), r"Unknown class 'Hat'. Choose among .*Received: classes=\['Hat'\]"),
    (dict(num_images=4, classes=["Bag", 8]), r"Class 'Bag' is listed twice"),
    (dict(num_images=4, classes=[]), r"classes is empty"),
    (dict(num_images=4, split="val"), r'split should be "train" or "test".*Received: split=\'val\''),
    (dict(num_images=4, seed=-1), r"seed should be a non-negative int \(e.g. seed=1337\). Received: seed=-1"),
])
def test_generator_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_fashion_scenes(**kwargs)


def test_module_imports_no_tensorflow():
    # The generator is NumPy only: a fresh interpreter imports it, and makes scenes, without TensorFlow.
    code = ("import sys\n"
            "from course_lib.data.scenes import make_fashion_scenes\n"
            "make_fashion_scenes(2, seed=0)\n"
            "print(sorted(name for name in ('tensorflow', 'keras') if name in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]", result.stdout + result.stderr


def test_instance_maps_match_the_scenes():
    scenes = make_fashion_scenes(40, seed=5)
    instances = make_instance_maps(40, seed=5)
    assert instances.shape == scenes.masks.shape and instances.dtype == np.uint8
    for i in range(40):
        assert int(instances[i].max()) == len(scenes.boxes[i])
        assert ((instances[i] > 0) == (scenes.masks[i] > 0)).all()
        for j, (box, label) in enumerate(zip(scenes.boxes[i], scenes.labels[i])):
            ys, xs = np.nonzero(instances[i] == j + 1)
            assert [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1] == box.tolist()   # its own box
            assert (scenes.masks[i][instances[i] == j + 1] == label).all()             # its own class
    # two objects of one class stay two instances
    same = make_fashion_scenes(30, classes=["Bag"], seed=1)
    same_instances = make_instance_maps(30, classes=["Bag"], seed=1)
    several = [i for i in range(30) if len(same.boxes[i]) > 1]
    assert several and all(len(np.unique(same_instances[i])) == len(same.boxes[i]) + 1 for i in several)
    with pytest.raises(ValueError, match="split should be"):
        make_instance_maps(2, split="val")

