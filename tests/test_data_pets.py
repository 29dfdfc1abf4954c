"""Tests for course_lib.data.pets: the Oxford-IIIT Pet loader, with tensorflow_datasets faked."""

import sys
import types

import numpy as np
import pytest

from course_lib.data.masks import check_segmentation_data
from course_lib.data.pets import PET_CLASSES, load_pet_segmentation
from course_lib.runtime import DatasetUnavailableError


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
    (dict(image_size=128), r"image_size should be \(height, width\).*pass image_size=\(128, 128\).*Received: image_size=128"),
    (dict(limit=0), r"limit should be a positive int.*Received: limit=0"),
])
def test_pet_loader_argument_errors(monkeypatch, kwargs, match):
    monkeypatch.setitem(sys.modules, "tensorflow_datasets", _FakeTfds())
    with pytest.raises(ValueError, match=match):
        load_pet_segmentation(**kwargs)
