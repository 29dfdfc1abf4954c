"""Benchmark: full-mode Fashion-MNIST test accuracy of lab 02's CNN, with wall time.

Trains the model and recipe of `labs/02_toy_cnn.ipynb` (full mode) on the full
Fashion-MNIST training set (54,000 train / 6,000 validation), evaluates on the
10,000 test images and prints one result line per run.

    .venv/bin/python bench/bench_cnn.py                 # the lab's model, full mode
    .venv/bin/python bench/bench_cnn.py --epochs 1 --subset small   # quick smoke run
    .venv/bin/python bench/bench_cnn.py --degradation   # the lab's plain 8 / plain 32 / residual 32 runs

oneDNN is left on here (TF_ENABLE_ONEDNN_OPTS=1): on this 2-core CPU it trains
about 2x faster than with `course_lib.runtime`'s default of 0.
"""

import argparse
import os
import time

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from course_lib import runtime  # noqa: E402


def main():
    from course_lib.models.classic import LAB_CNN, LAB_RECIPE
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=LAB_RECIPE["epochs"])
    parser.add_argument("--subset", default="full", choices=["full", "small"])
    parser.add_argument("--seed", type=int, default=1337)
    parser.add_argument("--degradation", action="store_true",
                        help="run the lab's degradation cell instead: plain nets of depth 8 and 32 and a "
                             "residual net of depth 32, 3 epochs on the first 4,000 training images")
    parser.add_argument("--block-dropout-rate", type=float, default=None,
                        help="override LAB_CNN's block_dropout_rate (to try a variant)")
    args = parser.parse_args()
    if args.degradation:
        return degradation(args.subset)
    config = dict(LAB_CNN)
    if args.block_dropout_rate is not None:
        config["block_dropout_rate"] = args.block_dropout_rate

    import numpy as np
    import keras
    from course_lib.data.fashion_mnist import load_fashion_mnist
    from course_lib.models.classic import build_toy_cnn

    runtime.set_seed(args.seed)
    (x_train, y_train), (x_test, y_test) = load_fashion_mnist(subset=args.subset)
    x_train, x_test = x_train[..., None], x_test[..., None]
    model = build_toy_cnn(**config)
    # Step decay (x drop every epochs_per_drop epochs) as a Keras schedule, counted in steps, as lab 02 does
    steps_per_epoch = int(np.ceil(int(len(x_train) * 0.9) / LAB_RECIPE["batch_size"]))   # validation_split=0.1
    schedule = keras.optimizers.schedules.ExponentialDecay(
        LAB_RECIPE["learning_rate"], decay_steps=LAB_RECIPE["epochs_per_drop"] * steps_per_epoch,
        decay_rate=LAB_RECIPE["drop"], staircase=True)
    model.compile(optimizer=keras.optimizers.Adam(schedule),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    start = time.time()
    history = model.fit(x_train, y_train, batch_size=LAB_RECIPE["batch_size"], epochs=args.epochs,
                        validation_split=0.1, verbose=2)
    train_s = time.time() - start
    test_loss, test_accuracy = model.evaluate(x_test, y_test, batch_size=512, verbose=0)
    best_val = max(history.history["val_accuracy"])
    print(f"RESULT model=toy_cnn{config} params={model.count_params():,} subset={args.subset} "
          f"epochs={args.epochs} batch_size={LAB_RECIPE['batch_size']} "
          f"test_accuracy={test_accuracy:.4f} test_loss={test_loss:.4f} best_val_accuracy={best_val:.4f} "
          f"train_wall_s={train_s:.0f} s_per_epoch={train_s / args.epochs:.0f} "
          f"onednn={os.environ['TF_ENABLE_ONEDNN_OPTS']} np={np.__version__} keras={keras.__version__}")


def degradation(subset, depths=(8, 32), num_images=4000, epochs=3):
    """The lab's last experiment, as its cell runs it in full mode (same seeds, same data)."""
    import keras
    import numpy as np
    from course_lib.data.fashion_mnist import load_fashion_mnist
    from course_lib.models.classic import build_plain_net, build_residual_net

    runtime.set_seed(1337)
    (x_train, y_train), _ = load_fashion_mnist(subset=subset)
    x, y = x_train[:num_images, ..., None], y_train[:num_images]
    shallow, deep = depths
    for build, depth in ((build_plain_net, shallow), (build_plain_net, deep), (build_residual_net, deep)):
        keras.utils.set_random_seed(1)
        net = build(input_shape=(28, 28, 1), num_classes=10, depth=depth, filters=8)
        net.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy",
                    metrics=["accuracy"])
        start = time.time()
        history = net.fit(x, y, batch_size=64, epochs=epochs, verbose=0).history
        print(f"RESULT model={net.name} params={net.count_params():,} images={len(x)} epochs={epochs} "
              f"loss={np.round(history['loss'], 3).tolist()} accuracy={np.round(history['accuracy'], 3).tolist()} "
              f"train_wall_s={time.time() - start:.0f}")


if __name__ == "__main__":
    main()
