"""Deep features: embed images, find their nearest neighbours, project them to 2-D.

Nearest neighbours in L2 distance in feature space, for any backbone:

    extractor = make_feature_extractor(base_model)          # course_lib.models.transfer
    features = compute_embeddings(extractor, x_test)        # (n, 1280) for MobileNetV2
    neighbors, distances = find_nearest_neighbors(features, query_indices=[0, 7, 42], k=5)
    plot_nearest_neighbors(x_test, neighbors, [0, 7, 42], labels=y_test, class_names=names)
    plot_embedding_projection(features, y_test, class_names=names)
    plt.show()

Everything after `compute_embeddings` is NumPy (PCA by SVD), so it also runs on
raw pixels (`images.reshape(len(images), -1)`) for comparison.
"""

import numpy as np

from course_lib._validation import is_int
from course_lib.image_grid import image_grid, show_image


def compute_embeddings(model, images, batch_size=256):
    """Runs `model` over `images` and returns one flat feature vector per image.

    Args:
        model: a Keras model (e.g. `make_feature_extractor(base_model)`).
        images: NumPy array `(n, height, width, channels)` or a tf.data dataset
            of images or of (images, labels) batches.
        batch_size: int, used for arrays.

    Returns:
        float32 array `(n, num_features)`.
    """
    if isinstance(images, np.ndarray):
        if images.ndim != 4:
            raise ValueError(
                "images should be a batch (n, height, width, channels), e.g. x_test[:500]. "
                f"Received: shape {images.shape}")
        features = model.predict(images, batch_size=batch_size, verbose=0)
    else:
        dataset = images
        spec = getattr(dataset, "element_spec", None)
        if isinstance(spec, tuple):
            dataset = dataset.map(lambda x, *rest: x)
        features = model.predict(dataset, verbose=0)
    features = np.asarray(features, dtype="float32")
    return features.reshape(len(features), -1)


def _check_embeddings(embeddings):
    embeddings = np.asarray(embeddings, dtype="float64")
    if embeddings.ndim != 2 or len(embeddings) < 2:
        raise ValueError(
            "embeddings should be a 2-D array (n, num_features) with n >= 2, as "
            f"compute_embeddings returns. Received: shape {embeddings.shape}")
    return embeddings


def find_nearest_neighbors(embeddings, query_indices, k=5):
    """Returns the `k` nearest neighbours (L2 distance) of some rows among all the others.

    Args:
        embeddings: `(n, num_features)` array.
        query_indices: ints, rows of `embeddings` to query; a query is never its own neighbour.
        k: int in [1, n - 1].

    Returns:
        `(indices, distances)`, both `(len(query_indices), k)`, nearest first.

    Example:

    >>> find_nearest_neighbors(np.array([[0.0], [1.0], [5.0]]), [0], k=1)
    (array([[1]]), array([[1.]]))
    """
    embeddings = _check_embeddings(embeddings)
    n = len(embeddings)
    query_indices = np.asarray(query_indices).reshape(-1)
    if query_indices.size == 0 or not np.issubdtype(query_indices.dtype, np.integer) or (
            query_indices.min() < 0 or query_indices.max() >= n):
        raise ValueError(
            f"query_indices should be ints in [0, {n - 1}] (rows of embeddings). "
            f"Received: query_indices={query_indices.tolist()!r}")
    if not is_int(k) or not 1 <= k <= n - 1:
        raise ValueError(f"k should be an int between 1 and {n - 1}. Received: k={k!r}")
    queries = embeddings[query_indices]
    squared = (np.sum(queries ** 2, axis=1)[:, None] - 2.0 * queries @ embeddings.T
               + np.sum(embeddings ** 2, axis=1)[None, :])
    squared[np.arange(len(query_indices)), query_indices] = np.inf   # not its own neighbour
    order = np.argsort(squared, axis=1, kind="stable")[:, :k]
    distances = np.sqrt(np.maximum(np.take_along_axis(squared, order, axis=1), 0.0))
    return order, distances


def nearest_neighbor_accuracy(train_embeddings, train_labels, test_embeddings, test_labels):
    """Accuracy of 1-nearest-neighbour classification in feature space (a quick feature-quality score).

    Returns:
        float in [0, 1].
    """
    train_embeddings = _check_embeddings(train_embeddings)
    test_embeddings = np.asarray(test_embeddings, dtype="float64")
    train_labels = np.asarray(train_labels).reshape(-1)
    test_labels = np.asarray(test_labels).reshape(-1)
    if (len(train_labels) != len(train_embeddings) or len(test_labels) != len(test_embeddings)
            or test_embeddings.ndim != 2 or test_embeddings.shape[1] != train_embeddings.shape[1]):
        raise ValueError(
            "Each embeddings array needs one label per row and both the same number of features. "
            f"Received: train {train_embeddings.shape} with {len(train_labels)} labels, "
            f"test {test_embeddings.shape} with {len(test_labels)} labels")
    squared = (np.sum(test_embeddings ** 2, axis=1)[:, None] - 2.0 * test_embeddings @ train_embeddings.T
               + np.sum(train_embeddings ** 2, axis=1)[None, :])
    predicted = train_labels[np.argmin(squared, axis=1)]
    return float(np.mean(predicted == test_labels))


def project_2d(embeddings):
    """Projects embeddings onto their first two principal components (PCA by SVD, NumPy only).

    Returns:
        `(points, explained)`: points `(n, 2)`, and the fraction of the variance
        each of the two components explains.
    """
    embeddings = _check_embeddings(embeddings)
    centered = embeddings - embeddings.mean(axis=0)
    _, singular_values, components = np.linalg.svd(centered, full_matrices=False)
    variance = singular_values ** 2
    explained = variance[:2] / max(variance.sum(), 1e-12)
    points = centered @ components[:2].T
    if points.shape[1] < 2:   # a single feature: pad a zero axis
        points = np.pad(points, ((0, 0), (0, 2 - points.shape[1])))
        explained = np.pad(explained, (0, 2 - len(explained)))
    return points.astype("float32"), explained


def plot_embedding_projection(embeddings, labels, class_names=None, ax=None):
    """Scatters the 2-D PCA projection of the embeddings, one colour per class.

    Well-separated clusters mean a linear classifier on these features will do well.

    Args:
        embeddings: `(n, num_features)` array.
        labels: `(n,)` int labels.
        class_names: names for the legend, or None for the label numbers.
        ax: a matplotlib Axes or None for a new figure.

    Returns:
        The Axes.
    """
    embeddings = _check_embeddings(embeddings)
    labels = np.asarray(labels).reshape(-1)
    if len(labels) != len(embeddings):
        raise ValueError(
            f"labels should hold one label per embedding ({len(embeddings)}). "
            f"Received: {len(labels)} labels")
    import matplotlib.pyplot as plt
    points, explained = project_2d(embeddings)
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 5))
    for label in np.unique(labels):
        mask = labels == label
        name = class_names[int(label)] if class_names is not None else str(label)
        ax.scatter(points[mask, 0], points[mask, 1], s=10, alpha=0.7, label=name)
    ax.set_xlabel(f"principal component 1 ({explained[0]:.0%} of variance)")
    ax.set_ylabel(f"principal component 2 ({explained[1]:.0%} of variance)")
    ax.set_title("Embeddings projected to 2-D (PCA)")
    ax.legend(fontsize="small", markerscale=2)
    return ax


def plot_nearest_neighbors(images, neighbor_indices, query_indices, labels=None, class_names=None, ax=None):
    """Draws each query image followed by its nearest neighbours, one row per query.

    A neighbour whose label differs from the query's gets a red title.

    Args:
        images: `(n, height, width)` or `(n, height, width, channels)` array,
            pixels in [0, 255] or [0, 1].
        neighbor_indices: `(num_queries, k)` from `find_nearest_neighbors`.
        query_indices: the `num_queries` query rows.
        labels: optional `(n,)` int labels, shown as titles.
        class_names: optional names for the labels.
        ax: None for a new figure, or at least `num_queries * (k + 1)` Axes.

    Returns:
        A 1-D array of `num_queries * (k + 1)` Axes (`course_lib.image_grid`), row by
        row: `axes[row * (k + 1)]` shows query `row`, the next `k` its neighbours.
    """
    images = np.asarray(images)
    neighbor_indices = np.asarray(neighbor_indices)
    query_indices = np.asarray(query_indices).reshape(-1)
    if neighbor_indices.ndim != 2 or len(neighbor_indices) != len(query_indices):
        raise ValueError(
            "neighbor_indices should be (num_queries, k) with one row per query, as "
            f"find_nearest_neighbors returns. Received: shape {neighbor_indices.shape} "
            f"for {len(query_indices)} queries")
    rows, k = neighbor_indices.shape
    axes = image_grid(rows * (k + 1), num_columns=k + 1, ax=ax, size=1.3)
    images = images.astype("float32") / (255.0 if images.max() > 1.0 else 1.0)   # one scale for all panels

    def name(index):
        if labels is None:
            return f"#{index}"
        label = int(labels[index])
        return class_names[label] if class_names is not None else str(label)

    for row, (query, neighbors) in enumerate(zip(query_indices, neighbor_indices)):
        show_image(axes[row * (k + 1)], images[query], "query: " + name(query))
        for col, neighbor in enumerate(neighbors, start=1):
            axis = show_image(axes[row * (k + 1) + col], images[neighbor], name(neighbor))
            if labels is not None and int(labels[neighbor]) != int(labels[query]):
                axis.title.set_color("red")
    return axes
