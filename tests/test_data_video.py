"""Tests for course_lib.data.video: the moving Fashion-MNIST clips, frame helpers and the UCF101 loader."""

import doctest
import sys
import types

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

from course_lib.data import video as video_module  # noqa: E402
from course_lib.data.video import (MOTION_CLASSES, VideoClips, frame_differences,  # noqa: E402
                                   load_ucf101_clips, make_moving_fashion, plot_clips,
                                   stack_frames_as_channels, ucf101_requested)
from course_lib.runtime import DatasetUnavailableError  # noqa: E402


@pytest.fixture(scope="module")
def data():
    return make_moving_fashion(400, seed=5)


def clips_whose_motion_matches_the_label(data, speed):
    """How many clips change, frame to frame, most like a shift of `speed` pixels in their label's direction."""
    shifts = {"right": (0, speed), "left": (0, -speed), "down": (speed, 0), "up": (-speed, 0)}
    correct = 0
    for clip, label in zip(data.clips[..., 0].astype(float), data.labels):
        errors = {name: np.abs(np.roll(clip[:-1], (dy, dx), axis=(1, 2)) - clip[1:]).mean()
                  for name, (dy, dx) in shifts.items()}
        correct += min(errors, key=errors.get) == MOTION_CLASSES[label]
    return correct


def test_shapes_dtypes_and_balanced_labels(data):
    assert isinstance(data, VideoClips)
    assert data.clips.shape == (400, 8, 32, 32, 1) and data.clips.dtype == np.uint8
    assert data.labels.shape == (400,) and data.labels.dtype == np.int32
    assert data.class_names == list(MOTION_CLASSES) and data.num_classes == 4
    np.testing.assert_array_equal(np.bincount(data.labels), [100, 100, 100, 100])
    assert set(np.unique(data.item_labels)) <= set(range(10))
    other = make_moving_fashion(6, num_frames=5, image_size=(40, 40), item_size=10, speed=3, seed=0)
    assert other.clips.shape == (6, 5, 40, 40, 1)


def test_the_clips_of_the_lab_stay_the_same():
    # Lab 08 quotes numbers measured on these clips: (height, width) frames must draw the same
    # random numbers as the square frames of an int image_size did (sums recorded before the change).
    assert int(make_moving_fashion(40, seed=1).clips.sum()) == 16663716
    assert int(make_moving_fashion(30, split="test", seed=2).clips.sum()) == 12787287


def test_frames_may_be_wider_than_tall_and_the_item_still_moves_with_the_label():
    data = make_moving_fashion(40, num_frames=3, image_size=(20, 36), seed=3)
    assert data.clips.shape == (40, 3, 20, 36, 1)
    assert clips_whose_motion_matches_the_label(data, speed=2) >= 36


def test_same_seed_same_clips_prefix_and_splits_differ():
    a = make_moving_fashion(10, seed=3)
    np.testing.assert_array_equal(a.clips, make_moving_fashion(10, seed=3).clips)
    prefix = make_moving_fashion(6, seed=3)
    np.testing.assert_array_equal(prefix.clips, a.clips[:6])
    np.testing.assert_array_equal(prefix.labels, a.labels[:6])
    assert not np.array_equal(make_moving_fashion(10, seed=4).clips, a.clips)
    assert not np.array_equal(make_moving_fashion(10, split="test", seed=3).clips, a.clips)


def test_the_label_is_the_direction_of_the_motion():
    # The canvas wraps, so shifting frame t by one step in the label's direction (np.roll) puts
    # the moving item exactly where it is in frame t + 1. That direction explains the change
    # between frames better than the three others in nearly every clip (in the rest, a large
    # still item hides most of a small moving one).
    data = make_moving_fashion(200, num_frames=4, speed=2, seed=9)
    assert clips_whose_motion_matches_the_label(data, speed=2) >= 190


def test_a_single_frame_says_nothing_about_the_label():
    # Motion-only labels: the statistics of one frame do not depend on the label. The mean
    # brightness of each row and column band (where the item is) is the same for every class,
    # up to sampling noise, at the first, the middle and the last frame.
    data = make_moving_fashion(2000, seed=11)
    for t in (0, 4, 7):
        frames = data.clips[:, t, :, :, 0].astype(float)
        column_profile = frames.mean(axis=1)   # (clips, width)
        row_profile = frames.mean(axis=2)
        overall = (column_profile.mean(axis=0), row_profile.mean(axis=0))
        for k in range(4):
            members = data.labels == k
            assert np.abs(column_profile[members].mean(axis=0) - overall[0]).max() < 6.0
            assert np.abs(row_profile[members].mean(axis=0) - overall[1]).max() < 6.0


def test_a_linear_classifier_of_single_frames_is_at_chance():
    # Least squares on one-hot targets, from the raw pixels of one frame: near chance (0.25) on
    # held-out clips, although it fits its training clips.
    train = make_moving_fashion(1200, num_frames=3, image_size=(16, 16), item_size=8, speed=2, seed=1)
    test = make_moving_fashion(400, num_frames=3, image_size=(16, 16), item_size=8, speed=2, split="test", seed=2)

    def accuracy(features_train, features_test):
        a = np.c_[features_train, np.ones(len(features_train))]
        w, *_ = np.linalg.lstsq(a, np.eye(4)[train.labels], rcond=1e-3)
        predicted = (np.c_[features_test, np.ones(len(features_test))] @ w).argmax(axis=1)
        return np.mean(predicted == test.labels)

    one_frame = accuracy(train.clips[:, 1].reshape(1200, -1) / 255, test.clips[:, 1].reshape(400, -1) / 255)
    assert 0.15 < one_frame < 0.35


def test_frame_differences_and_stacking():
    clips = np.arange(2 * 3 * 2 * 2 * 1, dtype="uint8").reshape(2, 3, 2, 2, 1)
    differences = frame_differences(clips)
    assert differences.shape == (2, 2, 2, 2, 1) and differences.dtype == np.float32
    np.testing.assert_array_equal(differences, 4.0)
    down = frame_differences(clips[:, ::-1])
    np.testing.assert_array_equal(down, -4.0)            # no uint8 wrap-around
    stacked = stack_frames_as_channels(np.arange(2 * 3 * 2 * 2 * 2).reshape(2, 3, 2, 2, 2))
    assert stacked.shape == (2, 2, 2, 6)
    original = np.arange(2 * 3 * 2 * 2 * 2).reshape(2, 3, 2, 2, 2)
    for t in range(3):
        for c in range(2):
            np.testing.assert_array_equal(stacked[..., t * 2 + c], original[:, t, :, :, c])


def test_errors_say_what_was_received():
    with pytest.raises(ValueError, match=r"5 dimensions .* Received: clips with shape \(3, 4\)"):
        frame_differences(np.zeros((3, 4)))
    with pytest.raises(ValueError, match="at least 2 frames"):
        stack_frames_as_channels(np.zeros((3, 1, 4, 4, 1)))
    with pytest.raises(ValueError, match=r"num_frames should be an int >= 2 \(e.g. num_frames=8\)"):
        make_moving_fashion(4, num_frames=1)
    with pytest.raises(ValueError, match=r"image_size should be \(height, width\).*For square images pass "
                                         r"image_size=\(32, 32\). Received: image_size=32"):
        make_moving_fashion(4, image_size=32)
    with pytest.raises(ValueError, match=r"image_size should be at least item_size=14 pixels on each side.*"
                                         r"Received: image_size=\(10, 40\)"):
        make_moving_fashion(4, image_size=(10, 40))
    with pytest.raises(ValueError, match=r"speed should be less than half the smaller side, 10"):
        make_moving_fashion(4, image_size=(20, 32), speed=10)
    with pytest.raises(ValueError, match=r"split should be one of \['train', 'test'\]"):
        make_moving_fashion(4, split="validation")
    with pytest.raises(ValueError, match="seed should be a non-negative int"):
        make_moving_fashion(4, seed=-1)
    with pytest.raises(ValueError, match="num_clips should be a positive int"):
        make_moving_fashion(0)
    with pytest.raises(ValueError, match="num_clips should be a positive int"):
        make_moving_fashion(True)


def test_plot_clips_draws_rows_of_frames_on_one_axes_array(data):
    axes = plot_clips(data.clips, data.labels, data.class_names, num_clips=2, predicted=data.labels)
    assert isinstance(axes, np.ndarray) and axes.shape == (2 * 8,)     # clip i, frame t: axes[i * 8 + t]
    label = axes[8].texts[0].get_text()                                 # row 1, frame 0
    assert label.startswith(data.class_names[data.labels[1]]) and "(pred." in label
    assert axes[3].get_title() == "t = 3" and axes[11].get_title() == ""
    np.testing.assert_allclose(axes[9].images[0].get_array(), data.clips[1, 1, :, :, 0] / 255, atol=1e-6)
    matplotlib.pyplot.close("all")
    _, grid = matplotlib.pyplot.subplots(1, 8)
    assert list(plot_clips(data.clips, num_clips=1, ax=grid)) == list(grid)
    with pytest.raises(ValueError, match=r"ax should hold at least num_images=16 Axes"):
        plot_clips(data.clips, num_clips=2, ax=grid)
    with pytest.raises(ValueError, match=r"num_clips should be a positive int"):
        plot_clips(data.clips, num_clips=0)
    matplotlib.pyplot.close("all")


def test_ucf101_requested_reads_the_environment(monkeypatch):
    monkeypatch.delenv(video_module.UCF101_ENV, raising=False)
    assert not ucf101_requested()
    monkeypatch.setenv(video_module.UCF101_ENV, "1")
    assert ucf101_requested()


def test_load_ucf101_clips_offline_fails_with_what_to_do(monkeypatch):
    monkeypatch.setenv("COURSE_LIB_OFFLINE", "1")
    with pytest.raises(DatasetUnavailableError, match="offline.*make_moving_fashion"):
        load_ucf101_clips("train", limit=8)
    with pytest.raises(ValueError, match=r"split should be one of \['train', 'test'\]"):
        load_ucf101_clips("validation")
    with pytest.raises(ValueError, match=r"image_size should be at least 16 pixels.*Received: image_size=\(8, 8\)"):
        load_ucf101_clips("train", image_size=(8, 8))
    with pytest.raises(ValueError, match=r"For square images pass image_size=\(64, 64\)"):
        load_ucf101_clips("train", image_size=64)
    with pytest.raises(ValueError, match=r"limit should be a positive int \(e.g. limit=3000\), or None"):
        load_ucf101_clips("train", limit=0)


def test_load_ucf101_clips_samples_frames_and_renumbers_classes(monkeypatch):
    # A stand-in for tensorflow_datasets that serves three videos of different lengths.
    import tensorflow as tf
    names = ["ApplyEyeMakeup", "Basketball", "Biking"]
    videos = [np.full((length, 20, 24, 3), 10 * length, dtype="uint8") for length in (5, 9, 3)]
    labels = [2, 0, 1]

    def fake_load(name, split, download, with_info=False, **kwargs):
        assert name == video_module.UCF101_NAME and split == "train[:3]"
        dataset = tf.data.Dataset.from_generator(
            lambda: ({"video": v, "label": np.int64(lab)} for v, lab in zip(videos, labels)),
            output_signature={"video": tf.TensorSpec((None, 20, 24, 3), tf.uint8),
                              "label": tf.TensorSpec((), tf.int64)})
        label_feature = types.SimpleNamespace(names=names)
        info = types.SimpleNamespace(features={"label": label_feature})
        return (dataset, info) if with_info else dataset

    fake_tfds = types.SimpleNamespace(load=fake_load, as_numpy=lambda ds: ds.as_numpy_iterator(),
                                      decode=types.SimpleNamespace(SkipDecoding=object))
    monkeypatch.setitem(sys.modules, "tensorflow_datasets", fake_tfds)
    monkeypatch.setenv("COURSE_LIB_OFFLINE", "0")
    monkeypatch.setattr("course_lib.runtime.is_offline", lambda: False)
    data = load_ucf101_clips("train", num_frames=4, image_size=(16, 24), classes=["Biking", "ApplyEyeMakeup"],
                             limit=3)
    assert data.clips.shape == (2, 4, 16, 24, 3) and data.clips.dtype == np.uint8
    np.testing.assert_array_equal(data.labels, [0, 1])        # Biking first, as asked
    assert data.class_names == ["Biking", "ApplyEyeMakeup"]
    np.testing.assert_array_equal(data.clips[0], 50)          # the 5-frame video (label 2 = Biking)
    with pytest.raises(ValueError, match="Unknown class 'Juggling'"):
        load_ucf101_clips("train", classes=["Juggling"], limit=3)


def test_doctests():
    assert doctest.testmod(video_module, raise_on_error=False).failed == 0
