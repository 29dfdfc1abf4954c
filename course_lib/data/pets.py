"""Oxford-IIIT Pet images and their trimaps, from TensorFlow Datasets (lab 05 online, e.g. on Colab).

    images, masks = load_pet_segmentation("train", image_size=(128, 128), limit=1000)
    images.shape, masks.shape      # (1000, 128, 128, 3) uint8, (1000, 128, 128) uint8
    PET_CLASSES                    # ("background", "pet", "border"): the values of masks

Offline it fails at once with a `DatasetUnavailableError` that says what to use
instead (`make_fashion_scenes`). TensorFlow is imported only when the loader runs.
"""

import numpy as np

from course_lib import runtime
from course_lib._validation import check_image_size, check_int
from course_lib.data.masks import pixel_class_fractions
from course_lib.data.tfds import load_tfds

#: Oxford-IIIT Pet trimap classes after `load_pet_segmentation` (0 = background).
PET_CLASSES = ("background", "pet", "border")


def _pet_offline_hint():
    return ("Offline, use the generated scenes instead: scenes = make_fashion_scenes(2000); "
            "images, masks = scenes.images, scenes.masks.")


def load_pet_segmentation(split="train", image_size=(128, 128), limit=None):
    """Loads Oxford-IIIT Pet images and their trimaps from TensorFlow Datasets (online, e.g. Colab).

    The dataset's trimaps (`segmentation_mask` in TFDS' `oxford_iiit_pet`) label each
    pixel 1 (pet), 2 (background) or 3 (border, "not classified" in the dataset's README).
    They are mapped to `PET_CLASSES`: 0 = background, 1 = pet, 2 = border, so that background is 0 as in the scenes.
    Images are resized bilinearly, masks with nearest-neighbour (interpolating labels
    would invent classes), both to `image_size` without keeping the aspect ratio.

    The first call downloads about 800 MB into TensorFlow Datasets' folder
    (`~/tensorflow_datasets`). Offline, it fails at once unless that copy exists.

    Args:
        split: "train" (3,680 images) or "test" (3,669).
        image_size: `(height, width)`, at least 32 each; multiples of 16 suit
            `build_unet(depth=4)`.
        limit: int, load only the first `limit` images of the split; None for all.

    Returns:
        `(images, masks)`: uint8 arrays `(n, height, width, 3)` and `(n, height, width)`.

    Raises:
        ValueError: bad arguments.
        DatasetUnavailableError: `tensorflow_datasets` is not installed, the machine is
            offline and the dataset was not downloaded before, or the download failed
            (any error of tfds or the dataset's host). A lab cell catches this one class
            and falls back to the scenes.

    Example (Colab):

    >>> images, masks = load_pet_segmentation("train", image_size=(128, 128), limit=1000)
    >>> images.shape, masks.shape
    ((1000, 128, 128, 3), (1000, 128, 128))
    """
    if split not in ("train", "test"):
        raise ValueError(f'split should be "train" or "test" (Oxford-IIIT Pet has no other split). '
                         f'Received: split={split!r}')
    height, width = check_image_size(image_size)
    if min(height, width) < 32:
        raise ValueError(f"image_size should be at least 32 pixels on each side, e.g. image_size=(128, 128). "
                         f"Received: image_size={image_size!r}")
    if limit is not None:
        limit = check_int(limit, "limit", example=1000)
    tfds_split = split if limit is None else f"{split}[:{limit}]"
    dataset = load_tfds("oxford_iiit_pet", tfds_split, caller="load_pet_segmentation",
                         offline_hint=_pet_offline_hint(), what="Oxford-IIIT Pet (about 800 MB)")
    import tensorflow_datasets as tfds  # (load_tfds checked that it is installed)

    runtime.quiet_tensorflow()
    import tensorflow as tf

    # trimap value -> class id: 1 pet -> 1, 2 background -> 0, 3 border -> 2 (index 0 unused)
    trimap_to_class = tf.constant([0, 1, 0, 2], dtype=tf.uint8)

    def convert(example):
        image = tf.image.resize(example["image"], (height, width), method="bilinear")
        image = tf.cast(tf.clip_by_value(tf.round(image), 0, 255), tf.uint8)
        trimap = tf.image.resize(example["segmentation_mask"], (height, width), method="nearest")
        mask = tf.gather(trimap_to_class, tf.cast(tf.clip_by_value(trimap[..., 0], 0, 3), tf.int32))
        return image, mask

    images, masks = [], []
    batches = dataset.map(convert, num_parallel_calls=tf.data.AUTOTUNE).batch(256)
    for image_batch, mask_batch in tfds.as_numpy(batches):
        images.append(image_batch)
        masks.append(mask_batch)
    if not images:
        raise ValueError(f"Oxford-IIIT Pet split {tfds_split!r} holds no image.")
    images, masks = np.concatenate(images), np.concatenate(masks)
    shares = ", ".join(f"{name} {100 * f:.0f} %"
                       for name, f in zip(PET_CLASSES, pixel_class_fractions(masks, len(PET_CLASSES))))
    print(f"Loaded {len(images):,} Oxford-IIIT Pet images ({split}) at {height}x{width}; pixels: {shares}")
    return images, masks


__all__ = ["PET_CLASSES", "load_pet_segmentation"]
