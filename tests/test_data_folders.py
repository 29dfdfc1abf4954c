"""Tests for course_lib.data.folders: scanning and loading folder-per-class datasets."""

import os
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
import tensorflow as tf

from course_lib.data.folders import load_image_folder, scan_image_folder
from image_folders import all_labels, make_clean_folder, make_messy_folder, quiet_load, write_image


@pytest.fixture
def clean_folder(tmp_path):
    return make_clean_folder(tmp_path / "clean")


@pytest.fixture
def messy_folder(tmp_path):
    return make_messy_folder(tmp_path)

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
    # EXIF without a turn, a PNG named .jpg and a JPEG named .png load silently.
    assert capfd.readouterr().err == ""
    ds = quiet_load(root, image_size=(20, 24), validation_split=0, shuffle=False, batch_size=None)
    images = {Path(p).name: x.numpy() for p, (x, _) in zip(ds.file_paths, ds)}
    np.testing.assert_array_equal(images["really_png.jpg"], array)  # lossless, same size
    for name in ("camera.jpg", "camera_le.jpg", "no_orientation.jpg"):
        assert np.abs(images[name] - array).mean() < 8  # JPEG noise only, not rotated
    assert np.abs(images["really_jpeg.png"] - array).mean() < 8


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


def test_resized_content_matches_keras_on_smooth_images(tmp_path):
    # Both resize bilinearly; Pillow also smooths when shrinking, so noise differs but content
    # (a smooth photo) comes out the same, within a few grey levels.
    import keras
    rows, cols = np.mgrid[0:60, 0:80]
    for name, phase in (("a", 0.0), ("b", 1.0)):
        for i in range(3):
            red = 127 + 100 * np.sin(rows / 9 + phase + i)
            green = 127 + 100 * np.cos(cols / 11 + i)
            blue = np.full_like(red, 40.0 * i)
            array = np.stack([red, green, blue], axis=-1).round().astype(np.uint8)
            write_image(tmp_path / "smooth" / name / f"{i}.png", array=array)
    ours = quiet_load(tmp_path / "smooth", image_size=(30, 40), shuffle=False, validation_split=None)
    theirs = keras.utils.image_dataset_from_directory(
        str(tmp_path / "smooth"), image_size=(30, 40), shuffle=False, verbose=False)
    x_ours, x_theirs = next(iter(ours))[0].numpy(), next(iter(theirs))[0].numpy()
    assert x_ours.shape == x_theirs.shape == (6, 30, 40, 3)
    assert np.abs(x_ours - x_theirs).mean() < 2.0


def test_large_jpeg_uses_reduced_scale_decode_and_keeps_content(tmp_path):
    root = tmp_path / "big"
    for name in ("a", "b"):
        for i in range(3):
            array = np.zeros((400, 320, 3), dtype=np.uint8)
            array[:200] = (250, 10, 10) if name == "a" else (10, 10, 250)
            write_image(root / name / f"{i}.jpg", array=array, fmt="JPEG", quality=95)
    ds = quiet_load(root, image_size=(40, 40), validation_split=None, shuffle=False)
    images, labels = next(iter(ds))
    red_top = images.numpy()[labels.numpy() == 0][:, :15].mean(axis=(0, 1, 2))
    assert red_top[0] > 200 and red_top[2] < 50


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


def test_public_names_are_exported():
    import course_lib
    from course_lib.data import export, folders, plots
    for module, names in ((folders, ("load_image_folder", "scan_image_folder")),
                          (export, ("export_image_folder",)),
                          (plots, ("plot_image_batch", "plot_class_balance"))):
        for name in names:
            assert getattr(course_lib, name) is getattr(module, name)
