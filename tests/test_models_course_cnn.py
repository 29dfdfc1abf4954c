"""Tests for course_lib.models.course_cnn (the offline backbone and its shipped, checksummed weights)."""

import hashlib
import json
import shutil

import numpy as np
import pytest

from course_lib import runtime
from course_lib.data import transfer_task
from course_lib.models import course_cnn


def test_architecture_matches_its_docstring_table():
    base = course_cnn.build_course_cnn()
    assert base.name == "course_cnn" and len(base.layers) == 25
    assert base.count_params() == 656_616
    assert base.get_layer("block1_conv1").output.shape[1:] == (48, 48, 24)
    assert base.get_layer("block3_relu2").output.shape[1:] == (12, 12, 96)
    assert base.output_shape == (None, 6, 6, 192)
    small = course_cnn.build_course_cnn(input_shape=(32, 32, 3), filters=(8, 16))
    assert small.output_shape == (None, 16, 16, 16)


def test_shipped_weights_load_and_are_not_random():
    base = course_cnn.load_course_cnn()
    assert base.count_params() == course_cnn.load_course_cnn_info()["parameters"] == 656_616
    fresh = course_cnn.build_course_cnn()
    assert not np.allclose(base.get_layer("block1_conv1").kernel.numpy(),
                           fresh.get_layer("block1_conv1").kernel.numpy())
    # Pre-trained BatchNorm statistics, not the initial 0 and 1.
    assert not np.allclose(base.get_layer("block4_bn2").moving_variance.numpy(), 1.0)


def test_record_documents_recipe():
    info = course_cnn.load_course_cnn_info()
    for key in ("sha256", "source_test_accuracy", "training_seconds", "recipe", "source_class_ids", "command"):
        assert key in info
    assert set(info["source_class_ids"]).isdisjoint(transfer_task.TARGET_CLASS_IDS)
    assert info["source_test_accuracy"] > 0.6      # 5 classes: chance is 0.2
    assert info["size_bytes"] < 5_000_000


def test_file_sha256_is_sha256sum(tmp_path):
    path = tmp_path / "bytes.bin"
    data = bytes(range(256)) * 5000       # over one 1 MiB read
    path.write_bytes(data)
    assert course_cnn.file_sha256(path) == hashlib.sha256(data).hexdigest()


def test_corrupt_weights_are_refused(tmp_path, monkeypatch):
    folder = tmp_path / "backbones"
    folder.mkdir()
    source = runtime.data_path(course_cnn.INFO_FILE)
    info = json.loads(source.read_text())
    shutil.copy(source, folder / source.name)
    (folder / info["weights_file"]).write_bytes(b"version https://git-lfs.github.com/spec/v1\n")
    monkeypatch.setenv(runtime.DATA_ENV, str(tmp_path))
    with pytest.raises(OSError, match="is corrupt: its SHA-256 is .* scripts/pretrain_backbone.py"):
        course_cnn.load_course_cnn()
