"""The course's offline backbone: a small VGG-style CNN and its shipped, pre-trained weights.

Lab 03 fine-tunes Keras' ImageNet MobileNetV2 when it is online. Offline (CI, no
internet) it uses this backbone instead: `build_course_cnn()`, pre-trained by
`python scripts/pretrain_backbone.py --out <folder>` on 48x48 cluttered colour
photos of five Fashion-MNIST classes (`course_lib.data.transfer_task`). The
weights and a record of how they were made (recipe, SHA-256, source accuracy)
ship in `data/backbones/`; `load_course_cnn()` verifies the checksum before it
loads them.

    base_model = load_course_cnn()           # or build_backbone("course_cnn", weights="course_offline")
    base_model.output_shape                  # (None, 6, 6, 192)
"""

import hashlib
import json
from pathlib import Path

import keras

from course_lib import runtime

INPUT_SHAPE = (48, 48, 3)
FILTERS = (24, 48, 96, 192)
INFO_FILE = "backbones/course_cnn_photos.json"     # inside the course data folder (runtime.data_path)


def build_course_cnn(input_shape=INPUT_SHAPE, filters=FILTERS):
    """Builds the course's small backbone: VGG-style blocks of conv3x3-BatchNorm-ReLU.

    Block 1 has one convolution, the others two; a 2x2 max pooling follows every
    block but the last. With the defaults on 48x48x3 inputs:

        block1   48x48x24    (1 conv)     pool -> 24x24
        block2   24x24x48    (2 convs)    pool -> 12x12
        block3   12x12x96    (2 convs)    pool ->  6x6
        block4    6x6x192    (2 convs)                    656,616 parameters

    Inputs are preprocessed pixels in [-1, 1] (`ApplicationPreprocessing("course_cnn")`
    in `course_lib.models.transfer`). The weights are random: `load_course_cnn()`
    loads the pre-trained ones.

    Returns:
        A `keras.Model` named "course_cnn", output `(batch, h, w, filters[-1])`.
    """
    inputs = keras.Input(tuple(input_shape), name="input")
    x = inputs
    for block, width in enumerate(filters, start=1):
        for conv in range(1, (1 if block == 1 else 2) + 1):
            x = keras.layers.Conv2D(width, 3, padding="same", use_bias=False, name=f"block{block}_conv{conv}")(x)
            x = keras.layers.BatchNormalization(name=f"block{block}_bn{conv}")(x)
            x = keras.layers.ReLU(name=f"block{block}_relu{conv}")(x)
        if block < len(filters):
            x = keras.layers.MaxPooling2D(name=f"block{block}_pool")(x)
    return keras.Model(inputs, x, name="course_cnn")


def file_sha256(path):
    """Returns the SHA-256 of a file as 64 hex digits (what `sha256sum path` prints)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def load_course_cnn_info():
    """Returns the shipped backbone's record (recipe, SHA-256, source accuracy, time) as a dict."""
    with open(runtime.data_path(INFO_FILE)) as f:
        return json.load(f)


def load_course_cnn():
    """Builds `build_course_cnn()` (48x48x3) and loads the shipped pre-trained weights, verified.

    Raises:
        OSError: the weights file does not match the SHA-256 recorded next to it
            (a truncated copy, or a Git LFS pointer instead of the file).
    """
    info = load_course_cnn_info()
    path = runtime.data_path(str(Path(INFO_FILE).parent / info["weights_file"]))
    actual = file_sha256(path)
    if actual != info["sha256"]:
        raise OSError(
            f"{path} is corrupt: its SHA-256 is {actual}, expected {info['sha256']}. "
            "Restore it (git checkout data/backbones, or reinstall course_lib) or rebuild it "
            "with `python scripts/pretrain_backbone.py --out <folder>` and copy both files into data/backbones/.")
    base_model = build_course_cnn()
    base_model.load_weights(str(path))
    return base_model
