"""Tests for course_lib.data.tfds: one error for every failed download, reusable exports.

The real tensorflow_datasets runs here; only the network is replaced: its examples come
from `tfds.testing.mock_data` (generated from the real builders' feature specs), and
its HTTP calls from a fake `requests` session that answers 503.
"""

import json
import os
import sys

import pytest

import course_lib
from course_lib.data import tfds as course_tfds
from course_lib.data.tfds import DatasetUnavailableError, export_tfds_folder, load_tfds
from course_lib.runtime import DatasetUnavailableError as RuntimeDatasetUnavailableError

tfds = pytest.importorskip("tensorflow_datasets")

FLOWERS = ["dandelion", "daisy", "tulips", "sunflowers", "roses"]


@pytest.fixture
def online(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_LIB_OFFLINE", "0")
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path / "tfds"))


@pytest.fixture
def mock_flowers(online):
    """tf_flowers as tfds would serve it: 40 encoded images from the real feature spec."""
    with tfds.testing.mock_data(num_examples=40):
        yield


@pytest.fixture
def http_503(monkeypatch):
    """The dataset's host answers 503 Service Unavailable to every request."""
    requests = pytest.importorskip("requests")

    class Response:
        status_code, url, headers = 503, "https://storage.googleapis.com/x", {}

        def __enter__(self):
            return self

        def __exit__(self, *args):
            return False

    monkeypatch.setattr(requests.Session, "get", lambda self, url, **kwargs: Response())


def test_one_error_class_exported_everywhere():
    assert DatasetUnavailableError is RuntimeDatasetUnavailableError
    assert course_lib.DatasetUnavailableError is DatasetUnavailableError
    assert course_lib.export_tfds_folder is export_tfds_folder
    assert course_lib.load_tfds is load_tfds
    assert issubclass(DatasetUnavailableError, RuntimeError)


def test_missing_package_is_a_dataset_unavailable_error(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorflow_datasets", None)  # import fails
    with pytest.raises(DatasetUnavailableError,
                       match="needs the tensorflow-datasets package.*export_image_folder"):
        export_tfds_folder("tf_flowers", tmp_path / "f")


def test_offline_fails_at_once_without_downloading(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_LIB_OFFLINE", "1")
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path / "tfds"))
    calls = []
    real_load = tfds.load
    monkeypatch.setattr(tfds, "load", lambda *a, **k: calls.append(k) or real_load(*a, **k))
    with pytest.raises(DatasetUnavailableError, match="offline.*Run it on Colab.*export_image_folder"):
        export_tfds_folder("tf_flowers", tmp_path / "f")
    assert calls[0]["download"] is False
    assert not (tmp_path / "f").exists()


def test_an_http_error_from_the_host_is_a_dataset_unavailable_error(tmp_path, online, http_503):
    # tfds reports a failed download with its own exception types (DownloadError, and
    # ValueError/ImportError from deeper down): a lab cell catches only ours.
    with pytest.raises(DatasetUnavailableError,
                       match=r"could not download or prepare.*'tf_flowers'.*try again later"):
        export_tfds_folder("tf_flowers", tmp_path / "f")
    assert not (tmp_path / "f").exists()


def test_load_tfds_wraps_any_error_with_what_to_do(online, monkeypatch):
    def fail(*args, **kwargs):
        raise ValueError("Failed to get url https://x. HTTP code: 404.")
    monkeypatch.setattr(tfds, "load", fail)
    with pytest.raises(DatasetUnavailableError,
                       match=r"load_pet_segmentation could not .*Oxford.*HTTP code: 404.*offline data"):
        load_tfds("oxford_iiit_pet", "train", caller="load_pet_segmentation",
                  offline_hint="Use the offline data.", what="Oxford-IIIT Pet")


def test_export_writes_the_encoded_files_of_the_real_builder(tmp_path, mock_flowers, capsys):
    out = export_tfds_folder("tf_flowers", tmp_path / "f", classes=["daisy", "roses"], per_class=2)
    assert sorted(os.listdir(out)) == [".course_lib_export.json", "daisy", "roses"]
    for folder in ("daisy", "roses"):
        files = sorted(os.listdir(out / folder))
        assert len(files) == 2 and all(f.startswith(folder + "_") for f in files)
    assert "Wrote 4 images in 2 classes" in capsys.readouterr().out
    scan = course_lib.scan_image_folder(out)
    assert scan.counts == {"daisy": 2, "roses": 2}  # the record file is not an image


def test_second_run_reuses_a_finished_export_without_loading(tmp_path, mock_flowers, monkeypatch,
                                                             capsys):
    # Colab's "Restart session", or MOUNT_DRIVE = True: the folder is already there.
    first = export_tfds_folder("tf_flowers", tmp_path / "f", per_class=3)
    before = {p: p.stat().st_mtime_ns for p in first.rglob("*")}
    monkeypatch.setattr(tfds, "load", lambda *a, **k: pytest.fail("downloaded again"))
    capsys.readouterr()
    again = export_tfds_folder("tf_flowers", tmp_path / "f", per_class=3)
    assert again == first
    assert {p: p.stat().st_mtime_ns for p in first.rglob("*")} == before
    assert "Reusing the 15 images in 5 classes" in capsys.readouterr().out


def test_another_export_in_the_folder_is_refused_and_kept(tmp_path, mock_flowers):
    out = export_tfds_folder("tf_flowers", tmp_path / "f", classes=["daisy"], per_class=2)
    with pytest.raises(FileExistsError, match="holds another export.*overwrite=True"):
        export_tfds_folder("tf_flowers", out, classes=["roses"], per_class=2)
    assert sorted(os.listdir(out)) == [".course_lib_export.json", "daisy"]


def test_a_changed_export_is_refused(tmp_path, mock_flowers):
    out = export_tfds_folder("tf_flowers", tmp_path / "f", classes=["daisy"], per_class=2)
    next((out / "daisy").iterdir()).unlink()
    with pytest.raises(FileExistsError, match="changed since it was written.*'daisy': 1 files, 2"):
        export_tfds_folder("tf_flowers", out, classes=["daisy"], per_class=2)


def test_an_interrupted_export_or_user_files_are_refused_before_downloading(tmp_path, online,
                                                                            monkeypatch):
    monkeypatch.setattr(tfds, "load", lambda *a, **k: pytest.fail("should fail before loading"))
    folder = tmp_path / "f"
    (folder / "daisy").mkdir(parents=True)
    (folder / "daisy" / "mine.jpg").write_bytes(b"the student's photo")
    with pytest.raises(FileExistsError, match="not empty.*holds no finished export.*overwrite=True"):
        export_tfds_folder("tf_flowers", folder, classes=["daisy"], per_class=2)
    assert (folder / "daisy" / "mine.jpg").read_bytes() == b"the student's photo"


def test_overwrite_replaces_only_the_class_folders(tmp_path, mock_flowers):
    folder = tmp_path / "f"
    (folder / "notes").mkdir(parents=True)
    (folder / "notes" / "keep.txt").write_text("mine")
    export_tfds_folder("tf_flowers", folder, classes=["daisy"], per_class=1, overwrite=True)
    export_tfds_folder("tf_flowers", folder, classes=["daisy"], per_class=2, overwrite=True)
    assert (folder / "notes" / "keep.txt").read_text() == "mine"
    assert len(os.listdir(folder / "daisy")) == 2
    record = json.loads((folder / course_tfds.EXPORT_RECORD).read_text())
    assert record == {"request": {"name": "tf_flowers", "split": "train", "classes": ["daisy"],
                                  "per_class": 2}, "counts": {"daisy": 2}}


def test_bad_name_and_unknown_class(tmp_path, mock_flowers):
    with pytest.raises(ValueError, match="name should be a TFDS dataset name"):
        export_tfds_folder("", tmp_path / "f")
    with pytest.raises(ValueError, match=r"Unknown class 'Trouser'. Choose among \['dandelion'"):
        export_tfds_folder("tf_flowers", tmp_path / "g", classes=["Trouser"])


def test_an_unknown_dataset_name_says_what_to_check(tmp_path, online):
    with pytest.raises(DatasetUnavailableError, match="could not download.*Check the name"):
        export_tfds_folder("tf_flowerz", tmp_path / "f")


def test_class_names_come_from_the_description_without_downloading(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_LIB_OFFLINE", "1")
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path / "tfds"))
    assert course_lib.tfds_class_names("tf_flowers") == FLOWERS
    pets = course_lib.tfds_class_names("oxford_iiit_pet")
    assert len(pets) == 37 and pets[0] == "Abyssinian"
    assert not (tmp_path / "tfds").exists()
    with pytest.raises(DatasetUnavailableError, match="has no dataset 'tf_flowerz'.*Check the name"):
        course_lib.tfds_class_names("tf_flowerz")


def test_a_download_error_does_not_blame_the_name(tmp_path, online, monkeypatch):
    def fail(*args, **kwargs):
        raise ConnectionResetError("Connection reset by peer")
    monkeypatch.setattr(tfds, "load", fail)
    with pytest.raises(DatasetUnavailableError, match="try again later") as info:
        export_tfds_folder("tf_flowers", tmp_path / "f")
    assert "Check the name" not in str(info.value)
