"""Tests for course_lib.image_grid: one grid helper, one return type."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from course_lib.image_grid import image_grid, show_image  # noqa: E402


@pytest.mark.parametrize("count, shape", [(1, (1, 1)), (5, (1, 5)), (12, (2, 8)), (16, (2, 8))])
def test_new_figure_has_rows_of_eight_and_returns_one_axes_per_image(count, shape):
    axes = image_grid(count)
    assert isinstance(axes, np.ndarray) and axes.shape == (count,)
    figure_axes = axes[0].figure.axes
    assert len(figure_axes) == shape[0] * shape[1]
    assert sum(a.axison for a in figure_axes) == count      # the extra panels are switched off
    plt.close("all")


def test_given_axes_are_used_in_order_and_too_few_is_an_error():
    _, grid = plt.subplots(2, 3)
    axes = image_grid(4, ax=grid)
    assert list(axes) == list(grid.ravel()[:4])
    _, single = plt.subplots()
    assert list(image_grid(1, ax=single)) == [single]
    with pytest.raises(ValueError, match=r"ax should hold at least num_images=7 Axes.*Received: 6 Axes"):
        image_grid(7, ax=grid)
    assert image_grid(0).shape == (0,)
    with pytest.raises(ValueError, match="num_images should be a non-negative int"):
        image_grid(-1)
    plt.close("all")


def test_show_image_scales_uint8_and_gray():
    _, axis = plt.subplots()
    show_image(axis, np.full((4, 4, 1), 255, "uint8"), title="white")
    shown = axis.images[0]
    assert shown.get_array().shape == (4, 4) and shown.get_cmap().name == "gray"
    assert float(shown.get_array().max()) == 1.0 and axis.get_title() == "white"
    show_image(axis, np.zeros((4, 4, 3), "float32"))
    assert axis.images[-1].get_array().shape == (4, 4, 3)
    plt.close("all")
