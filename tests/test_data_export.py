"""Tests for course_lib.data.export: writing folder-per-class datasets from arrays."""

import os

import numpy as np
import pytest
from PIL import Image

from course_lib.data.export import export_image_folder, safe_folder_name
from image_folders import quiet_load

RNG = np.random.default_rng(0)
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
