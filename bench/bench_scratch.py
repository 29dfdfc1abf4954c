"""Lab 01 benchmark: the NumPy MLP of course_lib.scratch against the same network in Keras.

Measures, on Fashion-MNIST (60,000 training / 10,000 test images by default):

1. time per epoch of the same architecture (784-256-128-10, ReLU, Glorot-uniform init),
   the same data, batch size (64) and optimizer (Adam, learning rate 1e-3), NumPy vs Keras,
   interleaved and repeated, as medians and a ratio;
2. the full-mode test accuracy of lab 01's recipe (54,000 training / 6,000 validation images,
   Adam with ExponentialDecay halving every 5 epochs, 15 epochs, batch 64).

Usage:
    .venv/bin/python bench/bench_scratch.py                      # both parts, full data
    .venv/bin/python bench/bench_scratch.py --part timing --threads 1
    .venv/bin/python bench/bench_scratch.py --subset small --epochs 2   # a quick smoke run

`--threads N` limits both NumPy's BLAS and TensorFlow to N threads (set before either is imported).
"""

import argparse
import os
import sys
import time


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--part", choices=("all", "timing", "accuracy"), default="all")
    parser.add_argument("--subset", choices=("full", "small"), default="full")
    parser.add_argument("--epochs", type=int, default=15, help="epochs of the accuracy run (lab 01's full mode: 15)")
    parser.add_argument("--timing-epochs", type=int, default=2, help="timed epochs per framework and repeat")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved NumPy/Keras rounds")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=None, help="BLAS and TensorFlow threads (default: library defaults)")
    parser.add_argument("--keras-accuracy", action="store_true", help="also train Keras with the lab's recipe")
    return parser.parse_args(argv)


ARGS = parse_args()
if ARGS.threads:
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(ARGS.threads)

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from course_lib import runtime  # noqa: E402

runtime.quiet_tensorflow()
import numpy as np  # noqa: E402

from course_lib.data.fashion_mnist import load_fashion_mnist  # noqa: E402
from course_lib.scratch import Adam, ExponentialDecay, SoftmaxCrossEntropy, build_mlp  # noqa: E402

HIDDEN = (256, 128)


def load(subset):
    (x_train, y_train), (x_test, y_test) = load_fashion_mnist(subset=subset)
    x_train = x_train.reshape(len(x_train), -1).astype("float32") / 255
    x_test = x_test.reshape(len(x_test), -1).astype("float32") / 255
    return x_train, y_train.astype("int64"), x_test, y_test.astype("int64")


def keras_mlp(seed, learning_rate):
    import keras
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((784,))] + [keras.layers.Dense(u, activation="relu") for u in HIDDEN]
                             + [keras.layers.Dense(10)])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    return model


def time_numpy(model, x, y, epochs, batch_size, seed):
    times = []
    for e in range(epochs):
        start = time.perf_counter()
        model.fit(x, y, epochs=1, batch_size=batch_size, seed=seed + e, verbose=0)
        times.append(time.perf_counter() - start)
    return times


def time_keras(model, x, y, epochs, batch_size):
    import keras

    class Timer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.times.append(time.perf_counter() - self.start)

    timer = Timer()
    timer.times = []
    model.fit(x, y, epochs=epochs, batch_size=batch_size, shuffle=True, verbose=0, callbacks=[timer])
    return timer.times


def timing(x_train, y_train, args):
    import tensorflow as tf
    if args.threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    ours = build_mlp(784, HIDDEN, 10, seed=0).compile(SoftmaxCrossEntropy(), Adam(1e-3))
    theirs = keras_mlp(0, 1e-3)
    # Warm-up: one epoch each (Keras traces and compiles its train step in the first one).
    time_numpy(ours, x_train, y_train, 1, args.batch_size, seed=100)
    time_keras(theirs, x_train, y_train, 1, args.batch_size)
    numpy_times, keras_times = [], []
    for r in range(args.repeats):
        numpy_times += time_numpy(ours, x_train, y_train, args.timing_epochs, args.batch_size, seed=r * 10)
        keras_times += time_keras(theirs, x_train, y_train, args.timing_epochs, args.batch_size)
        print(f"  round {r + 1}: numpy {np.round(numpy_times[-args.timing_epochs:], 2)} s, "
              f"keras {np.round(keras_times[-args.timing_epochs:], 2)} s", flush=True)
    numpy_median, keras_median = float(np.median(numpy_times)), float(np.median(keras_times))
    steps = int(np.ceil(len(x_train) / args.batch_size))
    print(f"time per epoch ({len(x_train):,} images, {steps} steps of {args.batch_size}), median of "
          f"{len(numpy_times)} epochs: NumPy {numpy_median:.2f} s ({1e3 * numpy_median / steps:.2f} ms/step), "
          f"Keras {keras_median:.2f} s ({1e3 * keras_median / steps:.2f} ms/step); "
          f"NumPy / Keras = {numpy_median / keras_median:.2f}")
    return numpy_median, keras_median


def accuracy(x_train, y_train, x_test, y_test, args):
    order = np.random.default_rng(1337).permutation(len(x_train))
    num_val = len(x_train) // 10
    x_val, y_val = x_train[order[:num_val]], y_train[order[:num_val]]
    x_fit, y_fit = x_train[order[num_val:]], y_train[order[num_val:]]
    steps = int(np.ceil(len(x_fit) / args.batch_size))
    schedule = ExponentialDecay(1e-3, decay_steps=5 * steps, decay_rate=0.5)
    model = build_mlp(784, HIDDEN, 10, seed=1337).compile(SoftmaxCrossEntropy(), Adam(schedule))
    start = time.perf_counter()
    history = model.fit(x_fit, y_fit, epochs=args.epochs, batch_size=args.batch_size,
                        validation_data=(x_val, y_val), seed=1337, verbose=2)
    elapsed = time.perf_counter() - start
    test = model.evaluate(x_test, y_test)
    print(f"NumPy MLP, lab 01 recipe: test accuracy {test['accuracy']:.4f} (loss {test['loss']:.4f}) on "
          f"{len(x_test):,} images after {args.epochs} epochs; best val_accuracy "
          f"{max(history.history['val_accuracy']):.4f}; training took {elapsed:.0f} s", flush=True)
    result = {"numpy_test_accuracy": test["accuracy"]}
    if args.keras_accuracy:
        import keras
        reference = keras_mlp(1337, keras.optimizers.schedules.ExponentialDecay(1e-3, 5 * steps, 0.5))
        reference.fit(x_fit, y_fit, epochs=args.epochs, batch_size=args.batch_size,
                      validation_data=(x_val, y_val), verbose=0)
        _, keras_accuracy = reference.evaluate(x_test, y_test, verbose=0)
        print(f"Keras, same recipe: test accuracy {keras_accuracy:.4f}")
        result["keras_test_accuracy"] = keras_accuracy
    return result


def main(args):
    x_train, y_train, x_test, y_test = load(args.subset)
    print(f"Fashion-MNIST {args.subset}: train {x_train.shape}, test {x_test.shape}; "
          f"threads: {args.threads or 'library defaults'}; numpy {np.__version__}", flush=True)
    if args.part in ("all", "timing"):
        timing(x_train, y_train, args)
    if args.part in ("all", "accuracy"):
        accuracy(x_train, y_train, x_test, y_test, args)


if __name__ == "__main__":
    main(ARGS)
