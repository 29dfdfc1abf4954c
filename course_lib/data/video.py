"""Short video clips whose label only motion tells (offline), and UCF101 clips (online).

Offline, seeded, in NumPy: `make_moving_fashion` draws clips of a Fashion-MNIST
item gliding across a noisy canvas, beside a still distractor item. The label is
the **direction** of the motion (right, left, down, up). The canvas wraps around
(an item leaving on the right comes back on the left) and the start position is
uniform, so every single frame has the same distribution whatever the label: a
model that sees one frame is at chance (1 / 4) by construction, and only a model
that compares frames can do better.

    data = make_moving_fashion(1000, num_frames=8, image_size=(32, 32), seed=1)
    data.clips         # (1000, 8, 32, 32, 1) uint8: (clips, time, height, width, channels)
    data.labels        # (1000,) int32 in 0..3, data.class_names[k] is the direction
    data.item_labels   # (1000,) the Fashion-MNIST class of the moving item (independent of the label)

Online (Colab), `load_ucf101_clips` samples the same layout of clips from
UCF101 (13,320 YouTube videos of 101 human actions) through TensorFlow Datasets:
same models, only `input_shape` and `num_classes` change.

Shapes follow Keras's `Conv3D`: `(batch_size, time, height, width, channels)`.
"""

from typing import NamedTuple

import numpy as np

from course_lib import runtime
from course_lib._validation import check_choice, check_image_size, check_int, resolve_classes
from course_lib.data.fashion_mnist import FASHION_MNIST_CLASSES, load_fashion_mnist
from course_lib.image_grid import image_grid, show_image

#: The offline labels: the direction in which the item moves.
MOTION_CLASSES = ("right", "left", "down", "up")

# (row step, column step) of each direction in MOTION_CLASSES, per unit of speed.
_DIRECTIONS = np.array([(0, 1), (0, -1), (1, 0), (-1, 0)])

#: The TFDS name of the online dataset: UCF101, first train/test split, frames 256x256.
UCF101_NAME = "ucf101/ucf101_1_256"

#: Environment variable that lets a lab's online cell download and prepare UCF101.
UCF101_ENV = "COURSE_LIB_UCF101"

#: Size of UCF101's archive (bytes), from tensorflow_datasets/url_checksums/ucf101.txt.
UCF101_DOWNLOAD_BYTES = 6_960_400_115


class VideoClips(NamedTuple):
    """What `make_moving_fashion` and `load_ucf101_clips` return; unpacks as a tuple or reads by name.

    Attributes:
        clips: uint8 array `(num_clips, num_frames, height, width, channels)`, pixels in [0, 255].
        labels: int32 array `(num_clips,)`, the class of each clip, an index into `class_names`.
        item_labels: int32 array `(num_clips,)`: for the generated clips, the Fashion-MNIST class
            of the moving item (drawn independently of the label); -1 for real videos.
        class_names: list of the class names.
    """

    clips: np.ndarray
    labels: np.ndarray
    item_labels: np.ndarray
    class_names: list

    @property
    def num_classes(self):
        """Number of classes (chance accuracy is 1 / num_classes on balanced labels)."""
        return len(self.class_names)


def _check_clips(clips, name="clips"):
    """Returns `clips` as an array of 5 dimensions (clips, time, height, width, channels), or raises."""
    array = np.asarray(clips)
    if array.ndim != 5 or array.shape[1] < 2:
        raise ValueError(
            f"{name} should have 5 dimensions (clips, time, height, width, channels) with at least "
            f"2 frames, e.g. shape (100, 8, 32, 32, 1); add a clip axis with {name}[None] for one "
            f"clip. Received: {name} with shape {array.shape}")
    return array


def _shrink_items(images, item_size):
    """Resizes 28x28 Fashion-MNIST items to item_size x item_size (area average), uint8."""
    import PIL.Image
    if item_size == images.shape[1]:
        return images
    return np.stack([np.asarray(PIL.Image.fromarray(image).resize((item_size, item_size),
                                                                  PIL.Image.BOX))
                     for image in images])


def make_moving_fashion(num_clips=1000, num_frames=8, image_size=(32, 32), speed=2, item_size=14,
                        split="train", seed=1337):
    """Clips of a Fashion-MNIST item moving in one of four directions; the label is the direction.

    Each clip shows, on a canvas of Gaussian noise (standard deviation 20 grey levels on a
    mean of 30), a **moving item** that shifts by `speed` pixels per frame in its clip's
    direction, and a **still distractor** item, both `item_size` pixels wide and drawn from
    Fashion-MNIST (the training images for `split="train"`, the test images otherwise). The
    canvas wraps around. Labels are balanced, and the start position, the items and the noise
    are drawn independently of the label, so any one frame says nothing about it:

        frame:   0          1          2        ...
        right:   [ X   ]    [  X  ]    [   X ]        -> label 0
        up:      X at row r, then r - speed, r - 2 speed ...   -> label 3

    Args:
        num_clips: number of clips.
        num_frames: frames per clip (>= 2).
        image_size: `(height, width)` of the frames, in pixels, each >= item_size.
        speed: pixels per frame (>= 1); the item travels `speed * (num_frames - 1)` pixels.
        item_size: side of the items, in pixels (Fashion-MNIST's 28 shrunk by area averaging).
        split: "train" or "test": which Fashion-MNIST images the items come from, so that a
            test set of clips shows items the model never saw.
        seed: the same seed gives the same clips; the first k clips of a call are those of a
            call with `num_clips=k`.

    Returns:
        A `VideoClips` with clips uint8 `(num_clips, num_frames, height, width, 1)`,
        labels int32 in 0..3 (`MOTION_CLASSES`), item_labels (the moving item's Fashion-MNIST class).

    Raises:
        ValueError: a size is not an int in range, or `split` is not "train" or "test".

    Example:

    >>> data = make_moving_fashion(8, num_frames=4, image_size=(32, 32), seed=0)
    >>> data.clips.shape, data.class_names[data.labels[0]] in MOTION_CLASSES
    ((8, 4, 32, 32, 1), True)
    """
    num_clips = check_int(num_clips, "num_clips", example=1000)
    num_frames = check_int(num_frames, "num_frames", minimum=2, example=8)
    item_size = check_int(item_size, "item_size", minimum=4, example=14)
    height, width = check_image_size(image_size)
    if min(height, width) < item_size:
        raise ValueError(f"image_size should be at least item_size={item_size} pixels on each side, e.g. "
                         f"image_size=(32, 32). Received: image_size={image_size!r}")
    speed = check_int(speed, "speed", example=2)
    if 2 * speed >= min(height, width):
        raise ValueError(f"speed should be less than half the smaller side, {min(height, width) / 2:g}: on a "
                         f"canvas that wraps around, a step of half the canvas looks the same in both "
                         f"directions. Received: speed={speed}, image_size={image_size!r}")
    check_choice(split, "split", ("train", "test"))
    seed = check_int(seed, "seed", minimum=0, example=1337)

    (x_train, y_train), (x_test, y_test) = load_fashion_mnist(subset="small")
    images, item_classes = (x_train, y_train) if split == "train" else (x_test, y_test)
    split_id = 0 if split == "train" else 1
    # Every block of 4 labels is a permutation (balanced); every clip draws from its own generator,
    # so the first k clips do not depend on num_clips.
    labels = np.concatenate([np.random.default_rng([int(seed), split_id, 0, block]).permutation(4)
                             for block in range((num_clips + 3) // 4)])[:num_clips].astype("int32")
    clips = np.empty((num_clips, num_frames, height, width, 1), dtype="uint8")
    moving_items = np.empty(num_clips, dtype="int64")
    for i in range(num_clips):
        rng = np.random.default_rng([int(seed), split_id, 1, i])
        picks = rng.integers(0, len(images), size=2)                  # moving item, still distractor
        starts = rng.integers(0, (height, width), size=(2, 2))        # top-left (row, column) of each
        noise = rng.normal(30.0, 20.0, size=(num_frames, height, width))
        moving_items[i] = picks[0]
        item, distractor = _shrink_items(images[picks], item_size)
        still = _place(distractor, starts[1], (height, width))
        step = _DIRECTIONS[labels[i]] * speed
        for t in range(num_frames):
            moving = _place(item, starts[0] + t * step, (height, width))
            clips[i, t, :, :, 0] = np.clip(np.maximum(noise[t], np.maximum(still, moving)), 0, 255)
    return VideoClips(clips, labels, item_classes[moving_items].astype("int32"), list(MOTION_CLASSES))


def _place(item, position, image_size):
    """A (height, width) canvas with `item` whose top-left corner is at `position` (row, column), wrapping around."""
    canvas = np.zeros(image_size)
    size = item.shape[0]
    rows = (position[0] + np.arange(size)) % image_size[0]
    columns = (position[1] + np.arange(size)) % image_size[1]
    canvas[np.ix_(rows, columns)] = item
    return canvas


def frame_differences(clips):
    """Differences of consecutive frames, `clips[:, t + 1] - clips[:, t]`: the two-stream motion input.

    Where nothing moves, the difference is only noise; where the item moves, it is large,
    positive at its leading edge and negative at its trailing edge. Computed in float32,
    so that uint8 clips do not wrap around (3 - 5 would be 254 in uint8).

    Args:
        clips: array `(num_clips, num_frames, height, width, channels)`, num_frames >= 2.

    Returns:
        float32 array `(num_clips, num_frames - 1, height, width, channels)`.

    Raises:
        ValueError: `clips` does not have 5 dimensions and at least 2 frames.

    Example:

    >>> clips = np.arange(3, dtype="uint8").reshape(1, 3, 1, 1, 1) * np.uint8(5)
    >>> frame_differences(clips).ravel().tolist()
    [5.0, 5.0]
    """
    clips = _check_clips(clips).astype("float32")
    return clips[:, 1:] - clips[:, :-1]


def stack_frames_as_channels(clips):
    """Early fusion's input: the frames of each clip side by side along the channel axis.

    Channel `t * channels + c` of the result is channel `c` of frame `t`, the layout a
    `keras.layers.Reshape((height, width, num_frames * channels))` of `(time, h, w, c)`
    frames moved to `(h, w, time, c)` gives. A 2-D convolution on it sees every frame at
    once in its first layer: that is early fusion (Karpathy et al., 2014).

    Args:
        clips: array `(num_clips, num_frames, height, width, channels)`.

    Returns:
        array `(num_clips, height, width, num_frames * channels)`, same dtype.

    Raises:
        ValueError: `clips` does not have 5 dimensions and at least 2 frames.

    Example:

    >>> clips = np.zeros((2, 8, 32, 32, 1), dtype="uint8")
    >>> stack_frames_as_channels(clips).shape
    (2, 32, 32, 8)
    """
    clips = _check_clips(clips)
    num_clips, num_frames, height, width, channels = clips.shape
    return clips.transpose(0, 2, 3, 1, 4).reshape(num_clips, height, width, num_frames * channels)


def plot_clips(clips, labels=None, class_names=None, num_clips=4, predicted=None, ax=None):
    """Draws clips as rows of frames (time runs to the right), each row labelled with its class.

    Args:
        clips: array `(num_clips, num_frames, height, width, channels)`, pixels in [0, 255].
        labels: optional int array, the true class of each clip.
        class_names: optional list of names for the labels.
        num_clips: how many clips (rows) to draw, from the first.
        predicted: optional int array of predicted classes, shown beside the true ones.
        ax: None for a new figure, or at least `num_clips * num_frames` Axes.

    Returns:
        A 1-D NumPy array of Axes (`course_lib.image_grid`), row after row: frame `t` of
        clip `i` is `axes[i * num_frames + t]`.
    """
    clips = _check_clips(clips)
    num_clips = min(check_int(num_clips, "num_clips", example=4), len(clips))
    num_frames = clips.shape[1]
    axes = image_grid(num_clips * num_frames, num_columns=num_frames, ax=ax, size=1.3)
    for i in range(num_clips):
        for t in range(num_frames):
            show_image(axes[i * num_frames + t], np.clip(clips[i, t], 0, 255).astype("uint8"),
                       title=f"t = {t}" if i == 0 else None, cmap="gray")
        if labels is not None:
            name = class_names[labels[i]] if class_names is not None else str(labels[i])
            if predicted is not None:
                guess = class_names[predicted[i]] if class_names is not None else str(predicted[i])
                name = f"{name}\n(pred. {guess})"
            axes[i * num_frames].text(-0.1, 0.5, name, transform=axes[i * num_frames].transAxes,
                                      ha="right", va="center", fontsize=8)
    return axes


def ucf101_requested():
    """True when the environment variable COURSE_LIB_UCF101 is set to 1 (download allowed)."""
    import os
    return os.environ.get(UCF101_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def load_ucf101_clips(split="train", num_frames=8, image_size=(64, 64), classes=None, limit=None):
    """Clips of UCF101 (101 human actions, 13,320 videos) from TensorFlow Datasets, online.

    `num_frames` frames are taken at evenly spaced times over each whole video, resized
    bilinearly to `image_size` (UCF101's 320x240 frames are already 256x256
    in this TFDS configuration), and kept as uint8 RGB, the layout `make_moving_fashion`
    returns, so the same model builders run on both.

    **Size.** The first call downloads UCF101's archive (6.96 GB), then TensorFlow Datasets
    decodes all 13,320 videos with ffmpeg and stores their frames as JPEG, about 2.4 million
    frames: hours of CPU by our estimate. Set `TFDS_DATA_DIR` to a Drive folder to prepare it
    once and reuse it; later calls read the prepared copy. Offline, it fails at once unless
    that copy exists.

    Args:
        split: "train" (9,537 videos of split 1) or "test" (3,783).
        num_frames: frames per clip (>= 2).
        image_size: `(height, width)` of the frames, each >= 16.
        classes: action names or indices to keep (e.g. ["ApplyEyeMakeup", "Basketball"]);
            None keeps all 101. Labels are renumbered 0..len(classes)-1 in the order given.
        limit: int, read only the first `limit` videos of the split (before the class filter).

    Returns:
        A `VideoClips` with clips uint8 `(n, num_frames, height, width, 3)`.

    Raises:
        ValueError: bad arguments, unknown classes, or no video of the classes in the split.
        DatasetUnavailableError: tensorflow-datasets missing, offline without a prepared
            copy, or the download or preparation failed.

    Example (Colab, after preparation):

    >>> data = load_ucf101_clips("train", classes=["Basketball", "Biking", "Diving"])  # doctest: +SKIP
    >>> data.clips.shape[1:]  # doctest: +SKIP
    (8, 64, 64, 3)
    """
    check_choice(split, "split", ("train", "test"))
    num_frames = check_int(num_frames, "num_frames", minimum=2, example=8)
    image_size = check_image_size(image_size)
    if min(image_size) < 16:
        raise ValueError(f"image_size should be at least 16 pixels on each side, e.g. image_size=(64, 64). "
                         f"Received: image_size={image_size!r}")
    limit = check_int(limit, "limit", example=3000, allow_none=True)
    from course_lib.data.tfds import load_tfds
    tfds_split = split if limit is None else f"{split}[:{limit}]"
    dataset, info = load_tfds(
        UCF101_NAME, tfds_split, caller="load_ucf101_clips",
        offline_hint="Offline, use the generated clips: make_moving_fashion(...).",
        what=f"UCF101 ({UCF101_DOWNLOAD_BYTES / 1e9:.2f} GB, then hours of preparation)",
        with_info=True)
    all_names = list(info.features["label"].names)
    chosen = resolve_classes(classes, all_names)
    runtime.quiet_tensorflow()
    import tensorflow as tf
    import tensorflow_datasets as tfds

    new_label = np.full(len(all_names), -1, dtype="int64")
    new_label[chosen] = np.arange(len(chosen))
    lookup = tf.constant(new_label)

    def sample(example):
        video = example["video"]
        length = tf.shape(video)[0]
        times = tf.cast(tf.round(tf.linspace(0.0, tf.cast(tf.maximum(length - 1, 0), tf.float32),
                                             num_frames)), tf.int32)
        frames = tf.image.resize(tf.gather(video, times), image_size, method="bilinear")
        frames = tf.cast(tf.clip_by_value(tf.round(frames), 0, 255), tf.uint8)
        return frames, tf.gather(lookup, example["label"])

    clips, labels = [], []
    sampled = dataset.map(sample, num_parallel_calls=tf.data.AUTOTUNE).filter(lambda _, label: label >= 0)
    for frames, label in tfds.as_numpy(sampled.batch(64)):
        clips.append(frames)
        labels.append(label)
    if not clips:
        raise ValueError(f"UCF101 split {tfds_split!r} holds no video of the classes asked for "
                         f"({[all_names[c] for c in chosen][:5]}...). Raise `limit` or choose other "
                         f"classes. Received: classes={classes!r}, limit={limit!r}")
    clips, labels = np.concatenate(clips), np.concatenate(labels).astype("int32")
    print(f"Loaded {len(clips):,} UCF101 clips ({split}) of {num_frames} frames at "
          f"{image_size[0]}x{image_size[1]}, {len(chosen)} classes")
    return VideoClips(clips, labels, np.full(len(labels), -1, dtype="int32"),
                      [all_names[c] for c in chosen])


__all__ = ["MOTION_CLASSES", "UCF101_NAME", "UCF101_ENV", "VideoClips", "make_moving_fashion",
           "frame_differences", "stack_frames_as_channels", "plot_clips", "ucf101_requested",
           "load_ucf101_clips", "FASHION_MNIST_CLASSES"]
