"""Rebuilds the offline backbone that lab 03 fine-tunes when ImageNet weights cannot be downloaded.

A repository script, not part of the installed package: run it from a checkout.

Recipe: `build_course_cnn()` (VGG-style conv-BatchNorm-ReLU blocks, 48x48x3,
random initialisation) trained with a softmax head on the source task of
`course_lib.data.transfer_task`: cluttered colour photos of T-shirt/top,
Trouser, Pullover, Sandal and Bag (the 3,000 training items of the shipped
Fashion-MNIST subset, each in 6 photos: 18,000 images), random horizontal
flips, Adam with a cosine-decayed learning rate, seeded. Only the backbone's
weights are kept (the head is thrown away); the target classes are never seen.
Needs nothing but the shipped data.

    python scripts/pretrain_backbone.py --out /tmp/backbone            # a few minutes on 2 CPU cores
    python scripts/pretrain_backbone.py --out /tmp/backbone --epochs 1 --copies 1 --train-images 500   # a quick try

Writes `<out>/course_cnn_photos.weights.h5` and `<out>/course_cnn_photos.json`
(recipe, SHA-256, source test accuracy, training time). To replace the shipped
backbone, copy both files into `data/backbones/`.
"""

import argparse
import json
import time
from datetime import date
from pathlib import Path

import numpy as np

from course_lib import runtime
from course_lib._validation import check_int
from course_lib.data import transfer_task
from course_lib.models import course_cnn
from course_lib.models.transfer import build_transfer_model, make_augmentation

import keras  # after course_lib.models, which imports TensorFlow quietly
import tensorflow as tf

WEIGHTS_FILE = "course_cnn_photos.weights.h5"
RECORD_FILE = "course_cnn_photos.json"


def build_pretraining_model(num_classes=len(transfer_task.SOURCE_CLASS_IDS), seed=1337):
    """Returns `(model, base_model)`: `build_course_cnn()` from scratch with a softmax head.

    Augmentation: random horizontal flips (the photos already vary in position,
    scale and colour). Nothing is frozen, so the backbone's BatchNorm layers
    train normally here (unlike fine-tuning), with Keras' default momentum 0.99.
    """
    augmentation = make_augmentation(rotation=0.0, zoom=0.0, translation=0.0, seed=seed)
    base_model = course_cnn.build_course_cnn()
    model = build_transfer_model(base_model, num_classes=num_classes, augmentation=augmentation,
                                 dropout_rate=0.2, freeze_base=False)
    return model, base_model


def pretrain(out, epochs=3, copies=6, batch_size=64, learning_rate=2e-3, seed=1337, train_images=None):
    """Pre-trains the offline backbone and writes its weights and record into the folder `out`.

    Args:
        train_images: None trains on every source photo; an int keeps only the
            first ones (a quick try: the result is not a usable backbone).

    Returns:
        The record (dict) written to the JSON file.

    Raises:
        ValueError: `epochs`, `copies` or `train_images` is not a positive int.
    """
    check_int(epochs, "epochs", example=3)
    check_int(copies, "copies", example=6, hint="It is the number of photos per training item.")
    check_int(train_images, "train_images", example=500, allow_none=True)
    out = Path(out)
    runtime.set_seed(seed)
    (x_train, y_train), (x_test, y_test) = transfer_task.load_source_task(copies=copies, seed=seed)
    x_train, y_train = x_train[:train_images].astype("uint8"), y_train[:train_images]   # uint8: 4x less memory

    model, base_model = build_pretraining_model(seed=seed)
    steps = epochs * int(np.ceil(len(x_train) / batch_size))
    schedule = keras.optimizers.schedules.CosineDecay(learning_rate, decay_steps=steps)
    model.compile(optimizer=keras.optimizers.Adam(schedule), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    start = time.time()
    history = model.fit(x_train, y_train, batch_size=batch_size, epochs=epochs, shuffle=True,
                        validation_data=(x_test, y_test), verbose=2)
    seconds = time.time() - start
    _, test_accuracy = model.evaluate(x_test, y_test, batch_size=250, verbose=0)

    out.mkdir(parents=True, exist_ok=True)
    weights_path = out / WEIGHTS_FILE
    base_model.save_weights(str(weights_path))
    limit = f" --train-images {train_images}" if train_images is not None else ""
    record = {
        "architecture": f"course_lib.models.course_cnn.build_course_cnn(input_shape={course_cnn.INPUT_SHAPE}, "
                        f"filters={course_cnn.FILTERS})",
        "weights_file": WEIGHTS_FILE,
        "sha256": course_cnn.file_sha256(weights_path),
        "size_bytes": weights_path.stat().st_size,
        "parameters": int(base_model.count_params()),
        "source_task": f"cluttered 48x48 colour photos of Fashion-MNIST {transfer_task.SOURCE_CLASSES} "
                       f"(shipped subset, {copies} photos per training item)",
        "source_class_ids": list(transfer_task.SOURCE_CLASS_IDS),
        "target_class_ids_never_seen": list(transfer_task.TARGET_CLASS_IDS),
        "training_images": int(len(x_train)),
        "source_test_images": int(len(x_test)),
        "source_test_accuracy": round(float(test_accuracy), 4),
        "recipe": (f"pixels scaled to [-1, 1]; random horizontal flip; BatchNorm momentum 0.99; Adam lr "
                   f"{learning_rate} cosine decay to 0 over {epochs} epochs, batch {batch_size}, dropout 0.2 "
                   f"before the (discarded) head, seed {seed}"),
        "epochs": epochs,
        "final_train_accuracy": round(float(history.history["accuracy"][-1]), 4),
        "training_seconds": round(seconds, 1),
        "keras_version": keras.__version__,
        "tensorflow_version": tf.__version__,
        "date": date.today().isoformat(),
        "command": f"python scripts/pretrain_backbone.py --out <folder> --epochs {epochs} --copies {copies}{limit}",
    }
    with open(out / RECORD_FILE, "w") as f:
        json.dump(record, f, indent=2)
        f.write("\n")
    print(f"Source test accuracy {test_accuracy:.4f} after {epochs} epochs in {seconds:.0f} s; "
          f"wrote {weights_path} ({record['size_bytes']:,} bytes, sha256 {record['sha256'][:12]}...)")
    return record


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True,
                        help="folder for the weights and the record (copy both into data/backbones/ to ship them)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--copies", type=int, default=6, help="photos per training item")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--learning-rate", type=float, default=2e-3)
    parser.add_argument("--seed", type=int, default=1337)
    parser.add_argument("--train-images", type=int, default=None,
                        help="keep only the first N training photos (a quick try; default: all)")
    args = parser.parse_args(argv)
    pretrain(args.out, epochs=args.epochs, copies=args.copies, batch_size=args.batch_size,
             learning_rate=args.learning_rate, seed=args.seed, train_images=args.train_images)


if __name__ == "__main__":
    main()
