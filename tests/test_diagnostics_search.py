"""Tests for course_lib.diagnostics.search: random search, coarse then fine."""

import math

import numpy as np
import pytest

from course_lib.diagnostics.search import plot_search, random_search, refine_space, sample_hyperparameters


SPACE = {"learning_rate": ("log", 1e-5, 1e-1), "dropout_rate": ("uniform", 0.0, 0.5),
         "units": ("int", 8, 64), "optimizer": ["adam", "sgd"]}


def test_sampling_respects_ranges_and_seed():
    samples = sample_hyperparameters(SPACE, num_trials=200, seed=3)
    rates = np.array([s["learning_rate"] for s in samples])
    assert rates.min() >= 1e-5 and rates.max() <= 1e-1
    # log-uniform: about a quarter of the draws per decade
    assert 0.15 < np.mean(rates < 1e-4) < 0.35
    assert all(8 <= s["units"] <= 64 and isinstance(s["units"], int) for s in samples)
    assert {s["optimizer"] for s in samples} == {"adam", "sgd"}
    assert samples[:3] == sample_hyperparameters(SPACE, num_trials=3, seed=3)
    assert samples[:3] == sample_hyperparameters(SPACE, num_trials=np.int64(3), seed=np.int64(3))


def test_random_search_then_refine_finds_the_optimum(capsys):
    def score(params):  # best at learning_rate = 1e-3, dropout 0.2
        return -abs(math.log10(params["learning_rate"]) + 3) - abs(params["dropout_rate"] - 0.2)
    space = {"learning_rate": ("log", 1e-6, 1.0), "dropout_rate": ("uniform", 0.0, 0.6)}
    coarse = random_search(score, space, num_trials=12, seed=0)
    assert [t["score"] for t in coarse] == sorted((t["score"] for t in coarse), reverse=True)
    assert "trial 12/12" in capsys.readouterr().out
    fine_space = refine_space(coarse, space, top_k=3)
    low, high = fine_space["learning_rate"][1:]
    assert 1e-6 <= low < 1e-3 < high <= 1.0 and high / low < 1e6
    fine = random_search(score, fine_space, num_trials=12, seed=1, verbose=False)
    assert fine[0]["score"] >= coarse[0]["score"] - 0.3
    import matplotlib
    matplotlib.use("Agg")
    ax = plot_search(coarse + fine, "learning_rate")
    assert ax.get_xscale() == "log"
    plot_search(coarse, "learning_rate", "dropout_rate")


def test_search_errors():
    with pytest.raises(ValueError, match=r"space should be a non-empty dict"):
        sample_hyperparameters({})
    with pytest.raises(ValueError, match=r"space\['lr'\] should be \(\"log\", low, high\)"):
        sample_hyperparameters({"lr": ("exp", 1, 2)})
    with pytest.raises(ValueError, match=r"log range, so low should be > 0"):
        sample_hyperparameters({"lr": ("log", 0, 1)})
    with pytest.raises(ValueError, match=r"empty list of choices"):
        sample_hyperparameters({"opt": []})
    with pytest.raises(ValueError, match=r"num_trials should be a positive int \(e.g. num_trials=10\)"):
        sample_hyperparameters(SPACE, num_trials=0)
    with pytest.raises(ValueError, match=r"seed should be an int \(e.g. seed=1337\)"):
        sample_hyperparameters(SPACE, seed="one")
    with pytest.raises(ValueError, match=r"train_and_score should be a function"):
        random_search(None, SPACE)
    with pytest.raises(ValueError, match=r"at least one trial with a finite score"):
        refine_space([], SPACE)
    with pytest.raises(ValueError, match=r"top_k should be a positive int"):
        refine_space([{"params": {"units": 8}, "score": 1.0}], SPACE, top_k=0)
    with pytest.raises(ValueError, match=r"trials should be the non-empty list"):
        plot_search([], "units")
    with pytest.raises(ValueError, match=r"'lr' is not a searched hyper-parameter"):
        plot_search([{"params": {"units": 8}, "score": 1.0}], "lr")
