"""Tests for course_lib.diagnostics.embeddings (NumPy; plots under Agg)."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from course_lib.diagnostics import embeddings as emb  # noqa: E402


def _blobs(n_per_class=10, seed=0):
    rng = np.random.default_rng(seed)
    centers = np.array([[0.0, 0.0, 0.0], [10.0, 0.0, 0.0], [0.0, 10.0, 0.0]])
    x = np.concatenate([c + rng.normal(size=(n_per_class, 3)) for c in centers])
    y = np.repeat(np.arange(3), n_per_class)
    return x, y


def test_nearest_neighbors_match_brute_force_and_skip_self():
    x = np.random.default_rng(1).normal(size=(30, 8))
    queries = [0, 5, 29]
    indices, distances = emb.find_nearest_neighbors(x, queries, k=4)
    assert indices.shape == distances.shape == (3, 4)
    for row, q in enumerate(queries):
        d = np.linalg.norm(x - x[q], axis=1)
        d[q] = np.inf
        expected = np.argsort(d, kind="stable")[:4]
        np.testing.assert_array_equal(indices[row], expected)
        np.testing.assert_allclose(distances[row], d[expected], rtol=1e-6)
        assert q not in indices[row]


def test_nearest_neighbors_errors():
    x = np.zeros((5, 2))
    with pytest.raises(ValueError, match=r"query_indices should be ints in \[0, 4\]"):
        emb.find_nearest_neighbors(x, [5], k=1)
    with pytest.raises(ValueError, match="k should be an int between 1 and 4"):
        emb.find_nearest_neighbors(x, [0], k=5)
    with pytest.raises(ValueError, match=r"embeddings should be a 2-D array \(n, num_features\)"):
        emb.find_nearest_neighbors(np.zeros(5), [0], k=1)


def test_nearest_neighbor_accuracy_on_blobs():
    x, y = _blobs()
    x_test, y_test = _blobs(seed=1)
    assert emb.nearest_neighbor_accuracy(x, y, x_test, y_test) == 1.0
    assert emb.nearest_neighbor_accuracy(x, y, x_test, (y_test + 1) % 3) == 0.0
    with pytest.raises(ValueError, match="one label per row"):
        emb.nearest_neighbor_accuracy(x, y[:-1], x_test, y_test)


def test_project_2d_finds_the_main_axes():
    rng = np.random.default_rng(2)
    x = np.zeros((200, 5))
    x[:, 3] = rng.normal(scale=10.0, size=200)       # the main direction of variance
    x[:, 1] = rng.normal(scale=1.0, size=200)
    points, explained = emb.project_2d(x)
    assert points.shape == (200, 2)
    # The first component follows feature 3 (up to sign and a tiny tilt from sampling noise).
    assert abs(np.corrcoef(points[:, 0], x[:, 3])[0, 1]) > 0.999
    assert abs(np.corrcoef(points[:, 1], x[:, 1])[0, 1]) > 0.99
    assert explained[0] > 0.95 and explained[0] + explained[1] == pytest.approx(1.0)


def test_plots_run_and_label(tmp_path):
    x, y = _blobs()
    ax = emb.plot_embedding_projection(x, y, class_names=["a", "b", "c"])
    assert "principal component 1" in ax.get_xlabel()
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["a", "b", "c"]
    with pytest.raises(ValueError, match=r"one label per embedding \(30\)"):
        emb.plot_embedding_projection(x, y[:3])
    images = np.random.default_rng(0).uniform(0, 255, (30, 8, 8, 3))
    neighbors, _ = emb.find_nearest_neighbors(x, [0, 12], k=3)
    axes = emb.plot_nearest_neighbors(images, neighbors, [0, 12], labels=y, class_names=["a", "b", "c"])
    assert axes.shape == (8,)
    assert axes[0].get_title() == "query: a" and axes[4].get_title() == "query: b"
    colors = [axis.title.get_color() for axis in axes]
    assert colors[0] == "black" and all(color == "black" for color in colors[1:4])   # blob neighbours share a class
    # A neighbour of another class gets a red title.
    red = emb.plot_nearest_neighbors(images, np.array([[10]]), [0], labels=y, class_names=["a", "b", "c"])
    assert [axis.get_title() for axis in red] == ["query: a", "b"] and red[1].title.get_color() == "red"
    _, own = plt.subplots(2, 4)
    assert list(emb.plot_nearest_neighbors(images, neighbors, [0, 12], ax=own)) == list(own.ravel())
    with pytest.raises(ValueError, match=r"ax should hold at least num_images=8 Axes"):
        emb.plot_nearest_neighbors(images, neighbors, [0, 12], ax=own[0])
    with pytest.raises(ValueError, match="one row per query"):
        emb.plot_nearest_neighbors(images, neighbors, [0], labels=y)
    plt.close("all")


def test_compute_embeddings_arrays_and_datasets():
    keras = pytest.importorskip("keras")
    import tensorflow as tf
    model = keras.Sequential([keras.Input((4, 4, 1)), keras.layers.Flatten(), keras.layers.Dense(3)])
    x = np.random.default_rng(0).normal(size=(6, 4, 4, 1)).astype("float32")
    features = emb.compute_embeddings(model, x, batch_size=4)
    assert features.shape == (6, 3) and features.dtype == np.float32
    dataset = tf.data.Dataset.from_tensor_slices((x, np.arange(6))).batch(4)
    np.testing.assert_allclose(emb.compute_embeddings(model, dataset), features, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match=r"images should be a batch \(n, height, width, channels\)"):
        emb.compute_embeddings(model, x[0])
