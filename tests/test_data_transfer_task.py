"""Tests for course_lib.data.transfer_task (lab 03's offline task and its online counterpart)."""

import numpy as np
import pytest

from course_lib.data import transfer_task as tt


def _items(n=3):
    items = np.zeros((n, 28, 28), dtype=np.uint8)
    items[:, 4:24, 8:20] = 255          # a white block: the "item"
    return items


def test_photos_shape_range_and_determinism():
    photos = tt.make_cluttered_photos(_items(), seed=5, copies=2)
    assert photos.shape == (6, 48, 48, 3) and photos.dtype == np.float32
    assert photos.min() >= 0 and photos.max() <= 255
    np.testing.assert_array_equal(photos, tt.make_cluttered_photos(_items(), seed=5, copies=2))
    assert not np.allclose(photos, tt.make_cluttered_photos(_items(), seed=6, copies=2))
    assert not np.allclose(photos[0], photos[3])        # the same item in two different photos
    # Photo i depends only on (seed, i): the first photos do not change when more items are added.
    np.testing.assert_array_equal(tt.make_cluttered_photos(_items(1), seed=5), photos[:1])
    small = tt.make_cluttered_photos(_items(), seed=5, image_size=(32, 32))
    assert small.shape == (3, 32, 32, 3) and small.min() >= 0 and small.max() <= 255


def test_item_is_drawn_once_at_a_size_in_range():
    blank = tt.make_cluttered_photos(np.zeros((20, 28, 28), np.uint8), seed=1)
    full = np.full((20, 28, 28), 255, np.uint8)
    photos = tt.make_cluttered_photos(full, seed=1)
    contrasts = []
    for with_item, background in zip(photos, blank):
        rows, cols = np.nonzero(np.abs(with_item - background).max(axis=-1) > 1e-3)
        side = rows.max() - rows.min() + 1
        assert cols.max() - cols.min() + 1 == side            # a square item
        assert tt.ITEM_SIZE_RANGE[0] <= side <= tt.ITEM_SIZE_RANGE[1]
        region = (slice(rows.min(), rows.max() + 1), slice(cols.min(), cols.max() + 1))
        contrasts.append(np.linalg.norm(with_item[region] - background[region], axis=-1).mean())
    # Most items differ clearly in colour from the background under them; a few stay faint.
    assert np.mean(np.array(contrasts) > 60) >= 0.7


@pytest.mark.parametrize("kwargs, match", [
    (dict(items=np.zeros((2, 32, 32))), r"items should have shape \(n, 28, 28\)"),
    (dict(items=np.zeros((2, 28, 28)), copies=0), r"copies should be a positive int \(e.g. copies=5\)"),
    (dict(items=np.zeros((2, 28, 28)), image_size=(20, 20)), r"image_size should be \(side, side\) with side >= 28"),
    (dict(items=np.zeros((2, 28, 28)), image_size=(48, 64)), r"the photos are square"),
    (dict(items=np.zeros((2, 28, 28)), image_size=48), r"For square images pass image_size=\(48, 48\)"),
])
def test_photo_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        tt.make_cluttered_photos(**kwargs)


def test_load_transfer_task_shapes_balance_and_fixed_test_set():
    task = tt.load_transfer_task(labels_per_class=4, validation_per_class=3, seed=1)
    (x_train, y_train), (x_val, y_val), (x_test, y_test), class_names = task
    assert class_names == tt.TARGET_CLASSES == ["Dress", "Coat", "Shirt", "Sneaker", "Ankle boot"]
    assert x_train.shape == (20, 48, 48, 3) and x_train.dtype == np.float32
    assert np.bincount(y_train).tolist() == [4] * 5 and np.bincount(y_val).tolist() == [3] * 5
    assert x_test.shape == (500, 48, 48, 3) and np.bincount(y_test).tolist() == [100] * 5
    other = tt.load_transfer_task(labels_per_class=4, validation_per_class=3, seed=2)
    np.testing.assert_array_equal(other.test[0], x_test)            # one test set for every seed
    assert not np.array_equal(other.train[0], x_train)
    again = tt.load_transfer_task(labels_per_class=4, validation_per_class=3, seed=1)
    np.testing.assert_array_equal(again.train[0], x_train)


def test_source_and_target_classes_are_disjoint():
    assert not set(tt.SOURCE_CLASS_IDS) & set(tt.TARGET_CLASS_IDS)
    assert len(tt.SOURCE_CLASSES) == len(tt.TARGET_CLASSES) == 5


def test_load_transfer_task_errors():
    with pytest.raises(ValueError, match="labels_per_class should be a positive int"):
        tt.load_transfer_task(labels_per_class=0)
    with pytest.raises(ValueError, match="class 0 has 600"):
        tt.load_transfer_task(labels_per_class=590, validation_per_class=50)


def test_split_few_labels_is_disjoint_and_balanced():
    labels = np.repeat([0, 1, 2], [10, 12, 9])
    train, val, test = tt.split_few_labels(labels, 2, 3, seed=0)
    assert np.bincount(labels[train]).tolist() == [2, 2, 2]
    assert np.bincount(labels[val]).tolist() == [3, 3, 3]
    assert np.bincount(labels[test]).tolist() == [5, 7, 4]
    assert len(set(train) | set(val) | set(test)) == len(labels)
    _, _, capped = tt.split_few_labels(labels, 2, 3, test_per_class=4, seed=0)
    assert np.bincount(labels[capped]).tolist() == [4, 4, 4]
    with pytest.raises(ValueError, match=r"class 2 has 9"):
        tt.split_few_labels(labels, 5, 5)
    with pytest.raises(ValueError, match="test_per_class should be a non-negative int"):
        tt.split_few_labels(labels, 1, 1, test_per_class=-1)


def test_load_folder_task_reads_a_folder_per_class(tmp_path):
    from PIL import Image
    rng = np.random.default_rng(0)
    for name in ("cat", "dog"):
        (tmp_path / name).mkdir()
        for i in range(6):
            pixels = rng.integers(0, 255, (20, 30, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(tmp_path / name / f"{i}.png")
    (x_train, y_train), (x_val, y_val), (x_test, y_test), class_names = tt.load_folder_task(
        tmp_path, labels_per_class=2, validation_per_class=1, image_size=(32, 32))
    assert class_names == ["cat", "dog"]
    assert x_train.shape == (4, 32, 32, 3) and x_train.dtype == np.float32
    assert len(x_val) == 2 and len(x_test) == 6
    assert 0 <= x_train.min() and x_train.max() <= 255
    with pytest.raises(ValueError, match="Each class needs at least"):
        tt.load_folder_task(tmp_path, labels_per_class=5, validation_per_class=1, image_size=(32, 32))
