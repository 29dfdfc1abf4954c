"""Tests for course_lib.data.folders: scanning, loading, plotting, exporting."""

import io
import os
import warnings
from pathlib import Path

import matplotlib
import numpy as np
import pytest
from PIL import Image

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import tensorflow as tf  # noqa: E402

from course_lib.data import folders  # noqa: E402
from course_lib.data.folders import (  # noqa: E402
    export_image_folder,
    load_image_folder,
    plot_class_balance,
    plot_image_batch,
    safe_folder_name,
    scan_image_folder,
)

RNG = np.random.default_rng(0)


def write_image(path, array=None, mode="RGB", size=(24, 20), fmt=None, **save_args):
    """Writes a small image (size is width, height) and returns its path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if array is None:
        channels = {"RGB": 3, "RGBA": 4, "L": None}[mode if mode in ("RGB", "RGBA") else "L"]
        shape = (size[1], size[0]) + ((channels,) if channels else ())
        array = RNG.integers(0, 256, shape, dtype=np.uint8)
    image = Image.fromarray(array)
    if mode not in ("RGB", "RGBA", "L"):
        image = image.convert(mode)
    image.save(path, format=fmt, **save_args)
    return path


def make_clean_folder(root, classes=("cats", "dogs", "fish"), per_class=5, size=(24, 20)):
    for name in classes:
        for i in range(per_class):
            write_image(root / name / f"{name}_{i:02d}.png", size=size)
    return root


@pytest.fixture
def clean_folder(tmp_path):
    return make_clean_folder(tmp_path / "clean")


@pytest.fixture
def messy_folder(tmp_path):
    """A student folder with every usual problem."""
    root = tmp_path / "messy"
    for name in ("cats", "dogs"):
        for i in range(4):
            write_image(root / name / f"{i}.png")
    cats, dogs = root / "cats", root / "dogs"
    write_image(cats / "alpha.png", mode="RGBA")
    write_image(cats / "cmyk.jpg", mode="CMYK", fmt="JPEG")
    write_image(cats / "UPPER.JPG", fmt="JPEG")
    write_image(cats / "mixed.Jpeg", fmt="JPEG")
    write_image(cats / "holiday" / "deep" / "nested.png")
    write_image(dogs / "gray.png", mode="L")
    write_image(dogs / "palette.png", mode="P")
    write_image(dogs / "gray16.png", array=RNG.integers(0, 65535, (20, 24), dtype=np.uint16))
    write_image(dogs / "photo.webp", fmt="WEBP")
    (dogs / "empty.jpg").write_bytes(b"")
    good = (cats / "0.png").read_bytes()
    (dogs / "truncated.png").write_bytes(good[: len(good) // 2])
    jpeg = io.BytesIO()
    Image.fromarray(RNG.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(jpeg, "JPEG")
    (dogs / "truncated.jpg").write_bytes(jpeg.getvalue()[:400])
    (dogs / "fake.png").write_text("not really a png")
    (dogs / "notes.txt").write_text("my notes")
    (root / ".DS_Store").write_bytes(b"\x00\x01")
    (cats / ".hidden.png").write_bytes(good)
    write_image(root / ".ipynb_checkpoints" / "x-checkpoint.png")
    write_image(root / "__MACOSX" / "cats" / "._0.png")
    (root / "junk").mkdir()
    (root / "junk" / "readme.md").write_text("nothing to see")
    (root / "broken_class").mkdir()
    (root / "broken_class" / "bad.jpg").write_bytes(b"\xff\xd8\xff garbage")
    write_image(root / "loose.png")
    return root


def quiet_load(*args, **kwargs):
    kwargs.setdefault("verbose", False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return load_image_folder(*args, **kwargs)


def all_labels(dataset):
    return np.concatenate([y.numpy() for _, y in dataset])


# ---------------------------------------------------------------------------
# Scanning messy folders
# ---------------------------------------------------------------------------

def test_scan_messy_folder_keeps_readable_images_and_lists_the_rest(messy_folder):
    with pytest.warns(UserWarning) as record:
        scan = scan_image_folder(messy_folder)
    assert scan.class_names == ["cats", "dogs"]
    # cats: 4 png + alpha + cmyk + UPPER.JPG + mixed.Jpeg + nested = 9
    # dogs: 4 png + gray + palette + gray16 + webp = 8
    assert scan.counts == {"cats": 9, "dogs": 8}
    assert len(scan.file_paths) == len(scan.labels) == 17
    reasons = {os.path.basename(s.path): s.reason for s in scan.skipped}
    assert reasons["empty.jpg"] == "empty file (0 bytes)"
    assert reasons["truncated.png"].startswith("unreadable")
    assert reasons["truncated.jpg"].startswith("unreadable")
    assert reasons["fake.png"].startswith("unreadable")
    assert reasons["notes.txt"] == "not an image file (.txt)"
    assert reasons["loose.png"].startswith("outside any class folder")
    assert "bad.jpg" in reasons and "readme.md" in reasons
    # Hidden files and tool folders are ignored, not reported.
    paths = " ".join(scan.file_paths) + " ".join(s.path for s in scan.skipped)
    assert ".DS_Store" not in paths and "checkpoint" not in paths
    assert ".hidden" not in paths and "__MACOSX" not in paths
    # Junk folders are not classes, and each is named in a warning.
    assert set(scan.ignored_folders) == {"junk", "broken_class"}
    messages = " ".join(str(w.message) for w in record)
    assert "'junk'" in messages and "'broken_class'" in messages
    # Nested images belong to their class.
    nested = [p for p in scan.file_paths if p.endswith("nested.png")]
    assert nested and scan.labels[scan.file_paths.index(nested[0])] == 0
    # CMYK and WebP went through Pillow.
    converted = {os.path.basename(p) for p in scan.decoded_with_pillow}
    assert {"cmyk.jpg", "photo.webp"} <= converted


def test_scan_report_prints_summary_counts_and_skipped(messy_folder):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        scan = scan_image_folder(messy_folder)
    text = str(scan)
    assert text.startswith("Found 17 images in 2 classes: ['cats', 'dogs']; skipped")
    assert "see scan.skipped" in text
    assert "Not a class: junk/" in text and "empty file (0 bytes)" in text
    assert "Image sizes (width x height): smallest 24x20" in text


@pytest.mark.parametrize("endian", [">", "<"])  # both byte orders cameras write
def test_exif_orientation_is_applied(tmp_path, endian):
    root = make_clean_folder(tmp_path / "exif", classes=("a", "b"), per_class=3)
    # A 40 wide x 20 high photo whose EXIF says "rotate 90": it should load as 20 wide x 40 high.
    array = np.zeros((20, 40, 3), dtype=np.uint8)
    array[:, :20] = 255  # left half white
    exif = Image.Exif()
    exif.endian = endian
    exif[0x010F] = "Phone"  # an entry before the orientation, as cameras write
    exif[0x0112] = 6  # rotate 90 CW when displayed
    Image.fromarray(array).save(root / "a" / "rotated.jpg", exif=exif.tobytes(), quality=95)
    ds = quiet_load(root, image_size=(40, 20), validation_split=0, shuffle=False, batch_size=None)
    assert ds.scan.decoded_with_pillow == [str(root / "a" / "rotated.jpg")]
    index = ds.file_paths.index(str(root / "a" / "rotated.jpg"))
    image = [x.numpy() for x, _ in ds][index]
    assert image.shape == (40, 20, 3)
    # After a 90 degree clockwise turn, the white left half is on top.
    assert image[:15].mean() > 200 and image[25:].mean() < 50


def test_exif_without_rotation_and_misnamed_files(tmp_path, capfd):
    root = make_clean_folder(tmp_path / "named", classes=("a", "b"), per_class=3)
    exif = Image.Exif()
    exif[0x010F], exif[0x0112] = "Phone", 1  # camera make, "as stored"
    array = np.zeros((20, 24, 3), dtype=np.uint8)
    array[:10] = (250, 40, 40)  # red top half: rotated, it would be on a side
    write_image(root / "a" / "camera.jpg", array=array, fmt="JPEG", exif=exif.tobytes(),
                quality=95)
    exif.endian = "<"
    write_image(root / "a" / "camera_le.jpg", array=array, fmt="JPEG", exif=exif.tobytes(),
                quality=95)
    del exif[0x0112]  # no orientation entry at all: as stored
    write_image(root / "b" / "no_orientation.jpg", array=array, fmt="JPEG",
                exif=exif.tobytes(), quality=95)
    write_image(root / "a" / "really_png.jpg", array=array, fmt="PNG")
    write_image(root / "b" / "really_jpeg.png", array=array, fmt="JPEG", quality=95)
    scan = scan_image_folder(root)
    assert scan.counts == {"a": 6, "b": 5} and not scan.skipped
    # EXIF without a turn, a PNG named .jpg and a JPEG named .png stay on TensorFlow, silently.
    assert scan.decoded_with_pillow == []
    assert capfd.readouterr().err == ""
    ds = quiet_load(root, image_size=(20, 24), validation_split=0, shuffle=False, batch_size=None)
    images = {Path(p).name: x.numpy() for p, (x, _) in zip(ds.file_paths, ds)}
    np.testing.assert_array_equal(images["really_png.jpg"], array)  # lossless, same size
    for name in ("camera.jpg", "camera_le.jpg", "no_orientation.jpg"):
        assert np.abs(images[name] - array).mean() < 8  # JPEG noise only, not rotated
    assert np.abs(images["really_jpeg.png"] - array).mean() < 8


def test_jpeg_header_reads_size_components_and_orientation(tmp_path):
    array = np.zeros((30, 50, 3), dtype=np.uint8)
    exif = Image.Exif()
    exif.endian = "<"
    exif[0x0112] = 8
    write_image(tmp_path / "turned.jpg", array=array, fmt="JPEG", exif=exif.tobytes())
    assert folders._jpeg_header(tmp_path / "turned.jpg") == (30, 50, 3, 8, True)
    write_image(tmp_path / "progressive.jpg", array=array, fmt="JPEG", progressive=True)
    assert folders._jpeg_header(tmp_path / "progressive.jpg") == (30, 50, 3, 1, True)
    write_image(tmp_path / "gray.jpg", array=array[..., 0], fmt="JPEG")
    assert folders._jpeg_header(tmp_path / "gray.jpg") == (30, 50, 1, 1, True)
    write_image(tmp_path / "cmyk.jpg", array=array, mode="CMYK", fmt="JPEG")
    assert folders._jpeg_header(tmp_path / "cmyk.jpg")[2] == 4
    # A 200 KB ICC profile before the frame header: read past the first 64 KB.
    write_image(tmp_path / "icc.jpg", array=array, fmt="JPEG", icc_profile=bytes(200_000))
    assert folders._jpeg_header(tmp_path / "icc.jpg") == (30, 50, 3, 1, True)
    (tmp_path / "short.jpg").write_bytes((tmp_path / "gray.jpg").read_bytes()[:-100])
    assert folders._jpeg_header(tmp_path / "short.jpg") == (30, 50, 1, 1, False)  # cut short
    write_image(tmp_path / "png.jpg", array=array, fmt="PNG")
    assert folders._jpeg_header(tmp_path / "png.jpg") is None
    (tmp_path / "damaged.jpg").write_bytes(b"\xff\xd8\xff garbage, not a JPEG segment")
    with pytest.raises(ValueError, match="damaged JPEG header"):
        folders._jpeg_header(tmp_path / "damaged.jpg")
    (tmp_path / "cut.jpg").write_bytes((tmp_path / "icc.jpg").read_bytes()[:1000])
    with pytest.raises(ValueError, match="ends before the frame header"):
        folders._jpeg_header(tmp_path / "cut.jpg")


def test_messy_folder_loads_without_decoder_noise_on_stderr(messy_folder, capfd):
    quiet_load(messy_folder, image_size=(20, 24), validation_split=None)
    assert capfd.readouterr().err == ""


def test_symlinked_class_folder_is_followed(tmp_path):
    # On Colab, a Drive shortcut or `ln -s` is a common way to add a class.
    make_clean_folder(tmp_path / "elsewhere", classes=("birds",), per_class=4)
    root = make_clean_folder(tmp_path / "linked", classes=("cats", "dogs"), per_class=4)
    try:
        os.symlink(tmp_path / "elsewhere" / "birds", root / "birds", target_is_directory=True)
    except OSError:  # pragma: no cover - no symlinks on this file system
        pytest.skip("symlinks not supported here")
    scan = scan_image_folder(root)
    assert scan.class_names == ["birds", "cats", "dogs"]
    assert scan.counts == {"birds": 4, "cats": 4, "dogs": 4}


# ---------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------

def test_load_messy_folder_shapes_dtypes_and_counts(messy_folder, capsys):
    with pytest.warns(UserWarning) as record:
        train_ds, val_ds = load_image_folder(messy_folder, image_size=(16, 16), batch_size=4)
    assert sorted(str(w.message).split("'")[1] for w in record) == ["broken_class", "junk"]
    line = capsys.readouterr().out.strip()
    assert line.startswith("Found 17 images in 2 classes: ['cats', 'dogs'] -> ")
    assert "see train_ds.skipped" in line
    assert train_ds.class_names == val_ds.class_names == ["cats", "dogs"]
    images, labels = next(iter(train_ds))
    assert images.dtype == tf.float32 and labels.dtype == tf.int32
    assert tuple(images.shape) == (4, 16, 16, 3)
    assert 0.0 <= float(tf.reduce_min(images)) and float(tf.reduce_max(images)) <= 255.0
    assert float(tf.reduce_max(images)) > 1.0  # [0, 255], not rescaled
    n_train, n_val = len(train_ds.file_paths), len(val_ds.file_paths)
    assert n_train + n_val == 17
    assert len(all_labels(train_ds)) == n_train and len(all_labels(val_ds)) == n_val
    assert any(os.path.basename(s.path) == "truncated.jpg" for s in train_ds.skipped)


@pytest.mark.parametrize("color_mode, channels", [("grayscale", 1), ("rgba", 4), ("rgb", 3)])
def test_color_modes(messy_folder, color_mode, channels):
    ds = quiet_load(messy_folder, image_size=(8, 10), color_mode=color_mode, validation_split=None)
    images, _ = next(iter(ds))
    assert tuple(images.shape[1:]) == (8, 10, channels)
    assert len(all_labels(ds)) == 17


def test_split_is_stratified_disjoint_and_deterministic(tmp_path):
    root = make_clean_folder(tmp_path / "d", classes=("a", "b", "c"), per_class=10)
    train_1, val_1 = quiet_load(root, image_size=(8, 8), validation_split=0.2, seed=7)
    train_2, val_2 = quiet_load(root, image_size=(8, 8), validation_split=0.2, seed=7)
    _, val_3 = quiet_load(root, image_size=(8, 8), validation_split=0.2, seed=8)
    assert not set(train_1.file_paths) & set(val_1.file_paths)
    assert len(set(train_1.file_paths) | set(val_1.file_paths)) == 30
    assert val_1.file_paths == val_2.file_paths and set(train_1.file_paths) == set(train_2.file_paths)
    assert set(val_1.file_paths) != set(val_3.file_paths)
    # Stratified: 2 validation images per class of 10.
    assert np.bincount(all_labels(val_1), minlength=3).tolist() == [2, 2, 2]
    # The validation set yields its files in file_paths order, every epoch.
    first = all_labels(val_1)
    expected = [["a", "b", "c"].index(p.split(os.sep)[-2]) for p in val_1.file_paths]
    assert first.tolist() == expected and all_labels(val_1).tolist() == expected


def test_training_set_is_reshuffled_every_epoch(tmp_path):
    root = make_clean_folder(tmp_path / "d", classes=("a", "b"), per_class=20)
    train_ds, _ = quiet_load(root, image_size=(8, 8), batch_size=8)
    epoch_1, epoch_2 = all_labels(train_ds), all_labels(train_ds)
    assert sorted(epoch_1.tolist()) == sorted(epoch_2.tolist())
    images_1 = np.concatenate([x.numpy() for x, _ in train_ds])
    images_2 = np.concatenate([x.numpy() for x, _ in train_ds])
    assert not np.array_equal(images_1, images_2)
    unshuffled = quiet_load(root, image_size=(8, 8), validation_split=0, shuffle=False)
    assert all_labels(unshuffled).tolist() == [0] * 20 + [1] * 20


def test_no_validation_split_returns_one_dataset(clean_folder):
    ds = quiet_load(clean_folder, image_size=(8, 8), validation_split=0)
    assert isinstance(ds, tf.data.Dataset)
    assert len(ds.file_paths) == 15 and len(all_labels(ds)) == 15


def test_unbatched(clean_folder):
    ds = quiet_load(clean_folder, image_size=(8, 8), batch_size=None, validation_split=None)
    image, label = next(iter(ds))
    assert tuple(image.shape) == (8, 8, 3) and label.shape == ()


def test_matches_keras_image_dataset_from_directory(clean_folder):
    import keras
    kwargs = dict(image_size=(20, 24), batch_size=64, validation_split=None)
    ours = quiet_load(clean_folder, shuffle=False, **kwargs)
    theirs = keras.utils.image_dataset_from_directory(
        str(clean_folder), shuffle=False, label_mode="int", verbose=False, **kwargs)
    assert ours.class_names == theirs.class_names == ["cats", "dogs", "fish"]
    assert sorted(ours.file_paths) == sorted(theirs.file_paths)
    assert ours.element_spec[0].shape.as_list() == theirs.element_spec[0].shape.as_list()
    assert ours.element_spec[0].dtype == theirs.element_spec[0].dtype == tf.float32
    assert ours.element_spec[1].dtype == theirs.element_spec[1].dtype
    x_ours, y_ours = next(iter(ours))
    x_theirs, y_theirs = next(iter(theirs))
    # Same files in the same (sorted) order at their own size: the very same pixels.
    order = np.argsort(ours.file_paths)
    order_theirs = np.argsort(theirs.file_paths)
    np.testing.assert_array_equal(x_ours.numpy()[order], x_theirs.numpy()[order_theirs])
    np.testing.assert_array_equal(y_ours.numpy()[order], y_theirs.numpy()[order_theirs])


def test_resized_pixels_close_to_keras(clean_folder):
    import keras
    ours = quiet_load(clean_folder, image_size=(12, 15), shuffle=False, validation_split=None)
    theirs = keras.utils.image_dataset_from_directory(
        str(clean_folder), image_size=(12, 15), shuffle=False, verbose=False)
    x_ours, x_theirs = next(iter(ours))[0].numpy(), next(iter(theirs))[0].numpy()
    # We keep uint8 in memory: at most 0.5 away from Keras' float result.
    assert np.abs(x_ours - x_theirs).max() <= 0.5 + 1e-4


def test_large_jpeg_uses_reduced_scale_decode_and_keeps_content(tmp_path):
    root = tmp_path / "big"
    for name in ("a", "b"):
        for i in range(3):
            array = np.zeros((400, 320, 3), dtype=np.uint8)
            array[:200] = (250, 10, 10) if name == "a" else (10, 10, 250)
            write_image(root / name / f"{i}.jpg", array=array, fmt="JPEG", quality=95)
    # (height, width) 400x320: the largest DCT scale that still covers image_size.
    assert int(folders._ratio_index(400, 320, (40, 40))) == 3  # 1/8 scale: 50x40 >= 40x40
    assert int(folders._ratio_index(400, 320, (200, 160))) == 1  # 1/2 scale
    assert int(folders._ratio_index(400, 320, (200, 161))) == 0  # 1/2 would be too narrow
    assert int(folders._ratio_index(400, 320, (400, 320))) == 0  # full size
    ds = quiet_load(root, image_size=(40, 40), validation_split=None, shuffle=False)
    images, labels = next(iter(ds))
    red_top = images.numpy()[labels.numpy() == 0][:, :15].mean(axis=(0, 1, 2))
    assert red_top[0] > 200 and red_top[2] < 50


# ---------------------------------------------------------------------------
# On-disk cache
# ---------------------------------------------------------------------------

@pytest.fixture
def cache_root(tmp_path, monkeypatch):
    root = tmp_path / "cache"
    monkeypatch.setenv("COURSE_LIB_CACHE", str(root))
    return root


def all_batches(dataset):
    images, labels = zip(*[(x.numpy(), y.numpy()) for x, y in dataset])
    return np.concatenate(images), np.concatenate(labels)


def test_second_load_reads_the_cache_and_gives_the_same_data(messy_folder, cache_root, capsys):
    first = quiet_load(messy_folder, image_size=(20, 24), validation_split=None, shuffle=False)
    assert not first.scan.from_cache and first.scan.cached_in.parent == cache_root / "folders"
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        second = load_image_folder(messy_folder, image_size=(20, 24), validation_split=None,
                                   shuffle=False)
    # The junk folders are named again, as on the first load.
    assert sum("is not used as a class" in str(w.message) for w in record) == 2
    assert "decoded images read from the cache" in capsys.readouterr().out
    assert second.scan.from_cache
    for name in ("class_names", "file_paths", "skipped", "ignored_folders", "image_sizes",
                 "decoded_with_pillow"):
        assert getattr(second.scan, name) == getattr(first.scan, name), name
    for a, b in zip(all_batches(first), all_batches(second)):
        np.testing.assert_array_equal(a, b)


def test_cache_misses_when_the_folder_or_the_settings_change(tmp_path, cache_root):
    root = make_clean_folder(tmp_path / "data", classes=("a", "b"), per_class=4)
    assert not quiet_load(root, image_size=(8, 8), validation_split=None).scan.from_cache
    assert quiet_load(root, image_size=(8, 8), validation_split=None).scan.from_cache
    assert not quiet_load(root, image_size=(8, 9), validation_split=None).scan.from_cache
    assert not quiet_load(root, image_size=(8, 8), validation_split=None,
                          color_mode="grayscale").scan.from_cache
    # A replaced image (new content, new modification time) is decoded again.
    replaced = sorted((root / "a").iterdir())[0]
    write_image(replaced, array=np.full((20, 24, 3), 200, np.uint8))
    os.utime(replaced, ns=(1, 10 ** 18))
    ds = quiet_load(root, image_size=(20, 24), validation_split=None, shuffle=False)
    assert not ds.scan.from_cache
    assert all_batches(ds)[0][ds.file_paths.index(str(replaced))].min() == 200
    # An added image too.
    write_image(root / "b" / "new.png")
    ds = quiet_load(root, image_size=(20, 24), validation_split=None)
    assert not ds.scan.from_cache and ds.scan.num_images == 9


def test_cache_false_neither_reads_nor_writes(tmp_path, cache_root):
    root = make_clean_folder(tmp_path / "data", classes=("a", "b"), per_class=3)
    ds = quiet_load(root, image_size=(8, 8), validation_split=None, cache=False)
    assert ds.scan.cached_in is None
    assert not (cache_root / "folders").exists() or not any((cache_root / "folders").iterdir())
    quiet_load(root, image_size=(8, 8), validation_split=None)
    assert not quiet_load(root, image_size=(8, 8), validation_split=None,
                          cache=False).scan.from_cache
    with pytest.raises(ValueError, match="cache should be True or False. Received: cache='yes'"):
        load_image_folder(root, cache="yes")


def test_damaged_cache_is_decoded_again_with_a_warning(tmp_path, cache_root):
    root = make_clean_folder(tmp_path / "data", classes=("a", "b"), per_class=3)
    first = quiet_load(root, image_size=(8, 8), validation_split=None, shuffle=False)
    (first.scan.cached_in / "images.u8").write_bytes(b"cut")
    with pytest.warns(UserWarning, match="Ignoring the unreadable folder cache .*decoded again"):
        again = load_image_folder(root, image_size=(8, 8), validation_split=None, shuffle=False,
                                  verbose=False)
    assert not again.scan.from_cache
    np.testing.assert_array_equal(all_batches(first)[0], all_batches(again)[0])
    assert quiet_load(root, image_size=(8, 8), validation_split=None).scan.from_cache  # rewritten


# ---------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------

def test_missing_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="There is no folder at .*one sub-folder per class"):
        load_image_folder(tmp_path / "nope")
    with pytest.raises(FileNotFoundError, match="There is no folder"):
        scan_image_folder(tmp_path / "nope")


def test_path_is_a_file(tmp_path):
    write_image(tmp_path / "x.png")
    with pytest.raises(ValueError, match="is a file, but a folder with one sub-folder per class"):
        load_image_folder(tmp_path / "x.png")
    (tmp_path / "data.zip").write_bytes(b"PK")
    with pytest.raises(ValueError, match="looks like an archive: extract it first"):
        load_image_folder(tmp_path / "data.zip")


def test_directory_of_the_wrong_type():
    with pytest.raises(ValueError, match="directory should be a path"):
        load_image_folder(42)


def test_empty_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="is empty.*one sub-folder per class"):
        load_image_folder(tmp_path / "empty")
    (tmp_path / "empty" / ".DS_Store").write_text("x")
    with pytest.raises(ValueError, match=r"is empty \(only hidden files: .DS_Store\)"):
        load_image_folder(tmp_path / "empty")


def test_loose_images_without_class_folders(tmp_path):
    for i in range(3):
        write_image(tmp_path / "flat" / f"img{i}.png")
    with pytest.raises(ValueError, match="holds 3 images but no class sub-folders.*its own sub-folder"):
        load_image_folder(tmp_path / "flat")


def test_no_subfolders_and_no_images(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.txt").write_text("x")
    with pytest.raises(ValueError, match="has no sub-folders and no images"):
        load_image_folder(tmp_path / "docs")


def test_no_subfolder_with_a_readable_image(tmp_path):
    (tmp_path / "d" / "a").mkdir(parents=True)
    (tmp_path / "d" / "a" / "x.jpg").write_bytes(b"junk")
    (tmp_path / "d" / "b").mkdir()
    with pytest.raises(ValueError, match="No sub-folder of .* holds a readable image"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            load_image_folder(tmp_path / "d")


def test_only_one_class(tmp_path):
    make_clean_folder(tmp_path / "one", classes=("cats",), per_class=3)
    with pytest.raises(ValueError, match="Found only one class, 'cats'.*at least two"):
        load_image_folder(tmp_path / "one")


def test_only_one_class_suggests_the_nested_folder(tmp_path):
    make_clean_folder(tmp_path / "outer" / "dataset", classes=("a", "b"), per_class=2)
    with pytest.raises(ValueError, match=r"pass directory='.*dataset'"):
        load_image_folder(tmp_path / "outer")


def test_class_left_without_validation_images(tmp_path):
    make_clean_folder(tmp_path / "d", classes=("a",), per_class=10)
    make_clean_folder(tmp_path / "d", classes=("b",), per_class=2)
    with pytest.raises(ValueError, match=r"no image in the training or the validation split: "
                                         r"'b' \(2 images -> 2 training, 0 validation\)"):
        load_image_folder(tmp_path / "d", validation_split=0.2, verbose=False)


def test_class_left_without_training_images(tmp_path):
    make_clean_folder(tmp_path / "d", classes=("a", "b"), per_class=1)
    with pytest.raises(ValueError, match=r"'a' \(1 image -> 0 training, 1 validation\)"):
        load_image_folder(tmp_path / "d", validation_split=0.6, verbose=False)


@pytest.mark.parametrize("kwargs, message", [
    ({"image_size": 160}, r"image_size should be \(height, width\).*image_size=\(160, 160\)"),
    ({"image_size": (160, 0)}, r"image_size should be \(height, width\), two positive ints"),
    ({"image_size": (160.0, 160)}, "image_size should be"),
    ({"batch_size": 0}, "batch_size should be a positive int"),
    ({"batch_size": 3.5}, "batch_size should be a positive int"),
    ({"validation_split": 1.0}, "validation_split should be a fraction between 0 and 1"),
    ({"validation_split": -0.1}, "validation_split should be a fraction"),
    ({"validation_split": "0.2"}, "validation_split should be a fraction"),
    ({"seed": None}, "seed should be an int"),
    ({"color_mode": "RGB"}, r"color_mode should be one of \['rgb', 'grayscale', 'rgba'\]"),
])
def test_bad_arguments(clean_folder, kwargs, message):
    with pytest.raises(ValueError, match=message):
        load_image_folder(clean_folder, **kwargs)


# ---------------------------------------------------------------------------
# Plots
# ---------------------------------------------------------------------------

def test_plot_image_batch_grid_and_mosaic(clean_folder):
    ds = quiet_load(clean_folder, image_size=(8, 8), validation_split=None, batch_size=4)
    axes = plot_image_batch(ds, num_images=5)
    assert len(axes) == 6  # 2 rows x 3 columns, 5 used
    titles = [a.get_title() for a in axes[:5]]
    assert all(t in ds.class_names for t in titles) and axes[5].get_title() == ""
    assert len(axes[0].images) == 1 and len(axes[5].images) == 0
    plt.close("all")
    _, ax = plt.subplots()
    assert plot_image_batch(ds, num_images=4, ax=ax) is ax
    assert len(ax.texts) == 4
    plt.close("all")
    gray = np.zeros((5, 8, 8, 1), np.float32)
    axes = plot_image_batch((gray, np.array([0, 1, 2, 0, 1])), class_names=["x", "y", "z"], num_images=5)
    assert [a.get_title() for a in axes[:3]] == ["x", "y", "z"]
    plt.close("all")


def test_plot_image_batch_errors(clean_folder):
    with pytest.raises(ValueError, match="num_images should be a positive int"):
        plot_image_batch((np.zeros((2, 4, 4, 3)), np.zeros(2)), num_images=0)
    with pytest.raises(ValueError, match="dataset should be a tf.data.Dataset"):
        plot_image_batch("not a dataset")
    _, axes = plt.subplots(1, 2)
    with pytest.raises(ValueError, match="ax holds 2 axes but num_images=4"):
        plot_image_batch((np.zeros((4, 4, 4, 3)), np.zeros(4)), num_images=4, ax=axes)
    plt.close("all")


def test_plot_class_balance_inputs(clean_folder, tmp_path):
    root = make_clean_folder(tmp_path / "d", classes=("a", "b"), per_class=5)
    make_clean_folder(root, classes=("c",), per_class=10)
    train_ds, val_ds = quiet_load(root, image_size=(8, 8))
    ax = plot_class_balance(train_ds)
    widths = [p.get_width() for p in ax.patches]
    assert widths == [4, 4, 8]  # our dataset: counted from its files
    assert [t.get_text() for t in ax.get_yticklabels()] == ["a", "b", "c"]
    plt.close("all")
    ax = plot_class_balance(train_ds.scan)
    assert [p.get_width() for p in ax.patches] == [5, 5, 10]
    ax = plot_class_balance({"x": 3, "y": 1})
    assert [p.get_width() for p in ax.patches] == [3, 1]
    ax = plot_class_balance([2, 7], class_names=["p", "q"])
    assert [t.get_text() for t in ax.get_yticklabels()] == ["p", "q"]
    plain = tf.data.Dataset.from_tensor_slices((np.zeros((6, 2, 2, 1)), [0, 0, 1, 2, 2, 2])).batch(4)
    ax = plot_class_balance(plain)
    assert [p.get_width() for p in ax.patches] == [2, 1, 3]
    onehot = tf.data.Dataset.from_tensor_slices((np.zeros((3, 2, 2, 1)), np.eye(3)[[0, 2, 2]])).batch(2)
    ax = plot_class_balance(onehot)
    assert [p.get_width() for p in ax.patches] == [1, 0, 2]
    plt.close("all")


def test_plot_class_balance_errors():
    with pytest.raises(ValueError, match="class_names has 1 names but there are 2 counts"):
        plot_class_balance([1, 2], class_names=["a"])
    with pytest.raises(ValueError, match="plot_class_balance expects a dict"):
        plot_class_balance("abc")
    images_only = tf.data.Dataset.from_tensor_slices(np.zeros((2, 2, 2)))
    with pytest.raises(ValueError, match="should yield \\(images, labels\\)"):
        plot_class_balance(images_only)


# ---------------------------------------------------------------------------
# Export
# ---------------------------------------------------------------------------

CLASSES = ["T-shirt/top", "Trouser", "Bag"]


def fake_arrays(n_per_class=6, channels=None):
    labels = np.repeat(np.arange(3), n_per_class)
    shape = (len(labels), 10, 12) + ((channels,) if channels else ())
    images = RNG.integers(0, 256, shape, dtype=np.uint8)
    return images, labels


def test_safe_folder_name():
    assert safe_folder_name("T-shirt/top") == "T-shirt_top"
    assert safe_folder_name('a:b*c?"d<e>f|g\\h') == "a_b_c_d_e_f_g_h"
    assert safe_folder_name("..") == "class"
    assert safe_folder_name(" .hidden ") == "hidden"


def test_export_writes_classes_by_name_with_a_deterministic_sample(tmp_path, capsys):
    images, labels = fake_arrays()
    out = export_image_folder(images, labels, tmp_path / "a", CLASSES,
                              classes=["T-shirt/top", "Bag"], per_class=4)
    assert out == tmp_path / "a"
    assert "Wrote 8 images in 2 classes" in capsys.readouterr().out
    assert sorted(os.listdir(out)) == ["Bag", "T-shirt_top"]
    files = sorted(os.listdir(out / "T-shirt_top"))
    assert len(files) == 4 and all(f.startswith("T-shirt_top_") and f.endswith(".png") for f in files)
    # The file name is the index in the arrays: the pixels round-trip exactly.
    index = int(files[0].split("_")[-1][:-4])
    np.testing.assert_array_equal(np.asarray(Image.open(out / "T-shirt_top" / files[0])), images[index])
    assert labels[index] == 0
    export_image_folder(images, labels, tmp_path / "b", CLASSES,
                        classes=["T-shirt/top", "Bag"], per_class=4)
    assert sorted(os.listdir(tmp_path / "b" / "Bag")) == sorted(os.listdir(out / "Bag"))
    export_image_folder(images, labels, tmp_path / "c", CLASSES, classes=["Bag"], per_class=4, seed=2)
    assert sorted(os.listdir(tmp_path / "c" / "Bag")) != sorted(os.listdir(out / "Bag"))


def test_export_then_load_round_trip(tmp_path):
    images, labels = fake_arrays(channels=3)
    export_image_folder(images, labels, tmp_path / "rt", CLASSES)
    ds = quiet_load(tmp_path / "rt", image_size=(10, 12), validation_split=None, shuffle=False)
    assert ds.class_names == ["Bag", "T-shirt_top", "Trouser"]
    assert len(ds.file_paths) == 18
    x, y = next(iter(ds))
    assert tuple(x.shape) == (18, 10, 12, 3)


def test_export_grayscale_with_channel_axis(tmp_path):
    images, labels = fake_arrays(channels=1)
    export_image_folder(images, labels, tmp_path / "g", CLASSES, per_class=2)
    saved = Image.open(next((tmp_path / "g" / "Trouser").iterdir()))
    assert saved.mode == "L" and saved.size == (12, 10)


def test_export_refuses_a_non_empty_folder_and_overwrite_touches_only_its_classes(tmp_path):
    images, labels = fake_arrays()
    target = tmp_path / "t"
    target.mkdir()
    (target / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="is not empty.*Pass overwrite=True"):
        export_image_folder(images, labels, target, CLASSES, classes=["Bag"])
    (target / "Bag").mkdir()
    (target / "Bag" / "old.png").write_text("old")
    (target / "Trouser").mkdir()
    (target / "Trouser" / "other.png").write_text("other")
    export_image_folder(images, labels, target, CLASSES, classes=["Bag"], per_class=2, overwrite=True)
    assert (target / "keep.txt").read_text() == "mine"
    assert (target / "Trouser" / "other.png").exists()
    assert not (target / "Bag" / "old.png").exists()
    assert len(os.listdir(target / "Bag")) == 2


def test_export_warns_when_a_class_is_short(tmp_path):
    images, labels = fake_arrays(n_per_class=3)
    with pytest.warns(UserWarning, match="Fewer images than per_class=5: 'Bag' has only 3"):
        export_image_folder(images, labels, tmp_path / "s", CLASSES, classes=["Bag"], per_class=5)
    assert len(os.listdir(tmp_path / "s" / "Bag")) == 3


@pytest.mark.parametrize("change, message", [
    (lambda x, y: (x.astype(np.float32) / 255, y, {}), "images should be uint8.*astype"),
    (lambda x, y: (x[..., None].repeat(2, -1), y, {}), "images should have shape"),
    (lambda x, y: (x, np.eye(3)[y], {}), "labels look one-hot encoded"),
    (lambda x, y: (x, y[:-1], {}), "labels should have shape"),
    (lambda x, y: (x, y.astype(float), {}), "labels should be integer class indices"),
    (lambda x, y: (x, y + 5, {}), "labels go from 5 to 7 but class_names has 3 names"),
    (lambda x, y: (x, y, {"classes": ["Sneaker"]}), r"Unknown class 'Sneaker'. Choose among"),
    (lambda x, y: (x, y, {"classes": [7]}), "Class index 7 is out of range"),
    (lambda x, y: (x, y, {"classes": ["Bag", "Bag"]}), "Class 'Bag' is listed twice"),
    (lambda x, y: (x, y, {"classes": []}), "classes is empty"),
    (lambda x, y: (x, y, {"per_class": 0}), "per_class should be a positive int"),
    (lambda x, y: (x, y, {"seed": "1"}), "seed should be an int"),
])
def test_export_errors(tmp_path, change, message):
    images, labels = fake_arrays()
    images, labels, kwargs = change(images, labels)
    with pytest.raises(ValueError, match=message):
        export_image_folder(images, labels, tmp_path / "e", CLASSES, **kwargs)
    assert not (tmp_path / "e").exists()  # arguments are checked before writing anything


def test_export_class_names_that_collide(tmp_path):
    images, labels = fake_arrays()
    with pytest.raises(ValueError, match="Different classes map to the same folder name"):
        export_image_folder(images, labels, tmp_path / "x", ["a/b", "a_b", "c"])


def test_export_into_a_file(tmp_path):
    images, labels = fake_arrays()
    (tmp_path / "f").write_text("x")
    with pytest.raises(ValueError, match="is a file; expected a folder"):
        export_image_folder(images, labels, tmp_path / "f", CLASSES)


def test_public_names_are_exported():
    import course_lib
    for name in ("load_image_folder", "export_image_folder",
                 "scan_image_folder", "plot_image_batch", "plot_class_balance"):
        assert getattr(course_lib, name) is getattr(folders, name)
