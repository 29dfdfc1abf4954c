"""Rebuilds the offline backbone that lab 03 fine-tunes when ImageNet weights cannot be downloaded.

Recipe: a Keras MobileNetV2 (alpha 0.35, input 32x32x3, random initialisation)
trained with a softmax head on the five source classes of the full Fashion-MNIST
(`SOURCE_CLASSES`: T-shirt/top, Trouser, Pullover, Sandal, Bag; 30,000 training
images, padded to 32x32 and repeated to 3 channels), random flips and shifts,
Adam with a cosine-decayed learning rate, seeded. Only the backbone's weights are
kept (the head is thrown away); the target classes are never seen.

    python -m course_lib.models.pretrain                # about 10-15 minutes on 2 CPU cores
    python -m course_lib.models.pretrain --epochs 1 --output /tmp/backbone   # a quick try

Writes `<output>/mobilenet_v2_fmnist.weights.h5` and `<output>/mobilenet_v2_fmnist.json`
(recipe, SHA-256, source test accuracy, training time). Needs the full
Fashion-MNIST locally (see `load_fashion_mnist`).
"""

import argparse
import json
import time
from datetime import date
from pathlib import Path

import numpy as np

from course_lib import runtime
from course_lib.models import transfer

DEFAULT_OUTPUT = Path(__file__).resolve().parent.parent.parent / "data" / "backbones"
WEIGHTS_FILE = "mobilenet_v2_fmnist.weights.h5"
BATCHNORM_MOMENTUM = 0.99


def build_pretraining_model(num_classes=len(transfer.SOURCE_CLASS_IDS), seed=1337):
    """Returns `(model, base_model)`: MobileNetV2 (alpha 0.35, 32x32x3) from scratch with a softmax head.

    Augmentation: random horizontal flips and shifts of up to 10 %. The backbone's
    BatchNorm layers train normally here (unlike fine-tuning), with momentum 0.99.
    """
    model = transfer.build_scratch_model(
        "mobilenet_v2", input_shape=transfer.OFFLINE_INPUT_SHAPE, num_classes=num_classes,
        augmentation=transfer.make_augmentation(rotation=0.0, zoom=0.0, translation=0.1, seed=seed),
        dropout_rate=0.2, alpha=transfer.OFFLINE_ALPHA, batchnorm_momentum=BATCHNORM_MOMENTUM)
    return model, transfer.find_base_model(model)


def pretrain(output=DEFAULT_OUTPUT, epochs=8, batch_size=128, learning_rate=2e-3, seed=1337,
             subset="full", path=None):
    """Pre-trains the offline backbone and writes its weights and record into `output`.

    Returns:
        The record (dict) written to the JSON file.
    """
    import keras
    import tensorflow as tf
    from course_lib.data.fashion_mnist import load_fashion_mnist

    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs should be an int >= 1, e.g. 10. Received: epochs={epochs!r}")
    runtime.set_seed(seed)
    tf.config.experimental.enable_op_determinism()
    (x_train, y_train), (x_test, y_test) = load_fashion_mnist(path=path, subset=subset)
    x_train, y_train = transfer._select_classes(x_train, y_train, transfer.SOURCE_CLASS_IDS)
    x_test, y_test = transfer._select_classes(x_test, y_test, transfer.SOURCE_CLASS_IDS)
    x_train, x_test = transfer.to_backbone_images(x_train), transfer.to_backbone_images(x_test)

    model, base_model = build_pretraining_model(seed=seed)
    steps = epochs * int(np.ceil(len(x_train) / batch_size))
    schedule = keras.optimizers.schedules.CosineDecay(learning_rate, decay_steps=steps)
    model.compile(optimizer=keras.optimizers.Adam(schedule), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    start = time.time()
    history = model.fit(x_train, y_train, batch_size=batch_size, epochs=epochs, shuffle=True,
                        validation_data=(x_test, y_test), verbose=2)
    seconds = time.time() - start
    _, test_accuracy = model.evaluate(x_test, y_test, batch_size=512, verbose=0)

    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    weights_path = output / WEIGHTS_FILE
    base_model.save_weights(str(weights_path))
    record = {
        "architecture": f"keras.applications.MobileNetV2(alpha={transfer.OFFLINE_ALPHA}, "
                        f"input_shape={transfer.OFFLINE_INPUT_SHAPE}, include_top=False)",
        "weights_file": WEIGHTS_FILE,
        "sha256": transfer._sha256(weights_path),
        "size_bytes": weights_path.stat().st_size,
        "parameters": int(base_model.count_params()),
        "source_task": f"Fashion-MNIST ({subset}) classes {transfer.SOURCE_CLASSES}",
        "source_class_ids": list(transfer.SOURCE_CLASS_IDS),
        "target_class_ids_never_seen": list(transfer.TARGET_CLASS_IDS),
        "training_images": int(len(x_train)),
        "source_test_images": int(len(x_test)),
        "source_test_accuracy": round(float(test_accuracy), 4),
        "recipe": (f"pad 28->32, gray->RGB, mobilenet_v2.preprocess_input; random horizontal flip, "
                   f"translation 0.1; BatchNorm momentum {BATCHNORM_MOMENTUM}; Adam lr {learning_rate} cosine decay to 0 over {epochs} "
                   f"epochs, batch {batch_size}, dropout 0.2, seed {seed}"),
        "epochs": epochs,
        "final_train_accuracy": round(float(history.history["accuracy"][-1]), 4),
        "training_seconds": round(seconds, 1),
        "keras_version": keras.__version__,
        "tensorflow_version": tf.__version__,
        "date": date.today().isoformat(),
        "command": "python -m course_lib.models.pretrain",
    }
    with open(output / "mobilenet_v2_fmnist.json", "w") as f:
        json.dump(record, f, indent=2)
        f.write("\n")
    print(f"Source test accuracy {test_accuracy:.4f} after {epochs} epochs in {seconds:.0f} s; "
          f"wrote {weights_path} ({record['size_bytes']:,} bytes, sha256 {record['sha256'][:12]}...)")
    return record


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--output", default=str(DEFAULT_OUTPUT), help="folder for weights and record")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--learning-rate", type=float, default=2e-3)
    parser.add_argument("--seed", type=int, default=1337)
    parser.add_argument("--subset", default="full", choices=["full", "small"])
    parser.add_argument("--fashion-mnist-dir", default=None, help="folder with the four IDX files")
    args = parser.parse_args(argv)
    runtime.quiet_tensorflow()
    pretrain(args.output, epochs=args.epochs, batch_size=args.batch_size,
             learning_rate=args.learning_rate, seed=args.seed, subset=args.subset,
             path=args.fashion_mnist_dir)


if __name__ == "__main__":
    main()
