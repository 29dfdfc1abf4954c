import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import tensorflow as tf  # noqa: E402

from course_lib.scratch.conv import convolve2d, correlate2d  # noqa: E402
from course_lib.diagnostics.filters import (KERNELS, get_feature_maps,  # noqa: E402
                                            plot_feature_maps, plot_filters, plot_kernel_results)
from course_lib.diagnostics.mistakes import plot_confusion_matrix, plot_misclassified  # noqa: E402
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


def test_kernel_filter_and_feature_map_plots():
    axes = plot_kernel_results(IMAGE)
    assert [a.get_title() for a in axes] == ["identity", "shift", "box blur", "sharpen", "vertical edge"]
    model = build_toy_cnn(filters=(8, 16))
    assert len(plot_filters(model)) == 8
    assert len(plot_filters(model, "conv_2", max_filters=4)) == 4
    maps = get_feature_maps(model, RNG.uniform(0, 255, (28, 28)), "conv_2")
    assert maps.shape == (14, 14, 16)
    assert len(plot_feature_maps(model, RNG.uniform(0, 255, (28, 28, 1)), "pool_1", max_maps=6)) == 6
    plt.close("all")


def test_filter_plot_errors():
    model = build_toy_cnn(filters=(8, 16))
    with pytest.raises(ValueError, match=r"No Conv2D layer named 'dense'.*\['conv_1', 'conv_2'\]"):
        plot_filters(model, "dense")
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


def test_plot_confusion_matrix_shows_the_metrics_counts():
    import course_lib
    from course_lib.metrics import confusion_matrix
    y_true = [0, 0, 1, 2, 2, 2]
    y_pred = [0, 1, 1, 2, 0, 2]
    assert course_lib.diagnostics.mistakes.confusion_matrix is confusion_matrix   # one confusion matrix
    ax = plot_confusion_matrix(y_true, y_pred, class_names=["a", "b", "c"])
    assert "accuracy 0.667" in ax.get_title()
    assert [t.get_text() for t in ax.texts[:3]] == ["0.50", "0.50", "0.00"]
    counts = plot_confusion_matrix(y_true, y_pred, normalize=False)
    expected = confusion_matrix(y_true, y_pred, num_classes=3)     # [[1, 1, 0], [0, 1, 0], [1, 0, 2]]
    assert [t.get_text() for t in counts.texts] == [str(v) for v in expected.ravel()]
    probs = np.eye(3)[y_pred]                                       # probabilities are reduced with argmax
    assert [t.get_text() for t in plot_confusion_matrix(y_true, probs, normalize=False).texts] == \
        [str(v) for v in expected.ravel()]
    plt.close("all")


def test_misclassified_gallery(capsys):
    images = RNG.integers(0, 255, (6, 28, 28, 1)).astype("uint8")
    axes = plot_misclassified(images, [0, 0, 1, 2, 2, 2], [0, 1, 1, 2, 0, 2], class_names=["a", "b", "c"])
    assert [a.get_title() for a in axes] == ["a\n-> b", "c\n-> a"]
    assert plot_misclassified(images, [0] * 6, [0] * 6) == []
    assert len(plot_misclassified(images, [0] * 6, [1] * 6, num_images=4)) == 4
    assert "No misclassified image" in capsys.readouterr().out
    plt.close("all")


def test_mistakes_errors():
    with pytest.raises(ValueError, match=r"same length. Received: 3 and 2 labels"):
        plot_confusion_matrix([0, 1, 2], [0, 1])
    with pytest.raises(ValueError, match=r"y_true should be a 1D array of integer labels"):
        plot_confusion_matrix([0.5, 1.0], [0, 1])
    with pytest.raises(ValueError, match=r"class_names should name every label: labels go up to 2, but 2 names"):
        plot_confusion_matrix([0, 2], [0, 1], class_names=["a", "b"])
    with pytest.raises(ValueError, match=r"images and labels should have the same length"):
        plot_misclassified(np.zeros((3, 4, 4)), [0, 1], [1, 0])
