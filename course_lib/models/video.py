"""Video classifiers that fuse time at different depths (lab 08), and the 3-D convolution arithmetic.

Every builder takes clips `(batch_size, time, height, width, channels)` of uint8
pixels (it rescales them to [0, 1] itself) and returns an uncompiled
`keras.Model` ending in a softmax over `num_classes`. They differ in **where the
frames meet** (Karpathy et al., "Large-scale video classification with
convolutional neural networks", CVPR 2014), and in how motion enters:

    build_single_frame_model   the middle frame only: a 2-D CNN, blind to motion
    build_early_fusion_model   all frames stacked as channels, fused by the first convolution
    build_late_fusion_model    first and last frames through one shared 2-D tower, fused by a dense layer
    build_slow_fusion_model    3-D convolutions whose time extent grows layer by layer
    build_conv3d_model         a small C3D-style network: 3x3x3 convolutions, global pooling
    build_cnn_lstm_model       the same 2-D tower on every frame, an LSTM over time (lab 06)
    build_two_stream_model     an appearance stream (middle frame) + a motion stream (frame differences)

    model = build_early_fusion_model(input_shape=(8, 32, 32, 1), num_classes=4)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])

`VIDEO_MODELS` lists them in that order. The 2-D towers keep the position of what
they see (Flatten, not global pooling), because comparing positions across frames
is how the fusion models read motion.
"""

import time

import keras
import numpy as np

from course_lib._validation import check_choice, check_input_shape, check_int, check_ints, check_num_classes, is_int
from course_lib.scratch.sizes import conv_output_size


def _triple(value, name):
    """An int k as (k, k, k); 3 positive ints (time, height, width) as a tuple."""
    triple = (value,) * 3 if is_int(value) else value
    if not (isinstance(triple, (tuple, list)) and len(triple) == 3 and all(is_int(v) and v > 0 for v in triple)):
        raise ValueError(f"{name} should be a positive int or 3 positive ints (time, height, width), e.g. "
                         f"{name}=(3, 3, 3). Received: {name}={value!r}")
    return tuple(int(v) for v in triple)


def _check_clip_shape(input_shape):
    """check_input_shape for clips `(time, height, width, channels)`, with at least 2 frames."""
    input_shape = check_input_shape(input_shape, example=(8, 32, 32, 1))
    if input_shape[0] < 2:
        raise ValueError(f"input_shape should have at least 2 frames (time >= 2): a video model with "
                         f"one frame is an image model. Received: input_shape={input_shape!r}")
    return input_shape


def conv3d_output_shape(input_shape, filters, kernel_size, strides=1, padding="valid"):
    """The output shape of `keras.layers.Conv3D` on one clip, computed axis by axis.

    Along each of time, height and width, the 1-D formula of lab 02 applies:
    `floor((in + 2p - k) / s) + 1` for "valid" (p = 0), `ceil(in / s)` for "same".
    The channel axis becomes `filters`.

    Args:
        input_shape: `(time, height, width, channels)`, without the batch axis.
        filters: number of 3-D kernels (output channels).
        kernel_size: int or `(k_t, k_h, k_w)`.
        strides: int or `(s_t, s_h, s_w)`.
        padding: "valid" or "same".

    Returns:
        Tuple `(time, height, width, filters)`.

    Raises:
        ValueError: an argument is malformed, or the kernel does not fit in the input.

    Example:

    >>> conv3d_output_shape((16, 112, 112, 3), 64, kernel_size=3, padding="same")   # C3D's conv1
    (16, 112, 112, 64)
    >>> conv3d_output_shape((8, 32, 32, 1), 16, kernel_size=(4, 3, 3), strides=(2, 1, 1))
    (3, 30, 30, 16)
    """
    input_shape = _check_clip_shape(input_shape)
    filters = check_int(filters, "filters", example=16)
    check_choice(padding, "padding", ("valid", "same"))
    kernel_size, strides = _triple(kernel_size, "kernel_size"), _triple(strides, "strides")
    sizes = tuple(conv_output_size(size, kernel, stride, padding)
                  for size, kernel, stride in zip(input_shape[:3], kernel_size, strides))
    return (*sizes, int(filters))


@keras.saving.register_keras_serializable(package="course_lib")
class SelectFrames(keras.layers.Layer):
    """Keeps the frames at `indices` of `(batch, time, h, w, c)` clips: `(batch, len(indices), h, w, c)`."""

    def __init__(self, indices, **kwargs):
        super().__init__(**kwargs)
        self.indices = [int(i) for i in indices]

    def call(self, clips):
        return keras.ops.take(clips, self.indices, axis=1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], len(self.indices), *input_shape[2:])

    def get_config(self):
        return {**super().get_config(), "indices": self.indices}


@keras.saving.register_keras_serializable(package="course_lib")
class FrameDifferences(keras.layers.Layer):
    """`clips[:, 1:] - clips[:, :-1]`: the motion stream's input, `(batch, time - 1, h, w, c)`."""

    def call(self, clips):
        return clips[:, 1:] - clips[:, :-1]

    def compute_output_shape(self, input_shape):
        time_steps = None if input_shape[1] is None else input_shape[1] - 1
        return (input_shape[0], time_steps, *input_shape[2:])


def _frames_to_channels(x, name):
    """(batch, time, h, w, c) -> (batch, h, w, time * c): channel t * c + k is channel k of frame t."""
    _, time_steps, height, width, channels = x.shape
    x = keras.layers.Permute((2, 3, 1, 4), name=f"{name}_time_last")(x)
    return keras.layers.Reshape((height, width, time_steps * channels), name=f"{name}_as_channels")(x)


def build_frame_tower(input_shape, filters=(16, 32), dense_units=64, name="frame_tower"):
    """The 2-D CNN every frame-based model shares: [Conv2D 3x3 + ReLU, MaxPool 2x2] per entry of
    `filters`, Flatten, then `Dense(dense_units, relu)` (no dense layer when `dense_units` is 0).

    Args:
        input_shape: `(height, width, channels)` of one frame (or of stacked frames).
        filters: output channels of each convolution.
        dense_units: width of the final dense layer; 0 for none (the flattened maps are returned).
        name: the model's name.

    Returns:
        A `keras.Sequential` from one frame to a feature vector.
    """
    filters = check_ints(filters, "filters", example=(16, 32))
    dense_units = check_int(dense_units, "dense_units", minimum=0, example=64)
    layers = [keras.Input(input_shape)]
    for level, width in enumerate(filters):
        layers += [keras.layers.Conv2D(width, 3, padding="same", activation="relu", name=f"conv{level + 1}"),
                   keras.layers.MaxPooling2D(2, name=f"pool{level + 1}")]
    layers.append(keras.layers.Flatten(name="flatten"))
    if dense_units:
        layers.append(keras.layers.Dense(dense_units, activation="relu", name="dense"))
    return keras.Sequential(layers, name=name)


def _inputs(input_shape, num_classes):
    """Checks the arguments every builder shares; returns them with the clips input rescaled to [0, 1]."""
    input_shape = _check_clip_shape(input_shape)
    num_classes = check_num_classes(num_classes, example=4)
    clips = keras.Input(input_shape, name="clips")
    return input_shape, num_classes, clips, keras.layers.Rescaling(1 / 255, name="rescale")(clips)


def _classifier(features, num_classes):
    return keras.layers.Dense(num_classes, activation="softmax", name="predictions")(features)


def build_single_frame_model(input_shape=(8, 32, 32, 1), num_classes=4, filters=(16, 32), dense_units=64):
    """The middle frame through a 2-D CNN: what a video model scores without motion."""
    input_shape, num_classes, clips, x = _inputs(input_shape, num_classes)
    middle = input_shape[0] // 2
    x = SelectFrames([middle], name="middle_frame")(x)
    x = keras.layers.Reshape(input_shape[1:], name="drop_time")(x)
    x = build_frame_tower(input_shape[1:], filters, dense_units)(x)
    return keras.Model(clips, _classifier(x, num_classes), name="single_frame")


def build_early_fusion_model(input_shape=(8, 32, 32, 1), num_classes=4, filters=(16, 32), dense_units=64):
    """Early fusion: the frames stacked as channels, so the first 3x3 convolution sees all of them.

    Its first layer has `3 * 3 * (time * channels) * filters[0] + filters[0]` parameters: it
    fuses time at once, at the level of pixels, and then never again.
    """
    input_shape, num_classes, clips, x = _inputs(input_shape, num_classes)
    x = _frames_to_channels(x, "early")
    x = build_frame_tower(x.shape[1:], filters, dense_units)(x)
    return keras.Model(clips, _classifier(x, num_classes), name="early_fusion")


def build_late_fusion_model(input_shape=(8, 32, 32, 1), num_classes=4, filters=(16, 32), dense_units=64):
    """Late fusion: the first and the last frame through **one shared** 2-D tower, merged by a dense layer.

    No convolution sees two frames: motion is read only from where the two towers found things.
    """
    input_shape, num_classes, clips, x = _inputs(input_shape, num_classes)
    tower = build_frame_tower(input_shape[1:], filters, dense_units=0, name="shared_tower")
    first = keras.layers.Reshape(input_shape[1:], name="first")(SelectFrames([0], name="first_frame")(x))
    last_index = input_shape[0] - 1
    last = keras.layers.Reshape(input_shape[1:], name="last")(SelectFrames([last_index], name="last_frame")(x))
    x = keras.layers.Concatenate(name="fuse")([tower(first), tower(last)])
    x = keras.layers.Dense(dense_units, activation="relu", name="dense")(x)
    return keras.Model(clips, _classifier(x, num_classes), name="late_fusion")


def build_slow_fusion_model(input_shape=(8, 32, 32, 1), num_classes=4, filters=(16, 32), dense_units=64):
    """Slow fusion: 3-D convolutions that merge time step by step (time kernel 4, then 2; stride 2 in time).

    With 8 frames, time shrinks 8 -> 4 -> 2 while space is pooled 2x2 per level; higher layers
    see longer stretches of the clip, as higher layers of a 2-D CNN see larger patches.
    """
    filters = check_ints(filters, "filters", example=(16, 32))
    input_shape, num_classes, clips, x = _inputs(input_shape, num_classes)
    for level, width in enumerate(filters):
        x = keras.layers.Conv3D(width, (4 if level == 0 else 2, 3, 3), strides=(2, 1, 1), padding="same",
                                activation="relu", name=f"conv{level + 1}")(x)
        x = keras.layers.MaxPooling3D((1, 2, 2), name=f"pool{level + 1}")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(dense_units, activation="relu", name="dense")(x)
    return keras.Model(clips, _classifier(x, num_classes), name="slow_fusion")


def build_conv3d_model(input_shape=(8, 32, 32, 1), num_classes=4, filters=(16, 32)):
    """A small C3D-style network (Tran et al., 2015): 3x3x3 convolutions ("same"), max pooling
    (space only after the first block, time and space after the others), global average pooling.

    Few parameters: a 3x3x3 kernel is local in time and space, shared everywhere, and global
    pooling replaces the large dense layer of the Flatten-based models.
    """
    filters = check_ints(filters, "filters", example=(16, 32))
    input_shape, num_classes, clips, x = _inputs(input_shape, num_classes)
    for level, width in enumerate(filters):
        x = keras.layers.Conv3D(width, 3, padding="same", activation="relu", name=f"conv{level + 1}")(x)
        x = keras.layers.MaxPooling3D((1, 2, 2) if level == 0 else (2, 2, 2), name=f"pool{level + 1}")(x)
    x = keras.layers.GlobalAveragePooling3D(name="global_pool")(x)
    return keras.Model(clips, _classifier(x, num_classes), name="conv3d")


def build_cnn_lstm_model(input_shape=(8, 32, 32, 1), num_classes=4, filters=(16, 32), dense_units=64,
                         units=64):
    """The same 2-D tower on every frame (`TimeDistributed`), then an LSTM reads the feature sequence."""
    input_shape, num_classes, clips, x = _inputs(input_shape, num_classes)
    tower = build_frame_tower(input_shape[1:], filters, dense_units)
    x = keras.layers.TimeDistributed(tower, name="tower_per_frame")(x)
    x = keras.layers.LSTM(units, name="lstm")(x)
    return keras.Model(clips, _classifier(x, num_classes), name="cnn_lstm")


def build_two_stream_model(input_shape=(8, 32, 32, 1), num_classes=4, filters=(16, 32), dense_units=64):
    """Two streams (Simonyan & Zisserman, 2014), with frame differences in place of optical flow.

    The appearance stream sees the middle frame; the motion stream sees the `time - 1` frame
    differences stacked as channels. Their features are concatenated before the softmax.
    """
    input_shape, num_classes, clips, x = _inputs(input_shape, num_classes)
    middle = SelectFrames([input_shape[0] // 2], name="middle_frame")(x)
    appearance = build_frame_tower(input_shape[1:], filters, dense_units, name="appearance_stream")(
        keras.layers.Reshape(input_shape[1:], name="drop_time")(middle))
    differences = _frames_to_channels(FrameDifferences(name="frame_differences")(x), "motion")
    motion = build_frame_tower(differences.shape[1:], filters, dense_units, name="motion_stream")(differences)
    x = keras.layers.Concatenate(name="fuse")([appearance, motion])
    return keras.Model(clips, _classifier(x, num_classes), name="two_stream")


#: The builders, in the order of the lab's table.
VIDEO_MODELS = {
    "single frame": build_single_frame_model,
    "early fusion": build_early_fusion_model,
    "late fusion": build_late_fusion_model,
    "slow fusion": build_slow_fusion_model,
    "Conv3D": build_conv3d_model,
    "CNN + LSTM": build_cnn_lstm_model,
    "two-stream": build_two_stream_model,
}


def time_per_clip(model, clips, batch_size=64, repeats=3):
    """Milliseconds of inference per clip: the best of `repeats` passes over `clips`, after a warm-up.

    Args:
        model: a built Keras model.
        clips: array `(num_clips, time, height, width, channels)`.
        batch_size: clips per forward pass.
        repeats: passes timed; the fastest counts (the others were slowed by something else).

    Returns:
        float, milliseconds per clip.
    """
    clips = np.asarray(clips)
    if clips.ndim != 5 or len(clips) == 0:
        raise ValueError(f"clips should be a non-empty array (clips, time, height, width, channels). "
                         f"Received: shape {clips.shape}")
    batch_size = check_int(batch_size, "batch_size", example=64)
    repeats = check_int(repeats, "repeats", example=3)
    model.predict(clips[:batch_size], batch_size=batch_size, verbose=0)   # builds the graph, warms caches
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        model.predict(clips, batch_size=batch_size, verbose=0)
        best = min(best, time.perf_counter() - start)
    return 1000.0 * best / len(clips)


def format_video_table(results, chance=None):
    """A text table of test accuracy, parameters and inference time per clip, one row per model.

    Args:
        results: dict name -> dict with "accuracy", "parameters", "ms per clip" (what
            lab 08's `train_and_score` returns).
        chance: optional chance accuracy, printed under the table.

    Returns:
        The table as a string.
    """
    lines = [f"{'model':<14} {'test accuracy':>13} {'parameters':>11} {'ms per clip':>12}"]
    for name, row in results.items():
        lines.append(f"{name:<14} {row['accuracy']:>13.3f} {row['parameters']:>11,} {row['ms per clip']:>12.3f}")
    if chance is not None:
        lines.append(f"(chance: {chance:.3f})")
    return "\n".join(lines)


__all__ = ["conv3d_output_shape", "SelectFrames", "FrameDifferences", "build_frame_tower",
           "build_single_frame_model", "build_early_fusion_model", "build_late_fusion_model",
           "build_slow_fusion_model", "build_conv3d_model", "build_cnn_lstm_model", "build_two_stream_model",
           "VIDEO_MODELS", "time_per_clip", "format_video_table"]
