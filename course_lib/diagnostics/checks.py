"""Sanity checks to run before a long training run (the lecture's checklist).

1. `check_initial_loss`: with small random weights, the softmax is nearly uniform,
   so the cross-entropy starts at ln(num_classes) (2.30 for 10 classes).
2. `overfit_small_batch`: a network that works can memorise a few examples;
   the loss must fall to near zero. If not, something is broken (labels, loss,
   learning rate), and training on everything will not fix it.
3. `check_regularization_loss`: raising the L2 factor must raise the initial loss.

Each prints one line with the number, the expectation and the verdict, and
returns the number(s), so a notebook can also assert on them.
"""

import math

import numpy as np

from course_lib._validation import check_int, check_num_classes


def _first_batches(dataset, max_examples):
    """Returns (x, y) NumPy arrays with at most `max_examples` from a tf.data dataset or an (x, y) tuple."""
    if isinstance(dataset, (tuple, list)) and len(dataset) == 2:
        x, y = dataset
        return np.asarray(x)[:max_examples], np.asarray(y)[:max_examples]
    if not hasattr(dataset, "as_numpy_iterator"):
        raise ValueError(
            "dataset should be a tf.data.Dataset of (images, labels) batches (e.g. from "
            "load_image_folder) or a tuple (x, y) of arrays. "
            f"Received: dataset of type {type(dataset).__name__}")
    xs, ys, total = [], [], 0
    for element in dataset.as_numpy_iterator():
        if not isinstance(element, tuple) or len(element) < 2:
            raise ValueError("dataset should yield (images, labels) pairs. "
                             f"Received: elements of type {type(element).__name__}")
        x, y = element[0], element[1]
        if np.ndim(y) == 0:  # unbatched dataset
            x, y = x[None], np.asarray(y)[None]
        xs.append(x)
        ys.append(y)
        total += len(y)
        if total >= max_examples:
            break
    if not xs:
        raise ValueError("dataset is empty: it yielded no (images, labels) batch.")
    return np.concatenate(xs)[:max_examples], np.concatenate(ys)[:max_examples]


def _labels_as_int(y):
    y = np.asarray(y)
    return y.argmax(axis=-1) if y.ndim == 2 else y.astype("int64").reshape(-1)


def _cross_entropy(outputs, labels):
    outputs = np.asarray(outputs, dtype="float64")
    is_prob = np.all(outputs >= 0) and np.allclose(outputs.sum(axis=-1), 1.0, atol=1e-3)
    if is_prob:
        probs = np.clip(outputs, 1e-12, 1.0)
        log_probs = np.log(probs)
    else:  # logits
        shifted = outputs - outputs.max(axis=-1, keepdims=True)
        log_probs = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    return float(-log_probs[np.arange(len(labels)), labels].mean())


def check_initial_loss(model, dataset, num_classes, max_examples=512, tolerance=0.25, verbose=True):
    """Compares the untrained model's cross-entropy with ln(num_classes).

    The data loss is computed from the model's outputs (softmax probabilities
    or logits, detected automatically), without the regularisation terms, on
    up to `max_examples` examples.

    Args:
        model: an untrained Keras model with `num_classes` outputs.
        dataset: a tf.data dataset of (images, labels) batches, or a tuple (x, y);
            labels are ints or one-hot vectors.
        num_classes: int, the number of classes.
        max_examples: int, examples to average over.
        tolerance: float, allowed relative deviation from ln(num_classes).
        verbose: bool, print the one-line verdict.

    Returns:
        The initial loss (float).

    Raises:
        ValueError: bad `num_classes` or `dataset`, or the model has the wrong number of outputs.

    Example:

    >>> check_initial_loss(build_toy_cnn(), (x_train, y_train), num_classes=10)
    Initial loss 2.303, expected ln(10) = 2.303: OK
    """
    num_classes = check_num_classes(num_classes)
    max_examples = check_int(max_examples, "max_examples", example=512)
    x, y = _first_batches(dataset, max_examples)
    outputs = np.asarray(model.predict(x, verbose=0, batch_size=128))
    if outputs.ndim != 2 or outputs.shape[1] != num_classes:
        raise ValueError(
            f"The model should output one score per class, shape (batch, {num_classes}). "
            f"Received: outputs of shape {outputs.shape}")
    loss = _cross_entropy(outputs, _labels_as_int(y))
    expected = math.log(num_classes)
    if verbose:
        if abs(loss - expected) <= tolerance * expected:
            verdict = "OK"
        elif loss > expected:
            verdict = ("TOO HIGH: the initial weights are too large or the outputs already "
                       "confident; check the initialisation and that inputs are scaled to [0, 1]")
        else:
            verdict = "TOO LOW: the model is not untrained, or the labels leak into the inputs"
        print(f"Initial loss {loss:.3f}, expected ln({num_classes}) = {expected:.3f}: {verdict}")
    return loss


def overfit_small_batch(model, dataset, epochs=50, num_examples=32, verbose=True):
    """Trains a compiled model on a handful of examples; the loss should reach near zero.

    The model is trained in place: pass a fresh copy, not the model you want to
    train on everything. Dropout and data augmentation slow this down; if the
    loss does not fall below 0.1 in `epochs` epochs, check the labels, the
    loss function and the learning rate first.

    Args:
        model: a compiled Keras model.
        dataset: a tf.data dataset of (images, labels) batches, or a tuple (x, y).
        epochs: int, full-batch training steps on the small set.
        num_examples: int, the size of the small set.
        verbose: bool, print the one-line verdict.

    Returns:
        The final training loss (float).

    Raises:
        ValueError: the model is not compiled, or bad arguments.
    """
    epochs = check_int(epochs, "epochs", example=50)
    num_examples = check_int(num_examples, "num_examples", example=32)
    if getattr(model, "optimizer", None) is None or not getattr(model, "compiled", True):
        raise ValueError(
            "model should be compiled first, e.g. model.compile(optimizer='adam', "
            "loss='sparse_categorical_crossentropy'). Received: an uncompiled model")
    x, y = _first_batches(dataset, num_examples)
    history = model.fit(x, y, batch_size=len(x), epochs=epochs, verbose=0, shuffle=False)
    losses = history.history["loss"]
    final = float(losses[-1])
    if verbose:
        verdict = ("OK: the model can memorise a small set" if final < 0.1 else
                   "NOT NEAR ZERO: check labels, loss and learning rate before training on everything")
        print(f"Loss on {len(x)} examples: {losses[0]:.3f} -> {final:.4f} after {epochs} epochs. {verdict}")
    return final


def check_regularization_loss(build_model, dataset, l2_factors=(0.0, 1e-3, 1e-2), max_examples=256,
                              seed=1337, verbose=True):
    """Evaluates the untrained model's total loss for increasing L2 factors; it must increase.

    Args:
        build_model: a function `build_model(l2) -> compiled keras.Model` whose layers use
            `kernel_regularizer=keras.regularizers.L2(l2)`.
        dataset: a tf.data dataset of (images, labels) batches, or a tuple (x, y).
        l2_factors: increasing L2 factors to try.
        max_examples: int, examples to evaluate on.
        seed: int, re-seeds Keras before each build so that every model starts
            from the same weights and only the penalty differs.
        verbose: bool, print the losses and the verdict.

    Returns:
        The list of losses, one per factor (data loss plus the L2 penalty).

    Raises:
        ValueError: `build_model` is not callable or `l2_factors` is not increasing.
    """
    if not callable(build_model):
        raise ValueError("build_model should be a function l2 -> compiled model. "
                         f"Received: build_model={build_model!r}")
    factors = list(l2_factors)
    if len(factors) < 2 or any(b <= a for a, b in zip(factors, factors[1:])):
        raise ValueError(f"l2_factors should hold at least two increasing values, e.g. (0.0, 1e-3, 1e-2). "
                         f"Received: l2_factors={l2_factors!r}")
    max_examples = check_int(max_examples, "max_examples", example=256)
    import keras
    x, y = _first_batches(dataset, max_examples)
    losses = []
    for factor in factors:
        keras.utils.set_random_seed(seed)  # same initial weights: only the penalty changes
        model = build_model(factor)
        result = model.evaluate(x, y, verbose=0, return_dict=True)
        losses.append(float(result["loss"]))
    increasing = all(b > a for a, b in zip(losses, losses[1:]))
    if verbose:
        pairs = ", ".join(f"L2={f:g}: {v:.3f}" for f, v in zip(factors, losses))
        verdict = "OK: stronger regularisation, higher loss" if increasing else \
            "NOT INCREASING: is the regularizer attached to the layers?"
        print(f"Initial loss {pairs}. {verdict}")
    return losses
