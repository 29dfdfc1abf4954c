"""Small segmentation scenes built from Fashion-MNIST items, offline, seeded, in NumPy (labs 04 and 05).

`make_fashion_scenes` pastes 1 to 3 Fashion-MNIST items (a few distinct classes) onto a
textured, noisy background and returns for every image its per-pixel label map **and**
its objects' boxes and labels, so the segmentation lab (05) and the object-detection
lab (04) use the same scenes:

    scenes = make_fashion_scenes(1000, image_size=(64, 64), seed=1)
    scenes.images        # (1000, 64, 64, 1) uint8, grayscale
    scenes.masks         # (1000, 64, 64) uint8: 0 = background, 1..K = item class
    scenes.boxes[i]      # (num_objects, 4) int64, (x_min, y_min, x_max, y_max) of each visible mask
    scenes.labels[i]     # (num_objects,) int64, class ids 1..K, as in the masks
    scenes.class_names   # ["background", "T-shirt/top", "Trouser", "Sneaker", "Bag"]
    make_instance_maps(1000, seed=1)   # (1000, 64, 64): which object each pixel belongs to

Label maps are checked, counted and drawn by `course_lib.data.masks`; real photos
(Oxford-IIIT Pet, online) come from `course_lib.data.pets`.
"""

import functools
from typing import NamedTuple

import numpy as np

from course_lib._validation import check_image_size, check_int, resolve_classes
from course_lib.data.fashion_mnist import FASHION_MNIST_CLASSES, load_fashion_mnist

#: The default item classes: four shapes a small CNN tells apart on a CPU.
SCENE_CLASSES = ("T-shirt/top", "Trouser", "Sneaker", "Bag")

#: Side of a pasted item, in pixels (drawn uniformly in this range, inclusive).
ITEM_SIZE_RANGE = (24, 36)

#: A new item is placed only where it leaves at least this fraction of every
#: earlier item visible (otherwise another position is tried, up to 30 times).
MIN_VISIBLE_FRACTION = 0.5

# A Fashion-MNIST pixel belongs to the item when brighter than this (0-255),
# after filling the holes that dark patterns leave inside the silhouette.
_ITEM_THRESHOLD = 20

_PLACEMENT_ATTEMPTS = 30


class Scenes(NamedTuple):
    """What `make_fashion_scenes` returns; unpacks as a tuple or reads by name.

    Attributes:
        images: uint8 array `(num_images, height, width, 1)`, grayscale pixels in [0, 255].
        masks: uint8 array `(num_images, height, width)`, the class id of every pixel:
            0 = background, k = `class_names[k]`. Where items overlap, the one on top wins.
        boxes: list of `num_images` int64 arrays `(num_objects, 4)`: for each object,
            `(x_min, y_min, x_max, y_max)` of its **visible** pixels, with `x_max` and
            `y_max` one past the last visible column and row, so that
            `masks[i][y_min:y_max, x_min:x_max]` holds the whole object and
            `x_max - x_min` is its width in pixels (the "xyxy" format of
            `course_lib.metrics.boxes` and `keras.utils.bounding_boxes`).
            Objects are listed bottom first: later objects may hide part of earlier ones.
        labels: list of `num_images` int64 arrays `(num_objects,)`: each object's class
            id, the value its pixels have in `masks` (1..K; subtract 1 for 0-based ids).
        class_names: list of `K + 1` names, `class_names[0] == "background"`.
    """

    images: np.ndarray
    masks: np.ndarray
    boxes: list
    labels: list
    class_names: list

    @property
    def num_classes(self):
        """Number of classes in the masks, background included (K + 1)."""
        return len(self.class_names)

    def ground_truths(self):
        """Returns one dict `{"boxes": (n, 4), "labels": (n,)}` per image, as the detection metrics take."""
        return [{"boxes": boxes, "labels": labels} for boxes, labels in zip(self.boxes, self.labels)]


# --------------------------------------------------------------------------- argument checks

def _check_image_size(image_size, smallest):
    height, width = check_image_size(image_size)
    if min(height, width) < smallest:
        raise ValueError(f"image_size should be at least {smallest} pixels on each side, e.g. "
                         f"image_size=({max(64, smallest)}, {max(64, smallest)}), so that the items fit. "
                         f"Received: image_size={image_size!r}")
    return height, width


def _resolve_scene_classes(classes):
    """Returns the Fashion-MNIST class indices asked for, by name or index, in the order given."""
    return resolve_classes(SCENE_CLASSES if classes is None else classes, FASHION_MNIST_CLASSES)


# --------------------------------------------------------------------------- items and backgrounds

def fill_holes(masks):
    """Fills the holes of binary masks: pixels not connected to the border through background.

    Dark patterns inside a garment (a logo, a shadow) would otherwise be holes in its mask.

    Args:
        masks: bool array `(height, width)` or `(n, height, width)`.

    Returns:
        A bool array of the same shape, True on each silhouette and inside it.
    """
    masks = np.asarray(masks, dtype=bool)
    single = masks.ndim == 2
    stack = masks[None] if single else masks
    free = np.pad(~stack, ((0, 0), (1, 1), (1, 1)), constant_values=True)
    outside = np.zeros_like(free)
    outside[:, 0, :] = outside[:, -1, :] = outside[:, :, 0] = outside[:, :, -1] = True
    while True:  # grow the outside region through background pixels (4-neighbours)
        grown = outside.copy()
        grown[:, 1:] |= outside[:, :-1]
        grown[:, :-1] |= outside[:, 1:]
        grown[:, :, 1:] |= outside[:, :, :-1]
        grown[:, :, :-1] |= outside[:, :, 1:]
        grown &= free
        if np.array_equal(grown, outside):
            break
        outside = grown
    filled = ~outside[:, 1:-1, 1:-1]
    return filled[0] if single else filled


@functools.lru_cache(maxsize=4)
def _item_pool(split):
    """Returns (items (n, 28, 28) uint8, masks (n, 28, 28) bool, labels (n,)) of the shipped subset."""
    (x_train, y_train), (x_test, y_test) = load_fashion_mnist(subset="small")
    items, labels = (x_train, y_train) if split == "train" else (x_test, y_test)
    masks = fill_holes(items > _ITEM_THRESHOLD)
    return items, masks, labels.astype("int64")


def _resize(array, size, nearest=False):
    from PIL import Image
    image = Image.fromarray(np.asarray(array, dtype="float32"), mode="F")
    method = Image.NEAREST if nearest else Image.BILINEAR
    return np.asarray(image.resize((size, size), method), dtype="float32")


def _interpolation_matrix(out_size, in_size):
    """(out_size, in_size) matrix that resamples a 1-D signal linearly (corners aligned)."""
    positions = np.linspace(0, in_size - 1, out_size)
    low = np.clip(np.floor(positions).astype(int), 0, in_size - 2)
    frac = positions - low
    matrix = np.zeros((out_size, in_size))
    matrix[np.arange(out_size), low] = 1 - frac
    matrix[np.arange(out_size), low + 1] = frac
    return matrix


def _make_background(rng, height, width):
    """A textured background: smooth blobs + finer texture, overlapping the items' brightness."""
    background = np.zeros((height, width))
    for grid, amplitude in ((4, 70.0), (10, 35.0), (20, 20.0)):
        noise = rng.uniform(-1, 1, (grid, grid))
        rows, cols = _interpolation_matrix(height, grid), _interpolation_matrix(width, grid)
        background += amplitude * rows @ noise @ cols.T
    return background + rng.uniform(60, 130)


def _box_of(mask):
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    return [int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1]


def _make_scene(rng, height, width, max_objects, class_ids, pool):
    items, item_masks, item_labels = pool
    image = _make_background(rng, height, width)
    mask = np.zeros((height, width), dtype="uint8")
    full_areas, visible, object_labels = [], [], []
    for _ in range(int(rng.integers(1, max_objects + 1))):
        position = int(rng.integers(len(class_ids)))
        candidates = np.flatnonzero(item_labels == class_ids[position])
        item = int(rng.choice(candidates))
        size = min(int(rng.integers(ITEM_SIZE_RANGE[0], ITEM_SIZE_RANGE[1] + 1)), height, width)
        pixels, silhouette = items[item].astype("float32"), item_masks[item].astype("float32")
        if rng.random() < 0.5:
            pixels, silhouette = pixels[:, ::-1], silhouette[:, ::-1]
        pixels = _resize(pixels, size) * rng.uniform(0.75, 1.0)
        silhouette = _resize(silhouette, size) > 0.5
        for _ in range(_PLACEMENT_ATTEMPTS):
            top = int(rng.integers(0, height - size + 1))
            left = int(rng.integers(0, width - size + 1))
            placed = np.zeros((height, width), dtype=bool)
            placed[top:top + size, left:left + size] = silhouette
            if all((v & ~placed).sum() >= MIN_VISIBLE_FRACTION * area
                   for v, area in zip(visible, full_areas)):
                break
        else:
            continue  # no position leaves the others visible enough: skip this item
        window = image[top:top + size, left:left + size]
        window[silhouette] = pixels[silhouette]   # the item on top hides what is below
        mask[placed] = position + 1
        visible = [v & ~placed for v in visible] + [placed]
        full_areas.append(int(placed.sum()))
        object_labels.append(position + 1)
    image += rng.normal(0, 12.0, image.shape)   # sensor noise on items and background alike
    boxes = np.array([_box_of(v) for v in visible], dtype="int64").reshape(-1, 4)
    instances = np.zeros((height, width), dtype="uint8")
    for number, pixels in enumerate(visible, start=1):
        instances[pixels] = number
    return (np.clip(np.round(image), 0, 255).astype("uint8"), mask, boxes,
            np.array(object_labels, dtype="int64"), instances)


def make_fashion_scenes(num_images, image_size=(64, 64), max_objects=3, classes=None, split="train",
                        seed=1337):
    """Generates segmentation scenes: Fashion-MNIST items pasted on a textured background.

    Each image gets between 1 and `max_objects` items (uniformly), each of a class
    drawn uniformly from `classes`, a random Fashion-MNIST image of that class
    (horizontally flipped half of the time), scaled to 24-36 pixels, dimmed by up to
    25 %, at a random position. An item's mask is its silhouette (pixels brighter
    than 20, holes filled). Items are stacked in order: a later item hides what it
    covers, but is placed only where every earlier item keeps at least half of its
    pixels visible (`MIN_VISIBLE_FRACTION`), so no object disappears. The background
    mixes smooth blobs and finer texture in the items' own brightness range, and
    Gaussian noise covers everything: thresholding the pixels does not segment
    the scene; a network must use shapes.

    With the defaults (64x64, 1-3 items of the four `SCENE_CLASSES`) about 81 % of the
    pixels are background and each item class covers 3-6 % (T-shirt/top and Bag, which
    fill their 28x28 frame, about twice as much as Trouser and Sneaker); every class
    appears in about 45 % of the images. Background dominates, as in real data.

    The items come from the shipped Fashion-MNIST subset: `split="train"` uses its
    6,000 training images, `split="test"` its 1,000 test images, so training and test
    scenes never share an item. Nothing is downloaded.

    Image `i` depends only on `(seed, split, i)` and the other arguments: the first
    10 of 100 scenes are the 10 scenes of `make_fashion_scenes(10, ...)`.

    Args:
        num_images: int, how many scenes.
        image_size: `(height, width)`, at least 40 pixels each.
        max_objects: int >= 1, the most items in one image.
        classes: Fashion-MNIST class names (or indices 0-9) of the items; None for
            `SCENE_CLASSES` (T-shirt/top, Trouser, Sneaker, Bag). Class id k in the masks
            is `classes[k - 1]`.
        split: "train" or "test", the Fashion-MNIST split the items come from.
        seed: int >= 0.

    Returns:
        A `Scenes` tuple `(images, masks, boxes, labels, class_names)`; see `Scenes`.

    Raises:
        ValueError: an argument is out of range, or a class name is unknown.

    Example:

    >>> images, masks, boxes, labels, class_names = make_fashion_scenes(8, seed=0)
    >>> images.shape, masks.shape, class_names
    ((8, 64, 64, 1), (8, 64, 64), ['background', 'T-shirt/top', 'Trouser', 'Sneaker', 'Bag'])
    """
    scenes, _ = _generate_scenes(num_images, image_size, max_objects, classes, split, seed)
    return scenes


def _generate_scenes(num_images, image_size, max_objects, classes, split, seed):
    """The scenes and their instance maps (see `make_instance_maps`)."""
    num_images = check_int(num_images, "num_images", example=1000)
    height, width = _check_image_size(image_size, smallest=40)
    max_objects = check_int(max_objects, "max_objects", example=3)
    class_ids = _resolve_scene_classes(classes)
    if split not in ("train", "test"):
        raise ValueError(f'split should be "train" or "test" (the Fashion-MNIST split the items come '
                         f'from, so test scenes use unseen items). Received: split={split!r}')
    seed = check_int(seed, "seed", minimum=0, example=1337)
    pool = _item_pool(split)
    images = np.empty((num_images, height, width, 1), dtype="uint8")
    masks = np.empty((num_images, height, width), dtype="uint8")
    instances = np.empty((num_images, height, width), dtype="uint8")
    boxes, labels = [], []
    split_code = 0 if split == "train" else 1
    for i in range(num_images):
        rng = np.random.default_rng([seed, split_code, i])
        image, mask, image_boxes, image_labels, instances[i] = _make_scene(rng, height, width, max_objects,
                                                                          class_ids, pool)
        images[i, ..., 0], masks[i] = image, mask
        boxes.append(image_boxes)
        labels.append(image_labels)
    class_names = ["background"] + [FASHION_MNIST_CLASSES[c] for c in class_ids]
    return Scenes(images, masks, boxes, labels, class_names), instances


def make_instance_maps(num_images, image_size=(64, 64), max_objects=3, classes=None, split="train", seed=1337):
    """The instance maps of the scenes `make_fashion_scenes` makes with the same arguments.

    Semantic masks say *what* each pixel is; an instance map says *which object*: pixel
    value j + 1 for the j-th object of `scenes.boxes[i]` (0 = background), so two
    touching T-shirts stay two objects. `instance_maps[i] == j + 1` is object j's visible
    mask, the target of an instance-segmentation model (Mask R-CNN's mask head).
    The scenes are generated again (same seed, same images), so both calls agree.

    Returns:
        uint8 array `(num_images, height, width)`.

    Example:

    >>> scenes = make_fashion_scenes(8, seed=0)
    >>> instances = make_instance_maps(8, seed=0)
    >>> int(instances[0].max()) == len(scenes.boxes[0])
    True
    """
    _, instances = _generate_scenes(num_images, image_size, max_objects, classes, split, seed)
    return instances


__all__ = ["SCENE_CLASSES", "ITEM_SIZE_RANGE", "MIN_VISIBLE_FRACTION", "Scenes", "make_fashion_scenes",
           "make_instance_maps", "fill_holes"]
