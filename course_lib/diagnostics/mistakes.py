"""Which classes a model confuses, and the images it gets wrong.

    y_pred = model.predict(x_test, verbose=0).argmax(axis=1)
    plot_confusion_matrix(y_test, y_pred, class_names=FASHION_MNIST_CLASSES)   # counts: course_lib.metrics.confusion_matrix
    plot_misclassified(x_test, y_test, y_pred, class_names=FASHION_MNIST_CLASSES)
"""

import numpy as np

from course_lib._validation import check_int
from course_lib.image_grid import image_grid, show_image
from course_lib.metrics import confusion_matrix


def _as_labels(values, name):
    values = np.asarray(values)
    if values.ndim == 2:  # probabilities or one-hot
        values = values.argmax(axis=1)
    if values.ndim != 1 or (values.size and not np.issubdtype(values.dtype, np.integer)
                            and not np.all(np.mod(values, 1) == 0)):
        raise ValueError(f"{name} should be a 1D array of integer labels (or a 2D array of "
                         f"probabilities). Received: {name} of shape {values.shape}")
    return values.astype("int64")


def _check_pair(y_true, y_pred):
    y_true = _as_labels(y_true, "y_true")
    y_pred = _as_labels(y_pred, "y_pred")
    if len(y_true) != len(y_pred):
        raise ValueError(f"y_true and y_pred should have the same length. "
                         f"Received: {len(y_true)} and {len(y_pred)} labels")
    return y_true, y_pred


def plot_confusion_matrix(y_true, y_pred, class_names=None, normalize=True, ax=None):
    """Draws the confusion matrix (rows: true class, columns: predicted), with the values.

    Args:
        y_true: 1D int labels (or one-hot / probabilities, reduced with argmax).
        y_pred: 1D int predictions (or probabilities).
        class_names: list of names for the axes, or None for the indices.
        normalize: bool, show each row as fractions of that class (the diagonal is
            the per-class recall); False shows counts.
        ax: matplotlib Axes or None.

    Returns:
        The Axes.
    """
    y_true, y_pred = _check_pair(y_true, y_pred)
    largest = int(max(y_true.max(initial=-1), y_pred.max(initial=-1))) + 1
    if class_names is not None and len(class_names) < largest:
        raise ValueError(f"class_names should name every label: labels go up to {largest - 1}, but "
                         f"{len(class_names)} names were given. Received: class_names={list(class_names)!r}")
    num_classes = len(class_names) if class_names is not None else max(largest, 1)
    # course_lib.metrics.confusion_matrix: rows are true classes, columns predictions
    matrix = confusion_matrix(y_true, y_pred, num_classes=num_classes)
    names = list(class_names) if class_names is not None else [str(i) for i in range(len(matrix))]
    values = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1) if normalize else matrix
    import matplotlib.pyplot as plt
    if ax is None:
        side = max(4.0, 0.55 * len(names) + 2)
        _, ax = plt.subplots(figsize=(side, side))
    ax.imshow(values, cmap="Blues", vmin=0, vmax=1 if normalize else max(values.max(), 1))
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(names, rotation=45, ha="right", fontsize="small")
    ax.set_yticks(range(len(names)))
    ax.set_yticklabels(names, fontsize="small")
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    threshold = (1 if normalize else values.max()) / 2
    for i in range(len(names)):
        for j in range(len(names)):
            text = f"{values[i, j]:.2f}" if normalize else str(values[i, j])
            ax.text(j, i, text, ha="center", va="center", fontsize="x-small",
                    color="white" if values[i, j] > threshold else "black")
    accuracy = np.trace(matrix) / max(matrix.sum(), 1)
    ax.set_title(f"Confusion matrix (accuracy {accuracy:.3f})")
    return ax


def plot_misclassified(images, y_true, y_pred, class_names=None, num_images=16, ax=None):
    """Shows up to `num_images` misclassified images, titled "true -> predicted".

    Args:
        images: array (n, height, width) or (n, height, width, channels), pixels in
            [0, 255] or [0, 1].
        y_true, y_pred: labels as in `confusion_matrix` (n each).
        class_names: list of names, or None for the indices.
        num_images: int, how many mistakes to show at most (the first ones in order).
        ax: None for a new figure, or at least as many Axes as mistakes shown.

    Returns:
        A 1-D NumPy array of Axes, one per mistake shown (`course_lib.image_grid`);
        empty, with a printed line, when there is no mistake.
    """
    y_true, y_pred = _check_pair(y_true, y_pred)
    num_images = check_int(num_images, "num_images", example=16)
    images = np.asarray(images)
    if len(images) != len(y_true):
        raise ValueError(f"images and labels should have the same length. "
                         f"Received: {len(images)} images and {len(y_true)} labels")
    wrong = np.flatnonzero(y_true != y_pred)[:num_images]
    if len(wrong) == 0:
        print("No misclassified image.")

    def name(i):
        return class_names[i] if class_names is not None else str(i)
    axes = image_grid(len(wrong), ax=ax, size=1.6)
    for axis, index in zip(axes, wrong):
        show_image(axis, images[index], title=f"{name(y_true[index])}\n-> {name(y_pred[index])}")
    return axes
