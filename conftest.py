"""Test-wide settings: fast, offline, quiet; kernels started by nbval inherit them."""

import os
import tempfile

os.environ.setdefault("COURSE_LIB_FAST", "1")
os.environ.setdefault("COURSE_LIB_OFFLINE", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
# Generated datasets go to a fresh folder per test run, never into the user's cache.
os.environ.setdefault("COURSE_LIB_CACHE", tempfile.mkdtemp(prefix="course_lib_test_cache_"))
# Under pytest-xdist each worker gets its own sub-folder: two notebooks on two workers must not
# write the same generated dataset at the same time. (Workers inherit the controller's variables.)
if os.environ.get("PYTEST_XDIST_WORKER") and not os.environ.get("COURSE_LIB_TEST_CACHE_SPLIT"):
    os.environ["COURSE_LIB_TEST_CACHE_SPLIT"] = "1"
    os.environ["COURSE_LIB_CACHE"] = os.path.join(os.environ["COURSE_LIB_CACHE"],
                                                  os.environ["PYTEST_XDIST_WORKER"])
    os.makedirs(os.environ["COURSE_LIB_CACHE"], exist_ok=True)
    for name in ("TFDS_DATA_DIR", "KAGGLEHUB_CACHE"):
        os.environ.pop(name, None)
# Nor do TensorFlow Datasets and kagglehub (online tests, tests/fake_network) write into the home folder.
os.environ.setdefault("TFDS_DATA_DIR", os.path.join(os.environ["COURSE_LIB_CACHE"], "tensorflow_datasets"))
os.environ.setdefault("KAGGLEHUB_CACHE", os.path.join(os.environ["COURSE_LIB_CACHE"], "kagglehub"))

# Notebooks used as fixtures by the grader's tests are data, not labs to execute.
collect_ignore_glob = ["tests/fixtures/*", "tests/fixtures/**/*", ".venv/*", "colab/*", "bench/*"]
