"""Plots for lab 01: loss curves side by side, and a 2-D decision boundary."""

import numpy as np


def _history_dict(history):
    return history.history if hasattr(history, "history") else history


def plot_histories(histories, metric="loss", ax=None, log_scale=False):
    """Plots one metric of several training runs on the same axes, one curve per run.

    Args:
        histories: dict label -> `History` (or a plain dict of lists), e.g.
            `{"lr=0.001": h1, "lr=0.1": h2}`.
        metric: key of `history.history` to plot, e.g. "loss" or "val_accuracy".
        ax: matplotlib axes to draw on; a new figure when None.
        log_scale: use a logarithmic y axis (losses spanning several orders of magnitude).

    Returns:
        The matplotlib axes.
    """
    import matplotlib.pyplot as plt

    if not histories:
        raise ValueError("histories should be a non-empty dict label -> History. Received: {}")
    for label, history in histories.items():
        if metric not in _history_dict(history):
            raise ValueError(
                f"History {label!r} has no {metric!r}; it has {sorted(_history_dict(history))}.")
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4))
    for label, history in histories.items():
        values = _history_dict(history)[metric]
        ax.plot(np.arange(1, len(values) + 1), values, marker="o" if len(values) < 30 else None,
                label=str(label))
    ax.set_xlabel("epoch")
    ax.set_ylabel(metric)
    if log_scale:
        ax.set_yscale("log")
    ax.legend()
    ax.grid(alpha=0.3)
    return ax


def plot_decision_boundary(predict, x, y, ax=None, resolution=200, margin=0.5):
    """Colours the plane by a classifier's output and draws the 2-D samples on top.

    Args:
        predict: function `(num_points, 2) -> (num_points,)` or `(num_points, 1)` scores
            or 0/1 predictions, e.g. `lambda p: model.forward(p)`.
        x: `(num_samples, 2)` inputs; y: their 0/1 labels.
        ax: matplotlib axes; a new figure when None.
        resolution: grid points per axis.
        margin: space around the samples.

    Returns:
        The matplotlib axes.
    """
    import matplotlib.pyplot as plt

    x = np.asarray(x, dtype="float64")
    if x.ndim != 2 or x.shape[1] != 2:
        raise ValueError(f"plot_decision_boundary draws 2-D inputs: x should have shape "
                         f"(num_samples, 2). Received: x.shape={x.shape}")
    if ax is None:
        _, ax = plt.subplots(figsize=(4, 4))
    lo, hi = x.min(axis=0) - margin, x.max(axis=0) + margin
    g0, g1 = np.meshgrid(np.linspace(lo[0], hi[0], resolution), np.linspace(lo[1], hi[1], resolution))
    grid = np.column_stack([g0.ravel(), g1.ravel()])
    scores = np.asarray(predict(grid), dtype="float64").reshape(g0.shape)
    ax.contourf(g0, g1, scores, levels=20, cmap="RdBu_r", alpha=0.6)
    ax.scatter(x[:, 0], x[:, 1], c=np.asarray(y).reshape(-1), cmap="RdBu_r", edgecolors="k", s=80)
    ax.set_xlabel("input 1")
    ax.set_ylabel("input 2")
    return ax
