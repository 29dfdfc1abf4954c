"""Tests for course_lib.data.scenes: the Fashion-MNIST scene generator and the Oxford-IIIT Pet loader."""

import sys
import types

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

from course_lib.runtime import DatasetUnavailableError  # noqa: E402
from course_lib.data import scenes as scenes_module  # noqa: E402
from course_lib.data.scenes import (PET_CLASSES, SCENE_CLASSES, check_segmentation_data,  # noqa: E402
                                    colorize_masks, fill_holes, load_pet_segmentation,
                                    make_fashion_scenes, pixel_class_fractions, plot_pixel_balance,
                                    plot_segmentation)


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


def test_check_segmentation_data_accepts_and_reshapes(scenes):
    images, masks = check_segmentation_data(scenes.images[..., 0], scenes.masks[..., None], num_classes=5)
    assert images.shape == (300, 64, 64, 1) and masks.shape == (300, 64, 64)
    marked = scenes.masks.copy()
    marked[0, 0, 0] = 255
    check_segmentation_data(scenes.images, marked, num_classes=5, ignore_index=255)


@pytest.mark.parametrize("change, match", [
    (lambda x, m: (x[:10], m[:9]), r"same number of samples.*Received: 10 images and 9 masks"),
    (lambda x, m: (x, m[:, :32, :32]), r"Each mask should have its image's height and width.*nearest"),
    (lambda x, m: (x, m + 1), r"class ids in \[0, 5\) for num_classes=5.*Received: mask values \[5\]"),
    (lambda x, m: (x, m.astype("float32")), r"masks should hold integer class ids.*astype\('uint8'\)"),
    (lambda x, m: (x, np.eye(5, dtype="uint8")[m]), r"look one-hot encoded.*argmax\(axis=-1\)"),
    (lambda x, m: (x[0, ..., 0], m), r"images should have shape \(num_images, height, width, channels\)"),
    (lambda x, m: (x, m[0]), r"masks should have shape \(num_images, height, width\)"),
])
def test_check_segmentation_data_errors(scenes, change, match):
    images, masks = change(scenes.images[:10], scenes.masks[:10])
    with pytest.raises(ValueError, match=match):
        check_segmentation_data(images, masks, num_classes=5)


def test_plots_return_axes(scenes):
    axes = plot_segmentation(scenes.images, scenes.masks, scenes.masks, class_names=scenes.class_names,
                             max_images=3)
    assert axes.shape == (3, 3)
    assert [t.get_text() for t in axes[0, -1].get_legend().get_texts()] == scenes.class_names
    axes = plot_segmentation(scenes.images, scenes.masks, {"FCN": scenes.masks, "U-Net": scenes.masks},
                             max_images=2)
    assert axes.shape == (2, 4) and axes[0, 3].get_title() == "U-Net"
    assert plot_segmentation(scenes.images, scenes.masks, max_images=1).shape == (1, 2)
    with pytest.raises(ValueError, match=r"label maps \(n, height, width\).*argmax"):
        plot_segmentation(scenes.images, scenes.masks, np.zeros((300, 64, 64, 5)))
    ax = plot_pixel_balance(scenes.masks, scenes.class_names)
    assert ax.get_xlabel() == "share of pixels (%)"
    colors = colorize_masks(scenes.masks[:2], 5)
    assert colors.shape == (2, 64, 64, 3) and colors.min() >= 0 and colors.max() <= 1
    import matplotlib.pyplot as plt
    plt.close("all")


# --------------------------------------------------------------------------- Oxford-IIIT Pet

class _FakeTfds(types.ModuleType):
    """Stands in for tensorflow_datasets: records the call, serves two images with trimaps 1-3."""

    def __init__(self, fail=False):
        super().__init__("tensorflow_datasets")
        self.fail, self.calls = fail, []

    def load(self, name, split, download):
        self.calls.append(dict(name=name, split=split, download=download))
        if self.fail:
            raise AssertionError("Dataset oxford_iiit_pet: could not find data")
        import tensorflow as tf
        image = np.full((2, 40, 60, 3), 200, dtype="uint8")
        trimap = np.full((2, 40, 60, 1), 2, dtype="uint8")     # 2 = background
        trimap[:, 10:30, 20:40] = 3                            # 3 = border
        trimap[:, 12:28, 22:38] = 1                            # 1 = pet
        return tf.data.Dataset.from_tensor_slices({"image": image, "segmentation_mask": trimap})

    @staticmethod
    def as_numpy(dataset):
        return dataset.as_numpy_iterator()


def test_pet_loader_without_the_package(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorflow_datasets", None)  # import fails
    with pytest.raises(DatasetUnavailableError, match="needs the tensorflow-datasets package.*make_fashion_scenes"):
        load_pet_segmentation()


def test_pet_loader_offline_fails_at_once_with_a_way_out(monkeypatch):
    fake = _FakeTfds(fail=True)
    monkeypatch.setitem(sys.modules, "tensorflow_datasets", fake)
    monkeypatch.setenv("COURSE_LIB_OFFLINE", "1")
    with pytest.raises(DatasetUnavailableError, match="offline.*Run it on Colab.*make_fashion_scenes"):
        load_pet_segmentation("train", limit=10)
    assert fake.calls == [dict(name="oxford_iiit_pet", split="train[:10]", download=False)]


def test_pet_loader_maps_trimaps_and_resizes(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "tensorflow_datasets", _FakeTfds())
    monkeypatch.setenv("COURSE_LIB_OFFLINE", "0")
    images, masks = load_pet_segmentation("test", image_size=(32, 48))
    assert images.shape == (2, 32, 48, 3) and images.dtype == np.uint8 and (images == 200).all()
    assert masks.shape == (2, 32, 48) and masks.dtype == np.uint8
    assert set(np.unique(masks)) == {0, 1, 2}                    # background, pet, border
    assert masks[0, 0, 0] == 0 and masks[0, 16, 24] == 1
    assert PET_CLASSES == ("background", "pet", "border")
    assert "Loaded 2 Oxford-IIIT Pet images (test) at 32x48" in capsys.readouterr().out
    check_segmentation_data(images, masks, num_classes=3)


def test_pet_loader_other_failure_is_not_called_offline(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorflow_datasets", _FakeTfds(fail=True))
    monkeypatch.setenv("COURSE_LIB_OFFLINE", "0")
    with pytest.raises(DatasetUnavailableError, match="could not download or prepare.*oxford_iiit_pet"):
        load_pet_segmentation()


class _FailingTfds(_FakeTfds):
    """A download that fails as the dataset's host does (an HTTP error arrives as ValueError)."""

    def load(self, name, split, download):
        raise ValueError("Failed to get url https://www.robots.ox.ac.uk/... HTTP code: 503")


def test_pet_loader_http_failure_is_one_catchable_error(monkeypatch):
    # Lab 05's online cell catches DatasetUnavailableError only: a ValueError from the host
    # (issue 10) must arrive as that class, with the host's message and the way out.
    monkeypatch.setitem(sys.modules, "tensorflow_datasets", _FailingTfds())
    monkeypatch.setenv("COURSE_LIB_OFFLINE", "0")
    with pytest.raises(DatasetUnavailableError, match="HTTP code: 503.*make_fashion_scenes"):
        load_pet_segmentation("train", limit=4)


def test_pet_loader_with_the_real_builder_mocked(monkeypatch):
    # tfds.testing.mock_data generates examples from the real oxford_iiit_pet builder's
    # features (key names, dtypes, shapes): only the download is faked.
    tfds = pytest.importorskip("tensorflow_datasets")
    monkeypatch.setenv("COURSE_LIB_OFFLINE", "0")
    with tfds.testing.mock_data(num_examples=3):
        images, masks = load_pet_segmentation("train", image_size=(32, 32), limit=3)
    assert images.shape[1:] == (32, 32, 3) and images.dtype == np.uint8
    assert masks.shape == images.shape[:3] and masks.dtype == np.uint8
    assert set(np.unique(masks)) <= {0, 1, 2}
    check_segmentation_data(images, masks, num_classes=len(PET_CLASSES))


@pytest.mark.parametrize("kwargs, match", [
    (dict(split="validation"), r'split should be "train" or "test".*Received: split=\'validation\''),
    (dict(image_size=(16, 16)), r"image_size should be.*at least 32.*Received: image_size=\(16, 16\)"),
    (dict(limit=0), r"limit should be a positive int.*Received: limit=0"),
])
def test_pet_loader_argument_errors(monkeypatch, kwargs, match):
    monkeypatch.setitem(sys.modules, "tensorflow_datasets", _FakeTfds())
    with pytest.raises(ValueError, match=match):
        load_pet_segmentation(**kwargs)


def test_module_has_no_tensorflow_import_at_top():
    # The generator is NumPy only: it must not need TensorFlow to make scenes.
    source = open(scenes_module.__file__).read().split("def load_pet_segmentation")[0]
    assert "import tensorflow" not in source


def test_instance_maps_match_the_scenes():
    from course_lib.data.scenes import make_instance_maps
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

