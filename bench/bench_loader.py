"""Times load_image_folder against keras.utils.image_dataset_from_directory.

Builds a clean folder-per-class dataset in a temporary folder (Keras' loader
stops at the first unreadable file, so the comparison needs a clean one), then,
in this same process, times N epochs of iterating the training and validation
datasets of each loader, on the same files with the same image_size and
batch_size:

- ours:        train_ds, val_ds = load_image_folder(...)
- keras+cache: image_dataset_from_directory(..., subset="both") followed by
               .cache().prefetch(AUTOTUNE), as the Keras/TF tutorials do
- keras:       image_dataset_from_directory(...) as returned, as a student calls it
               (decodes every file again every epoch): the reference of the goal,
               ours at least 1.5x faster over 3 epochs

"first epoch" includes building the datasets (our decoding happens there, Keras'
happens while iterating); "steady" is the median of the later epochs. Ratio =
reference time / our time: >= 1.0 means ours is at least as fast.

Three folders by default:

- photos:  2,500 JPEG photos of about 500x375 (the size of tf_flowers images),
           loaded at 160x160 RGB (synthetic smooth images with noise, so the
           JPEG files have realistic sizes, ~25-60 KB; half carry an EXIF block);
- large:   300 JPEGs of about 2016x1512 (phone-camera photos, as students
           bring them, all with an EXIF block), loaded at 160x160 RGB;
- fashion: 5,000 Fashion-MNIST 28x28 grayscale PNGs from the shipped subset,
           loaded at 28x28 grayscale (lab 00's setting).

The last column says whether the training set comes in a new order in later
epochs: Keras' cached pipeline replays the first epoch's batches unchanged.

Usage:
    .venv/bin/python bench/bench_loader.py                      # all folders, 3 epochs, 3 repeats
    .venv/bin/python bench/bench_loader.py --folder photos --images 3000 --epochs 5
    .venv/bin/python bench/bench_loader.py --quick              # a smoke run (seconds)
    .venv/bin/python bench/bench_loader.py --fit                # model.fit of a small CNN
"""

import argparse
import contextlib
import gc
import io
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402


FLOWER_SIZES = [(500, 375), (375, 500), (500, 333), (320, 240), (640, 480)]
PHONE_SIZES = [(2016, 1512), (1512, 2016), (1600, 1200)]


def make_photo_folder(directory, num_images, num_classes=5, seed=0, sizes=FLOWER_SIZES,
                      exif_fraction=0.5):
    """Writes smooth random "photos" (JPEG, quality 90) in `num_classes` folders.

    A fraction `exif_fraction` of them carry an EXIF block (camera make, orientation 1),
    as photos from cameras and phones do: the loader reads its orientation.
    """
    rng = np.random.default_rng(seed)
    exif = Image.Exif()
    exif[0x010F], exif[0x0110], exif[0x0112] = "Camera", "Model X", 1
    exif_bytes = exif.tobytes()
    yy, xx = np.mgrid[0:1:64j, 0:1:64j]
    for i in range(num_images):
        label = i % num_classes
        width, height = sizes[rng.integers(len(sizes))]
        # A low-resolution colour field upsampled, plus noise: compresses like a photo.
        base = np.stack([np.sin(6 * (xx * rng.random() + yy * rng.random()) + rng.random() * 6)
                         for _ in range(3)], axis=-1)
        small = ((base + 1) * 127.5).astype(np.uint8)
        image = Image.fromarray(small).resize((width, height), Image.BICUBIC)
        array = np.asarray(image).astype(np.int16) + rng.integers(-12, 13, (height, width, 3))
        folder = Path(directory) / f"class_{label}"
        folder.mkdir(parents=True, exist_ok=True)
        extra = {"exif": exif_bytes} if rng.random() < exif_fraction else {}
        Image.fromarray(np.clip(array, 0, 255).astype(np.uint8)).save(
            folder / f"{i:05d}.jpg", quality=90, **extra)


def make_fashion_folder(directory, num_images):
    """Exports Fashion-MNIST PNGs (shipped subset) with export_image_folder."""
    from course_lib.data.fashion_mnist import FASHION_MNIST_CLASSES, load_fashion_mnist
    from course_lib.data.folders import export_image_folder
    (x, y), _ = load_fashion_mnist(subset="small")
    with contextlib.redirect_stdout(io.StringIO()):
        export_image_folder(x, y, directory, FASHION_MNIST_CLASSES,
                            per_class=max(1, num_images // 10), overwrite=True)


def iterate(datasets):
    """One epoch over every dataset; returns (images seen, training labels in order)."""
    count, order = 0, []
    for k, dataset in enumerate(datasets):
        for images, labels in dataset:
            count += int(images.shape[0])
            if k == 0:
                order.append(labels.numpy())
    return count, np.concatenate(order)


def time_loader(build, epochs):
    """Returns (first epoch incl. build, its CPU time, [later epochs], images per epoch).

    CPU time is the process's (all threads): less sensitive than wall time to
    other programs sharing the cores.
    """
    cpu = time.process_time()
    start = time.perf_counter()
    datasets = build()
    count, first_order = iterate(datasets)
    first = time.perf_counter() - start
    first_cpu = time.process_time() - cpu
    later, reshuffled = [], False
    for _ in range(epochs - 1):
        start = time.perf_counter()
        _, order = iterate(datasets)
        later.append(time.perf_counter() - start)
        reshuffled = reshuffled or not np.array_equal(order, first_order)
    del datasets
    gc.collect()
    return first, first_cpu, later, count, reshuffled


def small_cnn(image_size, channels, num_classes):
    """A small CNN, the size students train in lab 02 (about 30k parameters)."""
    import keras
    from keras import layers
    return keras.Sequential([
        keras.Input(image_size + (channels,)),
        layers.Rescaling(1 / 255),
        layers.Conv2D(16, 3, strides=2, activation="relu"),
        layers.Conv2D(32, 3, strides=2, activation="relu"),
        layers.Conv2D(64, 3, strides=2, activation="relu"),
        layers.GlobalAveragePooling2D(),
        layers.Dense(num_classes, activation="softmax"),
    ])


def time_fit(build, epochs, image_size, color_mode, repeats, num_classes):
    """Wall time of building the datasets plus `model.fit` for `epochs` epochs (best of repeats).

    Returns {"first": first epoch incl. build, "steady": median later epoch, "total"}.
    """
    import keras
    channels = {"rgb": 3, "grayscale": 1}[color_mode]
    best = None
    for _ in range(repeats):
        keras.utils.set_random_seed(0)
        times = []

        class Timer(keras.callbacks.Callback):
            def on_epoch_end(self, epoch, logs=None):
                times.append(time.perf_counter())

        start = time.perf_counter()
        train, val = build()
        model = small_cnn(image_size, channels, num_classes)
        model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
        model.fit(train, validation_data=val, epochs=epochs, verbose=0, callbacks=[Timer()])
        epoch_times = np.diff([start] + times)
        result = {"first": epoch_times[0], "steady": float(np.median(epoch_times[1:])),
                  "total": times[-1] - start}
        if best is None or result["total"] < best["total"]:
            best = result
        del train, val, model
        gc.collect()
    return best


def run(folder, image_size, color_mode, batch_size, epochs, repeats, fit=False):
    import keras
    import tensorflow as tf
    from course_lib.data.folders import load_image_folder

    def ours():
        return load_image_folder(folder, image_size=image_size, batch_size=batch_size,
                                 validation_split=0.2, seed=1337, color_mode=color_mode,
                                 verbose=False)

    def keras_plain():
        with contextlib.redirect_stdout(io.StringIO()):  # "Using N files for training."
            return keras.utils.image_dataset_from_directory(
                folder, image_size=image_size, batch_size=batch_size, validation_split=0.2,
                subset="both", seed=1337, color_mode=color_mode, label_mode="int", verbose=False)

    def keras_cached():
        return [d.cache().prefetch(tf.data.AUTOTUNE) for d in keras_plain()]

    def keras_cached_reshuffled():
        # Caching before shuffling and batching, so every epoch gets a new order.
        with contextlib.redirect_stdout(io.StringIO()):
            train, val = keras.utils.image_dataset_from_directory(
                folder, image_size=image_size, batch_size=None, validation_split=0.2,
                subset="both", seed=1337, color_mode=color_mode, label_mode="int",
                shuffle=False, verbose=False)
        train = train.cache().shuffle(len(train.file_paths), seed=1337,
                                      reshuffle_each_iteration=True)
        return [train.batch(batch_size).prefetch(tf.data.AUTOTUNE),
                val.cache().batch(batch_size).prefetch(tf.data.AUTOTUNE)]

    loaders = {"ours": ours, "keras": keras_plain, "keras+cache": keras_cached,
               "keras+cache+shuffle": keras_cached_reshuffled}
    if fit:
        num_classes = sum(os.path.isdir(os.path.join(folder, d)) for d in os.listdir(folder))
        return {name: time_fit(build, epochs, image_size, color_mode, repeats, num_classes)
                for name, build in loaders.items()}
    results = {name: {"first": [], "cpu": [], "steady": []} for name in loaders}
    for _ in range(repeats):
        for name, build in loaders.items():  # interleaved, so drifts hit all alike
            first, first_cpu, later, count, reshuffled = time_loader(build, epochs)
            results[name]["reshuffled"] = reshuffled
            results[name]["first"].append(first)
            results[name]["cpu"].append(first_cpu)
            results[name]["steady"].append(statistics.median(later) if later else float("nan"))
            results[name]["count"] = count
    return results


def report(title, results, epochs):
    print(f"\n{title}")
    print(f"{'loader':<20} {'images':>7} {'first epoch s':>14} {'(CPU s)':>8} "
          f"{'steady epoch s':>15} {'total ' + str(epochs) + ' epochs s':>18} "
          f"{'reshuffles training set':>24}")
    best = {}
    for name, r in results.items():
        first = min(r["first"])
        cpu = min(r["cpu"])
        steady = min(r["steady"])
        total = first + (epochs - 1) * steady
        best[name] = (first, steady, total, cpu)
        print(f"{name:<20} {r['count']:>7,} {first:>14.3f} {cpu:>8.2f} {steady:>15.4f} "
              f"{total:>18.3f} {'yes' if r['reshuffled'] else 'no (same order)':>24}")
    ours = best["ours"]
    for name in best:
        if name == "ours":
            continue
        ref = best[name]
        print(f"ratio {name}/ours: first epoch {ref[0] / ours[0]:.2f} (CPU {ref[3] / ours[3]:.2f}), "
              f"steady {ref[1] / ours[1]:.2f}, total {ref[2] / ours[2]:.2f}")
    return best


def report_fit(title, results, epochs):
    print(f"\n{title}: build + model.fit(train_ds, validation_data=val_ds, epochs={epochs}) "
          f"of a small CNN")
    print(f"{'loader':<20} {'first epoch s':>14} {'steady epoch s':>15} {'total s':>9}")
    for name, r in results.items():
        print(f"{name:<20} {r['first']:>14.2f} {r['steady']:>15.2f} {r['total']:>9.2f}")
    ours = results["ours"]
    for name, r in results.items():
        if name != "ours":
            print(f"ratio {name}/ours: first epoch {r['first'] / ours['first']:.2f}, "
                  f"steady {r['steady'] / ours['steady']:.2f}, total {r['total'] / ours['total']:.2f}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--folder", choices=["photos", "large", "fashion", "all"], default="all")
    parser.add_argument("--images", type=int, default=None,
                        help="images in the folder (default: photos 2500, large 300, fashion 5000)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3, help="best of this many runs")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--quick", action="store_true", help="tiny folders, 2 epochs, 1 repeat")
    parser.add_argument("--fit", action="store_true",
                        help="time model.fit of a small CNN on each loader instead of iterating")
    args = parser.parse_args(argv)
    if args.quick:
        args.images, args.epochs, args.repeats = args.images or 200, 2, 1

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    import tensorflow as tf
    print(f"TensorFlow {tf.__version__}, {len(os.sched_getaffinity(0))} CPU cores, "
          f"batch_size={args.batch_size}, epochs={args.epochs}, best of {args.repeats}")
    folders = ["photos", "large", "fashion"] if args.folder == "all" else [args.folder]
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["COURSE_LIB_CACHE"] = str(Path(tmp) / "cache")
        os.makedirs(os.environ["COURSE_LIB_CACHE"])
        # Warm up TensorFlow and tf.data once, outside the timings.
        warm = Path(tmp) / "warmup"
        make_photo_folder(warm, 20, num_classes=2)
        run(str(warm), (32, 32), "rgb", 8, 2, 1)
        for kind in folders:
            folder = Path(tmp) / kind
            if kind == "photos":
                n = args.images or 2500
                make_photo_folder(folder, n)
                size_mb = sum(f.stat().st_size for f in folder.rglob("*.jpg")) / 1e6
                title = (f"photos: {n:,} JPEG (~500x375, {size_mb:.0f} MB) in 5 classes "
                         f"-> image_size=(160, 160), rgb")
                results = run(str(folder), (160, 160), "rgb", args.batch_size, args.epochs,
                              args.repeats, args.fit)
            elif kind == "large":
                n = args.images or 300
                make_photo_folder(folder, n, sizes=PHONE_SIZES, exif_fraction=1.0)
                size_mb = sum(f.stat().st_size for f in folder.rglob("*.jpg")) / 1e6
                title = (f"large: {n:,} JPEG (~2016x1512, phone-camera size, {size_mb:.0f} MB) in "
                         f"5 classes -> image_size=(160, 160), rgb")
                results = run(str(folder), (160, 160), "rgb", args.batch_size, args.epochs,
                              args.repeats, args.fit)
            else:
                n = args.images or 5000
                make_fashion_folder(folder, n)
                title = (f"fashion: {n:,} Fashion-MNIST PNG (28x28) in 10 classes "
                         f"-> image_size=(28, 28), grayscale")
                results = run(str(folder), (28, 28), "grayscale", args.batch_size, args.epochs,
                              args.repeats, args.fit)
            (report_fit if args.fit else report)(title, results, args.epochs)


if __name__ == "__main__":
    main()
