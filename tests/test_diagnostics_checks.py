import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from course_lib.diagnostics.checks import (check_initial_loss, check_regularization_loss,
                                           overfit_small_batch)
from course_lib.diagnostics.search import (plot_search, random_search, refine_space,
                                           sample_hyperparameters)


def tiny_data(n=64, num_classes=4, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 255, (n, 8, 8, 1)).astype("float32")
    y = rng.integers(0, num_classes, n)
    return x, y


def tiny_model(num_classes=4, l2=0.0, logits=False):
    keras.utils.set_random_seed(1)
    reg = keras.regularizers.L2(l2) if l2 else None
    model = keras.Sequential([
        keras.Input((8, 8, 1)), keras.layers.Rescaling(1 / 255), keras.layers.Flatten(),
        keras.layers.Dense(32, activation="relu", kernel_regularizer=reg),
        keras.layers.Dense(num_classes, activation=None if logits else "softmax", kernel_regularizer=reg)])
    model.compile(optimizer=keras.optimizers.Adam(1e-2),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=logits))
    return model


def test_initial_loss_near_ln_k_for_probs_logits_and_datasets(capsys):
    x, y = tiny_data()
    loss = check_initial_loss(tiny_model(), (x, y), num_classes=4)
    assert abs(loss - math.log(4)) < 0.3
    assert "expected ln(4) = 1.386: OK" in capsys.readouterr().out
    dataset = tf.data.Dataset.from_tensor_slices((x, keras.utils.to_categorical(y, 4))).batch(16)
    assert check_initial_loss(tiny_model(logits=True), dataset, num_classes=4, verbose=False) == \
        pytest.approx(loss, abs=1e-4)


def test_initial_loss_flags_overconfident_model(capsys):
    x, y = tiny_data()
    model = tiny_model()
    last = model.layers[-1]
    kernel, bias = last.get_weights()
    last.set_weights([kernel * 200, bias])  # huge weights: confident and mostly wrong
    loss = check_initial_loss(model, (x, y), num_classes=4)
    assert loss > 2 * math.log(4)
    assert "TOO HIGH" in capsys.readouterr().out


def test_initial_loss_errors():
    x, y = tiny_data()
    with pytest.raises(ValueError, match=r"num_classes should be an int >= 2.*Received: num_classes=1"):
        check_initial_loss(tiny_model(), (x, y), num_classes=1)
    with pytest.raises(ValueError, match=r"shape \(batch, 10\).*Received: outputs of shape \(64, 4\)"):
        check_initial_loss(tiny_model(), (x, y), num_classes=10)
    with pytest.raises(ValueError, match=r"dataset should be a tf.data.Dataset.*Received: dataset of type str"):
        check_initial_loss(tiny_model(), "data/", num_classes=4)
    with pytest.raises(ValueError, match=r"dataset is empty"):
        check_initial_loss(tiny_model(), tf.data.Dataset.from_tensor_slices((x[:0], y[:0])).batch(4), 4)


def test_overfit_small_batch_reaches_low_loss(capsys):
    x, y = tiny_data()
    final = overfit_small_batch(tiny_model(), (x, y), epochs=60, num_examples=16)
    assert final < 0.1
    assert "OK: the model can memorise" in capsys.readouterr().out


def test_overfit_small_batch_reports_failure(capsys):
    x, y = tiny_data()
    model = tiny_model()
    model.compile(optimizer=keras.optimizers.SGD(1e-6), loss="sparse_categorical_crossentropy")
    assert overfit_small_batch(model, (x, y), epochs=3) > 0.5
    assert "NOT NEAR ZERO" in capsys.readouterr().out


def test_overfit_small_batch_errors():
    x, y = tiny_data()
    uncompiled = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(), keras.layers.Dense(4)])
    with pytest.raises(ValueError, match=r"model should be compiled first"):
        overfit_small_batch(uncompiled, (x, y))
    with pytest.raises(ValueError, match=r"epochs should be an int >= 1.*Received: epochs=0"):
        overfit_small_batch(tiny_model(), (x, y), epochs=0)
    with pytest.raises(ValueError, match=r"num_examples should be an int >= 1"):
        overfit_small_batch(tiny_model(), (x, y), num_examples=0)


def test_regularization_raises_the_loss(capsys):
    x, y = tiny_data()
    losses = check_regularization_loss(lambda l2: tiny_model(l2=l2), (x, y), l2_factors=(0.0, 1e-2, 1e-1))
    assert losses[0] < losses[1] < losses[2]
    assert "OK: stronger regularisation" in capsys.readouterr().out
    # a builder that ignores the factor is caught
    check_regularization_loss(lambda l2: tiny_model(), (x, y), l2_factors=(0.0, 1e-1))
    assert "NOT INCREASING" in capsys.readouterr().out
    with pytest.raises(ValueError, match=r"l2_factors should hold at least two increasing values"):
        check_regularization_loss(tiny_model, (x, y), l2_factors=(1e-2, 1e-3))
    with pytest.raises(ValueError, match=r"build_model should be a function"):
        check_regularization_loss(None, (x, y))


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
    with pytest.raises(ValueError, match=r"num_trials should be an int >= 1"):
        sample_hyperparameters(SPACE, num_trials=0)
    with pytest.raises(ValueError, match=r"train_and_score should be a function"):
        random_search(None, SPACE)
    with pytest.raises(ValueError, match=r"at least one trial with a finite score"):
        refine_space([], SPACE)
    with pytest.raises(ValueError, match=r"top_k should be an int >= 1"):
        refine_space([{"params": {"units": 8}, "score": 1.0}], SPACE, top_k=0)
    with pytest.raises(ValueError, match=r"trials should be the non-empty list"):
        plot_search([], "units")
    with pytest.raises(ValueError, match=r"'lr' is not a searched hyper-parameter"):
        plot_search([{"params": {"units": 8}, "score": 1.0}], "lr")
