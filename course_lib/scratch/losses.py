"""Softmax, cross-entropies and mean squared error, with their gradients, in NumPy.

A loss object computes the mean loss over the batch in `forward` and returns
dLoss/dy_pred in `backward`, for the same batch:

    loss = SoftmaxCrossEntropy()
    value = loss.forward(logits, labels)   # logits (batch_size, num_classes), labels (batch_size,)
    grad = loss.backward()                 # (softmax(logits) - one_hot(labels)) / batch_size

Why `softmax` subtracts the row maximum: `exp(1000)` overflows to inf in float64
(`exp(89)` already does in float32), and inf / inf is NaN. Softmax does not change
when a constant is subtracted from every logit of a row, so subtracting the row
maximum gives the same probabilities with every exponent <= 0.
"""

import numpy as np

from course_lib.scratch.layers import sigmoid


def naive_softmax(logits):
    """`exp(x) / sum(exp(x))` as written on the slide: overflows for logits above ~709 (float64).

    Kept to show the problem; use `softmax` instead.
    """
    e = np.exp(logits)
    return e / e.sum(axis=-1, keepdims=True)


def softmax(logits):
    """Numerically stable softmax over the last axis (subtracts each row's maximum first).

    Args:
        logits: array `(..., num_classes)` of real numbers of any size.

    Returns:
        Probabilities of the same shape; each row sums to 1.

    Example:

    >>> softmax(np.array([[1000.0, 1000.0]]))
    array([[0.5, 0.5]])
    """
    logits = np.asarray(logits)
    z = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def log_softmax(logits):
    """Stable `log(softmax(logits))`: `z - log(sum(exp(z)))` with `z = logits - max(logits)`."""
    logits = np.asarray(logits)
    z = logits - logits.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def one_hot(labels, num_classes, dtype="float32"):
    """Turns integer labels `(batch_size,)` into one-hot rows `(batch_size, num_classes)`."""
    labels = np.asarray(labels)
    out = np.zeros((labels.shape[0], num_classes), dtype=dtype)
    out[np.arange(labels.shape[0]), labels] = 1
    return out


def _check_labels(logits, labels):
    logits = np.asarray(logits)
    labels = np.asarray(labels)
    if logits.ndim != 2:
        raise ValueError(
            f"logits should have shape (batch_size, num_classes). Received: logits.shape={logits.shape}")
    n, k = logits.shape
    if labels.shape == (n,):
        if labels.dtype.kind not in "iu":
            raise ValueError(
                f"Integer class labels are expected when labels have shape (batch_size,). "
                f"Received: labels.dtype={labels.dtype}. Use labels.astype(int), or pass one-hot "
                f"rows of shape {(n, k)}.")
        if n and (labels.min() < 0 or labels.max() >= k):
            raise ValueError(
                f"labels should lie in [0, {k - 1}] for {k} classes. "
                f"Received: labels between {labels.min()} and {labels.max()}")
        return logits, labels, True
    if labels.shape == (n, k):
        return logits, labels, False
    raise ValueError(
        f"labels should have shape (batch_size,) = {(n,)} (integer classes) or "
        f"(batch_size, num_classes) = {(n, k)} (one-hot). Received: labels.shape={labels.shape}")


def softmax_cross_entropy_grad(logits, labels):
    """Gradient of the mean softmax cross-entropy with respect to the logits.

    `(softmax(logits) - one_hot(labels)) / batch_size`, computed with the stable softmax.

    Args:
        logits: `(batch_size, num_classes)`.
        labels: integer classes `(batch_size,)` or one-hot rows `(batch_size, num_classes)`.
    """
    logits, labels, sparse = _check_labels(logits, labels)
    grad = softmax(logits)
    if sparse:
        grad[np.arange(len(labels)), labels] -= 1
    else:
        grad = grad - labels
    return grad / logits.shape[0]


def _same_shape_arrays(y_pred, y_true):
    """Returns both as arrays of y_pred's dtype; raises when their shapes differ."""
    y_pred = np.asarray(y_pred)
    y_true = np.asarray(y_true, dtype=y_pred.dtype)
    if y_pred.shape != y_true.shape:
        raise ValueError(
            f"y_pred and y_true should have the same shape, e.g. (batch_size, 1). "
            f"Received: y_pred.shape={y_pred.shape}, y_true.shape={y_true.shape}. "
            f"Reshape targets with y.reshape(-1, 1).")
    return y_pred, y_true


class Loss:
    """Base class: `forward(y_pred, y_true)` returns the mean loss, `backward()` dLoss/dy_pred."""

    def __call__(self, y_pred, y_true):
        return self.forward(y_pred, y_true)

    def forward(self, y_pred, y_true):
        raise NotImplementedError

    def backward(self):
        raise NotImplementedError

    def accuracy(self, y_pred, y_true):
        """Fraction of correct predictions, or None when the loss is not a classifier's."""
        return None

    def _require_forward(self):
        if getattr(self, "_cache", None) is None:
            raise RuntimeError(
                f"{type(self).__name__}.backward() was called before forward(): call "
                f"loss.forward(y_pred, y_true) on the same batch first.")


class SoftmaxCrossEntropy(Loss):
    """Softmax followed by cross-entropy, from logits, averaged over the batch.

    Same value as `keras.losses.SparseCategoricalCrossentropy(from_logits=True)` for
    integer labels and `CategoricalCrossentropy(from_logits=True)` for one-hot rows.
    At initialisation, with near-zero logits, the loss is about ln(num_classes)
    (ln(10) = 2.30 for Fashion-MNIST): every class gets probability 1/num_classes.
    """

    def forward(self, logits, labels):
        logits, labels, sparse = _check_labels(logits, labels)
        log_probs = log_softmax(logits)
        n = logits.shape[0]
        if sparse:
            value = -log_probs[np.arange(n), labels].mean()
        else:
            value = -(labels * log_probs).sum(axis=1).mean()
        self._cache = (np.exp(log_probs), labels, sparse)
        return float(value)

    def backward(self):
        self._require_forward()
        probs, labels, sparse = self._cache
        grad = probs.copy()
        n = grad.shape[0]
        if sparse:
            grad[np.arange(n), labels] -= 1
        else:
            grad -= labels
        grad /= n
        return grad

    def accuracy(self, logits, labels):
        labels = np.asarray(labels)
        if labels.ndim == 2:
            labels = labels.argmax(axis=1)
        return float((np.asarray(logits).argmax(axis=1) == labels).mean())


class BinaryCrossEntropy(Loss):
    """`-mean(y log p + (1 - y) log(1 - p))` for 0/1 targets.

    Args:
        from_logits: False (default, as in Keras) when `y_pred` are probabilities from a
            sigmoid; True when they are raw scores, which is more stable.

    With probabilities, they are clipped to [1e-7, 1 - 1e-7] as Keras does, so log(0) never happens.
    """

    EPSILON = 1e-7

    def __init__(self, from_logits=False):
        self.from_logits = bool(from_logits)

    def forward(self, y_pred, y_true):
        y_pred, y_true = _same_shape_arrays(y_pred, y_true)
        if self.from_logits:
            z = y_pred
            # max(z, 0) - z y + log(1 + exp(-|z|)): the form TensorFlow uses, no overflow.
            value = (np.maximum(z, 0) - z * y_true + np.log1p(np.exp(-np.abs(z)))).mean()
            self._cache = (sigmoid(z), y_true, None)
        else:
            p = np.clip(y_pred, self.EPSILON, 1 - self.EPSILON)
            value = -(y_true * np.log(p) + (1 - y_true) * np.log(1 - p)).mean()
            inside = (y_pred > self.EPSILON) & (y_pred < 1 - self.EPSILON)
            self._cache = (p, y_true, inside)
        return float(value)

    def backward(self):
        self._require_forward()
        p, y_true, inside = self._cache
        n = p.size
        if self.from_logits:
            return (p - y_true) / n
        # d/dp of -(y log p + (1-y) log(1-p)) = (p - y) / (p (1 - p)); zero where p was clipped.
        return (p - y_true) / (p * (1 - p)) / n * inside

    def accuracy(self, y_pred, y_true):
        threshold = 0.0 if self.from_logits else 0.5
        return float(((np.asarray(y_pred) > threshold) == (np.asarray(y_true) > 0.5)).mean())


class MeanSquaredError(Loss):
    """`mean((y_pred - y_true)^2)`, as `keras.losses.MeanSquaredError`.

    Args:
        half: if True, the lecture's `1/2 (y_pred - y_true)^2`, whose derivative is simply
            `y_pred - y_true` (the "delta" of the worked example).
    """

    def __init__(self, half=False):
        self.half = bool(half)

    def forward(self, y_pred, y_true):
        y_pred, y_true = _same_shape_arrays(y_pred, y_true)
        diff = y_pred - y_true
        self._cache = diff
        scale = 0.5 if self.half else 1.0
        return float(scale * (diff ** 2).mean())

    def backward(self):
        self._require_forward()
        diff = self._cache
        scale = 1.0 if self.half else 2.0
        return scale * diff / diff.size
