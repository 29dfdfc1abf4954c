"""Sequential and build_mlp: Keras-like compile/fit, training end to end, collapsing linear layers."""

import numpy as np
import pytest

from course_lib import runtime

runtime.quiet_tensorflow()
tf = pytest.importorskip("tensorflow")

from course_lib.scratch import (SGD, Adam, BinaryCrossEntropy, Dense, History, MeanSquaredError,  # noqa: E402
                                ReLU, Sequential, Sigmoid, SoftmaxCrossEntropy, Tanh, build_mlp,
                                collapse_linear_layers, make_logic_gate, relative_error)


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
