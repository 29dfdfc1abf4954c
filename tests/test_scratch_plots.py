"""plot_histories and plot_decision_boundary under the Agg backend."""

import numpy as np
import pytest

from course_lib.scratch import make_logic_gate, plot_decision_boundary, plot_histories


def test_plot_histories_draws_one_curve_per_run():
    import matplotlib
    matplotlib.use("Agg")
    histories = {"a": {"loss": [3.0, 2.0, 1.0]}, "b": {"loss": [3.0, 2.5]}}
    ax = plot_histories(histories, log_scale=True)
    assert len(ax.get_lines()) == 2 and ax.get_yscale() == "log" and ax.get_xlabel() == "epoch"
    with pytest.raises(ValueError, match=r"History 'a' has no 'accuracy'; it has \['loss'\]"):
        plot_histories(histories, metric="accuracy")
    with pytest.raises(ValueError, match="non-empty dict"):
        plot_histories({})


def test_plot_decision_boundary():
    import matplotlib
    matplotlib.use("Agg")
    x, y = make_logic_gate("xor")
    ax = plot_decision_boundary(lambda p: p[:, 0] * p[:, 1], x, y, resolution=20)
    assert ax.get_xlabel() == "input 1"
    with pytest.raises(ValueError, match=r"x should have shape \(num_samples, 2\). Received: x.shape=\(4, 3\)"):
        plot_decision_boundary(lambda p: p[:, 0], np.zeros((4, 3)), y)
