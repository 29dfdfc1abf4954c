"""The one grid of small image panels that every course_lib plot of several images draws on.

    axes = image_grid(12)                          # a new figure, 8 columns, 2 rows; 12 Axes back
    for axis, image in zip(axes, images):
        show_image(axis, image, title="Bag")

    image_grid(4, ax=my_axes)                      # draw into Axes you made (at least 4 of them)

A plot helper that draws several images takes `num_images=` and `ax=None`, calls
`image_grid`, and returns what it returns: a 1-D NumPy array of Axes, one per image,
whatever the count (also for one image). NumPy and Matplotlib only.
"""

import numpy as np

from course_lib._validation import check_int


def image_grid(num_images, num_columns=8, ax=None, size=2.0):
    """Returns `num_images` Axes laid out in rows of `num_columns`.

    Args:
        num_images: int >= 0, how many panels.
        num_columns: int, panels per row at most (fewer when there are fewer images).
        ax: None for a new figure, or Axes made by the caller (an array, list or a
            single Axes); the first `num_images` of them are used.
        size: float, inches per panel on a new figure (titles get a little more).

    Returns:
        A 1-D NumPy array of `num_images` Axes. Panels of a new figure beyond
        `num_images` are switched off.

    Raises:
        ValueError: `ax` holds fewer Axes than `num_images`.
    """
    num_images = check_int(num_images, "num_images", minimum=0, example=8)
    num_columns = check_int(num_columns, "num_columns", example=8)
    if ax is not None:
        axes = np.ravel(np.asarray(ax, dtype=object))
        if len(axes) < num_images:
            raise ValueError(f"ax should hold at least num_images={num_images} Axes, one per image; pass "
                             f"more Axes or ax=None for a new figure. Received: {len(axes)} Axes")
        return axes[:num_images]
    if num_images == 0:
        return np.empty(0, dtype=object)
    import matplotlib.pyplot as plt
    columns = min(num_columns, num_images)
    rows = -(-num_images // columns)
    _, axes = plt.subplots(rows, columns, figsize=(size * columns + 0.4, (size + 0.3) * rows + 0.3),
                           squeeze=False)
    axes = axes.ravel()
    for extra in axes[num_images:]:
        extra.axis("off")
    return axes[:num_images]


def show_image(axis, image, title=None, cmap=None):
    """Draws one image on `axis` without ticks: (h, w) or (h, w, 1) in gray, (h, w, 3) in colour.

    uint8 images and floats above 1 are read as 0-255; other floats as 0-1.
    """
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    scale = 255.0 if image.dtype == np.uint8 or image.max(initial=0) > 1.0 else 1.0
    image = np.clip(image.astype("float32") / scale, 0.0, 1.0)
    axis.imshow(image, cmap=cmap or ("gray" if image.ndim == 2 else None), vmin=0, vmax=1)
    if title is not None:
        axis.set_title(title, fontsize="small")
    axis.axis("off")
    return axis


__all__ = ["image_grid", "show_image"]
