"""Look at an image dataset: a grid of images with their class, and the class balance.

    plot_image_batch(train_ds, num_images=9); plt.show()
    plot_class_balance(train_ds); plt.show()

Both take a dataset from `load_image_folder`, any `tf.data` dataset of
`(images, labels)`, or arrays; both take `ax=` and return what they drew on
(`plot_image_batch`: always a 1-D array of Axes, one per image).
"""

import collections
import math

import numpy as np

from course_lib._validation import check_int
from course_lib.data.folders import FolderScan
from course_lib.image_grid import image_grid, show_image


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
    """[0, 1] and [0, 255] images as they are; other ranges (normalised images) stretched to [0, 1]."""
    image = np.asarray(image, dtype=np.float32)
    low, high = float(image.min(initial=0)), float(image.max(initial=0))
    if low >= 0 and high <= 255:
        return image
    return (image - low) / max(high - low, 1e-8)


def _label_text(label, class_names):
    if label is None:
        return None
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
        num_images: how many images to show (fewer if the dataset holds fewer).
        ax: None for a new figure, or at least that many Axes (one per image).

    Returns:
        A 1-D NumPy array of Axes, one per image shown (`course_lib.image_grid`),
        whatever the count.

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
        raise ValueError(f"images should have 4 dimensions (batch, height, width, channels), e.g. "
                         f"(32, 160, 160, 3). Received: images of shape {images.shape}")
    axes = image_grid(len(images), num_columns=max(1, math.ceil(math.sqrt(len(images)))), ax=ax, size=2.2)
    for i, axis in enumerate(axes):
        show_image(axis, _displayable(images[i][..., :3]),
                   title=_label_text(None if labels is None else labels[i], class_names))
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
