import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from course_lib.diagnostics.checks import (check_initial_loss, check_regularization_loss,
                                           overfit_small_batch)


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
    with pytest.raises(ValueError, match=r"max_examples should be a positive int.*Received: max_examples=0"):
        check_initial_loss(tiny_model(), (x, y), num_classes=4, max_examples=0)
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
    with pytest.raises(ValueError, match=r"epochs should be a positive int \(e.g. epochs=50\). Received: epochs=0"):
        overfit_small_batch(tiny_model(), (x, y), epochs=0)
    with pytest.raises(ValueError, match=r"num_examples should be a positive int \(e.g. num_examples=32\)"):
        overfit_small_batch(tiny_model(), (x, y), num_examples=0)
    # NumPy ints count as ints, as everywhere in course_lib
    assert overfit_small_batch(tiny_model(), (x, y), epochs=np.int64(1), num_examples=np.int64(8), verbose=False) > 0


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
