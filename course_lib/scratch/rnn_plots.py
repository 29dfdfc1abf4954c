"""Plots for lab 06: gradient norms through time, and an LSTM's gates along a sequence."""

import numpy as np

GATE_TITLES = {
    "input_gate": "input gate i (write)",
    "forget_gate": "forget gate f (keep)",
    "candidate": "candidate g (what to write)",
    "output_gate": "output gate o (read)",
    "cell": "cell state c",
    "hidden": "hidden state h",
}


def plot_gradient_norms(norms, ax=None, log_scale=True):
    """Plots ||dLoss/dh_t|| against the distance from the loss, one curve per model.

    Args:
        norms: dict label -> `(sequence_length,)` array as returned by
            `gradient_norms_through_time` (entry t for step t; the loss is at the last step).
        ax: matplotlib axes; a new figure when None.
        log_scale: logarithmic y axis (geometric decay is a straight line).

    Returns:
        The matplotlib axes.

    Raises:
        ValueError: `norms` is empty or an entry is not a 1-D array.
    """
    import matplotlib.pyplot as plt

    if not isinstance(norms, dict) or not norms:
        raise ValueError("norms should be a non-empty dict label -> array of gradient norms, e.g. "
                         "{'RNN': gradient_norms_through_time(cell)}. Received: "
                         f"{norms!r}"[:200])
    for label, values in norms.items():
        if np.ndim(values) != 1:
            raise ValueError(f"norms[{label!r}] should be a 1-D array (one norm per time step). "
                             f"Received: shape {np.shape(values)}")
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4))
    for label, values in norms.items():
        values = np.asarray(values, dtype="float64")[::-1]  # index = distance from the last step
        if log_scale:
            values = np.where(values > 0, values, np.nan)   # an underflow to 0 is off the chart
        ax.plot(np.arange(len(values)), values, label=str(label))
    ax.set_xlabel("distance from the loss (time steps back)")
    ax.set_ylabel("||dLoss/dh_t||")
    if log_scale:
        ax.set_yscale("log")
    ax.legend()
    ax.grid(alpha=0.3)
    return ax


def plot_gate_activations(layer, sample=0, names=("input_gate", "forget_gate", "output_gate", "cell"),
                          units=None, highlight_steps=None, ax=None):
    """Draws an LSTM's gates for one sequence as heatmaps: one row per unit, one column per step.

    Args:
        layer: a `course_lib.scratch.lstm.LSTM` (or any `RNN`) after `forward`, or its `activations` dict.
        sample: which sequence of the batch.
        names: which activations to draw, among "input_gate", "forget_gate", "candidate",
            "output_gate", "cell" and "hidden".
        units: indices of the units to draw (one row each), e.g. the few whose input gate moves
            most; all units when None.
        highlight_steps: optional time steps to outline in red (e.g. the adding problem's two
            marked steps).
        ax: a sequence of `len(names)` matplotlib Axes; a new figure when None.

    Returns:
        A 1-D NumPy array of Axes, one per name.

    Raises:
        ValueError: an unknown name, a sample or unit out of range, or the wrong number of axes.
    """
    import matplotlib.pyplot as plt

    activations = layer if isinstance(layer, dict) else layer.activations
    names = list(names)
    for name in names:
        if name not in activations:
            raise ValueError(f"names should be among {sorted(activations)}. Received: {name!r}"
                             + (" (gates exist for an LSTM only)" if name in GATE_TITLES else ""))
    batch_size = next(iter(activations.values())).shape[0]
    if isinstance(sample, bool) or not isinstance(sample, (int, np.integer)) or not 0 <= sample < batch_size:
        raise ValueError(f"sample should be an index in [0, {batch_size - 1}]. Received: sample={sample!r}")
    num_units = next(iter(activations.values())).shape[2]
    rows = np.arange(num_units) if units is None else np.asarray(units).reshape(-1)
    if rows.size == 0 or rows.dtype.kind not in "iu" or rows.min() < 0 or rows.max() >= num_units:
        raise ValueError(f"units should be indices in [0, {num_units - 1}], e.g. units=[0, 5, 7]. "
                         f"Received: units={units!r}")
    if ax is None:
        _, ax = plt.subplots(len(names), 1, figsize=(9, 1.9 * len(names)), sharex=True, squeeze=False)
    axes = np.asarray(ax).reshape(-1)
    if len(axes) != len(names):
        raise ValueError(f"ax should hold one Axes per name ({len(names)}). Received: {len(axes)} Axes")
    for panel, name in zip(axes, names):
        values = activations[name][sample][:, rows].T  # (units, time)
        if name in ("input_gate", "forget_gate", "output_gate"):
            image = panel.imshow(values, aspect="auto", cmap="viridis", vmin=0, vmax=1, interpolation="nearest")
        else:
            limit = max(float(np.abs(values).max()), 1e-6)
            image = panel.imshow(values, aspect="auto", cmap="coolwarm", vmin=-limit, vmax=limit,
                                 interpolation="nearest")
        plt.colorbar(image, ax=panel, pad=0.01)
        for step in (() if highlight_steps is None else np.asarray(highlight_steps).reshape(-1)):
            # an outline around the column, so that the values at that step stay visible
            panel.axvspan(step - 0.5, step + 0.5, fill=False, edgecolor="red", linewidth=1.2)
        panel.set_title(GATE_TITLES.get(name, name), fontsize=10, loc="left")
        panel.set_ylabel("unit")
        if units is not None and len(rows) <= 16:
            panel.set_yticks(np.arange(len(rows)), [str(r) for r in rows], fontsize=7)
    axes[-1].set_xlabel("time step")
    return axes
