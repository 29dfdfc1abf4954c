import os

import numpy as np
import pytest

from course_lib import runtime


def test_pick_follows_fast_mode(monkeypatch):
    monkeypatch.setenv("COURSE_LIB_FAST", "1")
    assert runtime.is_fast_mode() and runtime.pick(full=20, fast=1) == 1
    monkeypatch.setenv("COURSE_LIB_FAST", "0")
    assert not runtime.is_fast_mode() and runtime.pick(full=20, fast=1) == 20
    monkeypatch.delenv("COURSE_LIB_FAST")
    assert runtime.pick(full=20, fast=1) == 20


def test_bad_flag_value_is_explained(monkeypatch):
    monkeypatch.setenv("COURSE_LIB_FAST", "maybe")
    with pytest.raises(ValueError, match=r"COURSE_LIB_FAST should be 1/true.*Received: COURSE_LIB_FAST='maybe'"):
        runtime.is_fast_mode()


def test_offline_flag_short_circuits_the_network_probe(monkeypatch):
    monkeypatch.setenv("COURSE_LIB_OFFLINE", "1")
    monkeypatch.setattr(runtime, "_can_connect", lambda *a, **k: pytest.fail("probed the network"))
    assert runtime.is_offline()


def test_set_seed_repeats_numpy_and_keras():
    import keras
    def draw():
        layer = keras.layers.Dense(4)
        layer.build((None, 3))
        return np.random.rand(3), np.asarray(layer.kernel)

    runtime.set_seed(7)
    a, w1 = draw()
    runtime.set_seed(7)
    b, w2 = draw()
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(w1, w2)
    assert not np.array_equal(w1, draw()[1])  # without re-seeding, new weights
    with pytest.raises(ValueError, match="seed should be an int"):
        runtime.set_seed("7")


def test_cache_dir_honours_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_LIB_CACHE", str(tmp_path / "cache"))
    path = runtime.cache_dir("datasets", "flowers")
    assert path == tmp_path / "cache" / "datasets" / "flowers" and path.is_dir()


def test_data_path_finds_shipped_files_and_explains_missing_ones():
    assert runtime.data_path("fashion_mnist_small.npz").is_file()
    with pytest.raises(FileNotFoundError, match="'nope.bin' was not found"):
        runtime.data_path("nope.bin")


def test_strategy_on_cpu_has_one_replica(capsys, monkeypatch):
    import tensorflow as tf
    # No TPU promise: Colab's TPU runtimes have no TensorFlow, so no TPU is probed.
    monkeypatch.setattr(tf.distribute.cluster_resolver, "TPUClusterResolver",
                        lambda *a, **k: pytest.fail("get_strategy probed for a TPU"))
    strategy = runtime.get_strategy()
    assert strategy.num_replicas_in_sync == 1
    assert "CPU" in capsys.readouterr().out


def test_setup_notebook_prints_the_mode_line_and_the_doctors(capsys, monkeypatch):
    monkeypatch.setenv("COURSE_LIB_FAST", "1")
    monkeypatch.delenv("COLAB_RELEASE_TAG", raising=False)
    assert runtime.setup_notebook(seed=3) == 3
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 2 and "fast mode" in out[0] and "seed 3" in out[0]
    assert out[1].startswith("doctor: all well")
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] in {"2", "3"}


def test_report_numbers_prints_and_appends_json(tmp_path, monkeypatch, capsys):
    import json
    from course_lib.runtime import report_numbers
    report = tmp_path / "report.jsonl"
    monkeypatch.setenv("COURSE_LIB_REPORT", str(report))
    monkeypatch.setenv("COURSE_LIB_FAST", "0")
    # returns None, so the notebook's last cell shows the table only (it used to echo a raw list)
    assert report_numbers({"test accuracy": 0.912, "epochs": 12},
                          expected={"test accuracy": 0.934}) is None
    printed = capsys.readouterr().out
    assert "0.912" in printed and "0.934" in printed and "Fast mode" not in printed
    lines = [json.loads(line) for line in report.read_text().splitlines()]
    assert lines[0] == {"name": "test accuracy", "measured": 0.912, "expected": 0.934, "mode": "full"}


def test_report_numbers_floors_hold_in_their_own_mode(tmp_path, monkeypatch, capsys):
    import json
    import pytest
    from course_lib.runtime import FloorError, report_numbers
    report = tmp_path / "report.jsonl"
    monkeypatch.setenv("COURSE_LIB_REPORT", str(report))
    numbers = {"test accuracy": 0.15, "loss, last epoch": 2.5, "ms, fast": 30.0, "ms, slow": 40.0}
    limits = dict(floors={"test accuracy": 0.85}, ceilings={"ms, fast": ("ms, slow", 0.5)},
                  fast_floors={"test accuracy": 0.2}, fast_ceilings={"loss, last epoch": 2.3})
    monkeypatch.setenv("COURSE_LIB_FAST", "1")
    with pytest.raises(FloorError) as failure:
        report_numbers(numbers, **limits)
    message = str(failure.value)
    assert "'test accuracy' is 0.15, below its fast-mode floor 0.2" in message
    assert "'loss, last epoch' is 2.5, above its fast-mode ceiling 2.3" in message
    assert "ms, fast" not in message  # a full-mode ceiling is not checked in fast mode
    rows = [json.loads(line) for line in report.read_text().splitlines()]
    assert rows[0] == {"name": "test accuracy", "measured": 0.15, "expected": None, "mode": "fast",
                       "floor": 0.2, "ok": False}
    assert "floor" not in rows[2] and "ok" not in rows[2]
    report.unlink()
    capsys.readouterr()
    monkeypatch.setenv("COURSE_LIB_FAST", "0")
    assert report_numbers(numbers, **limits) is None  # full mode: recorded and printed, not raised
    printed = capsys.readouterr().out
    assert "OUTSIDE ITS LIMIT (full mode): 'test accuracy' is 0.15, below its full-mode floor 0.85" in printed
    assert "'ms, fast' is 30, above its full-mode ceiling 20 (0.5 x ms, slow)" in printed
    rows = [json.loads(line) for line in report.read_text().splitlines()]
    assert [row.get("ok") for row in rows] == [False, None, False, None]
    assert rows[2]["ceiling"] == 20.0
    monkeypatch.setenv("COURSE_LIB_FAST", "1")
    assert report_numbers({"test accuracy": 0.3, "loss, last epoch": 2.0}, fast_floors={"test accuracy": 0.2},
                          fast_ceilings={"loss, last epoch": 2.3}) is None
    with pytest.raises(FloorError, match="below its fast-mode floor"):
        report_numbers({"test accuracy": float("nan")}, fast_floors={"test accuracy": 0.2})


def test_report_numbers_rejects_malformed_limits(monkeypatch):
    import pytest
    from course_lib.runtime import report_numbers
    monkeypatch.setenv("COURSE_LIB_FAST", "0")
    with pytest.raises(ValueError, match=r"floors names numbers that were not measured: \['mIoU'\]"):
        report_numbers({"accuracy": 0.9}, floors={"mIoU": 0.7})
    with pytest.raises(ValueError, match=r"ceilings\['ms'\] should be a number, or \(other row, ratio\)"):
        report_numbers({"ms": 3.0}, ceilings={"ms": "fast"})
    with pytest.raises(ValueError, match="not measured: \\['slow'\\]"):
        report_numbers({"ms": 3.0}, ceilings={"ms": ("slow", 0.5)})
    monkeypatch.setenv("COURSE_LIB_FAST", "1")  # fast mode measures fewer rows: full-mode limits may name others
    assert report_numbers({"ms": 3.0}, ceilings={"ms": ("slow", 0.5)}, floors={"mIoU": 0.7}) is None
    with pytest.raises(ValueError, match="fast_floors names numbers that were not measured"):
        report_numbers({"ms": 3.0}, fast_floors={"mIoU": 0.7})


def test_report_numbers_rejects_unmeasured_expected_names():
    import pytest
    from course_lib.runtime import report_numbers
    with pytest.raises(ValueError, match="not measured"):
        report_numbers({"accuracy": 0.9}, expected={"mIoU": 0.7})
    with pytest.raises(ValueError, match="dict of name -> number"):
        report_numbers([0.9])


def _tiny_lab(path, cells):
    import nbformat
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


def test_run_full_records_full_mode_numbers_and_writes_the_table(tmp_path):
    import json
    import subprocess
    import sys
    from pathlib import Path
    root = Path(__file__).resolve().parent.parent
    ok = _tiny_lab(tmp_path / "00_tiny.ipynb", [
        "from course_lib import runtime",
        "runtime.report_numbers({'test accuracy': 0.5 if runtime.is_fast_mode() else 0.9, 'images': 2500},"
        " expected={'test accuracy': 0.93})"])
    broken = _tiny_lab(tmp_path / "01_broken.ipynb", ["1 / 0"])
    out = tmp_path / "full"
    run = subprocess.run([sys.executable, str(root / "bench" / "run_full.py"), str(ok), str(broken),
                          "--out", str(out)], capture_output=True, text=True, timeout=300)
    assert run.returncode == 1, run.stdout + run.stderr  # one lab failed
    record = json.loads((out / "00_tiny.json").read_text())
    assert record["rows"][0] == {"name": "test accuracy", "measured": 0.9, "expected": 0.93,
                                 "mode": "full"}
    assert record["error"] is None and record["wall_seconds"] > 0 and "CPU" in record["machine"]
    assert "run_full.py" in record["command"] and record["offline"] == "1"
    assert "ZeroDivisionError" in json.loads((out / "01_broken.json").read_text())["error"]
    table = (out / "results_full.md").read_text()
    assert "| 00_tiny |" in table and "| test accuracy | 0.9 | 0.93 | images 2500 |" in table
    assert "failed: ZeroDivisionError" in table


def _python(code, **env):
    import subprocess
    import sys
    clean = {k: v for k, v in os.environ.items()
             if k not in ("TF_CPP_MIN_LOG_LEVEL", "ABSL_MIN_LOG_LEVEL", "GRPC_VERBOSITY")}
    clean.update(env)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300, env=clean)


@pytest.mark.parametrize("module", ["course_lib", "course_lib.metrics", "course_lib.scratch"])
def test_importing_the_numpy_parts_imports_no_tensorflow(module):
    run = _python(f"import sys, importlib; m = importlib.import_module({module!r}); "
                  f"import course_lib; course_lib.box_iou, course_lib.mean_iou, course_lib.runtime; "
                  f"print(sorted(n for n in ('tensorflow', 'keras') if n in sys.modules))")
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "[]"


def test_tensorflow_is_quiet_after_import_course_lib_and_setup_notebook():
    # import course_lib sets TensorFlow's log variables (the oneDNN and CUDA banners never
    # print); setup_notebook quiets TensorFlow's Python loggers.
    # (TensorFlow's errors stay visible: on a machine without a GPU, CUDA's "failed call to
    # cuInit" is one, printed at the first look for devices, which setup_notebook filters.)
    run = _python("import logging, sys; import course_lib; assert 'tensorflow' not in sys.modules; "
                  "import tensorflow as tf; "
                  "course_lib.runtime.setup_notebook(verbose=False); tf.constant(1.0) + 1; "
                  "print(tf.get_logger().level == logging.ERROR)")
    assert run.returncode == 0, run.stderr
    assert "oneDNN" not in run.stderr and "cuda" not in run.stderr.lower(), run.stderr
    assert run.stdout.strip().endswith("True")


FAKE_TENSORFLOW = """
import logging, os
os.write(2, b"2026-12-03 10:00:00: I tensorflow/core/util/port.cc:153] oneDNN custom operations are on.\\n")
os.write(2, b"E0000 cuda_dnn.cc:8579] Unable to register cuDNN factory: Attempting to register factory "
            b"for plugin cuDNN when one has already been registered\\n")
os.write(2, b"E0000 cuda_executor.cc:1] could not load libcuda.so.1: cannot open shared object file\\n")
class config:
    @staticmethod
    def list_physical_devices(kind=None):
        os.write(2, b"E0000 cuda_driver.cc:152] failed call to cuInit: CUDA_ERROR_SYSTEM_DRIVER_MISMATCH\\n")
        return []
def get_logger():
    return logging.getLogger("fake tensorflow")
"""


def test_quiet_tensorflow_keeps_real_errors_visible(tmp_path):
    # A stand-in TensorFlow (first on the path) that prints, as the real one does on fd 2 while
    # it starts, two lines of known noise and two real CUDA errors.
    (tmp_path / "tensorflow").mkdir()
    (tmp_path / "tensorflow" / "__init__.py").write_text(FAKE_TENSORFLOW)
    run = _python("from course_lib import runtime; runtime.quiet_tensorflow(); print('imported')",
                  PYTHONPATH=str(tmp_path))
    assert run.returncode == 0 and run.stdout.strip() == "imported", run.stderr
    assert "oneDNN" not in run.stderr and "Unable to register cuDNN factory" not in run.stderr
    assert "could not load libcuda.so.1" in run.stderr
    assert "CUDA_ERROR_SYSTEM_DRIVER_MISMATCH" in run.stderr
