"""Tests for course_lib.models.autoencoders: builders, PCA and subspaces, the VAE's KL and sample."""

import doctest

import keras
import matplotlib
import numpy as np
import pytest
import tensorflow as tf

matplotlib.use("Agg")

from course_lib.models import autoencoders  # noqa: E402
from course_lib.models.autoencoders import (VAE, Sampling, add_gaussian_noise,  # noqa: E402
                                            bernoulli_reconstruction_loss, build_conv_autoencoder,
                                            build_dense_autoencoder, build_vae, fit_pca, gaussian_kl,
                                            interpolate_latent, linear_probe_accuracy, monte_carlo_kl,
                                            pca_reconstruct, plot_embedding_2d, plot_image_rows, prepare_images,
                                            principal_angles, reconstruction_mse, reparameterize)


def test_doctests():
    assert doctest.testmod(autoencoders, raise_on_error=False).failed == 0


# --------------------------------------------------------------------------- data

def test_prepare_images_rescales_uint8_and_adds_a_channel():
    images = prepare_images(np.full((3, 28, 28), 255, dtype=np.uint8))
    assert images.shape == (3, 28, 28, 1) and images.dtype == np.float32 and images.max() == 1.0


@pytest.mark.parametrize("images, match", [(np.zeros((3, 28, 28, 3)), "shape"),
                                           (np.full((2, 4, 4), 7.0), r"in \[0, 1\]")])
def test_prepare_images_rejects(images, match):
    with pytest.raises(ValueError, match=match):
        prepare_images(images)


def test_add_gaussian_noise_is_seeded_and_clipped():
    images = np.full((4, 5, 5, 1), 0.5, dtype="float32")
    a, b = add_gaussian_noise(images, 0.3, seed=1), add_gaussian_noise(images, 0.3, seed=1)
    assert np.array_equal(a, b) and a.min() >= 0 and a.max() <= 1
    assert 0.2 < np.std(a) < 0.35
    with pytest.raises(ValueError, match=r"noise_std should be a number in \[0, 1\], e.g. noise_std=0.3. Received: noise_std=-1"):
        add_gaussian_noise(images, -1)


# --------------------------------------------------------------------------- builders

def test_dense_autoencoder_shapes_and_parameters():
    model = build_dense_autoencoder(latent_dim=8, hidden_units=(64,))
    assert model.get_layer("encoder").output.shape == (None, 8)
    assert model.output.shape == (None, 28, 28, 1)
    assert model.count_params() == (784 * 64 + 64) + (64 * 8 + 8) + (8 * 64 + 64) + (64 * 784 + 784)
    linear = build_dense_autoencoder(latent_dim=2, hidden_units=(), activation=None, output_activation=None)
    x = np.random.default_rng(0).random((3, 28, 28, 1)).astype("float32")
    # linear: f(a + b) - f(0) = (f(a) - f(0)) + (f(b) - f(0))
    f = lambda v: np.asarray(linear(v))  # noqa: E731
    zero = np.zeros_like(x[:1])
    np.testing.assert_allclose(f(x[:1] + x[1:2]) - f(zero), f(x[:1]) - f(zero) + f(x[1:2]) - f(zero), atol=1e-5)
    # an empty list means no hidden layer too, like ()
    assert build_dense_autoencoder(latent_dim=2, hidden_units=[]).count_params() == linear.count_params()


@pytest.mark.parametrize("kwargs, match", [({"latent_dim": 0}, "latent_dim should be a positive int"),
                                           ({"hidden_units": 256}, r"hidden_units should be a tuple \(possibly empty\) of positive ints, e.g. hidden_units=\(256,\). Received: hidden_units=256"),
                                           ({"hidden_units": [256, 0]}, r"Received: hidden_units=\[256, 0\]"),
                                           ({"input_shape": (28, 28)}, "input_shape should be")])
def test_dense_autoencoder_rejects(kwargs, match):
    with pytest.raises(ValueError, match=match):
        build_dense_autoencoder(**kwargs)


def test_conv_autoencoder_uses_transposed_convolutions():
    model = build_conv_autoencoder(latent_dim=16, filters=(8, 16))
    decoder = model.get_layer("decoder")
    assert [type(layer).__name__ for layer in decoder.layers].count("Conv2DTranspose") == 2
    assert decoder.get_layer("grid").output.shape == (None, 7, 7, 16)
    assert model.output.shape == (None, 28, 28, 1)
    out = np.asarray(model(np.zeros((2, 28, 28, 1), "float32")))
    assert out.min() >= 0 and out.max() <= 1
    with pytest.raises(ValueError, match="divisible by 2 \\*\\* len\\(filters\\) = 8"):
        build_conv_autoencoder(filters=(8, 16, 32))


def test_reconstruction_mse_of_an_identity_model_is_zero():
    identity = keras.Sequential([keras.Input((4, 4, 1)), keras.layers.Identity()])
    x = np.random.default_rng(0).random((5, 4, 4, 1)).astype("float32")
    assert reconstruction_mse(identity, x) == 0.0


# --------------------------------------------------------------------------- PCA and subspaces

def test_pca_error_is_the_sum_of_discarded_variances():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(500, 6)) * np.array([5.0, 3.0, 2.0, 1.0, 0.5, 0.1])
    mean, components = fit_pca(x, 2)
    assert components.shape == (2, 6)
    np.testing.assert_allclose(components @ components.T, np.eye(2), atol=1e-12)
    error = np.sum((x - pca_reconstruct(x, mean, components)) ** 2) / len(x)
    variances = np.linalg.eigvalsh(np.cov(x.T, bias=True))[::-1]
    np.testing.assert_allclose(error, variances[2:].sum(), rtol=1e-10)
    with pytest.raises(ValueError, match="num_components should be at most"):
        fit_pca(x, 7)
    with pytest.raises(ValueError, match="flatten images first"):
        fit_pca(x[:, :, None], 2)


def test_principal_angles_known_cases():
    np.testing.assert_allclose(principal_angles(np.eye(3)[:2], np.eye(3)[:2] * 5 + np.eye(3)[1]), [0, 0], atol=1e-6)
    np.testing.assert_allclose(principal_angles([[1.0, 0.0]], [[1.0, 1.0]]), [45.0])
    np.testing.assert_allclose(principal_angles(np.eye(4)[:2], np.eye(4)[2:]), [90.0, 90.0])
    with pytest.raises(ValueError, match="vectors of the same length"):
        principal_angles(np.eye(3), np.eye(4))


def test_linear_autoencoder_trained_with_mse_spans_the_pca_subspace():
    rng = np.random.default_rng(0)
    x = (rng.normal(size=(400, 3)) * [3.0, 2.0, 1.5]) @ rng.normal(size=(3, 12)) + 0.1 * rng.normal(size=(400, 12))
    x = x.reshape(-1, 3, 4, 1).astype("float32")
    keras.utils.set_random_seed(0)
    model = build_dense_autoencoder((3, 4, 1), latent_dim=3, hidden_units=(), activation=None, output_activation=None)
    model.compile(optimizer=keras.optimizers.Adam(0.02), loss="mse")
    repeated = np.tile(x, (300, 1, 1, 1))                 # 300 full-batch steps in one epoch (fast)
    model.fit(repeated, repeated, epochs=1, batch_size=400, shuffle=False, verbose=0)
    _, components = fit_pca(x.reshape(400, -1), 3)
    decoder_kernel = model.get_layer("decoder").get_layer("pixels").get_weights()[0]     # (3, 12)
    assert principal_angles(decoder_kernel, components).max() < 2.0
    random_angles = principal_angles(rng.normal(size=(3, 12)), components)
    assert random_angles.max() > 30


def test_linear_probe_separates_separable_classes():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, size=300)
    features = rng.normal(size=(300, 5)) + 4 * np.eye(5)[labels]
    assert linear_probe_accuracy(features[:200], labels[:200], features[200:], labels[200:], epochs=5,
                                 batch_size=16) > 0.95
    with pytest.raises(ValueError, match="same size"):
        linear_probe_accuracy(features, labels, features[:, :3], labels)


# --------------------------------------------------------------------------- VAE

def test_reparameterize_values_and_gradients_match_the_closed_form():
    mean = tf.Variable([[0.5, -1.0]], dtype="float64")
    log_var = tf.Variable([[0.0, np.log(4.0)]], dtype="float64")
    epsilon = tf.constant([[1.0, -0.5]], dtype="float64")
    with tf.GradientTape(persistent=True) as tape:
        z = reparameterize(mean, log_var, epsilon)
        total = tf.reduce_sum(z)
    np.testing.assert_allclose(z.numpy(), [[1.5, -2.0]])                   # std 1 and 2
    np.testing.assert_allclose(tape.gradient(total, mean).numpy(), [[1.0, 1.0]])
    np.testing.assert_allclose(tape.gradient(total, log_var).numpy(),
                               0.5 * np.exp(0.5 * log_var.numpy()) * epsilon.numpy())


def test_gaussian_kl_closed_form_matches_monte_carlo_and_the_1d_formula():
    rng = np.random.default_rng(0)
    for _ in range(3):
        mean, log_var = rng.normal(size=3), rng.normal(scale=0.5, size=3)
        closed = float(gaussian_kl(mean, log_var))
        np.testing.assert_allclose(monte_carlo_kl(mean, log_var, num_samples=200_000, seed=1), closed, atol=0.03)
        variance = np.exp(log_var)
        np.testing.assert_allclose(closed, np.sum(0.5 * (variance + mean ** 2 - 1 - log_var)), rtol=1e-12)
    assert float(gaussian_kl(np.zeros(4), np.zeros(4))) == 0.0
    assert np.asarray(gaussian_kl(np.zeros((5, 2)), np.zeros((5, 2)))).shape == (5,)
    with pytest.raises(ValueError, match=r"shape \(latent_dim,\)"):
        monte_carlo_kl(np.zeros(2), np.zeros(3))


def test_sampling_layer_draws_from_the_encoder_distribution():
    mean = np.full((20000, 1), 2.0, "float32")
    log_var = np.full((20000, 1), np.log(9.0), "float32")
    z = np.asarray(Sampling(seed=0)([mean, log_var]))
    assert abs(z.mean() - 2.0) < 0.1 and abs(z.std() - 3.0) < 0.1


def test_bernoulli_reconstruction_loss_is_keras_bce_summed_over_pixels():
    rng = np.random.default_rng(0)
    x, p = rng.random((3, 4, 4, 1)).astype("float32"), rng.uniform(0.05, 0.95, (3, 4, 4, 1)).astype("float32")
    keras_bce = np.asarray(keras.losses.binary_crossentropy(x, p)).reshape(3, -1).sum(axis=1)
    np.testing.assert_allclose(np.asarray(bernoulli_reconstruction_loss(x, p)), keras_bce, rtol=1e-4)


def test_vae_trains_evaluates_and_reconstructs():
    keras.utils.set_random_seed(0)
    vae = build_vae(latent_dim=2, filters=(4, 8), seed=0)
    assert isinstance(vae, VAE)
    assert [output.shape for output in vae.encoder.outputs] == [(None, 2), (None, 2)]
    vae.compile(optimizer=keras.optimizers.Adam(1e-3))
    x = np.random.default_rng(0).random((32, 28, 28, 1)).astype("float32")
    history = vae.fit(x, epochs=2, batch_size=16, verbose=0)
    assert set(history.history) == {"loss", "reconstruction_loss", "kl_loss"}
    scores = vae.evaluate(x, verbose=0, return_dict=True)
    np.testing.assert_allclose(scores["loss"], scores["reconstruction_loss"] + scores["kl_loss"], rtol=1e-4)
    assert scores["kl_loss"] >= 0
    assert vae.predict(x[:3], verbose=0).shape == (3, 28, 28, 1)
    with pytest.raises(ValueError, match="latent_dim should be a positive int"):
        build_vae(latent_dim=0)


def test_interpolate_latent_includes_both_ends():
    codes = interpolate_latent([0.0, 0.0], [1.0, -2.0], num_steps=5)
    assert codes.shape == (5, 2)
    np.testing.assert_allclose(codes[[0, 2, 4]], [[0, 0], [0.5, -1], [1, -2]])


def test_plots_run_and_reject_bad_shapes():
    images = np.zeros((4, 28, 28, 1))
    axes = plot_image_rows({"input": images, "output": images}, num_images=3)
    assert isinstance(axes, np.ndarray) and axes.shape == (2 * 3,)          # row by row
    assert [t.get_text() for t in axes[3].texts] == ["output"]              # each row's title, on its left
    assert plot_image_rows({"one": images[:1]}).shape == (1,)                # one image: still an array
    bright = plot_image_rows({"above 1": np.full((1, 28, 28), 1.05)})[0]    # a linear decoder overshoots
    assert bright.get_images()[0].get_array().max() == 1.0                  # clipped, not read as 0-255
    with pytest.raises(ValueError, match=r"num_images should be a positive int.*Received: num_images=0"):
        plot_image_rows({"input": images}, num_images=0)
    import matplotlib.pyplot as plt
    plt.close("all")
    ax = plot_embedding_2d(np.random.default_rng(0).normal(size=(50, 2)), np.arange(50) % 10,
                           class_names=[str(k) for k in range(10)])
    assert ax.get_xlabel() == "code 1"
    with pytest.raises(ValueError, match=r"shape \(n, 2\)"):
        plot_embedding_2d(np.zeros((5, 3)), np.zeros(5))
