"""Label maps (one class id per pixel): check them, count them, colour and draw them (lab 05).

    images, masks = check_segmentation_data(images, masks, num_classes=5)   # before training
    pixel_class_fractions(masks, num_classes=5)         # share of the pixels per class: background dominates
    plot_pixel_balance(masks, class_names)
    plot_segmentation(images, masks, {"U-Net": predicted}, class_names=class_names, num_images=4)

NumPy and Matplotlib only; any label maps (the Fashion-MNIST scenes, Oxford-IIIT Pet
trimaps) with background = 0.
"""

import numpy as np

from course_lib._validation import check_image_batch, check_int
from course_lib.image_grid import image_grid, show_image


def check_segmentation_data(images, masks, num_classes, ignore_index=None):
    """Checks images and label maps before training; returns them as NumPy arrays.

    Args:
        images: array `(n, height, width, channels)` (or `(n, height, width)` grayscale).
        masks: integer array `(n, height, width)` (or `(n, height, width, 1)`), class ids
            in [0, num_classes), or `ignore_index`.
        num_classes: int, classes of the model's output, background included.
        ignore_index: None, or a label to allow outside that range (e.g. 255).

    Returns:
        `(images, masks)`: images with a channel axis, masks of shape `(n, height, width)`.

    Raises:
        ValueError: counts, sizes, dtypes or labels do not match, saying which and how to fix it.
    """
    images, masks = check_image_batch(images), np.asarray(masks)
    if masks.ndim == 4 and masks.shape[-1] == 1:
        masks = masks[..., 0]
    if masks.ndim == 4 and masks.shape[-1] == num_classes:
        raise ValueError(f"masks look one-hot encoded (last axis = num_classes = {num_classes}); pass "
                         f"one class id per pixel: masks.argmax(axis=-1). Received: masks.shape={masks.shape}")
    if masks.ndim != 3:
        raise ValueError(f"masks should have shape (num_images, height, width), one class id per "
                         f"pixel. Received: masks.shape={masks.shape}")
    if len(images) != len(masks):
        raise ValueError(f"images and masks should hold the same number of samples, one mask per "
                         f"image; check that both were sliced the same way. Received: {len(images)} "
                         f"images and {len(masks)} masks")
    if images.shape[1:3] != masks.shape[1:3]:
        raise ValueError(f"Each mask should have its image's height and width; resize masks with "
                         f"nearest-neighbour interpolation (never bilinear, which invents labels). "
                         f"Received: images of {images.shape[1:3]}, masks of {masks.shape[1:3]}")
    if masks.dtype.kind not in "iu":
        raise ValueError(f"masks should hold integer class ids (e.g. uint8). Received: masks.dtype="
                         f"{masks.dtype}; if they are whole numbers stored as floats, use masks.astype('uint8')")
    labels = masks if ignore_index is None else masks[masks != ignore_index]
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        values = np.unique(labels[(labels < 0) | (labels >= num_classes)])
        raise ValueError(
            f"masks should hold class ids in [0, {num_classes}) for num_classes={num_classes}, but "
            f"{int(((labels < 0) | (labels >= num_classes)).sum()):,} pixels have other values. Pass "
            f"the right num_classes (background included), or map those labels first (e.g. Oxford "
            f"trimaps go 1-3: subtract 1). Received: mask values {values[:10].tolist()}")
    return images, masks


# --------------------------------------------------------------------------- counts and plots

def _class_colors(num_classes):
    import matplotlib.pyplot as plt
    colors = [(0.12, 0.12, 0.12)]   # background: near black
    palette = plt.get_cmap("tab10").colors
    for k in range(1, num_classes):
        colors.append(palette[(k - 1) % len(palette)])
    return np.array(colors)


def colorize_masks(masks, num_classes):
    """Returns float RGB images `(..., 3)` in [0, 1]: background near black, class k in tab10's color k-1."""
    masks = np.asarray(masks).astype("int64")
    colors = _class_colors(num_classes)
    return colors[np.clip(masks, 0, num_classes - 1)]


def plot_segmentation(images, masks, predicted_masks=None, class_names=None, num_images=4, ax=None):
    """Draws image / true mask / predicted mask side by side, one row per image, with a legend.

    Args:
        images: `(n, height, width)` or `(n, height, width, channels)` in [0, 255].
        masks: `(n, height, width)` integer label maps.
        predicted_masks: optional `(n, height, width)` label maps (e.g.
            `model.predict(x).argmax(-1)`); a column per entry of a dict
            `{title: label maps}` compares several models.
        class_names: names of the classes, background first (default: "class k").
        num_images: int, rows to draw (the first images).
        ax: None for a new figure, or at least rows x columns Axes (see `course_lib.image_grid`).

    Returns:
        A 1-D array of the Axes, row by row: image, true mask, then one per prediction.
    """
    images, masks = np.asarray(images), np.asarray(masks)
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    if masks.ndim == 4 and masks.shape[-1] == 1:
        masks = masks[..., 0]
    predictions = predicted_masks if isinstance(predicted_masks, dict) else (
        {} if predicted_masks is None else {"predicted": predicted_masks})
    predictions = {title: np.asarray(p) for title, p in predictions.items()}
    for title, p in predictions.items():
        if p.ndim == 4:
            raise ValueError(f"predicted_masks {title!r} should be label maps (n, height, width); "
                             f"for class scores take .argmax(axis=-1) first. Received shape {p.shape}")
    if len(images) != len(masks) or images.shape[1:3] != masks.shape[1:3]:
        raise ValueError(f"images and masks should match: one (height, width) mask per image. "
                         f"Received: images.shape={images.shape}, masks.shape={masks.shape}")
    num_classes = len(class_names) if class_names is not None else int(
        max([masks.max()] + [p.max() for p in predictions.values()])) + 1
    names = list(class_names) if class_names is not None else [f"class {k}" for k in range(num_classes)]
    rows = min(check_int(num_images, "num_images", example=4), len(images))
    columns = 2 + len(predictions)
    axes = image_grid(rows * columns, num_columns=columns, ax=ax, size=2.2)
    for row in range(rows):
        panels = [("image", images[row]), ("true mask", masks[row])] + [
            (title, p[row]) for title, p in predictions.items()]
        for col, (title, panel) in enumerate(panels):
            axis = axes[row * columns + col]
            if col == 0:
                show_image(axis, panel)
            else:
                axis.imshow(colorize_masks(panel, num_classes), interpolation="nearest")
                axis.axis("off")
            if row == 0:
                axis.set_title(title, fontsize=9)
    from matplotlib.patches import Patch
    colors = _class_colors(num_classes)
    handles = [Patch(color=colors[k], label=names[k]) for k in range(num_classes)]
    axes[columns - 1].legend(handles=handles, loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=8,
                             frameon=False)
    return axes


def pixel_class_fractions(masks, num_classes):
    """Returns the fraction of pixels of each class, `(num_classes,)` floats summing to 1."""
    counts = np.bincount(np.asarray(masks).astype("int64").reshape(-1), minlength=num_classes)
    return counts[:num_classes] / max(counts.sum(), 1)


def plot_pixel_balance(masks, class_names, ax=None):
    """Draws the share of pixels per class as a horizontal bar chart (background first).

    Returns:
        The axes.
    """
    fractions = pixel_class_fractions(masks, len(class_names))
    import matplotlib.pyplot as plt
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 0.35 * len(class_names) + 1.2))
    positions = np.arange(len(class_names))
    ax.barh(positions, 100 * fractions, color=_class_colors(len(class_names)))
    ax.set_yticks(positions)
    ax.set_yticklabels(class_names)
    ax.invert_yaxis()
    for y, f in zip(positions, fractions):
        ax.text(100 * f, y, f" {100 * f:.1f} %", va="center", fontsize=8)
    ax.set_xlim(0, 115)
    ax.set_xlabel("share of pixels (%)")
    ax.set_title(f"Pixels per class ({np.asarray(masks).size:,} in total)")
    return ax


__all__ = ["check_segmentation_data", "colorize_masks", "plot_segmentation", "pixel_class_fractions",
           "plot_pixel_balance"]
