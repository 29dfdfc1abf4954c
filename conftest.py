"""Test-wide settings: fast, offline, quiet; kernels started by nbval inherit them."""

import os

os.environ.setdefault("COURSE_LIB_FAST", "1")
os.environ.setdefault("COURSE_LIB_OFFLINE", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

# Notebooks used as fixtures by the grader's tests are data, not labs to execute.
collect_ignore_glob = ["tests/fixtures/*", "tests/fixtures/**/*", ".venv/*", "colab/*", "bench/*"]
