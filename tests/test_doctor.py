"""The environment doctor, on this machine and on Colab's cases faked at the boundary.

Colab is faked as the online tests fake it (`COLAB_RELEASE_TAG`); a TPU runtime by making
TensorFlow absent (`sys.modules["tensorflow"] = None`: `find_spec` then finds nothing); a
version mismatch by an installed package's metadata (a `keras-9.9.9.dist-info` first on the
path); low disk by the operating system's answer (`shutil.disk_usage`). No course_lib code is
replaced.
"""

import shutil
import sys
from pathlib import Path

import pytest

from course_lib import doctor

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def local(monkeypatch, tmp_path):
    """This machine as it is, without Colab's marker, with empty caches."""
    for name in ("COLAB_RELEASE_TAG", "TF_USE_LEGACY_KERAS"):
        monkeypatch.delenv(name, raising=False)
    for name in ("TFDS_DATA_DIR", "KERAS_HOME", "KAGGLEHUB_CACHE", "COURSE_LIB_CACHE"):
        monkeypatch.setenv(name, str(tmp_path / name.lower()))
    return monkeypatch


@pytest.fixture
def colab(local):
    local.setenv("COLAB_RELEASE_TAG", "fake-colab-test")
    return local


def _problem(report, topic):
    found = [f for f in report.problems if f.topic == topic]
    assert found, f"no {topic!r} problem in:\n{report}"
    return found[0]


def test_this_machine_is_well_and_the_lab_cost_is_measured(local):
    report = doctor.check(lab="08_video")
    topics = {f.topic for f in report.findings}
    assert {"Python", "TensorFlow", "Keras", "KerasHub", "TensorFlow Datasets", "Keras backend",
            "RAM", "cache", "disk", "lab"} <= topics, str(report)
    assert report.problems == [], str(report)
    summary = report.summary()
    assert summary.count("\n") == 0 and summary.startswith("doctor: all well (Python 3.")
    assert "lab 08: one full-mode epoch of the slow-fusion 3-D CNN about" in summary
    cost = doctor.measure_lab("08", steps=1)
    assert cost["step_seconds"] > 0 and cost["peak_gb"] > 0
    assert cost["epoch_seconds"] == pytest.approx(cost["step_seconds"] * 85)  # ceil(2700 / 32)


def test_tested_versions_are_requirements_pins():
    pins = doctor.tested_versions()
    text = (ROOT / "requirements.txt").read_text()
    for name in doctor.LIBRARIES:
        assert f"{name}=={pins[name]}" in text


def test_tested_pythons_are_the_ones_ci_runs():
    ci = (ROOT / ".ci" / "run").read_text()
    for version in doctor.TESTED_PYTHONS:
        assert f"python{version}" in ci or f"versions/{version}" in ci, version


def test_colab_tpu_runtime_without_tensorflow(colab):
    colab.setitem(sys.modules, "tensorflow", None)    # Colab's TPU runtimes: no TensorFlow
    report = doctor.check(lab="05", measure=True)
    problem = _problem(report, "runtime")
    assert "no TensorFlow (Colab's TPU runtimes ship without it)" in problem.text
    assert problem.remedy == "choose Runtime > Change runtime type > T4 GPU, then run the first cell again"
    assert not any(f.topic == "lab" for f in report.findings)     # nothing to measure with
    assert "1 problem(s)" in report.summary() and "-> choose Runtime" in report.summary()


def test_legacy_keras_on_colab(colab):
    colab.setenv("TF_USE_LEGACY_KERAS", "1")
    problem = _problem(doctor.check(measure=False), "Keras")
    assert "TF_USE_LEGACY_KERAS=1" in problem.text and "Keras 3" in problem.text
    assert "Runtime > Restart session" in problem.remedy


def _fake_installed(monkeypatch, tmp_path, name, version):
    info = tmp_path / "site" / f"{name}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))


def test_version_mismatch_names_both_versions_and_the_colab_remedy(colab, tmp_path):
    _fake_installed(colab, tmp_path, "keras", "9.9.9")
    _fake_installed(colab, tmp_path / "tf", "tensorflow", "2.99.0")
    report = doctor.check(measure=False)
    keras_problem = _problem(report, "Keras")
    pinned = doctor.tested_versions()["keras"]
    assert keras_problem.text == f"9.9.9, but the labs were tested with {pinned}"
    assert f"!pip install keras=={pinned}" in keras_problem.remedy
    assert "do not reinstall it" in _problem(report, "TensorFlow").remedy


def test_version_mismatch_off_colab_says_pip_install(local, tmp_path):
    _fake_installed(local, tmp_path, "keras", "9.9.9")
    assert _problem(doctor.check(measure=False), "Keras").remedy == "pip install -r requirements.txt"


def test_no_gpu_on_colab_says_which_menu(colab):
    import tensorflow as tf
    if tf.config.list_physical_devices("GPU"):
        pytest.skip("this machine has a GPU")
    problem = _problem(doctor.check(measure=False), "GPU")
    assert "CPU runtime" in problem.text
    assert "Runtime > Change runtime type > T4 GPU" in problem.remedy


def test_no_gpu_off_colab_is_only_a_note(local):
    import tensorflow as tf
    if tf.config.list_physical_devices("GPU"):
        pytest.skip("this machine has a GPU")
    report = doctor.check(measure=False)
    assert [f.level for f in report.findings if f.topic == "GPU"] == ["note"]


def test_low_disk_on_colab(colab):
    real = shutil.disk_usage
    colab.setattr(shutil, "disk_usage", lambda path: real(path)._replace(free=int(0.5 * 1024 ** 3)))
    problem = _problem(doctor.check(lab="05", measure=False), "disk")
    assert problem.text.startswith("0.5 GB free in ")
    assert "774 MB of downloads" in problem.text       # Oxford-IIIT Pet, not yet downloaded
    assert "MOUNT_DRIVE = True" in problem.remedy


def test_downloads_present_or_to_download_with_sizes(local, tmp_path):
    report = doctor.check(lab="03", measure=False)
    lines = [f.text for f in report.findings if f.topic == "download"]
    assert any(line.startswith("tf_flowers (TFDS): would download 218 MB") for line in lines), lines
    assert not any("oxford" in line for line in lines)           # lab 03 does not use it
    flowers = tmp_path / "tfds_data_dir" / "tf_flowers" / "3.0.1"
    flowers.mkdir(parents=True)
    (flowers / "dataset_info.json").write_text("{}")
    lines = [f.text for f in doctor.check(lab="03", measure=False).findings if f.topic == "download"]
    assert any(line.startswith("tf_flowers (TFDS): present in ") for line in lines), lines


def test_drive_not_mounted_on_colab_is_a_note_with_the_cell_to_change(colab):
    report = doctor.check(measure=False)
    cache = [f for f in report.findings if f.topic == "cache"][0]
    assert cache.level == "note" and "MOUNT_DRIVE = True in the first cell" in cache.remedy


def test_setup_notebook_prints_the_doctor_line(local, capsys):
    from course_lib import runtime
    local.setenv("COURSE_LIB_FAST", "1")
    runtime.setup_notebook(seed=3, lab="08_video")             # fast mode: no measurement
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 2 and out[1].startswith("doctor: all well (")
    assert "lab 08" not in out[1]
    runtime.setup_notebook(seed=3, lab="08_video", measure=True)
    assert "lab 08: one full-mode epoch" in capsys.readouterr().out


def test_setup_notebook_measurement_leaves_the_seeded_weights_unchanged(local, capsys):
    import keras
    import numpy as np
    from course_lib import runtime

    def first_weights():
        layer = keras.layers.Dense(3, name="probe")
        layer.build((None, 2))
        return np.asarray(layer.kernel)

    runtime.setup_notebook(seed=5, measure=False)
    plain = first_weights()
    runtime.setup_notebook(seed=5, lab="08", measure=True)
    assert "lab 08: one full-mode epoch" in capsys.readouterr().out   # it did measure
    np.testing.assert_array_equal(first_weights(), plain)


def test_cli_doctor(local, capsys):
    from course_instructor.cli import main
    assert main(["doctor", "--lab", "05", "--no-measure"]) == 0
    out = capsys.readouterr().out
    assert "TensorFlow: " in out and "oxford_iiit_pet (TFDS): would download 774 MB" in out
    assert out.strip().endswith("0 problem(s).")
