import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import tensorflow as tf  # noqa: E402

from course_lib.scratch.conv import convolve2d, correlate2d  # noqa: E402
from course_lib.diagnostics.filters import (KERNELS, get_feature_maps,  # noqa: E402
                                            plot_feature_maps, plot_filters, plot_kernel_results)
from course_lib.models.classic import build_toy_cnn  # noqa: E402

RNG = np.random.default_rng(0)
IMAGE = RNG.uniform(0, 255, (12, 10))


def test_lecture_kernels_do_what_they_say_under_conv2d():
    # KERNELS are written for cross-correlation, what keras.layers.Conv2D computes
    np.testing.assert_allclose(correlate2d(IMAGE, KERNELS["identity"]), IMAGE)
    shifted = correlate2d(IMAGE, KERNELS["shift"])
    np.testing.assert_allclose(shifted[:, :-1], IMAGE[:, 1:])  # one pixel to the left
    conv2d = tf.nn.conv2d(IMAGE[None, ..., None], KERNELS["shift"][:, :, None, None], 1, "SAME")
    np.testing.assert_allclose(np.asarray(conv2d)[0, ..., 0], shifted, atol=1e-9)
    np.testing.assert_allclose(convolve2d(IMAGE, KERNELS["shift"])[:, 1:], IMAGE[:, :-1])  # flipped: right
    flat = np.full((6, 6), 7.0)
    np.testing.assert_allclose(correlate2d(flat, KERNELS["box_blur"])[1:-1, 1:-1], 7.0)
    np.testing.assert_allclose(correlate2d(flat, KERNELS["sharpen"])[1:-1, 1:-1], 7.0)  # flat areas unchanged
    step = np.tile(np.r_[np.zeros(5), np.full(5, 100.0)], (6, 1))  # a vertical edge
    edges = np.abs(correlate2d(step, KERNELS["vertical_edge"]))[1:-1, 1:-1]
    assert edges[:, 3:5].min() == 400 and edges[:, :2].max() == 0


def test_plot_kernel_results_errors():
    with pytest.raises(ValueError, match=r"kernels should be a non-empty dict"):
        plot_kernel_results(IMAGE, kernels={})
    _, too_few = plt.subplots(1, 3)
    with pytest.raises(ValueError, match=r"ax should hold at least num_images=5 Axes"):
        plot_kernel_results(IMAGE, ax=too_few)
    plt.close("all")


def test_kernel_results_show_the_correlation_one_panel_per_kernel():
    axes = plot_kernel_results(IMAGE)
    assert isinstance(axes, np.ndarray) and axes.shape == (5,)
    assert [a.get_title() for a in axes] == ["identity", "shift", "box blur", "sharpen", "vertical edge"]
    np.testing.assert_allclose(axes[0].images[0].get_array(), IMAGE / 255)          # identity: the photo
    edges = np.abs(correlate2d(IMAGE, KERNELS["vertical_edge"]))
    np.testing.assert_allclose(axes[4].images[0].get_array(), edges / edges.max())  # magnitude, stretched
    _, row = plt.subplots(1, 2)
    given = plot_kernel_results(IMAGE, kernels={"box": KERNELS["box_blur"]}, ax=row)
    assert list(given) == [row[0]]
    plt.close("all")


def test_filter_and_feature_map_plots_return_one_axes_per_panel():
    model = build_toy_cnn(filters=(8, 16))
    axes = plot_filters(model)
    assert isinstance(axes, np.ndarray) and axes.shape == (8,)      # 8 filters, fewer than num_filters=32
    assert [a.get_title() for a in axes[:3]] == ["0", "1", "2"]
    kernel = np.asarray(model.get_layer("conv_2").kernel)[..., 1].mean(axis=-1)
    shown = plot_filters(model, "conv_2", num_filters=4)
    assert shown.shape == (4,) and "conv_2: 4 of 16 filters (3x3x8)" in shown[0].figure.get_suptitle()
    np.testing.assert_allclose(shown[1].images[0].get_array(),
                               (kernel - kernel.min()) / (kernel.max() - kernel.min()), atol=1e-6)
    assert plot_filters(model, num_filters=1).shape == (1,)
    maps = get_feature_maps(model, RNG.uniform(0, 255, (28, 28)), "conv_2")
    assert maps.shape == (14, 14, 16)
    axes = plot_feature_maps(model, RNG.uniform(0, 255, (28, 28, 1)), "pool_1", num_maps=6)
    assert axes.shape == (6,) and axes[0].images[0].get_cmap().name == "viridis"
    _, grid = plt.subplots(2, 4)
    assert list(plot_feature_maps(model, np.zeros((28, 28)), "conv_1", num_maps=8, ax=grid)) == list(grid.ravel())
    plt.close("all")


def test_filter_plot_errors():
    model = build_toy_cnn(filters=(8, 16))
    with pytest.raises(ValueError, match=r"No Conv2D layer named 'dense'.*\['conv_1', 'conv_2'\]"):
        plot_filters(model, "dense")
    with pytest.raises(ValueError, match=r"num_filters should be a positive int \(e.g. num_filters=32\)"):
        plot_filters(model, num_filters=0)
    with pytest.raises(ValueError, match=r"num_maps should be a positive int"):
        plot_feature_maps(model, np.zeros((28, 28)), "conv_1", num_maps=2.5)
    with pytest.raises(ValueError, match=r"No layer named 'conv_9'"):
        plot_feature_maps(model, np.zeros((28, 28)), "conv_9")
    with pytest.raises(ValueError, match=r"image should have the model's input shape \(28, 28, 1\).*\(32, 32\)"):
        get_feature_maps(model, np.zeros((32, 32)), "conv_1")
    with pytest.raises(ValueError, match=r"outputs shape \(128,\); pick a conv"):
        plot_feature_maps(model, np.zeros((28, 28)), "dense")
    import keras
    dense_only = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    with pytest.raises(ValueError, match=r"has no Conv2D layer"):
        plot_filters(dense_only)
    plt.close("all")
