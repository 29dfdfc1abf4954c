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
        load_fashion_mnist(fallback=False)
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


def test_offline_error_is_the_one_download_error(no_local_copies, monkeypatch):
    monkeypatch.setenv("COURSE_LIB_OFFLINE", "1")
    with pytest.raises(fashion_mnist.runtime.DatasetUnavailableError, match="offline"):
        load_fashion_mnist(fallback=False)


def test_offline_without_copy_falls_back_to_the_shipped_subset_and_says_so(
        no_local_copies, monkeypatch, capsys):
    # Labs 00-02 in full mode, offline, without Debian's package: the shipped subset, one line.
    monkeypatch.setenv("COURSE_LIB_OFFLINE", "1")
    (x_train, _), (x_test, _) = load_fashion_mnist()
    assert x_train.shape == (6000, 28, 28) and x_test.shape == (1000, 28, 28)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("Fashion-MNIST: the full set (60,000 / 10,000 images) is not on "
                               "this machine and this machine is offline; using the shipped "
                               "subset (6,000 / 1,000) instead.")
    assert "apt install dataset-fashion-mnist" in lines[0] and fashion_mnist.ENV_VAR in lines[0]


def test_a_failed_download_is_a_dataset_unavailable_error(no_local_copies, monkeypatch):
    import keras
    monkeypatch.setenv("COURSE_LIB_OFFLINE", "0")

    def unreachable():  # what keras.utils.get_file raises when the host answers 503
        raise Exception("URL fetch failure on https://storage.googleapis.com/tensorflow/"
                        "tf-keras-datasets/train-labels-idx1-ubyte.gz: 503 -- Service Unavailable")
    monkeypatch.setattr(keras.datasets.fashion_mnist, "load_data", unreachable)
    with pytest.raises(fashion_mnist.runtime.DatasetUnavailableError,
                       match=r"Downloading Fashion-MNIST failed.*503.*subset=\"small\""):
        load_fashion_mnist(fallback=False)
    (x_train, _), _ = load_fashion_mnist()
    assert x_train.shape == (6000, 28, 28)


def test_download_through_keras_with_the_network_faked(tmp_path):
    # The real keras.datasets code path; only the HTTP fetch is faked (tests/fake_network).
    import os
    import subprocess
    import sys
    from pathlib import Path
    root = Path(__file__).resolve().parent.parent
    env = dict(os.environ, PYTHONPATH=str(root / "tests" / "fake_network"),
               COURSE_LIB_FAKE_NETWORK="1", COURSE_LIB_OFFLINE="0", KERAS_HOME=str(tmp_path / "keras"),
               COURSE_LIB_FAKE_NETWORK_LOG=str(tmp_path / "log"))
    env.pop(fashion_mnist.ENV_VAR, None)
    code = ("from pathlib import Path; from course_lib.data import fashion_mnist as f; "
            "f.DEBIAN_DIR = Path('/nonexistent'); (x, y), (xt, yt) = f.load_fashion_mnist(); "
            "print(x.shape, xt.shape, sorted(set(y.tolist()))); "
            "assert f.find_fashion_mnist() is not None  # kept in the Keras cache for next time")
    run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "(1200, 28, 28) (300, 28, 28) [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]" in run.stdout
    assert len((tmp_path / "log").read_text().splitlines()) == 4  # the four IDX files
