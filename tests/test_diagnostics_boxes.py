"""Tests of course_lib.diagnostics.boxes: boxes on images, NMS before/after, precision-recall, the mAP table."""

import doctest

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from course_lib.diagnostics import boxes as boxes_module  # noqa: E402
from course_lib.diagnostics.boxes import (map_table, plot_boxes, plot_detections, plot_nms,  # noqa: E402
                                          plot_precision_recall)


def test_plots_return_axes():
    truths = [{"boxes": np.array([[5, 5, 30, 30]]), "labels": np.array([1])}]
    detections = [{"boxes": np.array([[6, 5, 30, 31], [40, 40, 50, 50]]), "labels": np.array([1, 2]),
                   "scores": np.array([0.9, 0.3])}]
    image = np.zeros((64, 64, 1), "uint8")
    names = ["background", "a", "b"]
    assert plot_boxes(image, truths[0]["boxes"], truths[0]["labels"], class_names=names) is not None
    axes = plot_detections(image[None], truths, detections, class_names=names, num_images=1)
    assert len(axes[0].patches) == 3 and axes[0].get_title() == "1 objects, 2 found"
    axes = plot_nms([[0, 0, 10, 10], [1, 1, 11, 11]], [0.9, 0.8], [0])
    assert isinstance(axes, np.ndarray) and axes.shape == (2,)
    assert len(axes[0].patches) == 2 and len(axes[1].patches) == 1
    ax = plot_precision_recall(detections, truths, class_names=names)
    assert "a (AP 1.00)" in [t.get_text() for t in ax.get_legend().get_texts()]
    plt.close("all")


def test_map_table():
    table = map_table({"one-stage": {"map": 0.75, "per_class": {1: 0.5, 2: 1.0}},
                       "R-CNN": {"map": 0.5, "per_class": {1: 0.5, 2: 0.5}}}, ["background", "cat", "dog"])
    lines = table.splitlines()
    assert lines[0].split() == ["class", "one-stage", "R-CNN"]
    assert lines[1].split() == ["cat", "0.500", "0.500"] and lines[-1].split() == ["mean", "0.750", "0.500"]


def test_plot_detections_returns_one_array_of_axes_whatever_the_count():
    images = np.zeros((5, 32, 32), "uint8")
    truths = [{"boxes": np.array([[2, 2, 20, 20]]), "labels": np.array([1])}] * 5
    for num_images, expected in ((1, 1), (3, 3), (9, 5)):       # at most one panel per image
        axes = plot_detections(images, truths, num_images=num_images)
        assert isinstance(axes, np.ndarray) and axes.shape == (expected,)
        assert axes[0].get_title() == "1 objects"
    _, mine = plt.subplots(1, 2)
    axes = plot_detections(images, truths, num_images=2, ax=mine)             # draws into the caller's Axes
    assert list(axes) == list(mine) and len(mine[1].patches) == 1
    axes = plot_nms([[0, 0, 10, 10]], [0.9], [0], ax=mine)
    assert list(axes) == list(mine)
    with pytest.raises(ValueError, match=r"num_images should be a positive int.*Received: num_images=0"):
        plot_detections(images, truths, num_images=0)
    with pytest.raises(ValueError, match=r"ax should hold at least num_images=2 Axes.*Received: 1 Axes"):
        plot_nms([[0, 0, 10, 10]], [0.9], [0], ax=mine[:1])
    plt.close("all")


def test_docstring_examples_give_the_printed_output():
    result = doctest.testmod(boxes_module, extraglobs={"np": np}, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
