"""Tests for course_lib.data.plots: image grids and class balance."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

from course_lib.data.plots import plot_class_balance, plot_image_batch  # noqa: E402
from image_folders import make_clean_folder, quiet_load  # noqa: E402


@pytest.fixture
def clean_folder(tmp_path):
    return make_clean_folder(tmp_path / "clean")


def test_plot_image_batch_returns_one_axes_per_image_whatever_the_count(clean_folder):
    ds = quiet_load(clean_folder, image_size=(8, 8), validation_split=None, batch_size=4)
    axes = plot_image_batch(ds, num_images=5)
    assert isinstance(axes, np.ndarray) and axes.shape == (5,)       # 5 of a 2 x 3 grid
    assert len(axes[0].figure.axes) == 6 and not axes[0].figure.axes[5].axison
    assert all(a.get_title() in ds.class_names for a in axes) and all(len(a.images) == 1 for a in axes)
    plt.close("all")
    one = plot_image_batch(ds, num_images=1)
    assert isinstance(one, np.ndarray) and one.shape == (1,)         # also for one image: an array
    _, given = plt.subplots(2, 2)
    axes = plot_image_batch(ds, num_images=4, ax=given)
    assert list(axes) == list(given.ravel())
    plt.close("all")
    gray = np.zeros((5, 8, 8, 1), np.float32)
    axes = plot_image_batch((gray, np.array([0, 1, 2, 0, 1])), class_names=["x", "y", "z"], num_images=9)
    assert axes.shape == (5,)                                        # only 5 images in the arrays
    assert [a.get_title() for a in axes[:3]] == ["x", "y", "z"]
    assert axes[0].images[0].get_cmap().name == "gray"
    assert plot_image_batch((np.zeros((0, 8, 8, 3)), np.zeros(0))).shape == (0,)   # nothing to show: empty array
    plt.close("all")


def test_plot_image_batch_stretches_normalised_images_only():
    images = np.stack([np.full((4, 4, 3), 200.0), np.linspace(-1, 1, 48).reshape(4, 4, 3)])
    axes = plot_image_batch((images, np.array([0, 1])), num_images=2)
    np.testing.assert_allclose(axes[0].images[0].get_array(), 200 / 255)    # 0-255 shown as it is
    shown = axes[1].images[0].get_array()
    assert float(shown.min()) == 0.0 and float(shown.max()) == 1.0          # [-1, 1] stretched
    plt.close("all")


def test_plot_image_batch_errors(clean_folder):
    with pytest.raises(ValueError, match="num_images should be a positive int"):
        plot_image_batch((np.zeros((2, 4, 4, 3)), np.zeros(2)), num_images=0)
    with pytest.raises(ValueError, match="dataset should be a tf.data.Dataset"):
        plot_image_batch("not a dataset")
    with pytest.raises(ValueError, match=r"images should have 4 dimensions.*Received: images of shape \(2, 4\)"):
        plot_image_batch((np.zeros((2, 4)), np.zeros(2)))
    _, axes = plt.subplots(1, 2)
    with pytest.raises(ValueError, match="ax should hold at least num_images=4 Axes"):
        plot_image_batch((np.zeros((4, 4, 4, 3)), np.zeros(4)), num_images=4, ax=axes)
    plt.close("all")


def test_plot_class_balance_inputs(clean_folder, tmp_path):
    root = make_clean_folder(tmp_path / "d", classes=("a", "b"), per_class=5)
    make_clean_folder(root, classes=("c",), per_class=10)
    train_ds, val_ds = quiet_load(root, image_size=(8, 8))
    ax = plot_class_balance(train_ds)
    widths = [p.get_width() for p in ax.patches]
    assert widths == [4, 4, 8]  # our dataset: counted from its files
    assert [t.get_text() for t in ax.get_yticklabels()] == ["a", "b", "c"]
    plt.close("all")
    ax = plot_class_balance(train_ds.scan)
    assert [p.get_width() for p in ax.patches] == [5, 5, 10]
    ax = plot_class_balance({"x": 3, "y": 1})
    assert [p.get_width() for p in ax.patches] == [3, 1]
    ax = plot_class_balance([2, 7], class_names=["p", "q"])
    assert [t.get_text() for t in ax.get_yticklabels()] == ["p", "q"]
    plain = tf.data.Dataset.from_tensor_slices((np.zeros((6, 2, 2, 1)), [0, 0, 1, 2, 2, 2])).batch(4)
    ax = plot_class_balance(plain)
    assert [p.get_width() for p in ax.patches] == [2, 1, 3]
    onehot = tf.data.Dataset.from_tensor_slices((np.zeros((3, 2, 2, 1)), np.eye(3)[[0, 2, 2]])).batch(2)
    ax = plot_class_balance(onehot)
    assert [p.get_width() for p in ax.patches] == [1, 0, 2]
    plt.close("all")


def test_plot_class_balance_errors():
    with pytest.raises(ValueError, match="class_names has 1 names but there are 2 counts"):
        plot_class_balance([1, 2], class_names=["a"])
    with pytest.raises(ValueError, match="plot_class_balance expects a dict"):
        plot_class_balance("abc")
    images_only = tf.data.Dataset.from_tensor_slices(np.zeros((2, 2, 2)))
    with pytest.raises(ValueError, match="should yield \\(images, labels\\)"):
        plot_class_balance(images_only)


# ---------------------------------------------------------------------------
# Export
