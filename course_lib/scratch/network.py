"""A small sequential container and mini-batch training that returns a Keras-like history.

    model = build_mlp(input_dim=784, hidden_units=(256, 128), num_classes=10)
    model.compile(loss=SoftmaxCrossEntropy(), optimizer=Adam(1e-3))
    history = model.fit(x_train, y_train, epochs=10, batch_size=64,
                        validation_data=(x_test, y_test), verbose=2)
    history.history["val_accuracy"][-1]     # same keys as Keras: loss, accuracy, val_loss, val_accuracy

`fit` loops over mini-batches, never over samples: each step runs the whole batch
through `forward`, the loss, `backward` and the optimizer as matrix operations.
"""

import math
import time

import numpy as np

from course_lib._validation import check_int
from course_lib.scratch.layers import Dense, Layer, check_float_dtype, get_activation
from course_lib.scratch.losses import Loss
from course_lib.scratch.optimizers import Optimizer


class History:
    """What `fit` returns, shaped like `keras.callbacks.History`.

    Attributes:
        history: dict of metric name -> list with one value per epoch
            (`loss`, `accuracy`, and `val_loss`, `val_accuracy` with validation data).
        epoch: list of epoch indices (0, 1, ...).
        params: dict with `epochs`, `steps` (per epoch) and `batch_size`.
        step_loss: the training loss of every mini-batch step (shows SGD's noise).
    """

    def __init__(self):
        self.history = {}
        self.epoch = []
        self.params = {}
        self.step_loss = []

    def __repr__(self):
        last = {k: round(v[-1], 4) for k, v in self.history.items() if v}
        return f"History(epochs={len(self.epoch)}, last={last})"


class Sequential:
    """A stack of layers applied one after the other, as `keras.Sequential`.

    Args:
        layers: list of `Layer` objects (e.g. `[Dense(784, 128), ReLU(), Dense(128, 10)]`).

    Layers are named as in Keras ("dense", "re_lu", "dense_1", ...), and parameters
    as "dense/kernel", "dense/bias", ... in `parameters()` and gradient checks.
    """

    def __init__(self, layers):
        layers = list(layers)
        if not layers:
            raise ValueError("Sequential needs at least one layer, e.g. Sequential([Dense(2, 1)]). "
                             "Received: layers=[]")
        for i, layer in enumerate(layers):
            if not isinstance(layer, Layer):
                raise ValueError(
                    f"Every item of layers should be a course_lib.scratch Layer (Dense, ReLU, ...). "
                    f"Received: layers[{i}]={layer!r} of type {type(layer).__name__}")
        counts = {}
        for layer in layers:
            base = _snake(type(layer).__name__)
            n = counts.get(base, 0)
            layer.name = base if n == 0 else f"{base}_{n}"
            counts[base] = n + 1
        self.layers = layers
        self.loss = None
        self.optimizer = None

    # ----- forward, backward, parameters -------------------------------------------------
    def forward(self, x):
        """Runs `x` through every layer; returns the last layer's output (logits for a classifier)."""
        for layer in self.layers:
            x = layer.forward(x)
        return x

    __call__ = forward

    def backward(self, grad_output):
        """Backpropagates dLoss/doutput through every layer, filling each layer's `grads`."""
        for i in range(len(self.layers) - 1, -1, -1):
            layer = self.layers[i]
            if i == 0 and isinstance(layer, Dense):
                layer.backward(grad_output, compute_input_grad=False)  # nobody needs dLoss/dx
                return None
            grad_output = layer.backward(grad_output)
        return grad_output

    def parameters(self):
        """Returns a list of `(name, layer, key)` for every parameter, e.g. `("dense/kernel", layer, "kernel")`."""
        return [(f"{layer.name}/{key}", layer, key) for layer in self.layers for key in layer.params]

    def get_weights(self):
        """Returns copies of all parameter arrays, in `parameters()` order."""
        return [layer.params[key].copy() for _, layer, key in self.parameters()]

    def set_weights(self, weights):
        """Copies arrays (same order and shapes as `get_weights()`) into the parameters."""
        entries = self.parameters()
        weights = list(weights)
        if len(weights) != len(entries):
            raise ValueError(f"set_weights expects {len(entries)} arrays. Received: {len(weights)}")
        for (name, layer, key), value in zip(entries, weights):
            value = np.asarray(value)
            if value.shape != layer.params[key].shape:
                raise ValueError(f"{name} has shape {layer.params[key].shape}. Received: {value.shape}")
            layer.params[key][...] = value

    def count_params(self):
        return sum(layer.count_params() for layer in self.layers)

    @property
    def dtype(self):
        for layer in self.layers:
            if layer.params:
                return next(iter(layer.params.values())).dtype
        return np.dtype("float32")

    def summary(self):
        """Returns (and prints) a table of layers, output sizes and parameter counts."""
        lines = [f"{'layer':<14}{'type':<34}{'params':>10}"]
        for layer in self.layers:
            lines.append(f"{layer.name:<14}{repr(layer):<34}{layer.count_params():>10,}")
        lines.append(f"Total params: {self.count_params():,}")
        text = "\n".join(lines)
        print(text)
        return text

    # ----- training ------------------------------------------------------------------------
    def compile(self, loss, optimizer):
        """Sets the loss (a `Loss`) and the optimizer (an `Optimizer`) used by `fit`."""
        if not isinstance(loss, Loss):
            raise ValueError(
                f"loss should be a course_lib.scratch loss object, e.g. loss=SoftmaxCrossEntropy(). "
                f"Received: loss={loss!r}")
        if not isinstance(optimizer, Optimizer):
            raise ValueError(
                f"optimizer should be a course_lib.scratch optimizer, e.g. optimizer=Adam(1e-3). "
                f"Received: optimizer={optimizer!r}")
        self.loss = loss
        self.optimizer = optimizer
        return self

    def _require_compiled(self):
        if self.loss is None:
            raise RuntimeError("Call model.compile(loss=..., optimizer=...) before fit() or evaluate().")

    def train_step(self, x, y):
        """One mini-batch step: forward, loss, backward, update. Returns `(loss, outputs)`."""
        outputs = self.forward(x)
        value = self.loss.forward(outputs, y)
        self.backward(self.loss.backward())
        entries = self.parameters()
        self.optimizer.apply([layer.grads[key] for _, layer, key in entries],
                             [layer.params[key] for _, layer, key in entries])
        return value, outputs

    def predict(self, x, batch_size=1024):
        """Returns the outputs for `x`, computed `batch_size` samples at a time."""
        x = self._cast(x)
        return np.concatenate([self.forward(x[i:i + batch_size])
                               for i in range(0, len(x), batch_size)]) if len(x) else self.forward(x)

    def evaluate(self, x, y, batch_size=1024):
        """Returns `{"loss": ..., "accuracy": ...}` (accuracy only for classification losses)."""
        self._require_compiled()
        outputs = self.predict(x, batch_size=batch_size)
        y = np.asarray(y)
        result = {"loss": self.loss.forward(outputs, y)}
        accuracy = self.loss.accuracy(outputs, y)
        if accuracy is not None:
            result["accuracy"] = accuracy
        return result

    def _cast(self, x):
        x = np.asarray(x)
        return x.astype(self.dtype, copy=False)

    def fit(self, x, y, epochs=1, batch_size=32, validation_data=None, shuffle=True, seed=None,
            verbose=2):
        """Trains with mini-batch gradient descent; returns a `History` like Keras's.

        Args:
            x: inputs `(num_samples, features)`; cast to the model's dtype (float32 by default).
            y: targets (integer classes for `SoftmaxCrossEntropy`).
            epochs: passes over the data.
            batch_size: samples per step; `len(x)` gives full-batch gradient descent.
            validation_data: optional `(x_val, y_val)`, evaluated after each epoch.
            shuffle: reshuffle the samples at each epoch.
            seed: seed of the shuffling, for repeatable runs.
            verbose: 0 silent, 1 or 2 one line per epoch.

        Training stops early, with a message, if the loss becomes NaN or infinite
        (usually a learning rate that is too large).
        """
        self._require_compiled()
        x = self._cast(x)
        y = np.asarray(y)
        if len(x) != len(y):
            raise ValueError(f"x and y should have the same number of samples. "
                             f"Received: len(x)={len(x)}, len(y)={len(y)}")
        if len(x) == 0:
            raise ValueError("x is empty: there is nothing to train on.")
        epochs = check_int(epochs, "epochs", example=10)
        batch_size = check_int(batch_size, "batch_size", example=64)
        if verbose not in (0, 1, 2):
            raise ValueError(f"verbose should be 0, 1 or 2. Received: verbose={verbose!r}")
        if validation_data is not None:
            if len(validation_data) != 2:
                raise ValueError("validation_data should be a tuple (x_val, y_val). "
                                 f"Received a sequence of length {len(validation_data)}")
            x_val, y_val = self._cast(validation_data[0]), np.asarray(validation_data[1])

        rng = np.random.default_rng(seed)
        n = len(x)
        steps = math.ceil(n / batch_size)
        history = History()
        history.params = {"epochs": epochs, "steps": steps, "batch_size": batch_size}
        for epoch in range(epochs):
            start = time.perf_counter()
            order = rng.permutation(n) if shuffle else None
            total_loss = 0.0
            total_correct = 0.0
            has_accuracy = True
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                for s in range(steps):
                    if order is None:
                        xb, yb = x[s * batch_size:(s + 1) * batch_size], y[s * batch_size:(s + 1) * batch_size]
                    else:
                        idx = order[s * batch_size:(s + 1) * batch_size]
                        xb, yb = x[idx], y[idx]
                    value, outputs = self.train_step(xb, yb)
                    history.step_loss.append(value)
                    total_loss += value * len(xb)
                    accuracy = self.loss.accuracy(outputs, yb)
                    if accuracy is None:
                        has_accuracy = False
                    else:
                        total_correct += accuracy * len(xb)
                logs = {"loss": total_loss / n}
                if has_accuracy:
                    logs["accuracy"] = total_correct / n
                if validation_data is not None:
                    for key, value in self.evaluate(x_val, y_val).items():
                        logs["val_" + key] = value
            for key, value in logs.items():
                history.history.setdefault(key, []).append(float(value))
            history.epoch.append(epoch)
            if verbose:
                metrics = " - ".join(f"{k}: {v:.4f}" for k, v in logs.items())
                print(f"Epoch {epoch + 1}/{epochs} - {time.perf_counter() - start:.1f}s - {metrics}")
            if not math.isfinite(logs["loss"]):
                if verbose:
                    print(f"Stopped: the loss became {logs['loss']} in epoch {epoch + 1}. "
                          f"The learning rate is probably too large.")
                break
        return history


def _snake(name):
    out = []
    for i, ch in enumerate(name):
        if ch.isupper() and i and not name[i - 1].isupper():
            out.append("_")
        out.append(ch.lower())
    return "".join(out)


def build_mlp(input_dim=784, hidden_units=(256, 128), num_classes=10, activation="relu", seed=1337,
              dtype="float32"):
    """Builds a multi-layer perceptron that outputs logits (pair it with `SoftmaxCrossEntropy`).

    Args:
        input_dim: number of input features (784 for flattened 28x28 images).
        hidden_units: sizes of the hidden layers; `()` gives softmax regression.
        num_classes: number of outputs.
        activation: "relu", "tanh" or "sigmoid" after each hidden layer.
        seed: seed of the Glorot-uniform initialisation (Keras's default).
        dtype: "float32" (training) or "float64" (gradient checks).

    Returns:
        A `Sequential`: Dense -> activation -> ... -> Dense(num_classes).

    Example:

    >>> build_mlp(784, (256, 128), 10).count_params()
    235146
    """
    input_dim = check_int(input_dim, "input_dim", example=784)
    num_classes = check_int(num_classes, "num_classes", example=10)
    hidden_units = tuple(hidden_units)
    for units in hidden_units:
        check_int(units, "hidden_units[i]", example=128)
    get_activation(activation)
    check_float_dtype(dtype)
    rng = np.random.default_rng(seed)
    layers = []
    sizes = (input_dim,) + hidden_units
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [Dense(a, b, seed=rng, dtype=dtype), get_activation(activation)]
    layers.append(Dense(sizes[-1], num_classes, seed=rng, dtype=dtype))
    return Sequential(layers)


def collapse_linear_layers(model):
    """Returns one `Dense` layer equal to a stack of `Dense` layers with no activation between them.

    `(x W1 + b1) W2 + b2 = x (W1 W2) + (b1 W2 + b2)`: without non-linear activations,
    any number of layers computes one linear map, so depth adds nothing.

    Args:
        model: a `Sequential` (or list) of `Dense` layers only.

    Raises:
        ValueError: the stack holds an activation or another non-Dense layer (then it does
            not collapse: that is what activations are for).
    """
    layers = model.layers if isinstance(model, Sequential) else list(model)
    if not layers:
        raise ValueError("collapse_linear_layers needs at least one Dense layer. Received none.")
    for layer in layers:
        if not isinstance(layer, Dense):
            raise ValueError(
                f"Only a stack of Dense layers collapses to one linear map; this one holds "
                f"{type(layer).__name__}, a non-linear layer, so it does not. Received: {layer!r}")
    kernel = layers[0].kernel.astype("float64")
    bias = layers[0].bias.astype("float64") if layers[0].use_bias else np.zeros(layers[0].units)
    for layer in layers[1:]:
        bias = bias @ layer.kernel + (layer.bias if layer.use_bias else 0)
        kernel = kernel @ layer.kernel
    out = Dense(layers[0].input_dim, layers[-1].units, dtype=layers[0].dtype)
    return out.set_weights(kernel, bias)
