"""Instance segmentation as Mask R-CNN frames it: a small mask head on each object's box (lab 05).

Semantic masks say *what* each pixel is; instance segmentation says *which object*.
Mask R-CNN adds to a detector a small FCN that predicts, on each box's RoIAlign crop, a
28x28 mask per class; only the mask of the box's class is kept, resized to the box
and thresholded:

    targets = make_mask_targets(scenes.images, instance_maps, scenes.boxes, scenes.labels)
    head = build_mask_head((28, 28, 1), num_classes=4)
    head.compile(optimizer="adam", loss="binary_crossentropy")
    head.fit({"crops": targets["crops"], "class_id": targets["class_id"]}, targets["masks"], epochs=10)
    probabilities = head.predict({"crops": test_targets["crops"], "class_id": test_targets["class_id"]})
    pasted = paste_masks(probabilities, np.concatenate(test_scenes.boxes), (64, 64))
    instance_mask_iou(pasted, test_instance_maps, test_targets["image_index"])   # IoU per object
"""

import keras
import numpy as np
from keras import layers, ops

from course_lib._validation import check_image_size, check_input_shape, check_ints, check_num_classes, check_number
from course_lib.models.rcnn import crop_regions

#: Mask R-CNN predicts each object's mask on a 28x28 grid over its box.
MASK_SIZE = (28, 28)


def make_mask_targets(images, instance_maps, boxes, labels, crop_size=MASK_SIZE):
    """Mask R-CNN's mask-head examples: each object's RoIAlign crop and its binary mask over the box.

    Args:
        images: `(n, height, width, channels)` scenes.
        instance_maps: `(n, height, width)` from `make_instance_maps` (object j of image i
            has value j + 1).
        boxes: list of `(m_i, 4)` "xyxy" boxes per image (`scenes.boxes`).
        labels: list of `(m_i,)` class ids 1..K per image (`scenes.labels`).
        crop_size: the mask grid.

    Returns:
        A dict: "crops" float32 `(objects, crop_h, crop_w, channels)` (the image sampled over
        each box, RoIAlign with one sample per cell), "class_id" int64 `(objects,)`, "masks"
        float32 `(objects, crop_h, crop_w)` in {0, 1} (the object's own pixels, not those of
        another object in its box), and "image_index" int64 `(objects,)`.
    """
    images = np.asarray(images)
    instance_maps = np.asarray(instance_maps)
    if instance_maps.shape != images.shape[:3]:
        raise ValueError(f"instance_maps should have the images' (n, height, width) = {images.shape[:3]}. "
                         f"Received: instance_maps.shape={instance_maps.shape}; make them with "
                         f"make_instance_maps(...) with the arguments of make_fashion_scenes(...)")
    counts = [len(b) for b in boxes]
    flat_boxes = np.concatenate([np.asarray(b, dtype="float32").reshape(-1, 4) for b in boxes])
    image_index = np.repeat(np.arange(len(counts)), counts)
    number = np.concatenate([np.arange(1, c + 1) for c in counts])
    crops = crop_regions(images.astype("float32"), flat_boxes, crop_size, image_index)
    own = (instance_maps[image_index] == number[:, None, None]).astype("float32")[..., None]
    masks = crop_regions(own, flat_boxes, crop_size, np.arange(len(own)))[..., 0]
    return {"crops": crops, "class_id": np.concatenate([np.asarray(l) for l in labels]).astype("int64"),
            "masks": (masks >= 0.5).astype("float32"), "image_index": image_index.astype("int64")}


@keras.saving.register_keras_serializable(package="course_lib")
class SelectClassMask(layers.Layer):
    """Keeps, of the K per-class masks `(batch, h, w, K)`, the one of each object's class (ids 1..K)."""

    def call(self, masks, class_id):
        one_hot = ops.one_hot(ops.cast(ops.reshape(class_id, (-1,)), "int32") - 1, ops.shape(masks)[-1])
        return ops.sum(masks * one_hot[:, None, None, :], axis=-1)


def build_mask_head(input_shape=(28, 28, 1), num_classes=4, filters=(16, 32)):
    """A Mask R-CNN style mask head: a small FCN on one object's crop, one mask per class.

    Conv 3x3 blocks with a 2x2 pooling (28 -> 14), a `Conv2DTranspose(k=2, s=2)` back
    to 28, then a 1x1 convolution with `num_classes` sigmoid outputs: a binary mask per
    class, as in Mask R-CNN. Only the mask of the object's class is kept (given as the
    second input, "class_id", 1..K: the ground truth in training, the detector's class at
    test time), so classes do not compete for pixels; the loss is the per-pixel binary
    cross-entropy of that one mask.

    Returns:
        An uncompiled `keras.Model` with inputs {"crops": (batch, h, w, c), "class_id": (batch,)}
        and output `(batch, h, w)`, the probability that each cell of the box is the object.
    """
    input_shape = check_input_shape(input_shape, example=MASK_SIZE + (1,))
    num_classes = check_num_classes(num_classes, minimum=1, example=4, hint="Count the object classes only, "
                                    "not the background.")
    filters = check_ints(filters, "filters", example=(16, 32))
    crops = keras.Input(input_shape, name="crops")
    class_id = keras.Input((), dtype="int32", name="class_id")
    scaled = layers.Rescaling(1.0 / 255, name="rescaling")(crops)
    x = layers.Conv2D(filters[0], 3, padding="same", activation="relu", name="mask_conv1")(scaled)
    x = layers.MaxPooling2D(2, name="mask_pool")(x)
    for i, f in enumerate(filters[1:], start=2):
        x = layers.Conv2D(f, 3, padding="same", activation="relu", name=f"mask_conv{i}")(x)
    x = layers.Conv2DTranspose(filters[-1], 2, strides=2, activation="relu", name="mask_up")(x)
    x = layers.Concatenate(name="mask_skip")([x, scaled])
    x = layers.Conv2D(filters[0], 3, padding="same", activation="relu", name="mask_conv_out")(x)
    masks = layers.Conv2D(num_classes, 1, activation="sigmoid", name="class_masks", dtype="float32")(x)
    selected = SelectClassMask(name="mask")(masks, class_id)
    return keras.Model({"crops": crops, "class_id": class_id}, selected, name="mask_head")


def paste_masks(mask_probabilities, boxes, image_size, threshold=0.5):
    """Puts each box's mask back into the image: resize it to the box, threshold, paste.

    Args:
        mask_probabilities: `(objects, h, w)` probabilities over each box.
        boxes: `(objects, 4)` "xyxy" boxes in pixels (rounded to whole pixels here).
        image_size: `(height, width)` of the image.
        threshold: a pixel belongs to the object when its probability is at least this.

    Returns:
        bool array `(objects, height, width)`: each object's mask in the image.
    """
    height, width = check_image_size(image_size)
    check_number(threshold, "threshold", example=0.5)
    mask_probabilities = np.asarray(mask_probabilities, dtype="float32")
    boxes = np.round(np.asarray(boxes, dtype="float64").reshape(-1, 4)).astype(int)
    if len(boxes) != len(mask_probabilities):
        raise ValueError(f"paste_masks needs one box per mask. Received: {len(mask_probabilities)} masks and "
                         f"{len(boxes)} boxes")
    pasted = np.zeros((len(boxes), height, width), dtype=bool)
    for k, ((x1, y1, x2, y2), mask) in enumerate(zip(boxes, mask_probabilities)):
        x1, y1, x2, y2 = max(x1, 0), max(y1, 0), min(x2, width), min(y2, height)
        if x2 <= x1 or y2 <= y1:
            continue
        resized = ops.convert_to_numpy(ops.image.resize(mask[None, :, :, None], (y2 - y1, x2 - x1),
                                                        interpolation="bilinear"))[0, ..., 0]
        pasted[k, y1:y2, x1:x2] = resized >= threshold
    return pasted


def instance_mask_iou(predicted, instance_maps, image_index):
    """IoU of each predicted object mask with its true one (object j of image i: value j + 1).

    Args:
        predicted: bool `(objects, height, width)` from `paste_masks`, objects in the order
            of `make_mask_targets` (image by image, object by object).
        instance_maps: `(n, height, width)` from `make_instance_maps`.
        image_index: `(objects,)` the image of each object (`make_mask_targets(...)["image_index"]`).

    Returns:
        float64 `(objects,)`.
    """
    image_index = np.asarray(image_index)
    number = np.zeros(len(image_index), dtype=int)
    for i in np.unique(image_index):
        where = np.flatnonzero(image_index == i)
        number[where] = np.arange(1, len(where) + 1)
    truth = np.asarray(instance_maps)[image_index] == number[:, None, None]
    predicted = np.asarray(predicted, dtype=bool)
    intersection = (truth & predicted).sum(axis=(1, 2))
    union = (truth | predicted).sum(axis=(1, 2))
    return np.where(union > 0, intersection / np.maximum(union, 1), 1.0)


__all__ = ["MASK_SIZE", "make_mask_targets", "SelectClassMask", "build_mask_head", "paste_masks",
           "instance_mask_iou"]
