"""Lab 03's offline transfer task: Fashion-MNIST items in cluttered colour photos.

A plain 28x28 Fashion-MNIST image is centred, aligned and clean: a small CNN
learns it from a few labels, so pre-training has nothing to add. Real photos
are not like that. Here every image is a 48x48 colour "photo": one item, at a
random position and scale, in a random colour, on a background of a random
colour gradient with random rectangles and strokes (clutter) and noise. A few
labels cannot teach a network to ignore all that; a backbone trained on many
such photos of *other* classes has learned it, and the invariances transfer.

- Source task (pre-training, `scripts/pretrain_backbone.py`): T-shirt/top,
  Trouser, Pullover, Sandal, Bag (`SOURCE_CLASSES`), the 3,000 training items
  of the shipped subset, each drawn into several photos.
- Target task (the lab, `load_transfer_task`): Dress, Coat, Shirt, Sneaker,
  Ankle boot (`TARGET_CLASSES`), never seen by the backbone; a few labelled
  photos per class, tested on photos of the 500 target test items.

Everything is generated from the shipped `fashion_mnist_small.npz` and a seed:
nothing is downloaded, and photo i depends only on (items, seed, i).

    (x_train, y_train), (x_val, y_val), (x_test, y_test) = load_transfer_task(labels_per_class=20)
    x_train.shape, x_train.dtype      # (100, 48, 48, 3) float32, pixels in [0, 255]
"""

import collections

import numpy as np

from course_lib._validation import check_image_size, check_int
from course_lib.data.fashion_mnist import FASHION_MNIST_CLASSES, load_fashion_mnist

IMAGE_SIZE = (48, 48)           # (height, width) of the photos, which are square
ITEM_SIZE_RANGE = (20, 40)      # item side in pixels in a 48x48 photo, drawn uniformly
SOURCE_CLASS_IDS = (0, 1, 2, 5, 8)
TARGET_CLASS_IDS = (3, 4, 6, 7, 9)
SOURCE_CLASSES = [FASHION_MNIST_CLASSES[i] for i in SOURCE_CLASS_IDS]
TARGET_CLASSES = [FASHION_MNIST_CLASSES[i] for i in TARGET_CLASS_IDS]
TEST_SEED = 2024                # the test photos are the same for every training seed

TransferTask = collections.namedtuple("TransferTask", ["train", "validation", "test", "class_names"])
TransferTask.__doc__ = """A few-label task: `(x, y)` pairs for train, validation and test, and the class names.

Unpacks as `(x_train, y_train), (x_val, y_val), (x_test, y_test), class_names = task`."""


def _resize(item, size):
    from PIL import Image
    return np.asarray(Image.fromarray(item).resize((size, size), Image.BILINEAR), dtype="float32")


def _background(rng, size):
    """A colour gradient at a random angle, 3-6 translucent rectangles and 2-4 strokes, plus noise."""
    ys, xs = np.mgrid[0:size, 0:size] / (size - 1)
    angle = rng.uniform(0, 2 * np.pi)
    t = (np.cos(angle) * xs + np.sin(angle) * ys)
    t = (t - t.min()) / max(t.max() - t.min(), 1e-6)
    start, end = rng.uniform(0, 255, size=(2, 3))
    image = start + t[..., None] * (end - start)
    for _ in range(rng.integers(3, 7)):
        y0, x0 = rng.integers(0, size - 4, size=2)
        h, w = rng.integers(4, size // 2, size=2)
        opacity = rng.uniform(0.3, 0.8)
        patch = image[y0:y0 + h, x0:x0 + w]
        patch[...] = (1 - opacity) * patch + opacity * rng.uniform(0, 255, size=3)
    for _ in range(rng.integers(2, 5)):      # straight strokes, 1-3 px wide
        y0, x0, y1, x1 = rng.uniform(0, size - 1, size=4)
        width = rng.integers(1, 4)
        steps = np.linspace(0, 1, 2 * size)
        rows = np.clip((y0 + steps * (y1 - y0)).astype(int), 0, size - width)
        cols = np.clip((x0 + steps * (x1 - x0)).astype(int), 0, size - width)
        color = rng.uniform(0, 255, size=3)
        for dy in range(width):
            for dx in range(width):
                image[rows + dy, cols + dx] = color
    image += rng.normal(0, 8, size=image.shape)
    return image


def make_cluttered_photos(items, seed=0, image_size=IMAGE_SIZE, copies=1):
    """Draws each Fashion-MNIST item into `copies` cluttered colour photos.

    Each photo: a random background (`_background`), the item resized to a random
    side in `ITEM_SIZE_RANGE` (scaled with the image size), at a random position,
    in a random colour whose brightness is flipped when it is close to the
    background's under it (most items stand out; some stay faint, as in real
    photos). The item's gray levels act as its opacity, so its texture shows.

    Args:
        items: uint8 array `(n, 28, 28)`, Fashion-MNIST images (white item on black).
        seed: int; photo i depends only on (items, seed, i).
        image_size: `(side, side)`, square photos with a side >= 28.
        copies: int >= 1, photos per item; photo `c * n + i` shows item i.

    Returns:
        float32 array `(copies * n, side, side, 3)`, pixels in [0, 255].

    Example:

    >>> photos = make_cluttered_photos(x_train[:4], seed=0)
    >>> photos.shape
    (4, 48, 48, 3)
    """
    items = np.asarray(items)
    if items.ndim != 3 or items.shape[1:] != (28, 28):
        raise ValueError(
            f"items should have shape (n, 28, 28) like Fashion-MNIST images. Received: shape {items.shape}")
    height, width = check_image_size(image_size)
    if height != width or height < 28:
        raise ValueError(f"image_size should be (side, side) with side >= 28 (the photos are square), "
                         f"e.g. (48, 48). Received: image_size={image_size!r}")
    copies = check_int(copies, "copies", example=5)
    image_size = height
    low, high = (round(s * image_size / IMAGE_SIZE[0]) for s in ITEM_SIZE_RANGE)
    high = min(high, image_size)
    n = len(items)
    photos = np.empty((copies * n, image_size, image_size, 3), dtype="float32")
    for index in range(copies * n):
        rng = np.random.default_rng([seed, index])
        image = _background(rng, image_size)
        side = int(rng.integers(low, high + 1))
        alpha = _resize(items[index % n], side)[..., None] / 255.0
        y0, x0 = rng.integers(0, image_size - side + 1, size=2)
        region = image[y0:y0 + side, x0:x0 + side]
        color = rng.uniform(0, 255, size=3)
        if abs(color.mean() - region.mean()) < 80:      # keep the item visible: flip its brightness
            color = np.clip(255 - color + rng.uniform(-20, 20, size=3), 0, 255)
        image[y0:y0 + side, x0:x0 + side] = (1 - alpha) * region + alpha * color
        photos[index] = np.clip(image, 0, 255)
    return photos


def _select(x, y, class_ids):
    mask = np.isin(y, class_ids)
    lookup = np.full(10, -1, dtype="int64")
    lookup[list(class_ids)] = np.arange(len(class_ids))
    return x[mask], lookup[y[mask]].astype("int32")


def load_source_task(copies=5, seed=1337, image_size=IMAGE_SIZE):
    """Returns the pre-training data: photos of the five source classes, relabelled 0-4.

    Training: the 3,000 source items of the shipped subset's training split, each
    in `copies` photos (15,000 with the default); test: the 500 source test items,
    one photo each.

    Returns:
        `(x_train, y_train), (x_test, y_test)`: float32 photos in [0, 255], int32 labels.
    """
    (x_train, y_train), (x_test, y_test) = load_fashion_mnist(subset="small")
    x_train, y_train = _select(x_train, y_train, SOURCE_CLASS_IDS)
    x_test, y_test = _select(x_test, y_test, SOURCE_CLASS_IDS)
    return ((make_cluttered_photos(x_train, seed=seed, image_size=image_size, copies=copies),
             np.tile(y_train, copies)),
            (make_cluttered_photos(x_test, seed=TEST_SEED, image_size=image_size), y_test))


def load_transfer_task(labels_per_class=20, validation_per_class=50, seed=1337, image_size=IMAGE_SIZE):
    """Loads the offline target task: photos of the five classes the backbone never saw.

    Classes (`TARGET_CLASSES`): Dress, Coat, Shirt, Sneaker, Ankle boot, relabelled
    0-4. From the shipped subset's training split (600 items per class),
    `labels_per_class` labelled photos per class for training and
    `validation_per_class` others for validation, drawn with `seed`; the test set
    is one photo of each of the 500 target test items, the same for every seed.

    Args:
        labels_per_class: int >= 1, e.g. 20 (100 labelled photos in all).
        validation_per_class: int >= 1.
        seed: int, which items are labelled and how their photos look.
        image_size: `(side, side)` with side >= 28.

    Returns:
        A `TransferTask`: `(x_train, y_train), (x_val, y_val), (x_test, y_test),
        class_names`, photos `(n, side, side, 3)` float32 in [0, 255],
        labels int32 in 0-4, `class_names == TARGET_CLASSES`.

    Raises:
        ValueError: a count is not a positive int, or they ask for more than 600 items per class.
    """
    (x_pool, y_pool), (x_test, y_test) = load_fashion_mnist(subset="small")
    x_pool, y_pool = _select(x_pool, y_pool, TARGET_CLASS_IDS)
    x_test, y_test = _select(x_test, y_test, TARGET_CLASS_IDS)
    train_idx, val_idx, _ = split_few_labels(y_pool, labels_per_class, validation_per_class, seed=seed)
    return TransferTask(
        (make_cluttered_photos(x_pool[train_idx], seed=seed, image_size=image_size), y_pool[train_idx]),
        (make_cluttered_photos(x_pool[val_idx], seed=seed + 1, image_size=image_size), y_pool[val_idx]),
        (make_cluttered_photos(x_test, seed=TEST_SEED, image_size=image_size), y_test),
        list(TARGET_CLASSES))


def split_few_labels(labels, labels_per_class, validation_per_class, test_per_class=0, seed=1337):
    """Draws, per class, `labels_per_class` training, `validation_per_class` validation and test indices.

    Args:
        labels: int array `(n,)`, classes 0..K-1.
        labels_per_class, validation_per_class: ints >= 1.
        test_per_class: int >= 0; 0 puts every remaining index of the class in the test split.
        seed: int.

    Returns:
        `(train_indices, validation_indices, test_indices)`: the training indices
        shuffled, the others sorted; disjoint.

    Raises:
        ValueError: a count is not a positive int, or a class has too few examples.

    Example:

    >>> train, val, test = split_few_labels(np.repeat([0, 1], 10), 2, 3)
    >>> len(train), len(val), len(test)
    (4, 6, 10)
    """
    check_int(labels_per_class, "labels_per_class", example=20)
    check_int(validation_per_class, "validation_per_class", example=50)
    check_int(test_per_class, "test_per_class", minimum=0, example=0, hint="0 tests on every remaining example.")
    labels = np.asarray(labels).reshape(-1)
    counts = np.bincount(labels)
    needed = labels_per_class + validation_per_class + max(test_per_class, 1)
    if counts.min() < needed:
        raise ValueError(
            f"Each class needs at least labels_per_class + validation_per_class + "
            f"{max(test_per_class, 1)} (test) = {needed} examples, but class {int(counts.argmin())} "
            f"has {int(counts.min())}. Lower the counts or add images. "
            f"Received: {labels_per_class} + {validation_per_class} + {test_per_class}")
    rng = np.random.default_rng(seed)
    train_idx, val_idx, test_idx = [], [], []
    for label in range(len(counts)):
        chosen = rng.permutation(np.flatnonzero(labels == label))
        stop = labels_per_class + validation_per_class
        train_idx.append(chosen[:labels_per_class])
        val_idx.append(chosen[labels_per_class:stop])
        test_idx.append(chosen[stop:stop + test_per_class] if test_per_class else chosen[stop:])
    return (rng.permutation(np.concatenate(train_idx)), np.sort(np.concatenate(val_idx)),
            np.sort(np.concatenate(test_idx)))


def load_folder_task(directory, labels_per_class=20, validation_per_class=20, test_per_class=0,
                     image_size=(160, 160), seed=1337):
    """Turns a folder-per-class dataset (lab 00's, or tf_flowers exported) into a few-label task.

    The online counterpart of `load_transfer_task`: same return value, so the
    rest of lab 03 runs unchanged. Images are read with `load_image_folder`
    (resized to `image_size`, RGB, pixels in [0, 255]) and split per class with
    `split_few_labels`.

    Args:
        directory: a folder `directory/<class>/<image>`, e.g. from `export_tfds_folder`.
        labels_per_class, validation_per_class: ints >= 1.
        test_per_class: int >= 0; 0 tests on every other image.
        image_size: `(height, width)`.
        seed: int.

    Returns:
        A `TransferTask` with float32 images `(n, height, width, 3)` in [0, 255]
        and the folder's class names.

    Raises:
        ValueError: a class has fewer images than the counts ask for (and the
            errors of `load_image_folder`).
    """
    from course_lib.data.folders import load_image_folder
    dataset = load_image_folder(directory, image_size=image_size, batch_size=None, validation_split=None,
                                shuffle=False)
    images, labels = [], []
    for image, label in dataset.as_numpy_iterator():
        images.append(image.astype("uint8"))
        labels.append(int(label))
    images, labels = np.stack(images), np.asarray(labels, dtype="int32")
    train_idx, val_idx, test_idx = split_few_labels(labels, labels_per_class, validation_per_class,
                                                    test_per_class=test_per_class, seed=seed)
    return TransferTask(*[(images[idx].astype("float32"), labels[idx])
                          for idx in (train_idx, val_idx, test_idx)], list(dataset.class_names))
