"""Tests for course_lib.data.masks: checking, counting and drawing label maps."""

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

from course_lib.data.masks import (check_segmentation_data, colorize_masks, pixel_class_fractions,  # noqa: E402
                                   plot_pixel_balance, plot_segmentation)
from course_lib.data.scenes import make_fashion_scenes  # noqa: E402


@pytest.fixture(scope="module")
def scenes():
    return make_fashion_scenes(300, seed=7)


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


def test_plot_segmentation_returns_one_flat_array_of_axes(scenes):
    import matplotlib.pyplot as plt
    axes = plot_segmentation(scenes.images, scenes.masks, scenes.masks, class_names=scenes.class_names,
                             num_images=3)
    assert isinstance(axes, np.ndarray) and axes.shape == (3 * 3,)      # row by row: image, true, predicted
    assert [t.get_text() for t in axes[2].get_legend().get_texts()] == scenes.class_names
    assert [axis.get_title() for axis in axes[:3]] == ["image", "true mask", "predicted"]
    axes = plot_segmentation(scenes.images, scenes.masks, {"FCN": scenes.masks, "U-Net": scenes.masks},
                             num_images=2)
    assert axes.shape == (2 * 4,) and axes[3].get_title() == "U-Net"
    assert plot_segmentation(scenes.images, scenes.masks, num_images=1).shape == (2,)   # also for one image
    assert plot_segmentation(scenes.images[:2], scenes.masks[:2], num_images=5).shape == (2 * 2,)
    _, given = plt.subplots(2, 3)
    assert list(plot_segmentation(scenes.images, scenes.masks, scenes.masks, num_images=2, ax=given)) == \
        list(given.ravel())
    with pytest.raises(ValueError, match=r"label maps \(n, height, width\).*argmax"):
        plot_segmentation(scenes.images, scenes.masks, np.zeros((300, 64, 64, 5)))
    with pytest.raises(ValueError, match=r"num_images should be a positive int \(e.g. num_images=4\). "
                                         r"Received: num_images=0"):
        plot_segmentation(scenes.images, scenes.masks, num_images=0)
    plt.close("all")


def test_pixel_balance_and_colours(scenes):
    fractions = pixel_class_fractions(np.array([[0, 0, 0, 1], [2, 0, 1, 0]]), 4)
    np.testing.assert_allclose(fractions, [5 / 8, 2 / 8, 1 / 8, 0.0])
    ax = plot_pixel_balance(scenes.masks, scenes.class_names)
    assert ax.get_xlabel() == "share of pixels (%)"
    colors = colorize_masks(scenes.masks[:2], 5)
    assert colors.shape == (2, 64, 64, 3) and colors.min() >= 0 and colors.max() <= 1
    import matplotlib.pyplot as plt
    plt.close("all")
