"""Tests for course_lib.models.prototypes: placement, the cosine loss, prediction, builders."""

import doctest

import keras
import numpy as np
import pytest
import tensorflow as tf

from course_lib.models import prototypes as prototypes_module
from course_lib.models.prototypes import (build_embedding_backbone, build_softmax_classifier,  # noqa: F401
                                          cosine_similarity, embedding_geometry, make_prototype_accuracy,
                                          make_prototype_loss, max_cosine, place_prototypes,
                                          predict_prototype_classes, prototype_loss, separation_loss)


def test_doctests():
    assert doctest.testmod(prototypes_module, raise_on_error=False).failed == 0


def tf_separation_loss(p):
    unit = p / tf.norm(p, axis=1, keepdims=True)
    cosines = unit @ tf.transpose(unit) - 2.0 * tf.eye(p.shape[0], dtype=p.dtype)
    return tf.reduce_mean(tf.reduce_max(cosines, axis=1))


def test_separation_loss_and_gradient_match_gradient_tape():
    rng = np.random.default_rng(0)
    for num_classes, dims in [(3, 2), (5, 4), (10, 6)]:
        p = rng.normal(size=(num_classes, dims)) * rng.uniform(0.5, 2.0, size=(num_classes, 1))
        variable = tf.Variable(p)
        with tf.GradientTape() as tape:
            expected = tf_separation_loss(variable)
        loss, gradient = separation_loss(p)
        np.testing.assert_allclose(loss, expected.numpy(), rtol=1e-12)
        np.testing.assert_allclose(gradient, tape.gradient(expected, variable).numpy(), atol=1e-12)
    with pytest.raises(ValueError, match="num_classes >= 2"):
        separation_loss(np.ones((1, 3)))


@pytest.mark.parametrize("num_classes, dims", [(4, 3), (10, 9), (10, 16), (3, 2)])
def test_place_prototypes_reaches_the_simplex(num_classes, dims):
    prototypes = place_prototypes(num_classes, dims, seed=1)
    assert prototypes.shape == (num_classes, dims) and prototypes.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(prototypes, axis=1), 1.0, atol=1e-6)
    optimum = -1.0 / (num_classes - 1)
    assert optimum - 1e-6 <= max_cosine(prototypes) < optimum + 0.02
    random = place_prototypes(num_classes, dims, steps=1, seed=1)
    assert max_cosine(random) > max_cosine(prototypes) + 0.05


def test_place_prototypes_is_seeded_and_checks_arguments():
    np.testing.assert_array_equal(place_prototypes(5, 4, steps=50, seed=3), place_prototypes(5, 4, steps=50, seed=3))
    with pytest.raises(ValueError, match=r"dims should be an int >= 2 \(e.g. dims=16\). On a line only two directions exist. Received: dims=1"):
        place_prototypes(5, 1)
    with pytest.raises(ValueError, match="num_classes should be an int >= 2"):
        place_prototypes(1, 4)
    with pytest.raises(ValueError, match="steps should be a positive int"):
        place_prototypes(3, 4, steps=0)
    # NumPy ints are ints (a count read from an array), bools are not
    assert place_prototypes(np.int64(3), np.int64(2), steps=5).shape == (3, 2)
    with pytest.raises(ValueError, match=r"num_classes should be an int >= 2 \(e.g. num_classes=10\). Received: num_classes=True"):
        place_prototypes(True, 4)


def test_prototype_loss_closed_forms_and_scale_invariance():
    prototypes = np.array([[1.0, 0.0], [0.0, 1.0]])
    # cos = 1 -> 0; cos = 0 -> 1; cos = -1 -> 4; cos = 1/sqrt(2) -> (1 - 0.7071)^2
    assert float(prototype_loss([[3.0, 0.0]], prototypes, [0])) == pytest.approx(0.0, abs=1e-7)
    assert float(prototype_loss([[3.0, 0.0]], prototypes, [1])) == pytest.approx(1.0)
    assert float(prototype_loss([[-0.1, 0.0]], prototypes, [0])) == pytest.approx(4.0)
    assert float(prototype_loss([[1.0, 1.0]], prototypes, [1])) == pytest.approx((1 - 0.5 ** 0.5) ** 2)
    rng = np.random.default_rng(0)
    z, labels, p = rng.normal(size=(6, 4)), rng.integers(0, 3, 6), rng.normal(size=(3, 4))
    unit_z, unit_p = z / np.linalg.norm(z, axis=1, keepdims=True), p / np.linalg.norm(p, axis=1, keepdims=True)
    expected = np.mean((1 - np.sum(unit_z * unit_p[labels], axis=1)) ** 2)
    assert float(prototype_loss(z, p, labels)) == pytest.approx(expected, rel=1e-5)
    assert float(prototype_loss(7 * z, p, labels[:, None])) == pytest.approx(expected, rel=1e-5)


def test_prototype_loss_gradient_is_tangent_to_the_embedding():
    z = tf.Variable([[2.0, 1.0, -1.0]])
    with tf.GradientTape() as tape:
        loss = prototype_loss(z, np.eye(3), [0])
    gradient = tape.gradient(loss, z).numpy()
    assert abs(float(gradient @ z.numpy().T)) < 1e-5          # the loss ignores the length of z
    assert np.linalg.norm(gradient) > 0.01


def test_prediction_accuracy_metric_and_cosines():
    prototypes = place_prototypes(3, 2, seed=0)
    embeddings = 5.0 * prototypes[[2, 0, 1, 1]]
    np.testing.assert_array_equal(predict_prototype_classes(embeddings, prototypes), [2, 0, 1, 1])
    accuracy = make_prototype_accuracy(prototypes)(np.array([2, 0, 1, 0]), embeddings)
    assert float(accuracy) == pytest.approx(0.75)
    np.testing.assert_allclose(np.diag(np.asarray(cosine_similarity(prototypes, prototypes))), 1.0, atol=1e-6)


def test_backbone_trains_with_the_prototype_loss():
    keras.utils.set_random_seed(0)
    prototypes = place_prototypes(3, 4, seed=0)
    backbone = build_embedding_backbone(input_shape=(8, 8, 1), embedding_dim=4, filters=(4,))
    assert backbone.output.shape == (None, 4)
    backbone.compile(optimizer=keras.optimizers.Adam(1e-2), loss=make_prototype_loss(prototypes),
                     metrics=[make_prototype_accuracy(prototypes)])
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 96)
    images = (rng.random((96, 8, 8, 1)) * 0.2 + labels[:, None, None, None] / 3.0).astype("float32")
    history = backbone.fit(images, labels, epochs=8, batch_size=32, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert history.history["prototype_accuracy"][-1] > 0.9
    softmax = build_softmax_classifier(backbone, 3)
    assert softmax.output.shape == (None, 3) and softmax.count_params() == backbone.count_params() + 4 * 3 + 3


@pytest.mark.parametrize("kwargs, match", [
    (dict(filters=32), r"filters should be a non-empty tuple of positive ints, e.g. filters=\(32, 64\). Received: filters=32"),
    (dict(embedding_dim=0), r"embedding_dim should be a positive int \(e.g. embedding_dim=16\). Received: embedding_dim=0"),
    (dict(input_shape=(28, 28)), r"input_shape should be \(height, width, channels\)"),
])
def test_backbone_rejects(kwargs, match):
    with pytest.raises(ValueError, match=match):
        build_embedding_backbone(**kwargs)


def test_embedding_geometry_on_a_constructed_embedding():
    directions = np.eye(3)
    labels = np.array([0, 0, 1, 2])
    embeddings = np.array([[1.0, 0.0, 0.0], [3.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 1.0, 1.0]])
    geometry = embedding_geometry(embeddings, labels, directions)
    assert geometry["cosine to own class"] == pytest.approx((1 + 1 + 1 + 0.5 ** 0.5) / 4, rel=1e-6)
    assert geometry["largest cosine between classes"] == pytest.approx(0.0)
    norms = np.array([1.0, 3.0, 2.0, 2 ** 0.5])
    assert geometry["norm spread"] == pytest.approx(norms.std() / norms.mean())
    assert embedding_geometry(embeddings, labels)["cosine to own class"] > 0.9
