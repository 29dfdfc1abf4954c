"""Plots and tables for object detection: boxes on images, NMS before/after, precision-recall, AP per class.

    plot_detections(images, ground_truths, detections, class_names=scenes.class_names, num_images=4)
    plot_nms(boxes, scores, keep)
    plot_precision_recall(detections, ground_truths, class_names)
    print(map_table(mean_average_precision(detections, ground_truths), class_names))

Boxes are "xyxy" `(x_min, y_min, x_max, y_max)` in pixels. Each plot takes `ax=None` and
returns what it drew on: one Axes for a single panel, the 1-D array of `course_lib.image_grid`
for several.
"""

import numpy as np

from course_lib._validation import check_int
from course_lib.image_grid import image_grid, show_image
from course_lib.metrics.detection import average_precision, precision_recall_curve


def _color(class_id):
    import matplotlib.pyplot as plt
    return plt.get_cmap("tab10").colors[(int(class_id) - 1) % 10]


def _name(class_id, class_names):
    return class_names[int(class_id)] if class_names is not None else f"class {int(class_id)}"


def plot_boxes(image, boxes, labels=None, scores=None, class_names=None, ax=None, linestyle="-", color=None):
    """Draws boxes (with their class name and score) on an image.

    Args:
        image: `(height, width)` or `(height, width, channels)` pixels in [0, 255] (or None).
        boxes: `(n, 4)` "xyxy" boxes in pixels.
        labels: `(n,)` class ids (colours and names), or None.
        scores: `(n,)` scores printed after the name, or None.
        class_names: names indexed by class id (background first), or None.
        ax: Axes to draw on, or None for a new figure.
        linestyle, color: of the rectangles (default: one colour per class).

    Returns:
        The Axes.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle
    boxes = np.asarray(boxes, dtype="float64").reshape(-1, 4)
    if ax is None:
        _, ax = plt.subplots(figsize=(3, 3))
    if image is not None:
        show_image(ax, image)
    for i, (x1, y1, x2, y2) in enumerate(boxes):
        label = None if labels is None else int(np.asarray(labels)[i])
        edge = color if color is not None else (_color(label) if label is not None else "yellow")
        ax.add_patch(Rectangle((x1 - 0.5, y1 - 0.5), x2 - x1, y2 - y1, fill=False, edgecolor=edge, lw=1.5,
                               linestyle=linestyle))
        text = [] if label is None else [_name(label, class_names)]
        if scores is not None:
            text.append(f"{float(np.asarray(scores)[i]):.2f}")
        if text:
            ax.text(x1 - 0.5, y1 - 1, " ".join(text), color="white", fontsize=7, va="bottom",
                    bbox={"facecolor": edge, "alpha": 0.7, "pad": 1, "lw": 0})
    ax.set_xticks([])
    ax.set_yticks([])
    return ax


def plot_detections(images, ground_truths, detections=None, class_names=None, num_images=4, ax=None):
    """Ground truth (dashed) and predictions (solid, with scores) on the first images, one panel each.

    Args:
        images: `(n, height, width, channels)`.
        ground_truths: list of dicts `{"boxes", "labels"}` (e.g. `scenes.ground_truths()`).
        detections: list of dicts `{"boxes", "labels", "scores"}` (from `detect`), or None.
        class_names: names indexed by class id, background first.
        num_images: panels to draw (at most `len(images)`).
        ax: None for a new figure, or at least `num_images` Axes.

    Returns:
        The 1-D array of Axes of `image_grid`, one per image.
    """
    num_images = min(check_int(num_images, "num_images", example=4), len(images))
    axes = image_grid(num_images, ax=ax, size=2.6)
    for i, axis in enumerate(axes):
        gt = ground_truths[i]
        plot_boxes(images[i], gt["boxes"], gt["labels"], class_names=None, ax=axis, linestyle="--")
        title = f"{len(gt['boxes'])} objects"
        if detections is not None:
            det = detections[i]
            plot_boxes(None, det["boxes"], det["labels"], det["scores"], class_names, ax=axis)
            title += f", {len(det['boxes'])} found"
        axis.set_title(title, fontsize=8)
    return axes


def plot_nms(boxes, scores, keep, image=None, ax=None):
    """Two panels: every candidate box with its score, then the boxes NMS kept.

    Args:
        boxes: `(n, 4)` candidates; scores: `(n,)`; keep: indices kept (`non_max_suppression`).
        image: optional background image.
        ax: None for a new figure, or two Axes.

    Returns:
        The 1-D array of the two Axes (`image_grid`).
    """
    boxes, scores = np.asarray(boxes, dtype="float64"), np.asarray(scores, dtype="float64")
    keep = np.asarray(keep, dtype="int64")
    axes = image_grid(2, ax=ax, size=3.5)
    extent = boxes.max() + 5 if image is None else None
    for axis, chosen, title in ((axes[0], np.arange(len(boxes)), f"before NMS: {len(boxes)} boxes"),
                                (axes[1], keep, f"after NMS: {len(keep)} kept")):
        plot_boxes(image, boxes[chosen], scores=scores[chosen], ax=axis, color="tab:red")
        if extent is not None:
            axis.set_xlim(0, extent)
            axis.set_ylim(extent, 0)
            axis.set_aspect("equal")
        axis.set_title(title, fontsize=9)
    return axes


def plot_precision_recall(detections, ground_truths, class_names=None, iou_threshold=0.5, ax=None):
    """Precision against recall for each class present in the ground truth, AP in the legend.

    Returns:
        The Axes.
    """
    import matplotlib.pyplot as plt
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3.8))
    classes = sorted({int(c) for gt in ground_truths for c in np.asarray(gt["labels"]).reshape(-1)})
    for class_id in classes:
        recall, precision, _ = precision_recall_curve(detections, ground_truths, class_id, iou_threshold)
        ap = average_precision(recall, precision)
        ax.step(np.concatenate([[0], recall]), np.concatenate([[1], precision]), where="post",
                color=_color(class_id), label=f"{_name(class_id, class_names)} (AP {ap:.2f})")
    ax.set_xlim(0, 1.02)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("recall (share of objects found)")
    ax.set_ylabel("precision (share of detections right)")
    ax.set_title(f"Precision-recall at IoU >= {iou_threshold}")
    ax.legend(fontsize=8, loc="lower left")
    return ax


def map_table(results, class_names=None):
    """Formats the results of `mean_average_precision` (or a dict of them, one per model) as a table.

    Args:
        results: `{"map": ..., "per_class": {id: AP}}`, or `{model name: such a dict}`.
        class_names: names indexed by class id.

    Returns:
        A string: one row per class, one column per model, and the mean on the last row.

    Example:

    >>> print(map_table({"map": 0.75, "per_class": {1: 0.5, 2: 1.0}}, ["background", "cat", "dog"]))
    class     AP@0.5
    cat        0.500
    dog        1.000
    mean       0.750
    """
    if "map" in results:
        results = {"AP@0.5": results}
    names = list(results)
    classes = sorted({c for r in results.values() for c in r["per_class"]})
    labels = [_name(c, class_names) for c in classes] + ["mean"]
    width = max(len(label) for label in labels) + 2
    columns = [max(len(n), 6) + 2 for n in names]
    lines = ["class".ljust(width) + "".join(n.rjust(w) for n, w in zip(names, columns))]
    for c, label in zip(classes, labels):
        lines.append(label.ljust(width) + "".join(
            (f"{results[n]['per_class'][c]:.3f}" if c in results[n]["per_class"] else "-").rjust(w)
            for n, w in zip(names, columns)))
    lines.append("mean".ljust(width) + "".join(f"{results[n]['map']:.3f}".rjust(w) for n, w in zip(names, columns)))
    return "\n".join(lines)


__all__ = ["plot_boxes", "plot_detections", "plot_nms", "plot_precision_recall", "map_table"]
