import gzip

import numpy as np
import pytest

from course_lib.data import fashion_mnist
from course_lib.data.fashion_mnist import (FASHION_MNIST_CLASSES, load_fashion_mnist,
                                           make_small_subset, read_idx)


def write_idx(path, array, compress=True):
    header = bytes([0, 0, 8, array.ndim]) + b"".join(
        int(s).to_bytes(4, "big") for s in array.shape)
    data = header + array.astype(np.uint8).tobytes()
    if compress:
        with gzip.open(str(path) + ".gz", "wb") as f:
            f.write(data)
    else:
        path.write_bytes(data)


@pytest.fixture
def idx_folder(tmp_path):
    rng = np.random.default_rng(0)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (20, 28, 28)),
        "train-labels-idx1-ubyte": np.arange(20) % 10,
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (10, 28, 28)),
        "t10k-labels-idx1-ubyte": np.arange(10) % 10,
    }
    for i, (stem, array) in enumerate(arrays.items()):
        write_idx(tmp_path / stem, array, compress=i % 2 == 0)  # mix .gz and plain
    return tmp_path, arrays


@pytest.fixture
def no_local_copies(monkeypatch, tmp_path):
    monkeypatch.delenv(fashion_mnist.ENV_VAR, raising=False)
    monkeypatch.setattr(fashion_mnist, "DEBIAN_DIR", tmp_path / "no-debian")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "no-keras"))


def test_small_subset_is_stratified_and_shaped_like_keras():
    (x_train, y_train), (x_test, y_test) = load_fashion_mnist(subset="small")
    assert x_train.shape == (6000, 28, 28) and x_test.shape == (1000, 28, 28)
    assert x_train.dtype == np.uint8 and y_train.dtype == np.uint8
    assert np.bincount(y_train).tolist() == [600] * 10
    assert np.bincount(y_test).tolist() == [100] * 10
    assert 0 < x_train.mean() < 255
    assert len(FASHION_MNIST_CLASSES) == 10


def test_explicit_path_wins_and_reads_gz_and_plain(idx_folder):
    folder, arrays = idx_folder
    (x_train, y_train), (x_test, y_test) = load_fashion_mnist(path=folder)
    np.testing.assert_array_equal(x_train, arrays["train-images-idx3-ubyte"])
    np.testing.assert_array_equal(y_train, arrays["train-labels-idx1-ubyte"])
    np.testing.assert_array_equal(x_test, arrays["t10k-images-idx3-ubyte"])
    np.testing.assert_array_equal(y_test, arrays["t10k-labels-idx1-ubyte"])


def test_environment_variable_is_used(idx_folder, no_local_copies, monkeypatch):
    folder, arrays = idx_folder
    monkeypatch.setenv(fashion_mnist.ENV_VAR, str(folder))
    (x_train, _), _ = load_fashion_mnist()
    assert x_train.shape == (20, 28, 28)


def test_keras_cache_is_used(idx_folder, no_local_copies, monkeypatch, tmp_path):
    folder, _ = idx_folder
    import shutil
    keras_home = tmp_path.parent / (tmp_path.name + "_keras_home")
    shutil.copytree(folder, keras_home / "datasets" / "fashion-mnist")
    monkeypatch.setenv("KERAS_HOME", str(keras_home))
    (x_train, _), (x_test, _) = load_fashion_mnist()
    assert x_train.shape == (20, 28, 28) and x_test.shape == (10, 28, 28)


def test_offline_without_copy_names_every_way_out(no_local_copies, monkeypatch):
    monkeypatch.setenv("COURSE_LIB_OFFLINE", "1")
    with pytest.raises(RuntimeError, match="offline") as info:
        load_fashion_mnist()
    message = str(info.value)
    for way in ("apt install dataset-fashion-mnist", fashion_mnist.ENV_VAR, "Keras cache",
                'subset="small"'):
        assert way in message


def test_bad_subset_and_bad_path_are_explained(tmp_path):
    with pytest.raises(ValueError, match=r'subset should be "full".*Received: subset=\'tiny\''):
        load_fashion_mnist(subset="tiny")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_fashion_mnist(path=tmp_path / "missing")
    with pytest.raises(FileNotFoundError, match="some are missing"):
        load_fashion_mnist(path=tmp_path)


def test_corrupt_idx_files_are_rejected(tmp_path):
    (tmp_path / "bad").write_bytes(b"PK\x03\x04 not idx")
    with pytest.raises(ValueError, match="not an unsigned-byte IDX file"):
        read_idx(tmp_path / "bad")
    good = tmp_path / "short"
    write_idx(good, np.zeros((3, 2, 2)), compress=False)
    good.write_bytes(good.read_bytes()[:-2])
    with pytest.raises(ValueError, match="truncated"):
        read_idx(good)


def test_make_small_subset_is_balanced_and_deterministic():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 10, 500).astype(np.uint8)
    x = rng.integers(0, 256, (500, 2, 2)).astype(np.uint8)
    a = make_small_subset(x, y, x, y, train_per_class=5, test_per_class=2, seed=3)
    b = make_small_subset(x, y, x, y, train_per_class=5, test_per_class=2, seed=3)
    assert np.bincount(a["y_train"]).tolist() == [5] * 10
    np.testing.assert_array_equal(a["x_train"], b["x_train"])
    with pytest.raises(ValueError, match="fewer than per_class"):
        make_small_subset(x, y, x, y, train_per_class=400)
