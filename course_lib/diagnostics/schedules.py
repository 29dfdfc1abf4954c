"""Learning-rate decay: the lecture's schedules as functions of the epoch, and a callback.

    schedule = step_decay(1e-3, drop=0.5, epochs_per_drop=5)   # 1e-3, ..., 5e-4 from epoch 5
    plot_lr_schedule(schedule, epochs=20); plt.show()
    model.fit(..., callbacks=[make_lr_callback(schedule)])

With the callback, `history.history["learning_rate"]` records the rate of every
epoch. Epochs count from 0, as in `keras.callbacks.LearningRateScheduler`.
"""

import math


def _check_rate(initial_learning_rate):
    if isinstance(initial_learning_rate, bool) or not isinstance(initial_learning_rate, (int, float)) \
            or not initial_learning_rate > 0 or not math.isfinite(initial_learning_rate):
        raise ValueError(
            "initial_learning_rate should be a positive number, e.g. initial_learning_rate=1e-3. "
            f"Received: initial_learning_rate={initial_learning_rate!r}")


def _check_non_negative(value, name, example):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
        raise ValueError(f"{name} should be a number >= 0, e.g. {name}={example}. "
                         f"Received: {name}={value!r}")


def step_decay(initial_learning_rate, drop=0.5, epochs_per_drop=10):
    """Step decay: multiply the rate by `drop` every `epochs_per_drop` epochs.

    lr(epoch) = initial_learning_rate * drop ** floor(epoch / epochs_per_drop)

    Returns:
        A function `schedule(epoch) -> float`.
    """
    _check_rate(initial_learning_rate)
    if isinstance(drop, bool) or not isinstance(drop, (int, float)) or not 0 < drop <= 1:
        raise ValueError(f"drop should be a factor in (0, 1], e.g. drop=0.5 halves the rate. "
                         f"Received: drop={drop!r}")
    if isinstance(epochs_per_drop, bool) or not isinstance(epochs_per_drop, int) or epochs_per_drop < 1:
        raise ValueError(f"epochs_per_drop should be an int >= 1, e.g. epochs_per_drop=10. "
                         f"Received: epochs_per_drop={epochs_per_drop!r}")

    def schedule(epoch):
        return float(initial_learning_rate * drop ** (epoch // epochs_per_drop))
    schedule.__name__ = f"step_decay({initial_learning_rate:g}, drop={drop:g}, every {epochs_per_drop})"
    return schedule


def exponential_decay(initial_learning_rate, decay_rate=0.1):
    """Exponential decay: lr(epoch) = initial_learning_rate * exp(-decay_rate * epoch).

    Returns:
        A function `schedule(epoch) -> float`.
    """
    _check_rate(initial_learning_rate)
    _check_non_negative(decay_rate, "decay_rate", 0.1)

    def schedule(epoch):
        return float(initial_learning_rate * math.exp(-decay_rate * epoch))
    schedule.__name__ = f"exponential_decay({initial_learning_rate:g}, k={decay_rate:g})"
    return schedule


def inverse_time_decay(initial_learning_rate, decay_rate=0.5):
    """1/t decay: lr(epoch) = initial_learning_rate / (1 + decay_rate * epoch).

    Returns:
        A function `schedule(epoch) -> float`.
    """
    _check_rate(initial_learning_rate)
    _check_non_negative(decay_rate, "decay_rate", 0.5)

    def schedule(epoch):
        return float(initial_learning_rate / (1.0 + decay_rate * epoch))
    schedule.__name__ = f"inverse_time_decay({initial_learning_rate:g}, k={decay_rate:g})"
    return schedule


def cosine_decay(initial_learning_rate, epochs, final_fraction=0.01):
    """Cosine decay from `initial_learning_rate` at epoch 0 to `final_fraction` of it at `epochs - 1`.

    Returns:
        A function `schedule(epoch) -> float` (constant after the last epoch).
    """
    _check_rate(initial_learning_rate)
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs should be an int >= 1, the length of the training run. "
                         f"Received: epochs={epochs!r}")
    if isinstance(final_fraction, bool) or not isinstance(final_fraction, (int, float)) \
            or not 0 <= final_fraction <= 1:
        raise ValueError(f"final_fraction should be in [0, 1], e.g. final_fraction=0.01. "
                         f"Received: final_fraction={final_fraction!r}")

    def schedule(epoch):
        progress = min(epoch, epochs - 1) / max(epochs - 1, 1)
        factor = final_fraction + (1 - final_fraction) * 0.5 * (1 + math.cos(math.pi * progress))
        return float(initial_learning_rate * factor)
    schedule.__name__ = f"cosine_decay({initial_learning_rate:g}, {epochs} epochs)"
    return schedule


def make_lr_callback(schedule, verbose=0):
    """Wraps `schedule(epoch) -> float` in a `keras.callbacks.LearningRateScheduler`.

    The rate of each epoch lands in `history.history["learning_rate"]`.

    Raises:
        ValueError: `schedule` is not callable, or does not return a positive number for epoch 0.
    """
    if not callable(schedule):
        raise ValueError("schedule should be a function of the epoch, e.g. "
                         f"step_decay(1e-3). Received: schedule={schedule!r}")
    first = schedule(0)
    if isinstance(first, bool) or not isinstance(first, (int, float)) or not first > 0:
        raise ValueError(f"schedule(0) should return a positive learning rate. "
                         f"Received: schedule(0)={first!r}")
    import keras
    return keras.callbacks.LearningRateScheduler(lambda epoch, lr: float(schedule(epoch)),
                                                 verbose=verbose)


def plot_lr_schedule(schedules, epochs=30, ax=None):
    """Plots one or more schedules over `epochs` epochs on a log scale.

    Args:
        schedules: a schedule function or a list of them (their `__name__` labels the curves).
        epochs: int, number of epochs to draw.
        ax: matplotlib Axes, or None for a new figure.

    Returns:
        The Axes.
    """
    if callable(schedules):
        schedules = [schedules]
    if not schedules or not all(callable(s) for s in schedules):
        raise ValueError(f"schedules should be a schedule function or a list of them, e.g. "
                         f"[step_decay(1e-3), exponential_decay(1e-3)]. Received: schedules={schedules!r}")
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs should be an int >= 1. Received: epochs={epochs!r}")
    import matplotlib.pyplot as plt
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.6))
    xs = list(range(epochs))
    for schedule in schedules:
        ax.plot(xs, [schedule(e) for e in xs], label=getattr(schedule, "__name__", "schedule"))
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("learning rate")
    ax.set_title("Learning-rate schedules")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize="small")
    return ax
