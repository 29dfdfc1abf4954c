"""Tests for scripts/pretrain_backbone.py, the repository script that rebuilds lab 03's offline backbone."""

import json
import os
import runpy
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from course_lib.models import course_cnn

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "pretrain_backbone.py"


@pytest.fixture(scope="module")
def script():
    """The script's functions, without running its main()."""
    return runpy.run_path(str(SCRIPT), run_name="pretrain_backbone")


def test_runs_for_real_and_records_the_weights_checksum(tmp_path):
    # A tiny run in a fresh interpreter, as a maintainer types it: 64 photos, 1 epoch.
    out = tmp_path / "backbone"
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--out", str(out), "--epochs", "1", "--copies", "1", "--train-images", "64"],
        capture_output=True, text=True, timeout=600, env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    weights, record_file = out / "course_cnn_photos.weights.h5", out / "course_cnn_photos.json"
    assert sorted(path.name for path in out.iterdir()) == sorted([weights.name, record_file.name])
    record = json.loads(record_file.read_text())
    assert record["sha256"] == course_cnn.file_sha256(weights)
    assert record["size_bytes"] == weights.stat().st_size
    assert record["training_images"] == 64 and record["source_test_images"] == 500 and record["epochs"] == 1
    assert record["parameters"] == 656_616 and 0.0 <= record["source_test_accuracy"] <= 1.0
    assert record["command"].startswith("python scripts/pretrain_backbone.py --out <folder> --epochs 1")
    assert "Source test accuracy" in result.stdout
    # The file holds the backbone's weights: they load into build_course_cnn().
    base = course_cnn.build_course_cnn()
    base.load_weights(str(weights))
    assert not np.allclose(base.get_layer("block1_conv1").kernel.numpy(),
                           course_cnn.build_course_cnn().get_layer("block1_conv1").kernel.numpy())


def test_pretraining_model_is_the_shipped_architecture(script):
    model, base = script["build_pretraining_model"]()
    assert model.output_shape == (None, 5)
    assert base.count_params() == course_cnn.load_course_cnn_info()["parameters"]
    assert all(layer.trainable for layer in base.layers)          # trained from scratch, nothing frozen
    assert [type(layer).__name__ for layer in model.get_layer("augmentation").layers] == ["RandomFlip"]


@pytest.mark.parametrize("kwargs, match", [
    (dict(epochs=0), "epochs should be a positive int"),
    (dict(copies=1.5), "copies should be a positive int"),
    (dict(train_images=0), "train_images should be a positive int"),
])
def test_errors(script, tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        script["pretrain"](tmp_path, **kwargs)


def test_needs_an_explicit_output_folder(script, capsys):
    with pytest.raises(SystemExit):
        script["main"]([])
    assert "--out" in capsys.readouterr().err
