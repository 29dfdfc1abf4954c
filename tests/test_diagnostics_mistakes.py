"""Tests for course_lib.diagnostics.mistakes: the confusion matrix plot and the gallery of mistakes."""

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from course_lib.diagnostics.mistakes import plot_confusion_matrix, plot_misclassified  # noqa: E402

RNG = np.random.default_rng(0)


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


def test_misclassified_gallery_returns_one_axes_per_mistake(capsys):
    images = RNG.integers(0, 255, (6, 28, 28, 1)).astype("uint8")
    axes = plot_misclassified(images, [0, 0, 1, 2, 2, 2], [0, 1, 1, 2, 0, 2], class_names=["a", "b", "c"])
    assert isinstance(axes, np.ndarray) and axes.shape == (2,)
    assert [a.get_title() for a in axes] == ["a\n-> b", "c\n-> a"]
    np.testing.assert_allclose(axes[0].images[0].get_array(), images[1, ..., 0] / 255, atol=1e-6)
    none = plot_misclassified(images, [0] * 6, [0] * 6)
    assert isinstance(none, np.ndarray) and none.shape == (0,)        # same type when nothing is wrong
    assert "No misclassified image" in capsys.readouterr().out
    assert plot_misclassified(images, [0] * 6, [1] * 6, num_images=4).shape == (4,)
    _, grid = plt.subplots(1, 3)
    assert list(plot_misclassified(images, [0] * 6, [1] * 6, num_images=3, ax=grid)) == list(grid)
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
    with pytest.raises(ValueError, match=r"num_images should be a positive int \(e.g. num_images=16\)"):
        plot_misclassified(np.zeros((2, 4, 4)), [0, 1], [1, 0], num_images=0)
    _, one = plt.subplots()
    with pytest.raises(ValueError, match=r"ax should hold at least num_images=2 Axes"):
        plot_misclassified(np.zeros((2, 4, 4)), [0, 1], [1, 0], ax=one)
    plt.close("all")
