"""A pretrained object detector from KerasHub (online): RetinaNet trained on COCO, and reading its output.

    model = load_pretrained_detector()            # about 130 MB, downloaded once
    found = pretrained_detections(model, photo, score_threshold=0.5)   # boxes in the photo's pixels
    names = [coco_class_name(label) for label in found["labels"]]

Offline, or without keras-hub, `load_pretrained_detector` raises `DatasetUnavailableError`,
which a lab cell catches to go on without it.
"""

import keras
import numpy as np
from keras import ops

from course_lib import runtime
from course_lib._validation import check_number

#: KerasHub's RetinaNet (ResNet-50 + feature pyramid) trained on COCO at 800x800, about 130 MB.
PRETRAINED_DETECTOR = "retinanet_resnet50_fpn_coco"

#: The keys of a KerasHub object detector's `predict` output since keras-hub 0.20.
DETECTOR_OUTPUT_KEYS = ("boxes", "confidence", "labels", "num_detections")


def load_pretrained_detector(preset=PRETRAINED_DETECTOR):
    """Loads KerasHub's RetinaNet trained on COCO (online; the first call downloads about 130 MB).

    Args:
        preset: a KerasHub preset of `keras_hub.models.RetinaNetObjectDetector`.

    Returns:
        The `keras_hub.models.RetinaNetObjectDetector`.

    Raises:
        DatasetUnavailableError: keras-hub is not installed, the machine is offline, or
            the download failed; the message says what to do. A lab cell catches this
            one class and goes on without the pretrained detector.
    """
    what = f"load_pretrained_detector({preset!r})"
    try:
        import keras_hub
    except ImportError as error:
        raise runtime.DatasetUnavailableError(
            f"{what} needs the keras-hub package, which is not installed. On Colab it is "
            f"preinstalled; elsewhere run `pip install keras-hub` (the weights are downloaded, so you "
            f"must be online).") from error
    if runtime.is_offline():
        raise runtime.DatasetUnavailableError(
            f"{what} must download the weights (about 130 MB), but this machine is offline "
            f"({runtime.OFFLINE_ENV}=1 or no connection). Run it on Colab or online.")
    try:
        return keras_hub.models.RetinaNetObjectDetector.from_preset(preset)
    except Exception as error:  # noqa: BLE001 - kagglehub, HTTP and file errors all mean "no model"
        raise runtime.DatasetUnavailableError(
            f"{what} could not download or build the preset: {type(error).__name__}: {error}. "
            f"Check the preset's name (e.g. {PRETRAINED_DETECTOR!r}); if the host is down, try "
            f"again later.") from error


def _read_detector_output(output):
    """The first image's boxes, labels and scores from a KerasHub detector's `predict` dict."""
    missing = [key for key in DETECTOR_OUTPUT_KEYS if key not in output]
    if missing:
        raise ValueError(
            f"The detector's predict() output should hold {list(DETECTOR_OUTPUT_KEYS)} (KerasHub "
            f"object detectors since keras-hub 0.20), but it lacks {missing}. Received keys: "
            f"{sorted(output)}; upgrade keras-hub (`pip install -U keras-hub`).")
    count = int(np.asarray(output["num_detections"]).reshape(-1)[0])
    boxes = np.asarray(output["boxes"], dtype="float32")[0][:count]
    labels = np.asarray(output["labels"]).astype("int64")[0][:count]
    scores = np.asarray(output["confidence"], dtype="float32")[0][:count]
    return boxes, labels, scores


def pretrained_detections(model, image, score_threshold=0.5):
    """Runs a KerasHub object detector on one image; boxes come back in the image's pixels.

    The image is resized to the size the model's preprocessor expects (800x800 for the
    COCO RetinaNet), so that its boxes are in known pixels; they are converted from the
    model's `bounding_box_format` ("yxyx" for RetinaNet) to "xyxy", scaled back to
    the image's own size and clipped to it.

    Args:
        model: a `keras_hub.models.ObjectDetector`, e.g. from `load_pretrained_detector`.
        image: `(height, width, 3)` array, pixels in [0, 255].
        score_threshold: keep the detections whose confidence is at least this.

    Returns:
        A dict `{"boxes": (n, 4) float32 "xyxy", "labels": (n,) int64 (COCO ids for the
        COCO presets, see `keras_hub.utils.coco_id_to_name`), "scores": (n,) float32}`,
        best first.

    Raises:
        ValueError: the image is not `(height, width, 3)`, a bad threshold, or the model's
            output lacks the keys of `DETECTOR_OUTPUT_KEYS` (a keras-hub older than 0.20).
    """
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[-1] != 3:
        raise ValueError(f"image should be one colour image of shape (height, width, 3). "
                         f"Received: image.shape={image.shape}")
    score_threshold = check_number(score_threshold, "score_threshold", example=0.5)
    height, width = image.shape[:2]
    converter = getattr(getattr(model, "preprocessor", None), "image_converter", None)
    size = getattr(converter, "image_size", None) or (height, width)
    resized = ops.convert_to_numpy(
        ops.image.resize(image[None].astype("float32"), tuple(size)))
    boxes, labels, scores = _read_detector_output(model.predict(resized, verbose=0))
    boxes = ops.convert_to_numpy(keras.utils.bounding_boxes.convert_format(
        boxes, source=getattr(model, "bounding_box_format", "yxyx"), target="xyxy",
        height=size[0], width=size[1]))
    boxes = boxes * np.array([width / size[1], height / size[0]] * 2)
    boxes = np.clip(boxes, 0, [width, height, width, height]).astype("float32")
    order = np.argsort(-scores, kind="stable")
    order = order[scores[order] >= score_threshold]
    return {"boxes": boxes[order].reshape(-1, 4), "labels": labels[order], "scores": scores[order]}


def coco_class_name(class_id):
    """The COCO name of a KerasHub COCO class id (e.g. 1 -> "person"), or the id as text."""
    try:
        from keras_hub.utils import coco_id_to_name
        return coco_id_to_name(int(class_id))
    except (ImportError, KeyError):
        return str(int(class_id))


__all__ = ["PRETRAINED_DETECTOR", "DETECTOR_OUTPUT_KEYS", "load_pretrained_detector", "pretrained_detections",
           "coco_class_name"]
