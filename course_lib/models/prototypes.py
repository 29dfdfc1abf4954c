"""Hyperspherical prototype networks (Mettes, van der Pol, Snoek, NeurIPS 2019).

Before training, place one unit vector per class on the hypersphere, as far apart from each
other as possible; then train a network to point each image's embedding at its class's
prototype, and predict the class whose prototype has the highest cosine:

    prototypes = place_prototypes(num_classes=10, dims=16)       # (10, 16), fixed, unit rows
    backbone = build_embedding_backbone(embedding_dim=16)         # image -> 16 numbers, linear output
    backbone.compile(optimizer="adam", loss=make_prototype_loss(prototypes))
    backbone.fit(x, y, epochs=10)                                 # y: class ids
    predict_prototype_classes(backbone.predict(x_test), prototypes)

The loss of one example is (1 - cos(z, p_y))^2: zero when the embedding points at its
prototype, whatever its length.
"""


import keras
import numpy as np
from keras import layers, ops

from course_lib._validation import check_input_shape, check_int, check_ints, check_num_classes


def _normalize(x, axis=-1):
    return x / np.linalg.norm(x, axis=axis, keepdims=True)


# --------------------------------------------------------------------------- placement

def separation_loss(prototypes):
    """Mettes et al.'s separation loss and its gradient: the mean over classes of the largest cosine to another class.

    Args:
        prototypes: array (num_classes, dims), any lengths (the rows are normalised first).

    Returns:
        `(loss, gradient)`: a float and an array shaped like `prototypes`, the gradient of
        the loss through the normalisation (checked against `tf.GradientTape` in the tests).
    """
    prototypes = np.asarray(prototypes, dtype="float64")
    if prototypes.ndim != 2 or len(prototypes) < 2:
        raise ValueError(f"prototypes should have shape (num_classes >= 2, dims). Received: shape {prototypes.shape}")
    norms = np.linalg.norm(prototypes, axis=1, keepdims=True)
    unit = prototypes / norms
    cosines = unit @ unit.T - 2.0 * np.eye(len(unit))      # -2 on the diagonal: never the largest
    nearest = cosines.argmax(axis=1)
    num_classes = len(unit)
    loss = float(cosines[np.arange(num_classes), nearest].mean())
    grad_unit = np.zeros_like(unit)
    grad_unit += unit[nearest] / num_classes               # d cos(u_i, u_j) / d u_i = u_j
    np.add.at(grad_unit, nearest, unit / num_classes)     # ... and / d u_j = u_i
    # through u = p / |p|: du/dp = (I - u u^T) / |p|
    gradient = (grad_unit - unit * np.sum(grad_unit * unit, axis=1, keepdims=True)) / norms
    return loss, gradient


def place_prototypes(num_classes, dims, steps=1000, learning_rate=0.01, momentum=0.9, seed=0):
    """Places `num_classes` unit vectors in `dims` dimensions, as far apart as possible, before any training.

    Minimises `separation_loss` (the mean largest cosine between a prototype and the others)
    by gradient descent with momentum from random directions, renormalising after each step.
    When num_classes <= dims + 1 the optimum is a regular simplex, where every pair has cosine
    -1 / (num_classes - 1); with more classes than that, the largest cosine stays above it.
    The loss is not smooth (a max), so the descent ends within about 0.01 of the optimum; and
    two prototypes that start almost on top of each other separate slowly (the cosine is flat
    at angle 0), which matters only in very few dimensions.

    Returns:
        An array (num_classes, dims) of unit rows (float32).

    Example:

    >>> prototypes = place_prototypes(4, 3)              # a regular tetrahedron
    >>> bool(-0.34 < max_cosine(prototypes) < -0.31)     # the optimum is -1/3
    True
    """
    num_classes = check_num_classes(num_classes)
    dims = check_int(dims, "dims", minimum=2, example=16, hint="On a line only two directions exist.")
    steps = check_int(steps, "steps", example=1000)
    prototypes = _normalize(np.random.default_rng(seed).standard_normal((num_classes, dims)))
    velocity = np.zeros_like(prototypes)
    for _ in range(steps):
        _, gradient = separation_loss(prototypes)
        velocity = momentum * velocity - learning_rate * gradient
        prototypes = _normalize(prototypes + velocity)
    return prototypes.astype("float32")


def max_cosine(prototypes):
    """Returns the largest cosine between two different rows of `prototypes`."""
    unit = _normalize(np.asarray(prototypes, dtype="float64"))
    cosines = unit @ unit.T - 2.0 * np.eye(len(unit))
    return float(cosines.max())


# --------------------------------------------------------------------------- loss and prediction

def cosine_similarity(embeddings, prototypes):
    """Cosines between every embedding (n, dims) and every prototype (k, dims): array (n, k)."""
    embeddings = ops.convert_to_tensor(embeddings, dtype="float32")
    prototypes = ops.convert_to_tensor(prototypes, dtype="float32")
    embeddings = embeddings / ops.maximum(ops.norm(embeddings, axis=-1, keepdims=True), 1e-12)
    prototypes = prototypes / ops.maximum(ops.norm(prototypes, axis=-1, keepdims=True), 1e-12)
    return ops.matmul(embeddings, ops.transpose(prototypes))


def prototype_loss(embeddings, prototypes, labels):
    """Mean over the batch of (1 - cos(z, p_y))^2, with z the embedding and p_y its class's prototype.

    Example:

    >>> prototypes = np.array([[1.0, 0.0], [0.0, 1.0]])
    >>> float(prototype_loss(np.array([[5.0, 0.0], [0.0, -1.0]]), prototypes, np.array([0, 1])))  # (0 + 4) / 2
    2.0
    """
    labels = ops.reshape(ops.cast(labels, "int32"), (-1,))
    cosines = cosine_similarity(embeddings, prototypes)
    own = ops.take_along_axis(cosines, ops.expand_dims(labels, 1), axis=1)[:, 0]
    return ops.mean(ops.square(1.0 - own))


def make_prototype_loss(prototypes):
    """Returns a Keras loss `loss(y_true, y_pred)`: `prototype_loss(y_pred, prototypes, y_true)`, y_true class ids."""
    prototypes = np.asarray(prototypes, dtype="float32")

    def hyperspherical_loss(y_true, y_pred):
        return prototype_loss(y_pred, prototypes, y_true)

    return hyperspherical_loss


def make_prototype_accuracy(prototypes):
    """Returns a Keras metric: the fraction of embeddings whose nearest prototype (by cosine) is their class's."""
    prototypes = np.asarray(prototypes, dtype="float32")

    def prototype_accuracy(y_true, y_pred):
        predicted = ops.argmax(cosine_similarity(y_pred, prototypes), axis=-1)
        labels = ops.reshape(ops.cast(y_true, "int32"), (-1,))
        return ops.mean(ops.cast(ops.equal(ops.cast(predicted, "int32"), labels), "float32"))

    return prototype_accuracy


def predict_prototype_classes(embeddings, prototypes):
    """Returns the class of the prototype with the highest cosine to each embedding, int array (n,)."""
    return np.asarray(ops.argmax(cosine_similarity(embeddings, prototypes), axis=-1)).astype("int64")


# --------------------------------------------------------------------------- models

def build_embedding_backbone(input_shape=(28, 28, 1), embedding_dim=16, filters=(32, 64), name="backbone"):
    """A small CNN from images in [0, 1] to `embedding_dim` numbers (linear output).

    [3x3 conv-ReLU, 2x2 max pool] per entry of `filters`, flatten, dense 128 ReLU, dense
    `embedding_dim`. Used as is with the prototype loss, or under a softmax layer.
    """
    input_shape = check_input_shape(input_shape)
    embedding_dim = check_int(embedding_dim, "embedding_dim", example=16)
    filters = check_ints(filters, "filters", example=(32, 64))
    inputs = keras.Input(input_shape, name="image")
    x = inputs
    for i, f in enumerate(filters, start=1):
        x = layers.Conv2D(f, 3, padding="same", activation="relu", name=f"conv{i}")(x)
        x = layers.MaxPooling2D(2, name=f"pool{i}")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(128, activation="relu", name="hidden")(x)
    return keras.Model(inputs, layers.Dense(embedding_dim, name="embedding")(x), name=name)


def build_softmax_classifier(backbone, num_classes):
    """The backbone under a dense softmax layer: the usual classifier, for comparison."""
    num_classes = check_num_classes(num_classes)
    outputs = layers.Dense(num_classes, activation="softmax", name="probabilities")(backbone.output)
    return keras.Model(backbone.input, outputs, name="softmax_classifier")


def embedding_geometry(embeddings, labels, directions=None):
    """Summarises the shape of an embedding: how well each class points one way, and how long the vectors are.

    Args:
        embeddings: array (n, dims).
        labels: class ids (n,).
        directions: one direction per class (num_classes, dims), e.g. the prototypes; by
            default the normalised class means of `embeddings`.

    Returns:
        A dict: "cosine to own class" (mean cosine between an embedding and its class's
        direction), "largest cosine between classes" (between two class directions) and
        "norm spread" (standard deviation / mean of the embedding lengths).
    """
    embeddings = np.asarray(embeddings, dtype="float64")
    labels = np.asarray(labels).astype(int)
    if directions is None:
        directions = np.stack([embeddings[labels == k].mean(axis=0) for k in range(labels.max() + 1)])
    cosines = np.asarray(cosine_similarity(embeddings, directions))
    norms = np.linalg.norm(embeddings, axis=1)
    return {"cosine to own class": float(cosines[np.arange(len(labels)), labels].mean()),
            "largest cosine between classes": max_cosine(directions),
            "norm spread": float(norms.std() / norms.mean())}
