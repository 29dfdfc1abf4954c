"""Test-wide settings: fast, offline, quiet; kernels started by nbval inherit them."""

import os
import tempfile

os.environ.setdefault("COURSE_LIB_FAST", "1")
os.environ.setdefault("COURSE_LIB_OFFLINE", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
# Generated datasets go to a fresh folder per test run, never into the user's cache.
os.environ.setdefault("COURSE_LIB_CACHE", tempfile.mkdtemp(prefix="course_lib_test_cache_"))
# Nor do TensorFlow Datasets and kagglehub (online tests, tests/fake_network) write into the home folder.
os.environ.setdefault("TFDS_DATA_DIR", os.path.join(os.environ["COURSE_LIB_CACHE"], "tensorflow_datasets"))
os.environ.setdefault("KAGGLEHUB_CACHE", os.path.join(os.environ["COURSE_LIB_CACHE"], "kagglehub"))

# Notebooks used as fixtures by the grader's tests are data, not labs to execute.
collect_ignore_glob = ["tests/fixtures/*", "tests/fixtures/**/*", ".venv/*", "colab/*", "bench/*"]
