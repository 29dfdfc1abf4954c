"""Autoencoders, PCA and variational autoencoders (lab 07).

    x = prepare_images(x_train)                                   # uint8 (n, 28, 28) -> float32 (n, 28, 28, 1)
    autoencoder = build_dense_autoencoder(latent_dim=32)          # encoder and decoder are sub-models
    autoencoder.compile(optimizer="adam", loss="mse")
    autoencoder.fit(x, x, epochs=10, verbose=2)                   # the input is its own target
    codes = autoencoder.get_layer("encoder").predict(x)           # (n, 32): the embedding

    mean, components = fit_pca(x.reshape(len(x), -1), num_components=32)
    principal_angles(decoder_kernel.T, components)                # 0 degrees: the same subspace

    vae = build_vae(latent_dim=2)                                 # a keras.Model with its own train_step
    vae.compile(optimizer="adam")
    vae.fit(x, epochs=10, verbose=2)                              # loss = reconstruction + KL

The VAE's two formulas are plain functions, checked in the tests against
`tf.GradientTape` and a Monte Carlo estimate:

    z = reparameterize(mean, log_var, epsilon)     # mean + exp(log_var / 2) * epsilon
    gaussian_kl(mean, log_var)                     # KL(N(mean, exp(log_var)) || N(0, I)), one per example
"""

import keras
import numpy as np
import tensorflow as tf
from keras import layers, ops

from course_lib._validation import check_input_shape, check_int, check_ints, check_number
from course_lib.image_grid import image_grid, show_image


# --------------------------------------------------------------------------- data

def prepare_images(images):
    """Returns images as float32 in [0, 1] with a channel axis: (n, 28, 28) uint8 -> (n, 28, 28, 1).

    Raises:
        ValueError: `images` is not (n, height, width) or (n, height, width, 1) with values in [0, 255].
    """
    images = np.asarray(images)
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4 or images.shape[-1] != 1:
        raise ValueError("images should have shape (n, height, width) or (n, height, width, 1), e.g. "
                         f"Fashion-MNIST's (60000, 28, 28). Received: shape {images.shape}")
    if images.dtype == np.uint8:
        return images.astype("float32") / 255.0
    if images.size and (images.min() < 0 or images.max() > 1):
        raise ValueError("float images should be in [0, 1]; pass uint8 pixels (0-255) to have them rescaled. "
                         f"Received: values from {images.min():.3g} to {images.max():.3g}")
    return images.astype("float32")


def add_gaussian_noise(images, noise_std=0.3, seed=0):
    """Returns `images + N(0, noise_std^2)` clipped to [0, 1]: the input of a denoising autoencoder.

    Example:

    >>> noisy = add_gaussian_noise(np.full((2, 4, 4, 1), 0.5, "float32"), noise_std=0.1)
    >>> noisy.shape, noisy.dtype.name, bool(noisy.min() >= 0)
    ((2, 4, 4, 1), 'float32', True)
    """
    check_number(noise_std, "noise_std", low=0.0, high=1.0, example=0.3)
    images = np.asarray(images, dtype="float32")
    noise = np.random.default_rng(seed).normal(0.0, noise_std, size=images.shape)
    return np.clip(images + noise, 0.0, 1.0).astype("float32")


# --------------------------------------------------------------------------- autoencoders

def build_dense_autoencoder(input_shape=(28, 28, 1), latent_dim=32, hidden_units=(256,), activation="relu",
                            output_activation="sigmoid"):
    """Builds a dense autoencoder: image -> `latent_dim` numbers (the code) -> image.

    The returned model chains two sub-models, `get_layer("encoder")` (image -> code) and
    `get_layer("decoder")` (code -> image). The code layer is linear. With
    `hidden_units=()`, `activation=None` and `output_activation=None` the whole model is
    linear: trained with the mean squared error, its decoder spans PCA's subspace.

    Args:
        input_shape: (height, width, channels) of images in [0, 1].
        latent_dim: size of the bottleneck.
        hidden_units: widths of the hidden layers of the encoder (the decoder mirrors them).
        activation: activation of the hidden layers.
        output_activation: "sigmoid" for pixels in [0, 1], None for a linear output.

    Returns:
        A `keras.Model` named "autoencoder" (not compiled).

    Example:

    >>> build_dense_autoencoder(latent_dim=2, hidden_units=()).count_params()  # (784*2 + 2) + (2*784 + 784)
    3922
    """
    input_shape = check_input_shape(input_shape)
    latent_dim = check_int(latent_dim, "latent_dim", example=32)
    # () is allowed: no hidden layer (the linear autoencoder)
    hidden_units = check_ints(hidden_units, "hidden_units", example=(256,), allow_empty=True)
    num_pixels = int(np.prod(input_shape))

    encoder_input = keras.Input(input_shape, name="image")
    x = layers.Flatten(name="flatten")(encoder_input)
    for i, units in enumerate(hidden_units, start=1):
        x = layers.Dense(units, activation=activation, name=f"encoder_dense{i}")(x)
    code = layers.Dense(latent_dim, name="code")(x)
    encoder = keras.Model(encoder_input, code, name="encoder")

    decoder_input = keras.Input((latent_dim,), name="code_input")
    x = decoder_input
    for i, units in enumerate(reversed(hidden_units), start=1):
        x = layers.Dense(units, activation=activation, name=f"decoder_dense{i}")(x)
    x = layers.Dense(num_pixels, activation=output_activation, name="pixels")(x)
    decoder = keras.Model(decoder_input, layers.Reshape(input_shape, name="image_out")(x), name="decoder")

    inputs = keras.Input(input_shape, name="image")
    return keras.Model(inputs, decoder(encoder(inputs)), name="autoencoder")


def _conv_encoder_body(inputs, filters):
    x = inputs
    for i, f in enumerate(filters, start=1):
        x = layers.Conv2D(f, 3, strides=2, padding="same", activation="relu", name=f"conv{i}")(x)
    return layers.Flatten(name="flatten")(x)


def _conv_decoder(latent_dim, input_shape, filters, name="decoder"):
    factor = 2 ** len(filters)
    height, width, channels = input_shape
    decoder_input = keras.Input((latent_dim,), name="code_input")
    x = layers.Dense((height // factor) * (width // factor) * filters[-1], activation="relu", name="expand")(
        decoder_input)
    x = layers.Reshape((height // factor, width // factor, filters[-1]), name="grid")(x)
    for i, f in enumerate(reversed(filters), start=1):
        # kernel 4, stride 2: doubles the size, and 4 is divisible by 2 (no checkerboard, lab 05)
        x = layers.Conv2DTranspose(f, 4, strides=2, padding="same", activation="relu", name=f"up{i}")(x)
    outputs = layers.Conv2D(channels, 3, padding="same", activation="sigmoid", name="pixels")(x)
    return keras.Model(decoder_input, outputs, name=name)


def _check_conv_shape(input_shape, filters):
    factor = 2 ** len(filters)
    if input_shape[0] % factor or input_shape[1] % factor:
        raise ValueError(f"height and width should be divisible by 2 ** len(filters) = {factor} (each block halves "
                         f"them), e.g. input_shape=(28, 28, 1) with filters=(32, 64). "
                         f"Received: input_shape={input_shape}, filters={filters}")


def build_conv_autoencoder(input_shape=(28, 28, 1), latent_dim=32, filters=(32, 64)):
    """Builds a convolutional autoencoder: strided convolutions down, transposed convolutions up.

    Encoder: one 3x3 convolution of stride 2 per entry of `filters` (28 -> 14 -> 7), flatten,
    a linear dense layer to the code. Decoder: dense to a 7x7 grid, one 4x4 `Conv2DTranspose`
    of stride 2 per block (7 -> 14 -> 28), a 3x3 convolution with a sigmoid to the pixels.

    Returns:
        A `keras.Model` named "conv_autoencoder" with sub-models "encoder" and "decoder".

    Example:

    >>> model = build_conv_autoencoder(latent_dim=16)
    >>> model.get_layer("encoder").output.shape, model.output.shape
    ((None, 16), (None, 28, 28, 1))
    """
    input_shape = check_input_shape(input_shape)
    latent_dim = check_int(latent_dim, "latent_dim", example=32)
    filters = check_ints(filters, "filters", example=(32, 64))
    _check_conv_shape(input_shape, filters)
    encoder_input = keras.Input(input_shape, name="image")
    code = layers.Dense(latent_dim, name="code")(_conv_encoder_body(encoder_input, filters))
    encoder = keras.Model(encoder_input, code, name="encoder")
    decoder = _conv_decoder(latent_dim, input_shape, filters)
    inputs = keras.Input(input_shape, name="image")
    return keras.Model(inputs, decoder(encoder(inputs)), name="conv_autoencoder")


def reconstruction_mse(model, images, batch_size=256):
    """Returns the mean squared error per pixel between `images` and `model.predict(images)`."""
    reconstructions = model.predict(images, batch_size=batch_size, verbose=0)
    return float(np.mean((np.asarray(reconstructions) - np.asarray(images)) ** 2))


# --------------------------------------------------------------------------- PCA and subspaces

def fit_pca(x, num_components):
    """Principal component analysis by SVD of the centred data.

    Args:
        x: array (n, features).
        num_components: how many components to keep.

    Returns:
        `(mean, components)`: the mean (features,) and the top components as orthonormal
        rows, (num_components, features), largest variance first.

    Example:

    >>> x = np.array([[0.0, 0.0], [2.0, 2.0], [4.0, 4.0]])
    >>> mean, components = fit_pca(x, 1)
    >>> mean.tolist(), np.abs(components).round(4).tolist()
    ([2.0, 2.0], [[0.7071, 0.7071]])
    """
    x = np.asarray(x, dtype="float64")
    if x.ndim != 2:
        raise ValueError(f"x should have shape (n, features); flatten images first with x.reshape(len(x), -1). "
                         f"Received: shape {x.shape}")
    num_components = check_int(num_components, "num_components", example=32)
    if num_components > min(x.shape):
        raise ValueError(f"num_components should be at most min(n, features) = {min(x.shape)}. "
                         f"Received: num_components={num_components}")
    mean = x.mean(axis=0)
    _, _, vt = np.linalg.svd(x - mean, full_matrices=False)
    return mean, vt[:num_components]


def pca_reconstruct(x, mean, components):
    """Projects `x` (n, features) onto the PCA subspace and back: mean + (x - mean) V^T V."""
    x = np.asarray(x, dtype="float64")
    return mean + (x - mean) @ components.T @ components


def principal_angles(a, b):
    """Principal angles, in degrees, between the subspaces spanned by the rows of `a` and of `b`.

    All angles are 0 when the two sets of rows span the same subspace (in any basis, not
    necessarily orthonormal), 90 for directions of one orthogonal to the other.

    Args:
        a: array (k, features), rows spanning the first subspace.
        b: array (m, features), rows spanning the second.

    Returns:
        min(k, m) angles in degrees, smallest first.

    Example:

    >>> principal_angles(np.array([[1.0, 1.0, 0.0], [1.0, -1.0, 0.0]]), np.eye(3)[:2]).round(6).tolist()
    [0.0, 0.0]
    """
    a, b = np.atleast_2d(np.asarray(a, dtype="float64")), np.atleast_2d(np.asarray(b, dtype="float64"))
    if a.shape[1] != b.shape[1]:
        raise ValueError("a and b should hold vectors of the same length, one per row, e.g. a decoder's kernel "
                         f"transposed, (latent_dim, 784), and PCA components, (k, 784). "
                         f"Received: shapes {a.shape} and {b.shape}")
    if len(b) > len(a):
        a, b = b, a
    qa, _ = np.linalg.qr(a.T)
    qb, _ = np.linalg.qr(b.T)
    cosines = np.linalg.svd(qa.T @ qb, compute_uv=False)                   # largest first
    sines = np.linalg.svd(qb - qa @ (qa.T @ qb), compute_uv=False)[::-1]  # smallest first
    # arccos loses precision near 0 degrees and arcsin near 90: use each where it is accurate
    angles = np.where(cosines > np.sqrt(0.5), np.arcsin(np.clip(sines, 0.0, 1.0)),
                      np.arccos(np.clip(cosines, -1.0, 1.0)))
    return np.degrees(angles)


# --------------------------------------------------------------------------- linear probe

def linear_probe_accuracy(train_features, train_labels, test_features, test_labels, epochs=30, batch_size=128,
                          seed=0):
    """Trains a softmax classifier (a single dense layer) on frozen features; returns its test accuracy.

    The features are standardised with the training set's mean and standard deviation first,
    so that pixels and codes of any scale train with the same learning rate (Adam, 1e-2).
    """
    train_features = np.asarray(train_features, dtype="float32").reshape(len(train_features), -1)
    test_features = np.asarray(test_features, dtype="float32").reshape(len(test_features), -1)
    if train_features.shape[1] != test_features.shape[1]:
        raise ValueError(f"train and test features should have the same size. Received: "
                         f"{train_features.shape[1]} and {test_features.shape[1]}")
    mean, std = train_features.mean(axis=0), train_features.std(axis=0) + 1e-6
    num_classes = int(max(np.max(train_labels), np.max(test_labels))) + 1
    keras.utils.set_random_seed(seed)
    probe = keras.Sequential([keras.Input((train_features.shape[1],)),
                              layers.Dense(num_classes, activation="softmax")], name="linear_probe")
    probe.compile(optimizer=keras.optimizers.Adam(1e-2), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    probe.fit((train_features - mean) / std, np.asarray(train_labels), epochs=epochs, batch_size=batch_size,
              verbose=0)
    return float(probe.evaluate((test_features - mean) / std, np.asarray(test_labels), verbose=0)[1])


# --------------------------------------------------------------------------- VAE

def reparameterize(mean, log_var, epsilon):
    """The reparameterisation trick: z = mean + exp(log_var / 2) * epsilon, with epsilon ~ N(0, I).

    The randomness sits in `epsilon`, an input; `z` is a differentiable function of `mean`
    and `log_var`: dz/dmean = 1, dz/dlog_var = exp(log_var / 2) * epsilon / 2.
    Works on NumPy arrays and on tensors (inside a `tf.GradientTape`).
    """
    return mean + ops.exp(0.5 * log_var) * epsilon


def gaussian_kl(mean, log_var):
    """KL(N(mean, diag(exp(log_var))) || N(0, I)), summed over the latent axis: one value per example.

    Closed form: -1/2 * sum(1 + log_var - mean^2 - exp(log_var)). Zero only for mean = 0,
    log_var = 0 (the encoder's distribution is the prior), positive otherwise.

    Example:

    >>> float(gaussian_kl(np.array([[3.0, 0.0]]), np.array([[0.0, 0.0]]))[0])   # mean^2 / 2
    4.5
    """
    return -0.5 * ops.sum(1.0 + log_var - ops.square(mean) - ops.exp(log_var), axis=-1)


def monte_carlo_kl(mean, log_var, num_samples=100_000, seed=0):
    """Estimates KL(q || N(0, I)) as the average of log q(z) - log p(z) over samples z ~ q.

    `mean` and `log_var` describe one Gaussian, shape (latent_dim,). The estimate's standard
    error shrinks as 1 / sqrt(num_samples); compare it with `gaussian_kl`.
    """
    mean, log_var = np.asarray(mean, dtype="float64"), np.asarray(log_var, dtype="float64")
    if mean.shape != log_var.shape or mean.ndim != 1:
        raise ValueError(f"mean and log_var should both have shape (latent_dim,). "
                         f"Received: {mean.shape} and {log_var.shape}")
    epsilon = np.random.default_rng(seed).standard_normal((num_samples, mean.size))
    z = mean + np.exp(0.5 * log_var) * epsilon
    log_q = -0.5 * np.sum(np.log(2 * np.pi) + log_var + epsilon ** 2, axis=1)
    log_p = -0.5 * np.sum(np.log(2 * np.pi) + z ** 2, axis=1)
    return float(np.mean(log_q - log_p))


class Sampling(layers.Layer):
    """Draws z = mean + exp(log_var / 2) * epsilon with a fresh epsilon ~ N(0, I) at every call."""

    def __init__(self, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs):
        mean, log_var = inputs
        epsilon = keras.random.normal(ops.shape(mean), seed=self.seed_generator)
        return reparameterize(mean, log_var, epsilon)


def bernoulli_reconstruction_loss(images, reconstructions):
    """Binary cross-entropy summed over the pixels: -log p(x | z) per example, in nats."""
    reconstructions = ops.clip(reconstructions, 1e-7, 1.0 - 1e-7)
    bce = -(images * ops.log(reconstructions) + (1.0 - images) * ops.log(1.0 - reconstructions))
    return ops.sum(ops.reshape(bce, (ops.shape(bce)[0], -1)), axis=-1)


class VAE(keras.Model):
    """A variational autoencoder (as in the keras-io example): loss = reconstruction + KL, per image.

    `fit(x)` and `evaluate(x)` take the images alone. The metrics are "loss" (the negative
    ELBO, in nats per image), "reconstruction_loss" and "kl_loss". Calling the model returns
    the decoded mean code, a deterministic reconstruction.
    """

    def __init__(self, encoder, decoder, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.encoder = encoder
        self.decoder = decoder
        self.sampling = Sampling(seed=seed)
        self.total_loss_tracker = keras.metrics.Mean(name="loss")
        self.reconstruction_loss_tracker = keras.metrics.Mean(name="reconstruction_loss")
        self.kl_loss_tracker = keras.metrics.Mean(name="kl_loss")

    @property
    def metrics(self):
        return [self.total_loss_tracker, self.reconstruction_loss_tracker, self.kl_loss_tracker]

    def build(self, input_shape=None):
        self.built = True     # the encoder and decoder were built by their keras.Input

    def call(self, inputs):
        mean, _ = self.encoder(inputs)
        return self.decoder(mean)

    def _vae_losses(self, images, training):
        mean, log_var = self.encoder(images, training=training)
        z = self.sampling([mean, log_var])
        reconstruction = self.decoder(z, training=training)
        reconstruction_loss = ops.mean(bernoulli_reconstruction_loss(images, reconstruction))
        kl_loss = ops.mean(gaussian_kl(mean, log_var))
        return reconstruction_loss + kl_loss, reconstruction_loss, kl_loss

    def _update(self, losses):
        for tracker, value in zip(self.metrics, losses):
            tracker.update_state(value)
        return {tracker.name: tracker.result() for tracker in self.metrics}

    def train_step(self, data):
        images = data[0] if isinstance(data, tuple) else data
        with tf.GradientTape() as tape:
            losses = self._vae_losses(images, training=True)
        gradients = tape.gradient(losses[0], self.trainable_weights)
        self.optimizer.apply_gradients(zip(gradients, self.trainable_weights))
        return self._update(losses)

    def test_step(self, data):
        images = data[0] if isinstance(data, tuple) else data
        return self._update(self._vae_losses(images, training=False))


def build_vae(input_shape=(28, 28, 1), latent_dim=2, filters=(32, 64), seed=None):
    """Builds a convolutional VAE: encoder -> (mean, log_var), sampling, decoder -> pixel probabilities.

    The encoder is `build_conv_autoencoder`'s, with two linear heads, "mean" and "log_var",
    in place of the code layer; the decoder is the same.

    Returns:
        A `VAE` (compile it with an optimizer only: `vae.compile(optimizer="adam")`).
    """
    input_shape = check_input_shape(input_shape)
    latent_dim = check_int(latent_dim, "latent_dim", example=2)
    filters = check_ints(filters, "filters", example=(32, 64))
    _check_conv_shape(input_shape, filters)
    encoder_input = keras.Input(input_shape, name="image")
    features = layers.Dense(128, activation="relu", name="hidden")(_conv_encoder_body(encoder_input, filters))
    mean = layers.Dense(latent_dim, name="mean")(features)
    log_var = layers.Dense(latent_dim, name="log_var")(features)
    encoder = keras.Model(encoder_input, [mean, log_var], name="encoder")
    decoder = _conv_decoder(latent_dim, input_shape, filters)
    vae = VAE(encoder, decoder, seed=seed, name="vae")
    vae(np.zeros((1,) + input_shape, dtype="float32"))     # builds the weights
    return vae


def interpolate_latent(z_start, z_end, num_steps=8):
    """Returns `num_steps` codes on the straight line from `z_start` to `z_end`, ends included."""
    num_steps = check_int(num_steps, "num_steps", example=8)
    weights = np.linspace(0.0, 1.0, num_steps)[:, None]
    return (1 - weights) * np.asarray(z_start, dtype="float32") + weights * np.asarray(z_end, dtype="float32")


# --------------------------------------------------------------------------- plots

def plot_image_rows(rows, num_images=8, ax=None):
    """Draws one row of images per entry of `rows`, its title on the left.

    Args:
        rows: dict `{title: images (n, h, w) or (n, h, w, 1)}`, pixels in [0, 1].
        num_images: int, images per row at most (fewer if a row holds fewer).
        ax: None for a new figure, or enough Axes (see `course_lib.image_grid`).

    Returns:
        A 1-D array of the Axes, row by row.
    """
    num_images = check_int(num_images, "num_images", example=8)
    num_columns = min(num_images, min(len(images) for images in rows.values()))
    axes = image_grid(len(rows) * num_columns, num_columns=num_columns, ax=ax, size=1.2)
    for r, (title, images) in enumerate(rows.items()):
        for c in range(num_columns):
            show_image(axes[r * num_columns + c], np.clip(np.asarray(images[c], dtype="float32"), 0, 1))
        axes[r * num_columns].text(-0.1, 0.5, title, transform=axes[r * num_columns].transAxes, ha="right",
                                   va="center", fontsize=8)
    return axes


def plot_embedding_2d(embeddings, labels, class_names=None, ax=None, max_points=3000):
    """Scatter plot of 2-D codes coloured by class; returns the axes."""
    import matplotlib.pyplot as plt
    embeddings = np.asarray(embeddings)
    if embeddings.ndim != 2 or embeddings.shape[1] != 2:
        raise ValueError(f"embeddings should have shape (n, 2): train with latent_dim=2 or project first. "
                         f"Received: shape {embeddings.shape}")
    labels = np.asarray(labels)
    if ax is None:
        _, ax = plt.subplots(figsize=(5.5, 4.5))
    shown = slice(0, max_points)
    scatter = ax.scatter(embeddings[shown, 0], embeddings[shown, 1], c=labels[shown], cmap="tab10", s=3,
                         vmin=-0.5, vmax=9.5)
    colorbar = plt.colorbar(scatter, ax=ax, ticks=range(10))
    if class_names is not None:
        colorbar.ax.set_yticklabels(class_names, fontsize=7)
    ax.set_xlabel("code 1")
    ax.set_ylabel("code 2")
    return ax
