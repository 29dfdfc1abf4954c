"""Look at an image dataset: a grid of images with their class, and the class balance.

    plot_image_batch(train_ds, num_images=9); plt.show()
    plot_class_balance(train_ds); plt.show()

Both take a dataset from `load_image_folder`, any `tf.data` dataset of
`(images, labels)`, or arrays; both take `ax=` and return what they drew on.
"""

import collections
import math

import numpy as np

from course_lib._validation import check_int
from course_lib.data.folders import FolderScan

def _first_batch(dataset, num_images):
    """Returns (images as NumPy, labels as NumPy or None) from a dataset or arrays."""
    if isinstance(dataset, (tuple, list)) and len(dataset) == 2:
        images, labels = dataset
        return np.asarray(images)[:num_images], np.asarray(labels)[:num_images]
    if isinstance(dataset, np.ndarray):
        return dataset[:num_images], None
    if not hasattr(dataset, "take"):
        raise ValueError(
            f"dataset should be a tf.data.Dataset of (images, labels) batches (e.g. train_ds from "
            f"load_image_folder) or a tuple (images, labels) of arrays. "
            f"Received: {type(dataset).__name__}")
    images, labels = [], []
    count = 0
    for element in dataset:
        x, y = (element if isinstance(element, (tuple, list)) else (element, None))[:2]
        x = np.asarray(x)
        batched = x.ndim == 4 or (x.ndim == 3 and x.shape[-1] not in (1, 3, 4))
        if not batched:
            x = x[None]
            y = None if y is None else np.asarray(y)[None]
        images.append(x)
        if y is not None:
            labels.append(np.asarray(y))
        count += len(x)
        if count >= num_images:
            break
    images = np.concatenate(images)[:num_images]
    labels = np.concatenate(labels)[:num_images] if labels else None
    return images, labels


def _displayable(image):
    image = np.asarray(image, dtype=np.float32)
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    low, high = float(image.min(initial=0)), float(image.max(initial=0))
    if low >= 0 and high <= 1.0:
        return image
    if low >= 0 and high <= 255:
        return image / 255.0
    return (image - low) / max(high - low, 1e-8)  # normalised images: stretch for display


def _label_text(label, class_names):
    if label is None:
        return ""
    label = np.asarray(label)
    if label.ndim > 0 and label.size > 1:  # one-hot or probabilities
        label = int(np.argmax(label))
    else:
        label = int(label.reshape(-1)[0])
    if class_names is not None and 0 <= label < len(class_names):
        return str(class_names[label])
    return str(label)


def plot_image_batch(dataset, class_names=None, num_images=9, ax=None):
    """Shows the first images of a dataset in a grid, titled with their class.

    Args:
        dataset: a `tf.data.Dataset` yielding `(images, labels)` (batched or
            not; int or one-hot labels), or a tuple `(images, labels)` of arrays.
            Values in [0, 255] or [0, 1] show as they are; other ranges are
            stretched.
        class_names: names for the labels; defaults to `dataset.class_names`.
        num_images: how many images to show.
        ax: None (a new figure), one `Axes` (the grid is drawn as one
            mosaic in it), or a sequence of at least `num_images` axes.

    Returns:
        The axes drawn on: an array of axes, or the single `Axes` given.

    Example:

    >>> plot_image_batch(train_ds, num_images=9); plt.show()
    """
    num_images = check_int(num_images, "num_images", example=9)
    if class_names is None:
        class_names = getattr(dataset, "class_names", None)
    images, labels = _first_batch(dataset, num_images)
    if images.ndim == 3 and images.shape[-1] not in (1, 3, 4):
        images = images[..., None]
    if images.ndim != 4:
        raise ValueError(
            f"Expected images of shape (batch, height, width, channels), got shape {images.shape}.")
    import matplotlib.pyplot as plt
    count = len(images)
    cols = int(math.ceil(math.sqrt(count)))
    rows = int(math.ceil(count / cols))
    gray = images.shape[-1] == 1
    cmap = "gray" if gray else None

    if ax is not None and not isinstance(ax, (list, tuple, np.ndarray)):
        # One Axes: a mosaic with a one-pixel gap, labels written on each tile.
        h, w = images.shape[1:3]
        channels = 1 if gray else 3
        mosaic = np.ones((rows * (h + 1) - 1, cols * (w + 1) - 1, channels), dtype=np.float32)
        for i in range(count):
            r, c = divmod(i, cols)
            tile = _displayable(images[i])
            tile = tile[..., None] if tile.ndim == 2 else tile[..., :3]
            mosaic[r * (h + 1):r * (h + 1) + h, c * (w + 1):c * (w + 1) + w] = tile
        ax.imshow(mosaic[..., 0] if gray else mosaic, cmap=cmap, vmin=0, vmax=1)
        for i in range(count):
            r, c = divmod(i, cols)
            text = _label_text(None if labels is None else labels[i], class_names)
            if text:
                ax.text(c * (w + 1) + 1, r * (h + 1) + 1, text, fontsize=8, va="top",
                        bbox={"facecolor": "white", "alpha": 0.7, "pad": 1, "linewidth": 0})
        ax.set_axis_off()
        return ax

    if ax is None:
        fig, axes = plt.subplots(rows, cols, figsize=(2.2 * cols, 2.2 * rows), squeeze=False)
        axes = axes.ravel()
    else:
        axes = np.asarray(ax, dtype=object).ravel()
        if len(axes) < count:
            raise ValueError(f"ax holds {len(axes)} axes but num_images={count}; pass at least "
                             f"{count} axes, one Axes for a mosaic, or ax=None.")
    for i, axis in enumerate(axes):
        axis.set_axis_off()
        if i >= count:
            continue
        axis.imshow(_displayable(images[i]), cmap=cmap, vmin=0, vmax=1)
        axis.set_title(_label_text(None if labels is None else labels[i], class_names), fontsize=10)
    return axes


def _counts_from(counts_or_dataset, class_names):
    source = counts_or_dataset
    if isinstance(source, FolderScan):
        return list(source.counts), list(source.counts.values())
    scan = getattr(source, "scan", None)
    if isinstance(scan, FolderScan) and hasattr(source, "file_paths"):
        # One of our datasets: count the labels of its own split, no decoding needed.
        index = {p: label for p, label in zip(scan.file_paths, scan.labels)}
        per_class = np.bincount([index[p] for p in source.file_paths],
                                minlength=len(scan.class_names))
        return list(scan.class_names), [int(n) for n in per_class]
    if isinstance(source, dict):
        return [str(k) for k in source], [int(v) for v in source.values()]
    if isinstance(source, (list, tuple, np.ndarray)):
        values = [int(v) for v in np.asarray(source).reshape(-1)]
        names = class_names if class_names is not None else [str(i) for i in range(len(values))]
        if len(names) != len(values):
            raise ValueError(f"class_names has {len(names)} names but there are {len(values)} "
                             f"counts; pass one name per count.")
        return list(names), values
    if hasattr(source, "take"):
        # Any dataset of (images, labels): count the labels (this reads the whole dataset).
        names = class_names if class_names is not None else getattr(source, "class_names", None)
        totals = collections.Counter()
        for element in source:
            if not isinstance(element, (tuple, list)) or len(element) < 2:
                raise ValueError("The dataset should yield (images, labels) to count its classes.")
            y = np.asarray(element[1])
            if y.ndim == 2:
                y = np.argmax(y, axis=-1)  # one-hot (categorical) labels
            totals.update(int(v) for v in y.reshape(-1))
        if names is None:
            names = [str(i) for i in range(max(totals, default=-1) + 1)]
        return list(names), [totals.get(i, 0) for i in range(len(names))]
    raise ValueError(
        f"plot_class_balance expects a dict {{class name: count}}, a list of counts, a FolderScan "
        f"or a dataset of (images, labels). Received: {type(source).__name__}")


def plot_class_balance(counts_or_dataset, class_names=None, ax=None):
    """Draws a horizontal bar chart of the number of images per class.

    A dashed line marks the mean; a class far below it is under-represented.

    Args:
        counts_or_dataset: a dict `{class name: count}`, a list of counts, a
            `FolderScan`, a dataset from `load_image_folder` (counted from its
            files, no decoding) or any dataset of `(images, labels)` (read once).
        class_names: names for a list of counts (or a dataset without
            `class_names`).
        ax: matplotlib axes to draw on (default: a new figure).

    Returns:
        The axes.

    Example:

    >>> plot_class_balance(train_ds); plt.show()
    """
    names, values = _counts_from(counts_or_dataset, class_names)
    import matplotlib.pyplot as plt
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 0.35 * len(names) + 1.2))
    positions = np.arange(len(names))
    ax.barh(positions, values, color="tab:blue")
    ax.set_yticks(positions)
    ax.set_yticklabels(names)
    ax.invert_yaxis()  # first class on top
    if values:
        mean = float(np.mean(values))
        ax.axvline(mean, color="gray", linestyle="--", linewidth=1, label=f"mean {mean:,.0f}")
        for y, v in zip(positions, values):
            ax.text(v, y, f" {v:,}", va="center", fontsize=8)
        ax.set_xlim(0, max(values) * 1.15 + 1)
        ax.legend(loc="lower right", fontsize=8)
    ax.set_xlabel("images")
    ax.set_title(f"Images per class ({sum(values):,} in total)")
    return ax
