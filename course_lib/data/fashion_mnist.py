"""Fashion-MNIST, offline first.

`load_fashion_mnist()` returns the same arrays as
`keras.datasets.fashion_mnist.load_data()`, but looks for a local copy before
downloading anything, in this order:

1. the `path` argument (a folder holding the four IDX files, `.gz` or not);
2. the folder named by the `FASHION_MNIST_DIR` environment variable;
3. `/usr/share/datasets/fashion-mnist` (Debian: `apt install dataset-fashion-mnist`);
4. the Keras cache (`~/.keras/datasets/fashion-mnist`), filled by an earlier download;
5. a download through `keras.datasets.fashion_mnist.load_data()`, only when online;
6. with none of these (offline, or the download failed), the shipped subset below, with a
   one-line message saying so and how to get the full set (`fallback=False` raises instead).

`subset="small"` returns the stratified subset shipped in `data/` (6,000 training
and 1,000 test images, balanced over the 10 classes), which needs neither a
download nor Debian's package: tests and fast mode use it.
"""

import gzip
import os
from pathlib import Path

import numpy as np

from course_lib import runtime

FASHION_MNIST_CLASSES = [
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
]

ENV_VAR = "FASHION_MNIST_DIR"
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
SMALL_FILE = "fashion_mnist_small.npz"

_FILES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}


def _keras_cache_dir():
    keras_home = os.environ.get("KERAS_HOME", str(Path.home() / ".keras"))
    return Path(keras_home) / "datasets" / "fashion-mnist"


def _find_file(folder, stem):
    for name in (stem + ".gz", stem):
        if (folder / name).is_file():
            return folder / name
    return None


def _has_idx_files(folder):
    return folder.is_dir() and all(_find_file(folder, stem) for stem in _FILES.values())


def read_idx(path):
    """Reads one IDX file (`.gz` or plain) into a NumPy uint8 array.

    Raises:
        ValueError: the file is not an unsigned-byte IDX file, or is truncated.
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise ValueError(
            f"{path} is not an unsigned-byte IDX file (expected magic bytes 00 00 08 NN, "
            f"got {data[:4].hex(' ') or 'an empty file'}). Download the original files again.")
    ndim = data[3]
    header = 4 + 4 * ndim
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    expected = int(np.prod(shape))
    if len(data) - header != expected:
        raise ValueError(
            f"{path} is truncated or corrupt: its header announces shape {shape} "
            f"({expected:,} bytes) but it holds {len(data) - header:,}. Download it again.")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)


def _load_idx_folder(folder):
    arrays = {key: read_idx(_find_file(folder, stem)) for key, stem in _FILES.items()}
    return (arrays["x_train"], arrays["y_train"]), (arrays["x_test"], arrays["y_test"])


def find_fashion_mnist(path=None):
    """Returns the folder holding the full Fashion-MNIST IDX files, or None.

    Follows the resolution order of `load_fashion_mnist` without downloading.
    """
    candidates = []
    if path is not None:
        candidates.append(Path(path).expanduser())
    if os.environ.get(ENV_VAR):
        candidates.append(Path(os.environ[ENV_VAR]).expanduser())
    candidates += [DEBIAN_DIR, _keras_cache_dir()]
    for folder in candidates:
        if _has_idx_files(folder):
            return folder
    return None


def _load_small():
    with np.load(runtime.data_path(SMALL_FILE)) as arrays:
        return ((arrays["x_train"], arrays["y_train"]), (arrays["x_test"], arrays["y_test"]))


def _fall_back(why):
    print(f"Fashion-MNIST: the full set (60,000 / 10,000 images) is not on this machine and {why}; "
          f"using the shipped subset (6,000 / 1,000) instead. For the full set: sudo apt install "
          f"dataset-fashion-mnist, or set {ENV_VAR}=<folder with its four IDX files>, or run "
          f"once online.")
    return _load_small()


def load_fashion_mnist(path=None, subset="full", fallback=True):
    """Loads Fashion-MNIST as uint8 NumPy arrays, offline first.

    Args:
        path: optional folder holding `train-images-idx3-ubyte(.gz)`,
            `train-labels-idx1-ubyte(.gz)`, `t10k-images-idx3-ubyte(.gz)` and
            `t10k-labels-idx1-ubyte(.gz)`.
        subset: `"full"` (60,000 training and 10,000 test images) or `"small"`
            (the shipped, stratified 6,000 / 1,000 subset).
        fallback: with subset="full" and no way to get it (offline without a local copy,
            or a failed download), print one line and return the small subset; False:
            raise DatasetUnavailableError.

    Returns:
        `(x_train, y_train), (x_test, y_test)`: images of shape `(n, 28, 28)`,
        labels of shape `(n,)` with values 0-9, both uint8, as
        `keras.datasets.fashion_mnist.load_data()` returns them.
        Class names are in `FASHION_MNIST_CLASSES`.

    Raises:
        ValueError: `subset` is neither "full" nor "small".
        FileNotFoundError: `path` was given but lacks the four IDX files.
        DatasetUnavailableError (a RuntimeError): with fallback=False, no local copy and no
            internet, or the download failed; the message lists the ways to get one.

    Example:

    >>> (x_train, y_train), (x_test, y_test) = load_fashion_mnist(subset="small")
    >>> x_train.shape, x_test.shape
    ((6000, 28, 28), (1000, 28, 28))
    """
    if subset not in ("full", "small"):
        raise ValueError(
            f'subset should be "full" (60,000/10,000 images) or "small" (the shipped '
            f'6,000/1,000 subset). Received: subset={subset!r}')
    if subset == "small":
        return _load_small()

    if path is not None and not _has_idx_files(Path(path).expanduser()):
        raise FileNotFoundError(
            f"{path} should hold the four Fashion-MNIST IDX files "
            f"({', '.join(s + '[.gz]' for s in _FILES.values())}), but "
            + ("it does not exist." if not Path(path).expanduser().exists() else "some are missing.")
            + f" Received: path={str(path)!r}")
    folder = find_fashion_mnist(path)
    if folder is not None:
        return _load_idx_folder(folder)
    if runtime.is_offline():
        if fallback:
            return _fall_back("this machine is offline")
        raise runtime.DatasetUnavailableError(
            "Fashion-MNIST was not found locally and this machine is offline. Any one of these works:\n"
            "  - on Debian/Ubuntu: sudo apt install dataset-fashion-mnist "
            f"(files land in {DEBIAN_DIR});\n"
            f"  - copy the four IDX files into a folder and set {ENV_VAR}=/that/folder, "
            "or pass load_fashion_mnist(path=...);\n"
            f"  - copy them into the Keras cache, {_keras_cache_dir()};\n"
            "  - run once with internet (e.g. on Colab) to download them;\n"
            '  - or use the shipped subset: load_fashion_mnist(subset="small").')
    runtime.quiet_tensorflow()
    import keras
    try:
        return keras.datasets.fashion_mnist.load_data()
    except Exception as error:  # noqa: BLE001 - Keras reports a failed download as Exception
        if fallback:
            return _fall_back(f"its download failed ({type(error).__name__}: {error})")
        raise runtime.DatasetUnavailableError(
            f"Downloading Fashion-MNIST failed ({type(error).__name__}: {error}). Try again later, "
            f"copy the four IDX files into {_keras_cache_dir()}, or use the shipped subset: "
            f'load_fashion_mnist(subset="small").') from error


def make_small_subset(x_train, y_train, x_test, y_test, train_per_class=600,
                      test_per_class=100, seed=1337):
    """Draws the stratified subset shipped in `data/` (rebuild: `python -m course_lib.data.fashion_mnist`).

    Returns:
        A dict of the four arrays, each class represented equally, sorted by index
        within the original split so the order is reproducible.
    """
    rng = np.random.default_rng(seed)

    def pick(labels, per_class):
        idx = []
        for c in range(10):
            members = np.flatnonzero(labels == c)
            if len(members) < per_class:
                raise ValueError(f"class {c} has only {len(members)} images, "
                                 f"fewer than per_class={per_class}")
            idx.append(rng.choice(members, size=per_class, replace=False))
        return np.sort(np.concatenate(idx))

    train_idx = pick(y_train, train_per_class)
    test_idx = pick(y_test, test_per_class)
    return {"x_train": x_train[train_idx], "y_train": y_train[train_idx],
            "x_test": x_test[test_idx], "y_test": y_test[test_idx]}


if __name__ == "__main__":  # pragma: no cover - rebuilds data/fashion_mnist_small.npz
    (xtr, ytr), (xte, yte) = load_fashion_mnist()
    out = Path(__file__).resolve().parents[2] / "data" / SMALL_FILE
    np.savez_compressed(out, **make_small_subset(xtr, ytr, xte, yte))
    print(f"Wrote {out} ({out.stat().st_size / 1e6:.1f} MB)")
