import math

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from course_lib.diagnostics.curves import (  # noqa: E402
    Finding, diagnose_history, history_to_dict, plot_training_curves)


def names(history, **kwargs):
    return [f.name for f in diagnose_history(history, **kwargs)]


HEALTHY = {
    "loss": [0.9, 0.6, 0.45, 0.38, 0.34, 0.31, 0.29, 0.28],
    "val_loss": [0.7, 0.55, 0.45, 0.40, 0.37, 0.355, 0.35, 0.349],
    "accuracy": [0.68, 0.78, 0.84, 0.86, 0.88, 0.89, 0.895, 0.90],
    "val_accuracy": [0.75, 0.80, 0.84, 0.855, 0.865, 0.87, 0.872, 0.873],
}


class FakeHistory:
    def __init__(self, history):
        self.history = history


def test_history_to_dict_accepts_history_objects_and_dicts():
    assert history_to_dict(FakeHistory({"loss": np.array([1.0, 0.5])})) == {"loss": [1.0, 0.5]}
    assert history_to_dict({"loss": [1, 2]}) == {"loss": [1.0, 2.0]}


def test_history_to_dict_errors():
    with pytest.raises(ValueError, match=r"what `model.fit` returns.*Received: history of type list"):
        history_to_dict([1.0, 0.5])
    with pytest.raises(ValueError, match=r"history\['loss'\] should be a list of numbers"):
        history_to_dict({"loss": ["a", "b"]})
    with pytest.raises(ValueError, match=r"holds no epochs"):
        history_to_dict({"loss": []})


def test_plot_draws_train_and_validation_per_metric():
    axes = plot_training_curves(HEALTHY)
    assert len(axes) == 2
    assert [a.get_ylabel() for a in axes] == ["loss", "accuracy"]
    labels = [line.get_label() for line in axes[0].get_lines()]
    assert labels[:2] == ["training loss", "validation loss"]
    # best validation loss is the last epoch here
    assert "best validation (epoch 8)" in labels
    plt.close("all")


def test_plot_accepts_aliases_ax_and_skips_missing_metrics():
    history = {"loss": [1.0, 0.5], "sparse_categorical_accuracy": [0.5, 0.7]}
    fig, axes = plt.subplots(1, 2)
    out = plot_training_curves(FakeHistory(history), ax=axes)
    assert out[1].get_ylabel() == "accuracy"
    single = plot_training_curves({"loss": [1.0, 0.5]})  # accuracy absent: skipped
    assert isinstance(single, np.ndarray) and single.shape == (1,)   # one panel: still an array
    assert single[0].get_ylabel() == "loss"
    _, ax = plt.subplots()
    assert list(plot_training_curves(HEALTHY, metrics="loss", ax=ax)) == [ax]
    plt.close("all")


def test_plot_errors():
    with pytest.raises(ValueError, match=r"None of the metrics \('auc',\) is in the history.*Available"):
        plot_training_curves(HEALTHY, metrics=("auc",))
    _, ax = plt.subplots()
    with pytest.raises(ValueError, match=r"ax should hold one Axes per metric.*got 1"):
        plot_training_curves(HEALTHY, ax=ax)
    plt.close("all")


def test_healthy_history_has_no_finding_but_still_improving():
    assert names(HEALTHY, num_classes=10) == ["still_improving"]


def test_chance_level_with_and_without_num_classes():
    flat = {"loss": [2.303, 2.302, 2.302, 2.301], "accuracy": [0.1, 0.1, 0.11, 0.1]}
    assert "chance_level" in names(flat, num_classes=10)
    assert "chance_level" in names(flat)
    # learning but starting at chance: no finding
    assert "chance_level" not in names({"loss": [2.3, 1.2, 0.8, 0.6]}, num_classes=10)
    finding = diagnose_history(flat, num_classes=10)[0]
    assert isinstance(finding, Finding) and "ln(10) = 2.303" in finding.message
    assert "Fix:" in str(finding)


def test_nan_loss_and_diverging():
    nan = {"loss": [2.3, 5.0, float("nan"), float("nan")]}
    found = names(nan)
    assert found[0] == "nan_loss"
    assert "epoch 3" in diagnose_history(nan)[0].message
    assert "diverging" in names({"loss": [2.3, 3.5, 8.0, 20.0]})
    assert "diverging" in names({"loss": [2.3, 0.5, 0.4, 0.9, 1.4, 2.1]})
    assert "diverging" not in names(HEALTHY)


def test_overfitting_from_val_loss_and_from_accuracy_gap():
    over = {
        "loss": [0.8, 0.5, 0.35, 0.25, 0.15, 0.08, 0.04],
        "val_loss": [0.7, 0.5, 0.42, 0.45, 0.52, 0.61, 0.70],
    }
    findings = diagnose_history(over)
    assert [f.name for f in findings][:1] == ["overfitting"]
    assert "epoch 3" in findings[0].message and "EarlyStopping" in findings[0].fix
    gap = {"loss": [0.5, 0.3, 0.2], "val_loss": [0.6, 0.5, 0.45],
           "accuracy": [0.8, 0.95, 0.99], "val_accuracy": [0.75, 0.8, 0.82]}
    assert "overfitting" in names(gap)
    assert "overfitting" not in names(HEALTHY)


def test_plateau_and_noisy():
    plateau = {"loss": [1.5, 1.0, 0.8, 0.7, 0.700, 0.699, 0.698, 0.699, 0.698]}
    assert "plateau" in names(plateau, num_classes=10)
    assert "plateau" not in names(HEALTHY)
    noisy = {"loss": [1.0, 0.8, 0.95, 0.7, 0.85, 0.6, 0.75, 0.55]}
    assert "noisy" in names(noisy)
    assert "noisy" not in names(HEALTHY)


def test_diagnose_errors():
    with pytest.raises(ValueError, match=r"num_classes should be an int >= 2.*Pass None to skip the chance-level "
                                         r"check. Received: num_classes=1"):
        diagnose_history(HEALTHY, num_classes=1)
    assert diagnose_history({"loss": [2.30, 2.30, 2.30]}, num_classes=np.int64(10))[0].name == "chance_level"
    with pytest.raises(ValueError, match=r"training loss under 'loss'.*Available keys: \['accuracy'\]"):
        diagnose_history({"accuracy": [0.5, 0.6]})


def test_chance_level_value_matches_ln_k():
    finding = diagnose_history({"loss": [math.log(5)] * 3}, num_classes=5)[0]
    assert finding.name == "chance_level" and "1.609" in finding.message
