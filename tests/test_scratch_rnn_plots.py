"""plot_gradient_norms and plot_gate_activations under the Agg backend (NumPy only)."""

import numpy as np
import pytest

from course_lib.scratch import LSTM, RNNCell, SimpleRNN, gradient_norms_through_time, plot_gate_activations, plot_gradient_norms


@pytest.fixture
def rng():
    return np.random.default_rng(6)


def test_plots_return_axes(rng):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    norms = {"RNN": gradient_norms_through_time(RNNCell(2, 4, recurrent_scale=0.1, seed=0), 30)}
    ax = plot_gradient_norms(norms)
    assert ax.get_yscale() == "log" and ax.get_xlabel().startswith("distance")
    layer = LSTM(2, 4, seed=0)
    layer.forward(rng.normal(size=(3, 10, 2)))
    axes = plot_gate_activations(layer, sample=2, highlight_steps=np.array([1, 7]))
    assert len(axes) == 4 and axes[-1].get_xlabel() == "time step"
    picked = plot_gate_activations(layer, names=("input_gate",), units=[3, 0])
    assert [t.get_text() for t in picked[0].get_yticklabels()] == ["3", "0"]
    assert picked[0].images[0].get_array().shape == (2, 10)   # (units, time)
    _, own = plt.subplots(2, 1)
    assert len(plot_gate_activations(layer.activations, names=("candidate", "hidden"), ax=own)) == 2
    with pytest.raises(ValueError, match=r"ax should hold one Axes per name \(3\). Received: 2 Axes"):
        plot_gate_activations(layer, names=("input_gate", "forget_gate", "cell"), ax=own)
    plt.close("all")


def test_plot_errors(rng):
    with pytest.raises(ValueError, match=r"norms should be a non-empty dict"):
        plot_gradient_norms({})
    with pytest.raises(ValueError, match=r"norms\['RNN'\] should be a 1-D array.*Received: shape \(2, 3\)"):
        plot_gradient_norms({"RNN": np.ones((2, 3))})
    rnn = SimpleRNN(2, 3)
    rnn.forward(rng.normal(size=(2, 4, 2)))
    with pytest.raises(ValueError, match=r"names should be among \['hidden'\]. Received: 'input_gate' "
                                         r"\(gates exist for an LSTM only\)"):
        plot_gate_activations(rnn)
    with pytest.raises(ValueError, match=r"sample should be an index in \[0, 1\]. Received: sample=2"):
        plot_gate_activations(rnn, sample=2, names=("hidden",))
    with pytest.raises(ValueError, match=r"units should be indices in \[0, 2\], e.g. units=\[0, 5, 7\]. "
                                         r"Received: units=\[3\]"):
        plot_gate_activations(rnn, names=("hidden",), units=[3])
