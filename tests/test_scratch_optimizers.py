"""The NumPy optimizers, schedules and gradient clipping take the same steps as Keras's, on the same numbers."""

import numpy as np
import pytest

from course_lib import runtime

runtime.quiet_tensorflow()
keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")

from course_lib.scratch import (SGD, Adam, ExponentialDecay, InverseTimeDecay, clip_by_global_norm,  # noqa: E402
                                global_norm, sgd_momentum_step)


@pytest.fixture
def rng():
    return np.random.default_rng(6)


def run_both(ours, theirs, steps=5, seed=0):
    """Applies the same gradient sequence with our optimizer and Keras's; returns both final weights."""
    rng = np.random.default_rng(seed)
    start = [rng.normal(size=(4, 3)), rng.normal(size=3)]
    grads = [[rng.normal(size=w.shape) for w in start] for _ in range(steps)]
    mine = [w.copy() for w in start]
    variables = [keras.Variable(w, dtype="float64") for w in start]
    for step_grads in grads:
        ours.apply(step_grads, mine)
        theirs.apply([keras.ops.convert_to_tensor(g, dtype="float64") for g in step_grads], variables)
    return mine, [np.asarray(v.numpy()) for v in variables], start


# Keras casts its hyperparameters through float32 (0.9 becomes 0.89999998): values that
# float32 represents exactly (sums of powers of two) make the comparison exact in float64.
@pytest.mark.parametrize("kwargs", [
    {"learning_rate": 0.125},
    {"learning_rate": 0.0625, "momentum": 0.875},
    {"learning_rate": 0.0625, "momentum": 0.875, "nesterov": True},
])
def test_sgd_matches_keras(kwargs):
    mine, theirs, start = run_both(SGD(**kwargs), keras.optimizers.SGD(**kwargs))
    for a, b, w0 in zip(mine, theirs, start):
        assert not np.allclose(a, w0)  # it moved
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


def test_adam_matches_keras():
    kwargs = {"learning_rate": 2 ** -6, "beta_1": 0.875, "beta_2": 1 - 2 ** -10, "epsilon": 2 ** -20}
    mine, theirs, _ = run_both(Adam(**kwargs), keras.optimizers.Adam(**kwargs), steps=8)
    for a, b in zip(mine, theirs):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def test_adam_defaults_are_keras_defaults():
    mine, theirs, _ = run_both(Adam(), keras.optimizers.Adam(), steps=3)
    for a, b in zip(mine, theirs):
        np.testing.assert_allclose(a, b, rtol=1e-6)  # up to Keras's float32 hyperparameters


def test_adam_without_bias_correction_takes_larger_first_steps():
    # Constant gradient g: m_t = (1 - beta_1^t) g and v_t = (1 - beta_2^t) g^2, so without the
    # correction the step is lr (1 - beta_1^t) / sqrt(1 - beta_2^t): 3.16 lr at t = 1, 6.5 lr at t = 10.
    for t_max, ratio in ((1, 0.1 / np.sqrt(0.001)), (10, (1 - 0.9 ** 10) / np.sqrt(1 - 0.999 ** 10))):
        steps = {}
        for correct in (True, False):
            optimizer, w = Adam(learning_rate=0.01, bias_correction=correct), [np.zeros(3)]
            for _ in range(t_max):
                before = w[0].copy()
                optimizer.apply([np.full(3, 0.5)], w)
            steps[correct] = before[0] - w[0][0]
        assert steps[True] == pytest.approx(0.01, rel=1e-4)          # corrected: exactly the learning rate
        assert steps[False] == pytest.approx(0.01 * ratio, rel=1e-4)


def test_schedule_drives_the_optimizer_like_keras():
    ours = SGD(ExponentialDecay(0.1, decay_steps=2, decay_rate=0.5), momentum=0.5)
    theirs = keras.optimizers.SGD(keras.optimizers.schedules.ExponentialDecay(0.1, 2, 0.5), momentum=0.5)
    mine, reference, _ = run_both(ours, theirs, steps=6)
    for a, b in zip(mine, reference):
        np.testing.assert_allclose(a, b, rtol=1e-7)  # Keras evaluates the schedule in float32
    assert ours.iterations == 6
    assert ours.current_learning_rate() == pytest.approx(0.1 * 0.5 ** 3)


@pytest.mark.parametrize("ours_cls, keras_cls, staircase", [
    (ExponentialDecay, keras.optimizers.schedules.ExponentialDecay, False),
    (ExponentialDecay, keras.optimizers.schedules.ExponentialDecay, True),
    (InverseTimeDecay, keras.optimizers.schedules.InverseTimeDecay, False),
    (InverseTimeDecay, keras.optimizers.schedules.InverseTimeDecay, True),
])
def test_schedules_match_keras(ours_cls, keras_cls, staircase):
    ours = ours_cls(0.1, decay_steps=10, decay_rate=0.7, staircase=staircase)
    theirs = keras_cls(0.1, decay_steps=10, decay_rate=0.7, staircase=staircase)
    for step in (0, 1, 9, 10, 15, 100):
        assert ours(step) == pytest.approx(float(theirs(step)), rel=1e-6)
    np.testing.assert_allclose(ours(np.array([0, 10])), [ours(0), ours(10)])


def test_sgd_momentum_step_is_keras_convention():
    param, grad, velocity = np.array([1.0, -2.0]), np.array([0.5, 0.25]), np.array([0.1, 0.0])
    new_param, new_velocity = sgd_momentum_step(param, grad, velocity, learning_rate=0.1, momentum=0.9)
    np.testing.assert_allclose(new_velocity, [0.9 * 0.1 - 0.05, -0.025])
    np.testing.assert_allclose(new_param, param + new_velocity)
    np.testing.assert_array_equal(param, [1.0, -2.0])  # inputs untouched
    optimizer = SGD(0.1, momentum=0.9)
    w = param.copy()
    optimizer.apply([velocity / -0.1], [w])  # first step builds v = -lr*g = velocity
    optimizer.apply([grad], [w])
    np.testing.assert_allclose(w, param + velocity + new_velocity)


def test_float32_parameters_stay_float32():
    w = np.ones(3, dtype="float32")
    for optimizer in (SGD(0.1), SGD(0.1, momentum=0.9), Adam()):
        optimizer.apply([np.ones(3, dtype="float32")], [w])
        assert w.dtype == np.float32


def test_optimizer_errors():
    with pytest.raises(ValueError, match=r"learning_rate should be a positive number, e.g. learning_rate=0.001. Received: learning_rate=-0.1"):
        SGD(-0.1)
    with pytest.raises(ValueError, match=r"momentum should be a number in \[0, 1\), e.g. momentum=0.9. Received: momentum=1.0"):
        SGD(0.1, momentum=1.0)
    with pytest.raises(ValueError, match=r"beta_2 should be a number in \[0, 1\), e.g. beta_2=0.999. Received: beta_2=1.5"):
        Adam(beta_2=1.5)
    with pytest.raises(ValueError, match=r"decay_steps should be a positive number, e.g. decay_steps=1000. Received: decay_steps=0"):
        ExponentialDecay(0.1, decay_steps=0, decay_rate=0.5)
    optimizer = SGD(0.1)
    with pytest.raises(ValueError, match=r"one gradient per variable. Received: 1 gradients for 2 variables"):
        optimizer.apply([np.zeros(2)], [np.zeros(2), np.zeros(2)])
    with pytest.raises(ValueError, match=r"Received: gradient \(3,\) for variable \(2,\)"):
        optimizer.apply([np.zeros(3)], [np.zeros(2)])
    optimizer.apply([np.zeros(2)], [np.zeros(2)])
    with pytest.raises(ValueError, match=r"first used with 1 variables and now receives 2; use one optimizer per model"):
        optimizer.apply([np.zeros(2)] * 2, [np.zeros(2), np.zeros(2)])


def test_clip_by_global_norm_matches_tensorflow(rng):
    grads = [rng.normal(size=(3, 4)) * 10, rng.normal(size=5) * 10]
    clipped, norm = clip_by_global_norm(grads, max_norm=1.0)
    tf_clipped, tf_norm = tf.clip_by_global_norm([tf.constant(g) for g in grads], 1.0)
    assert norm == pytest.approx(float(tf_norm), rel=1e-12)
    assert global_norm(grads) == pytest.approx(float(tf.linalg.global_norm(grads)), rel=1e-12)
    for mine, theirs in zip(clipped, tf_clipped):
        np.testing.assert_allclose(mine, theirs.numpy(), rtol=1e-12)
    assert global_norm(clipped) == pytest.approx(1.0)
    cosine = sum(np.sum(a * b) for a, b in zip(grads, clipped)) / (norm * 1.0)
    assert cosine == pytest.approx(1.0)  # same direction, only shorter


def test_clip_by_global_norm_leaves_small_gradients_and_keeps_containers():
    small = {"kernel": np.array([0.3, 0.4])}
    clipped, norm = clip_by_global_norm(small, max_norm=1.0)
    assert isinstance(clipped, dict) and norm == pytest.approx(0.5)
    np.testing.assert_array_equal(clipped["kernel"], small["kernel"])
    assert clipped["kernel"] is not small["kernel"]  # new arrays: the input is not modified
    clipped32, _ = clip_by_global_norm([np.full(4, 10.0, dtype="float32")], 2)
    assert clipped32[0].dtype == np.float32


def test_clipping_errors():
    with pytest.raises(ValueError, match=r"max_norm should be a positive number.*Received: max_norm=0"):
        clip_by_global_norm([np.ones(2)], 0)
    with pytest.raises(ValueError, match=r"expects at least one gradient array. Received: an empty list"):
        clip_by_global_norm([], 1.0)
    with pytest.raises(ValueError, match=r"global_norm expects a list \(or dict\) of gradient arrays.*"
                                         r"Received: ndarray"):
        global_norm(np.ones(3))
