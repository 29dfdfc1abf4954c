"""Sequential, training, gradient checks, the worked example, the perceptron and the plots."""

import numpy as np
import pytest

from course_lib import runtime

runtime.quiet_tensorflow()
tf = pytest.importorskip("tensorflow")

from course_lib.scratch import (SGD, Adam, BinaryCrossEntropy, Dense, History, MeanSquaredError,  # noqa: E402
                                Perceptron, ReLU, Sequential, Sigmoid, SoftmaxCrossEntropy, Tanh,
                                build_mlp, check_gradients, collapse_linear_layers, make_logic_gate,
                                plot_decision_boundary, plot_histories, relative_error, worked_example)


@pytest.fixture
def rng():
    return np.random.default_rng(7)


@pytest.fixture
def blobs(rng):
    """Three Gaussian blobs in 5-D, 8.5 standard deviations apart: any working classifier separates them."""
    centers = 6.0 * np.eye(3, 5)
    y = np.repeat(np.arange(3), 40)
    x = centers[y] + rng.normal(size=(120, 5))
    return x.astype("float32"), y


# ----- Sequential ------------------------------------------------------------------------------

def test_build_mlp_has_the_keras_parameter_count():
    import keras
    model = build_mlp(784, (256, 128), 10)
    reference = keras.Sequential([keras.Input((784,)), keras.layers.Dense(256, activation="relu"),
                                  keras.layers.Dense(128, activation="relu"), keras.layers.Dense(10)])
    assert model.count_params() == reference.count_params() == 235_146
    assert [layer.name for layer in model.layers] == ["dense", "re_lu", "dense_1", "re_lu_1", "dense_2"]
    assert "Total params: 235,146" in model.summary()
    assert model.forward(np.zeros((3, 784), "float32")).shape == (3, 10)


def test_mlp_gradients_match_tensorflow_end_to_end(rng):
    model = build_mlp(6, (5, 4), 3, activation="tanh", seed=3, dtype="float64")
    x, y = rng.normal(size=(8, 6)), rng.integers(0, 3, size=8)
    loss = SoftmaxCrossEntropy()
    loss.forward(model.forward(x), y)
    model.backward(loss.backward())

    weights = [tf.Variable(w) for w in model.get_weights()]
    with tf.GradientTape() as tape:
        h = tf.tanh(x @ weights[0] + weights[1])
        h = tf.tanh(h @ weights[2] + weights[3])
        logits = h @ weights[4] + weights[5]
        value = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(y, logits))
    for (name, layer, key), tf_grad in zip(model.parameters(), tape.gradient(value, weights)):
        assert relative_error(layer.grads[key], tf_grad.numpy()) < 1e-7, name


def test_get_and_set_weights_round_trip():
    a, b = build_mlp(4, (3,), 2, seed=1), build_mlp(4, (3,), 2, seed=2)
    b.set_weights(a.get_weights())
    x = np.ones((2, 4), "float32")
    np.testing.assert_array_equal(a.forward(x), b.forward(x))
    with pytest.raises(ValueError, match="set_weights expects 4 arrays. Received: 1"):
        b.set_weights([np.zeros((4, 3))])
    with pytest.raises(ValueError, match=r"dense/kernel has shape \(4, 3\). Received: \(3, 4\)"):
        b.set_weights([np.zeros((3, 4))] + a.get_weights()[1:])


def test_fit_returns_a_keras_like_history(blobs):
    x, y = blobs
    model = build_mlp(5, (16,), 3, seed=0).compile(SoftmaxCrossEntropy(), Adam(0.05))
    history = model.fit(x, y, epochs=4, batch_size=16, validation_data=(x, y), seed=0, verbose=0)
    assert isinstance(history, History)
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert all(len(v) == 4 for v in history.history.values()) and history.epoch == [0, 1, 2, 3]
    assert history.params == {"epochs": 4, "steps": 8, "batch_size": 16}
    assert len(history.step_loss) == 32
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert history.history["val_accuracy"][-1] == 1.0
    assert model.evaluate(x, y)["accuracy"] == 1.0


def test_fit_is_repeatable_with_a_seed(blobs):
    x, y = blobs
    results = []
    for _ in range(2):
        model = build_mlp(5, (8,), 3, seed=4).compile(SoftmaxCrossEntropy(), SGD(0.1, momentum=0.9))
        results.append(model.fit(x, y, epochs=2, batch_size=10, seed=5, verbose=0).history["loss"])
    assert results[0] == results[1]


def test_full_batch_and_regression_without_accuracy(rng):
    x = rng.normal(size=(50, 3)).astype("float32")
    y = x @ np.array([[1.0], [-2.0], [0.5]], dtype="float32") + 0.3
    model = Sequential([Dense(3, 1, seed=0)]).compile(MeanSquaredError(), SGD(0.1))
    history = model.fit(x, y, epochs=100, batch_size=len(x), verbose=0)
    assert "accuracy" not in history.history and history.params["steps"] == 1
    assert history.history["loss"][-1] < 1e-4
    np.testing.assert_allclose(model.layers[0].kernel.ravel(), [1.0, -2.0, 0.5], atol=1e-2)


def test_fit_stops_when_the_loss_diverges(blobs, capsys):
    x, y = blobs
    model = build_mlp(5, (16,), 3, seed=0).compile(SoftmaxCrossEntropy(), SGD(1e6))
    history = model.fit(x * 1e3, y, epochs=20, batch_size=8, verbose=2)
    assert len(history.epoch) < 20
    assert not np.isfinite(history.history["loss"][-1])
    assert "The learning rate is probably too large" in capsys.readouterr().out


def test_fit_prints_one_line_per_epoch(blobs, capsys):
    x, y = blobs
    build_mlp(5, (4,), 3).compile(SoftmaxCrossEntropy(), Adam()).fit(x, y, epochs=2, verbose=2)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 and lines[1].startswith("Epoch 2/2") and "accuracy:" in lines[1]


def test_sequential_and_fit_errors(blobs):
    x, y = blobs
    with pytest.raises(ValueError, match=r"Sequential needs at least one layer.*Received: layers=\[\]"):
        Sequential([])
    with pytest.raises(ValueError, match=r"Every item of layers should be.*Received: layers\[1\]='relu' of type str"):
        Sequential([Dense(2, 2), "relu"])
    model = build_mlp(5, (4,), 3)
    with pytest.raises(RuntimeError, match=r"Call model.compile\(loss=..., optimizer=...\) before fit"):
        model.fit(x, y)
    with pytest.raises(ValueError, match=r"loss should be a course_lib.scratch loss object.*Received: loss='mse'"):
        model.compile("mse", Adam())
    with pytest.raises(ValueError, match=r"optimizer should be a course_lib.scratch optimizer.*Received: optimizer='adam'"):
        model.compile(SoftmaxCrossEntropy(), "adam")
    model.compile(SoftmaxCrossEntropy(), Adam())
    with pytest.raises(ValueError, match=r"same number of samples. Received: len\(x\)=120, len\(y\)=119"):
        model.fit(x, y[:-1])
    with pytest.raises(ValueError, match=r"epochs should be a positive int.*Received: epochs=0"):
        model.fit(x, y, epochs=0)
    with pytest.raises(ValueError, match=r"batch_size should be a positive int.*Received: batch_size=-1"):
        model.fit(x, y, batch_size=-1)
    with pytest.raises(ValueError, match=r"verbose should be 0, 1 or 2. Received: verbose=3"):
        model.fit(x, y, verbose=3)
    with pytest.raises(ValueError, match=r"validation_data should be a tuple \(x_val, y_val\)"):
        model.fit(x, y, validation_data=(x, y, y))
    with pytest.raises(ValueError, match="x is empty"):
        model.fit(x[:0], y[:0])
    with pytest.raises(ValueError, match=r"hidden_units\[i\] should be a positive int.*Received: hidden_units\[i\]=0"):
        build_mlp(5, (4, 0), 3)


# ----- end to end ------------------------------------------------------------------------------

def test_mlp_learns_fashion_mnist_subset():
    from course_lib.data.fashion_mnist import load_fashion_mnist
    (x_train, y_train), (x_test, y_test) = load_fashion_mnist(subset="small")
    x_train = x_train.reshape(len(x_train), -1).astype("float32") / 255
    x_test = x_test.reshape(len(x_test), -1).astype("float32") / 255
    model = build_mlp(784, (64,), 10, seed=1).compile(SoftmaxCrossEntropy(), Adam(1e-3))
    assert model.evaluate(x_test, y_test)["loss"] == pytest.approx(np.log(10), abs=0.3)
    model.fit(x_train, y_train, epochs=3, batch_size=64, seed=0, verbose=0)
    # 3 epochs on 6,000 images reach ~0.82 on the 1,000 test images; chance is 0.10.
    assert model.evaluate(x_test, y_test)["accuracy"] >= 0.78


def test_two_layer_network_solves_xor():
    x, y = make_logic_gate("xor")
    net = Sequential([Dense(2, 4, seed=0, dtype="float64"), Tanh(),
                      Dense(4, 1, seed=1, dtype="float64"), Sigmoid()])
    net.compile(BinaryCrossEntropy(), Adam(0.1))
    history = net.fit(x, y.reshape(-1, 1), epochs=200, batch_size=4, shuffle=False, verbose=0)
    assert history.history["accuracy"][-1] == 1.0
    np.testing.assert_array_equal((net.forward(x) > 0.5).ravel(), y.astype(bool))


# ----- gradient checking -----------------------------------------------------------------------

def test_check_gradients_passes_a_correct_model(rng):
    model = build_mlp(6, (5,), 3, activation="tanh", seed=0, dtype="float64")
    errors = check_gradients(model, rng.normal(size=(4, 6)), rng.integers(0, 3, 4), SoftmaxCrossEntropy())
    assert set(errors) == {"dense/kernel", "dense/bias", "dense_1/kernel", "dense_1/bias"}
    assert max(errors.values()) < 1e-6


def test_check_gradients_catches_a_wrong_backward_pass(rng, monkeypatch):
    model = build_mlp(6, (5,), 3, activation="tanh", seed=0, dtype="float64")
    monkeypatch.setattr(Tanh, "backward", lambda self, grad: grad)  # forgot the derivative
    errors = check_gradients(model, rng.normal(size=(4, 6)), rng.integers(0, 3, 4), SoftmaxCrossEntropy())
    assert errors["dense/kernel"] > 1e-3
    assert errors["dense_1/kernel"] < 1e-6  # the layer after the bug is still right


def test_check_gradients_on_a_single_layer_samples_entries(rng, capsys):
    layer = Dense(30, 4, dtype="float64", seed=0)
    errors = check_gradients(layer, rng.normal(size=(3, 30)), rng.normal(size=(3, 4)), MeanSquaredError(),
                             max_checks=10, verbose=True)
    assert max(errors.values()) < 1e-6
    assert "checked  10 entries" in capsys.readouterr().out


def test_check_gradients_errors(rng):
    x, y = rng.normal(size=(2, 3)), np.array([0, 1])
    with pytest.raises(ValueError, match=r"need float64.*Received: parameters of dtype float32"):
        check_gradients(build_mlp(3, (), 2), x, y, SoftmaxCrossEntropy())
    with pytest.raises(ValueError, match="has no parameters"):
        check_gradients(Sequential([ReLU()]), x, y, SoftmaxCrossEntropy())
    with pytest.raises(ValueError, match=r"loss should be a course_lib.scratch loss.*Received: loss='ce'"):
        check_gradients(build_mlp(3, (), 2, dtype="float64"), x, y, "ce")
    with pytest.raises(ValueError, match=r"epsilon should be a small positive float.*Received: epsilon=0"):
        check_gradients(build_mlp(3, (), 2, dtype="float64"), x, y, SoftmaxCrossEntropy(), epsilon=0)
    with pytest.raises(ValueError, match="model should be a Sequential or a Layer. Received: str"):
        check_gradients("model", x, y, SoftmaxCrossEntropy())


# ----- linear collapse -------------------------------------------------------------------------

def test_stacked_linear_layers_collapse_to_one(rng):
    stack = Sequential([Dense(4, 6, seed=0, dtype="float64"), Dense(6, 5, seed=1, dtype="float64"),
                        Dense(5, 2, seed=2, dtype="float64")])
    for i, layer in enumerate(stack.layers):
        layer.set_weights(layer.kernel, rng.normal(size=layer.units))
    single = collapse_linear_layers(stack)
    x = rng.normal(size=(7, 4))
    assert single.kernel.shape == (4, 2)
    np.testing.assert_allclose(single.forward(x), stack.forward(x), rtol=1e-12)


def test_collapse_refuses_activations():
    with pytest.raises(ValueError, match=r"this one holds ReLU, a non-linear layer.*Received: ReLU\(\)"):
        collapse_linear_layers(Sequential([Dense(2, 2), ReLU(), Dense(2, 1)]))
    with pytest.raises(ValueError, match="needs at least one Dense layer"):
        collapse_linear_layers([])


# ----- the lecture's worked example --------------------------------------------------------------

def test_worked_example_reproduces_the_slide():
    result = worked_example()
    assert result.hidden == pytest.approx((0.85, 0.48))
    assert round(result.prediction, 3) == 0.191
    assert round(result.delta, 3) == -0.809
    rounded = {k: round(v, 2) for k, v in result.weights_after.items()}
    assert rounded == {"w1": 0.12, "w2": 0.23, "w3": 0.13, "w4": 0.10, "w5": 0.17, "w6": 0.17}
    np.testing.assert_array_equal(result.hidden_kernel_after.round(2), [[0.12, 0.13], [0.23, 0.10]])
    # Exact values by hand: w <- w - lr * delta * (input of the weight), hidden ones with the OLD w5, w6.
    d = 0.191 - 1
    expected = {"w5": 0.14 - 0.05 * d * 0.85, "w6": 0.15 - 0.05 * d * 0.48,
                "w1": 0.11 - 0.05 * d * 0.14 * 2, "w2": 0.21 - 0.05 * d * 0.14 * 3,
                "w3": 0.12 - 0.05 * d * 0.15 * 2, "w4": 0.08 - 0.05 * d * 0.15 * 3}
    for name, value in expected.items():
        assert result.weights_after[name] == pytest.approx(value, rel=1e-12), name
    assert result.hidden_deltas == pytest.approx((d * 0.14, d * 0.15))


def test_worked_example_gradients_match_tensorflow():
    result = worked_example()
    w = [tf.Variable(v, dtype=tf.float64) for v in (0.11, 0.21, 0.12, 0.08, 0.14, 0.15)]
    with tf.GradientTape() as tape:
        h1, h2 = 2 * w[0] + 3 * w[1], 2 * w[2] + 3 * w[3]
        loss = 0.5 * (h1 * w[4] + h2 * w[5] - 1.0) ** 2
    grads = tape.gradient(loss, w)
    assert result.loss == pytest.approx(loss.numpy(), rel=1e-12)
    for name, g in zip(("w1", "w2", "w3", "w4", "w5", "w6"), grads):
        assert result.gradients[name] == pytest.approx(g.numpy(), rel=1e-12), name


def test_worked_example_report_shows_the_slide_numbers():
    text = worked_example().report()
    for snippet in ("prediction = h1*w5 + h2*w6 = 0.1910 (0.191)", "(-0.809)", "w5: 0.14 -> 0.1744 (0.17)",
                    "w4: 0.08 -> 0.0982 (0.10)", "[[w1, w3], [w2, w4]] = [[0.12, 0.13], [0.23, 0.10]]"):
        assert snippet in text


def test_worked_example_errors():
    with pytest.raises(ValueError, match=r"inputs should be \(i1, i2\). Received 3 numbers"):
        worked_example(inputs=(1, 2, 3))
    with pytest.raises(ValueError, match=r"weights should be \(w1, w2, w3, w4, w5, w6\). Received 5 numbers"):
        worked_example(weights=(0.1,) * 5)


# ----- perceptron ------------------------------------------------------------------------------

@pytest.mark.parametrize("gate", ["and", "or", "nand"])
def test_perceptron_learns_linearly_separable_gates(gate):
    x, y = make_logic_gate(gate)
    perceptron = Perceptron(2)
    errors = perceptron.fit(x, y, epochs=20)
    assert errors[-1] == 0
    np.testing.assert_array_equal(perceptron.predict(x), y)


def test_perceptron_cannot_learn_xor():
    x, y = make_logic_gate("xor")
    for batch_size in (1, 4):
        errors = Perceptron(2).fit(x, y, epochs=100, batch_size=batch_size)
        assert min(errors) >= 1  # no straight line separates XOR


def test_perceptron_errors():
    with pytest.raises(ValueError, match=r"name should be one of \['and', 'nand', 'or', 'xor'\]. Received: name='nor'"):
        make_logic_gate("nor")
    with pytest.raises(ValueError, match=r"learning_rate should be a positive number. Received: learning_rate=0"):
        Perceptron(2, learning_rate=0)
    x, y = make_logic_gate("and")
    with pytest.raises(ValueError, match=r"y should hold 0/1 targets. Received values: \[-1, 1\]"):
        Perceptron(2).fit(x, 2 * y - 1)
    with pytest.raises(ValueError, match=r"x should have shape \(num_samples, 3\)"):
        Perceptron(3).fit(x, y)
    with pytest.raises(ValueError, match=r"x should have shape \(num_samples, 2\). Received: x.shape=\(4,\)"):
        Perceptron(2).predict(np.zeros(4))


# ----- plots -----------------------------------------------------------------------------------

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
