"""Tests for the course_lib.metrics package as a whole."""

import subprocess
import sys


def test_metrics_import_no_tensorflow():
    # In a fresh interpreter: importing both metric modules through the package must not load TF.
    code = ("import sys, course_lib.metrics.detection, course_lib.metrics.segmentation\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras')))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
