"""Training curves, and a reader that names what they show.

`plot_training_curves` draws loss and metrics per epoch, training against
validation. `diagnose_history` reads the same numbers and returns findings, each
with the concrete fix the lecture recommends:

    history = model.fit(train_ds, validation_data=val_ds, epochs=15, verbose=2)
    plot_training_curves(history)
    plt.show()
    for finding in diagnose_history(history, num_classes=10):
        print(finding)

Both accept a `keras.callbacks.History`, any object with a `.history` dict,
or the dict itself (`{"loss": [...], "val_loss": [...], ...}`).
"""

import math
from dataclasses import dataclass

import numpy as np

from course_lib._validation import check_num_classes


def history_to_dict(history):
    """Returns `{metric: list of floats}` from a History, an object with `.history`, or a dict.

    Raises:
        ValueError: `history` is none of those, or holds no epochs.
    """
    data = getattr(history, "history", history)
    if not isinstance(data, dict):
        raise ValueError(
            "history should be what `model.fit` returns (a keras History), an object with a "
            "`.history` dict, or a dict such as {'loss': [...], 'val_loss': [...]}. "
            f"Received: history of type {type(history).__name__}")
    result = {}
    for key, values in data.items():
        try:
            result[str(key)] = [float(v) for v in np.asarray(values, dtype="float64").reshape(-1)]
        except (TypeError, ValueError):
            raise ValueError(
                f"history[{key!r}] should be a list of numbers, one per epoch. "
                f"Received: {values!r}") from None
    if not result or max(len(v) for v in result.values()) == 0:
        raise ValueError(
            "history holds no epochs: train with `history = model.fit(..., epochs=N)` "
            f"first. Received: history with keys {sorted(result)}")
    return result


def _find_metric(data, metric):
    """Returns the history key for `metric`, accepting Keras' aliases ("acc", "sparse_categorical_accuracy")."""
    if metric in data:
        return metric
    if metric in ("accuracy", "acc"):
        for key in data:
            if not key.startswith("val_") and (key == "acc" or key.endswith("accuracy")):
                return key
    return None


def plot_training_curves(history, metrics=("loss", "accuracy"), ax=None):
    """Plots each metric per epoch, training (solid) against validation (dashed).

    The best validation epoch (lowest loss, highest other metric) is marked with
    a dot, so the point where overfitting starts can be read off the plot.

    Args:
        history: a `keras.callbacks.History`, an object with a `.history` dict,
            or a dict `{"loss": [...], "val_loss": [...], ...}`.
        metrics: the metric names to plot, one panel each (a single string is
            accepted). Names that the history does not hold are skipped, e.g.
            "accuracy" for a regression model.
        ax: a matplotlib Axes (one metric) or a sequence of Axes (one per
            metric that the history holds). `None` creates a figure with the
            panels side by side.

    Returns:
        A 1-D NumPy array of Axes, one per metric drawn, whatever the count
        (`axes[0]` is the loss panel by default).

    Raises:
        ValueError: `history` is not a history, none of `metrics` is in it,
            or `ax` does not match the number of panels.

    Example:

    >>> history = model.fit(x, y, validation_split=0.1, epochs=10, verbose=0)
    >>> plot_training_curves(history)
    >>> plt.show()
    """
    data = history_to_dict(history)
    if isinstance(metrics, str):
        metrics = (metrics,)
    found = [(m, _find_metric(data, m)) for m in metrics]
    found = [(m, key) for m, key in found if key is not None]
    if not found:
        raise ValueError(
            f"None of the metrics {tuple(metrics)} is in the history. Available: "
            f"{sorted(k for k in data if not k.startswith('val_'))}. Pass metrics=(...) "
            f"with some of those names. Received: metrics={tuple(metrics)!r}")
    import matplotlib.pyplot as plt
    if ax is None:
        width = min(5.0 * len(found), 12.0)
        _, axes = plt.subplots(1, len(found), figsize=(width, 3.6), squeeze=False)
        axes = axes[0]
    else:
        axes = np.ravel(np.asarray(ax, dtype=object))
        if len(axes) != len(found):
            raise ValueError(
                f"ax should hold one Axes per metric found in the history "
                f"({[key for _, key in found]}), got {len(axes)}. Pass ax=None to create them. "
                f"Received: ax={ax!r}")
    for axis, (metric, key) in zip(axes, found):
        train = data[key]
        epochs = np.arange(1, len(train) + 1)
        axis.plot(epochs, train, "-", color="C0", label=f"training {metric}")
        val_key = "val_" + key
        if val_key in data and data[val_key]:
            val = np.asarray(data[val_key])
            val_epochs = np.arange(1, len(val) + 1)
            axis.plot(val_epochs, val, "--", color="C1", label=f"validation {metric}")
            if np.isfinite(val).any():
                lower_is_better = "loss" in key or "error" in key
                best = int(np.nanargmin(val) if lower_is_better else np.nanargmax(val))
                axis.plot(val_epochs[best], val[best], "o", color="C1",
                          label=f"best validation (epoch {best + 1})")
        axis.set_xlabel("epoch")
        axis.set_ylabel(metric)
        axis.set_title(metric)
        if len(epochs) <= 20:
            axis.set_xticks(epochs)
        axis.grid(alpha=0.3)
        axis.legend(fontsize="small")
    return axes


@dataclass(frozen=True)
class Finding:
    """One thing `diagnose_history` saw in a history.

    Attributes:
        name: short identifier, e.g. "overfitting".
        message: what the numbers show, with the numbers.
        fix: what to try next.
    """

    name: str
    message: str
    fix: str

    def __str__(self):
        return f"[{self.name}] {self.message}\n    Fix: {self.fix}"


def _finite(values):
    values = np.asarray(values, dtype="float64")
    return values[np.isfinite(values)]


def diagnose_history(history, num_classes=None):
    """Reads a training history and names what it shows, with a fix for each.

    Findings (by `name`), in this order:

    - "nan_loss": the loss became NaN or infinite.
    - "diverging": the training loss ends higher than it started, or rose
      steeply over the last epochs.
    - "chance_level": the loss stays at chance, ln(num_classes), or (without
      `num_classes`) does not move at all: the network learns nothing.
    - "overfitting": validation loss rose well above its minimum while the
      training loss kept falling, or validation accuracy trails training
      accuracy by more than 10 points.
    - "plateau": the training loss stopped improving over the last third of
      the epochs while it is still far from zero.
    - "noisy": the training loss goes up and down from epoch to epoch.
    - "still_improving": validation loss was still falling at the last epoch.

    An empty list means nothing suspicious was found.

    Args:
        history: a `keras.callbacks.History`, an object with `.history`, or a dict.
        num_classes: int or None. When given, losses are compared with the
            chance level ln(num_classes) (2.30 for 10 classes).

    Returns:
        A list of `Finding` objects (`.name`, `.message`, `.fix`); `print` one
        to read it.

    Raises:
        ValueError: `history` has no "loss", or `num_classes` is not an int >= 2.

    Example:

    >>> for finding in diagnose_history({"loss": [2.30, 2.30, 2.30]}, num_classes=10):
    ...     print(finding.name)
    chance_level
    """
    data = history_to_dict(history)
    if num_classes is not None:
        num_classes = check_num_classes(num_classes, hint="Pass None to skip the chance-level check.")
    if "loss" not in data or not data["loss"]:
        raise ValueError(
            f"history should hold the training loss under 'loss'. Available keys: "
            f"{sorted(data)}. Received: history without 'loss'")
    findings = []
    loss_all = np.asarray(data["loss"], dtype="float64")
    val_all = np.asarray(data.get("val_loss", []), dtype="float64")

    bad = [key for key in ("loss", "val_loss") if key in data
           and not np.all(np.isfinite(np.asarray(data[key], dtype="float64")))]
    if bad:
        key = bad[0]
        epoch = int(np.argmax(~np.isfinite(np.asarray(data[key], dtype="float64")))) + 1
        findings.append(Finding(
            "nan_loss",
            f"{key} became NaN or infinite at epoch {epoch}.",
            "Lower the learning rate (10x), check the inputs for NaN and their scale "
            "(divide pixels by 255), and use a numerically stable loss "
            "(from_logits=True instead of log(softmax)). Gradient clipping "
            "(clipnorm=1.0 in the optimizer) also helps."))
    loss = _finite(loss_all)
    val = _finite(val_all)
    n = len(loss)
    if n == 0:
        return findings

    # Diverging: the run ends worse than it started, or climbs steeply at the end.
    rising_tail = n >= 3 and np.all(np.diff(loss[-3:]) > 0) and loss[-1] > 1.5 * np.min(loss)
    if n >= 2 and (loss[-1] > 1.1 * loss[0] or rising_tail):
        findings.append(Finding(
            "diverging",
            f"the training loss went from {loss[0]:.3g} (epoch 1) to {loss[-1]:.3g} "
            f"(epoch {n}); its minimum was {np.min(loss):.3g}.",
            "The learning rate is too high: divide it by 10 (or use a decay schedule), "
            "and check the inputs are scaled to about [0, 1]."))
        diverging = True
    else:
        diverging = False

    # Chance level: nothing was learnt.
    chance = math.log(num_classes) if num_classes else None
    at_chance = False
    if chance is not None:
        at_chance = loss[-1] >= 0.9 * chance
        accuracy_key = _find_metric(data, "accuracy")
        if accuracy_key and not at_chance:
            accuracy = _finite(data[accuracy_key])
            at_chance = len(accuracy) > 0 and accuracy[-1] <= 1.5 / num_classes
    elif n >= 2:
        at_chance = abs(loss[-1] - loss[0]) <= 0.02 * abs(loss[0])
    if at_chance and not diverging:
        reference = (f"chance level ln({num_classes}) = {chance:.3f}" if chance is not None
                     else f"its first value {loss[0]:.3g}")
        findings.append(Finding(
            "chance_level",
            f"after {n} epoch(s) the training loss is {loss[-1]:.3g}, close to {reference}: "
            "the network has not learnt anything yet.",
            "Check the labels match the images, that the last layer has num_classes units "
            "with softmax (or from_logits=True), and the learning rate (too low: nothing moves; "
            "too high: stuck). Then overfit one small batch to near-zero loss."))

    # Overfitting: validation loss turns up while training loss goes down.
    if len(val) >= 3 and not diverging:
        best = int(np.argmin(val))
        if (best < len(val) - 1 and val[-1] > 1.1 * val[best] and val[-1] - val[best] > 0.02
                and loss[min(len(loss), len(val)) - 1] < loss[min(best, n - 1)]):
            findings.append(Finding(
                "overfitting",
                f"validation loss was lowest at epoch {best + 1} ({val[best]:.3g}) and rose to "
                f"{val[-1]:.3g} by epoch {len(val)} while the training loss kept falling.",
                f"Stop at epoch {best + 1} (keras.callbacks.EarlyStopping with "
                "restore_best_weights=True), add data augmentation, dropout or L2 "
                "regularisation, or get more training data."))
        else:
            acc_key = _find_metric(data, "accuracy")
            if acc_key and "val_" + acc_key in data:
                train_acc = _finite(data[acc_key])
                val_acc = _finite(data["val_" + acc_key])
                if len(train_acc) and len(val_acc) and train_acc[-1] - val_acc[-1] > 0.10:
                    findings.append(Finding(
                        "overfitting",
                        f"training accuracy {train_acc[-1]:.3f} is {train_acc[-1] - val_acc[-1]:.3f} "
                        f"above validation accuracy {val_acc[-1]:.3f}.",
                        "Add data augmentation, dropout or L2 regularisation, "
                        "or get more training data; a smaller model also helps."))

    # Plateau: the last third of the run changed the loss by less than 1 %.
    if n >= 6 and not diverging and not at_chance:
        tail = loss[-max(3, n // 3):]
        if (np.max(tail) - np.min(tail)) < 0.01 * np.max(tail) and tail[-1] > 0.05:
            findings.append(Finding(
                "plateau",
                f"the training loss stayed near {tail[-1]:.3g} over the last {len(tail)} epochs.",
                "Decay the learning rate (keras.callbacks.ReduceLROnPlateau or a step "
                "schedule); if the loss is still high, the model may be too small."))

    # Noisy: many epochs where the loss goes up, by more than a few percent.
    if n >= 5 and not diverging:
        steps = np.diff(loss)
        ups = steps > 0.02 * np.abs(loss[:-1])
        if ups.mean() >= 0.3:
            findings.append(Finding(
                "noisy",
                f"the training loss went up in {int(ups.sum())} of {n - 1} epoch-to-epoch steps.",
                "Each update sees too few examples or steps too far: increase the batch size "
                "or lower the learning rate."))

    # Still improving: more epochs would help.
    if len(val) >= 2 and not diverging and not at_chance:
        if val[-1] < val[-2] and val[-1] <= np.min(val) and val[-1] < 0.99 * val[0]:
            findings.append(Finding(
                "still_improving",
                f"the validation loss was still falling at the last epoch "
                f"({val[-2]:.3g} -> {val[-1]:.3g}).",
                "Train for more epochs (with EarlyStopping to stop at the right time)."))
    return findings
